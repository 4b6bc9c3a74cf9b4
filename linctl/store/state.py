"""Load and save the network file: versioned, atomic, safe to load.

The file is safetensors (format 3, store/codec.py): tensors as tensors, the
rest as JSON in its header, read with numpy alone by the commands that only
look, so a file from elsewhere can never run code, and its header is checked
against the file's size before anything is allocated. Files of formats 1 and
2 (a dict written by torch.save) are read with torch.load(weights_only=True,
mmap=True) and written back as format 3 on the next change. Every field is
checked (`check`): a file that claims more than it holds, or holds anything
linctl would not have written, is refused with one line and left as it is.
Writes go to a temp file beside the target, are flushed to disk, then
os.replace'd over it: a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from linctl.errors import LinctlError
from linctl.store.checks import check
from linctl.store.migrations import FORMAT, migrate
from linctl.store.paths import DEFAULT_PATH, OLD_DEFAULT_PATH, check_not_dir, lock_timeout, source

# what to do about an unusable file; a history snapshot gets its own advice
FIX_STATE = "it was left untouched: move it away or pass another --state"


# --------------------------------------------------------------------------
# loading


def load(path: Path, fix: str = FIX_STATE, framework: str = "pt") -> dict:
    """Read and check a state file; every failure is one clear LinctlError ending in `fix`.

    `framework` 'numpy' reads a format-3 file as numpy arrays without torch
    (the commands that only look); 'pt' gives torch tensors; 'mapped' gives
    numpy views of the mapped file, never read (a caller that needs the
    structure alone, like a replacement keeping the history pointers). Older
    files always need torch and give torch tensors (mapped from the file).
    """
    from linctl.store import codec

    path = source(path)
    check_not_dir(path)
    if not path.exists():
        raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
    if not path.is_file():  # a FIFO or a device: opening it could wait forever
        raise LinctlError(f"cannot read {path}: it is not a regular file (a FIFO, socket or device); {fix}")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise LinctlError(
            f"cannot read {path}: {exc.strerror}; check its permissions or pass another --state"
        ) from None
    if magic == codec.MAGIC_TORCH:
        data = _load_torch(path, fix)
        with contextlib.suppress(OSError):  # replaced meanwhile (a writer's os.replace): either size is honest
            size = max(size, path.stat().st_size)
    else:
        try:
            data = codec.read(path, framework)
        except codec.BadFile as exc:
            raise LinctlError(f"cannot read {path}: not a linctl state file ({exc}); {fix}") from None
        except OSError as exc:
            raise LinctlError(f"cannot read {path}: {exc.strerror or exc}; {fix}") from None
    data = migrate(data)
    # a safetensors file's tensors were each checked against the file by its header
    check(data, path, size=size if magic == codec.MAGIC_TORCH else None, fix=fix)
    assert isinstance(data, dict)  # check() refuses anything else
    if framework == "numpy" and magic == codec.MAGIC_TORCH:
        data = _as_numpy(data)  # one kind of array for the commands that only look, whichever file they read
    return data


def _as_numpy(data: dict) -> dict:
    from linctl.store import schema

    data = dict(data)
    for group in schema.tensor_fields("each"):
        data[group] = {k: None if v is None else v.numpy() for k, v in data[group].items()}
    for key in schema.tensor_fields("one"):
        if data.get(key) is not None:
            data[key] = data[key].numpy()
    return data


def _load_torch(path: Path, fix: str) -> object:
    """A format 1 or 2 file: a dict written by torch.save."""
    import pickle

    import torch

    try:
        # mmap: tensors stay views of the file until check() has seen every one
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise LinctlError(
            f"refused to load {path}: it holds objects a linctl state file never has ({first[:120]}); "
            f"nothing in it was run; {fix}"
        ) from None
    except Exception as exc:  # whatever a damaged or crafted zip makes torch raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LinctlError(f"cannot read {path}: not a complete linctl state file ({reason[:120]}); {fix}") from None


def is_old_format(path: Path) -> bool:
    """A format 1 or 2 file (torch.save's zip) at `path`."""
    from linctl.store import codec

    try:
        return path.is_file() and codec.is_torch_zip(path)
    except OSError:
        return False


# --------------------------------------------------------------------------
# saving


def save(path: Path, data: dict, snapshot: Path | None = None) -> None:
    """Atomic write in the current format; `snapshot`, if given, gets the same bytes (a hard link where possible).

    A file of an older format at `path` is kept beside it as `path`.bak first, with a note.
    """
    from linctl.store import codec

    check_not_dir(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinctlError(f"cannot create the folder for {path}: {exc.strerror}; pass a writable --state") from None
    tensors, metadata = codec.encode({**data, "format": FORMAT})
    if is_old_format(path):
        kept = backup(path)
        _note(f"{path} is now written as safetensors (format {FORMAT}); its old bytes are kept in {kept}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        codec.write(tmp, tensors, metadata)  # straight to the file: no second copy of the tensors in memory
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if snapshot is not None:
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(tmp, snapshot)
        os.replace(tmp, path)
    except OSError as exc:
        raise LinctlError(f"cannot write {path}: {exc.strerror or exc}; the old file was kept") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _note(message: str) -> None:
    import sys

    print(f"linctl: {message}", file=sys.stderr)


def adopt_old_default(path: Path) -> None:
    """Before the first write to the default path while only .linctl/net.pt exists: its history comes along.

    The old file stays where it is; its history folder's files are linked
    into the new one, so undo and diff go back across the switch.
    """
    old = Path(OLD_DEFAULT_PATH)
    if path != Path(DEFAULT_PATH) or path.exists() or not old.is_file():
        return
    old_history, new_history = old.with_name(old.name + ".history"), path.with_name(path.name + ".history")
    if old_history.is_dir() and not new_history.exists():
        try:
            shutil.copytree(old_history, new_history, copy_function=_link_or_copy)
        except OSError as exc:
            raise LinctlError(f"cannot carry {old_history} over to {new_history}: {exc}; nothing was changed") from None
    _note(f"read the network from {old} (the old default); it is now saved in {path}, and {old} is left as it was")


def _link_or_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """The same bytes under a second name: a hard link, or a copy where links fail."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def backup(path: Path) -> Path | None:
    """Keep the file about to be replaced beside it; return where it went."""
    if not path.exists():
        return None
    target = path.with_name(path.name + ".bak")
    try:
        # the state file is only ever replaced, never written in place, so a
        # hard link keeps the old bytes for free; a copy where links fail
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        _link_or_copy(path, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise LinctlError(f"cannot back up {path} to {target}: {exc.strerror}; nothing was changed") from None
    return target


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the state's lock file: one writer at a time, across processes."""
    from filelock import FileLock, Timeout

    timeout = lock_timeout()
    check_not_dir(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinctlError(f"cannot create the folder for {path}: {exc.strerror}; pass a writable --state") from None
    lock = FileLock(str(path) + ".lock", timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LinctlError(
            f"{path} is locked by another linctl process for over {timeout:g}s (LINCTL_LOCK_TIMEOUT); "
            f"wait for it, or remove {path}.lock if no linctl is running"
        ) from None
    except OSError as exc:
        raise LinctlError(f"cannot lock {path}: {exc.strerror}; pass a writable --state") from None
    try:
        yield
    finally:
        lock.release()
