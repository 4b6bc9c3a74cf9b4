"""Load and save the network file: versioned, atomic, safe to load.

The file is a plain dict written by torch.save and read back with
torch.load(weights_only=True), so a file from elsewhere can never run code.
Writes go to a temp file beside the target, are flushed to disk, then
os.replace'd over it: a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from linctl.errors import LinctlError

FORMAT = 1
APP = "linctl"
DEFAULT_PATH = os.path.join(".linctl", "net.pt")
LOCK_TIMEOUT_S = float(os.environ.get("LINCTL_LOCK_TIMEOUT", "60"))


def resolve(path: str | os.PathLike | None) -> Path:
    return Path(path) if path else Path(DEFAULT_PATH)


def _check_not_dir(path: Path) -> None:
    if path.is_dir():
        raise LinctlError(f"state path {path} is a directory; pass a file path such as --state {path / 'net.pt'}")


def exists(path: Path) -> bool:
    _check_not_dir(path)
    return path.exists()


def load(path: Path) -> dict:
    """Read and check a state file; every failure is one clear LinctlError."""
    import pickle
    import zipfile

    import torch

    _check_not_dir(path)
    if not path.exists():
        raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise LinctlError(f"cannot read {path}: {exc.strerror}; check its permissions or pass another --state") from None
    if magic != b"PK\x03\x04":
        what = "it is empty" if not magic else "it is not a file written by torch.save"
        raise LinctlError(
            f"cannot read {path}: not a linctl state file ({what}); it was left untouched: move it away or pass another --state"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise LinctlError(
            f"refused to load {path}: it holds objects a linctl state file never has ({first[:120]}); "
            "nothing in it was run. Move it away or pass another --state"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LinctlError(
            f"cannot read {path}: not a complete linctl state file ({reason[:120]}); "
            "it was left untouched: move it away or pass another --state"
        ) from None
    check(data, path)
    return data


def check(data: object, path: Path) -> None:
    """The file is ours, of a format we know, with consistent shapes."""
    import torch

    def foreign(why: str) -> LinctlError:
        return LinctlError(
            f"{path} is not a linctl state file ({why}); it was left untouched: move it away or pass another --state"
        )

    if not isinstance(data, dict) or data.get("app") != APP:
        raise foreign("no linctl header")
    fmt = data.get("format")
    if not isinstance(fmt, int):
        raise foreign("no format version")
    if fmt > FORMAT:
        raise LinctlError(
            f"{path} was written by a newer linctl (format {fmt}, this one reads up to {FORMAT}); "
            "upgrade linctl with 'pip install -U linctl'"
        )
    layers = data.get("layers")
    params = data.get("params")
    grads = data.get("grads")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(params, dict) or not isinstance(grads, dict):
        raise foreign("bad layer list")
    layer = layers[0]
    if not isinstance(layer, dict) or layer.get("type") != "linear":
        raise foreign("unknown layer type")
    n_in, n_out = layer.get("in_features"), layer.get("out_features")
    if not isinstance(n_in, int) or not isinstance(n_out, int) or n_in < 1 or n_out < 1:
        raise foreign("bad layer sizes")
    shapes = {"0.weight": (n_out, n_in)}
    if layer.get("bias"):
        shapes["0.bias"] = (n_out,)
    for name, shape in shapes.items():
        value = params.get(name)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            raise foreign(f"{name} missing or not of shape {shape}")
        grad = grads.get(name)
        if grad is not None and (not isinstance(grad, torch.Tensor) or tuple(grad.shape) != shape):
            raise foreign(f"gradient of {name} not of shape {shape}")
    if not isinstance(data.get("step"), int):
        raise foreign("no step count")


def save(path: Path, data: dict, snapshot: Path | None = None) -> None:
    """Atomic write; `snapshot`, if given, gets the same bytes (a hard link where possible)."""
    import torch

    _check_not_dir(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinctlError(f"cannot create the folder for {path}: {exc.strerror}; pass a writable --state") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(data, handle)
            handle.flush()
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


def _link_or_copy(source: Path, target: Path) -> None:
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

    _check_not_dir(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinctlError(f"cannot create the folder for {path}: {exc.strerror}; pass a writable --state") from None
    lock = FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise LinctlError(
            f"{path} is locked by another linctl process for over {LOCK_TIMEOUT_S:.0f}s; "
            f"wait for it, or remove {path}.lock if no linctl is running"
        ) from None
    except OSError as exc:
        raise LinctlError(f"cannot lock {path}: {exc.strerror}; pass a writable --state") from None
    try:
        yield
    finally:
        lock.release()
