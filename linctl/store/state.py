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
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

from linctl.errors import LinctlError, UsageError
from linctl.store.migrations import FORMAT, migrate

APP = "linctl"
DEFAULT_PATH = os.path.join(".linctl", "net.safetensors")
OLD_DEFAULT_PATH = os.path.join(".linctl", "net.pt")  # formats 1 and 2
DEFAULT_LOCK_TIMEOUT_S = 60.0
# what to do about an unusable file; a history snapshot gets its own advice
FIX_STATE = "it was left untouched: move it away or pass another --state"
_NUMBER = re.compile(r"[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


# --------------------------------------------------------------------------
# environment variables: input like any option


def env_number(name: str, default: float, *, whole: bool, least: float, expects: str) -> float:
    """The number in environment variable `name`, read when a command needs it.

    Unset or empty means `default` (as click treats LINCTL_STATE and
    LINCTL_DEVICE). Anything else must be a number >= `least` in plain ASCII
    notation (2, 2.5, 1e9; no sign but '+', no nan or inf), a whole one where
    `whole` (then it comes back as an int); otherwise one UsageError line
    names the variable and what it expects.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    # ASCII digits only: float() would also take '1_000', '１' and 'nan'
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value) or value < least or (whole and value != int(value)):
        raise UsageError(f"{name}={_show(text)}: expected {expects}; set it to one, or unset it")
    return int(value) if whole else value


def lock_timeout() -> float:
    """LINCTL_LOCK_TIMEOUT: seconds to wait for another linctl's lock, >= 0 (0: try once), default 60.

    Negative values (filelock's "wait forever"), nan and inf are refused: a
    script that hangs forever on a stale lock is worse than one clear error.
    """
    return env_number(
        "LINCTL_LOCK_TIMEOUT",
        DEFAULT_LOCK_TIMEOUT_S,
        whole=False,
        least=0,
        expects=f"the seconds to wait for another linctl's lock, a number 0 or more (default {DEFAULT_LOCK_TIMEOUT_S:g})",
    )


# --------------------------------------------------------------------------
# where the state lives


def resolve(path: str | os.PathLike | None) -> Path:
    """--state (or LINCTL_STATE, which click leaves None when empty), else the default."""
    if path is None:
        return Path(DEFAULT_PATH)
    if not str(path):
        raise UsageError(f"--state: the path is empty; give a file path like --state {DEFAULT_PATH}, or leave it out")
    resolved = Path(path)
    # the lock, the temp file and the history folder add to the name, and file systems stop at 255 bytes
    longest = max((len(os.fsencode(part)) for part in resolved.parts), default=0)
    if longest > MAX_NAME_BYTES:
        raise UsageError(
            f"--state: a part of the path is {longest} bytes long; file names here must stay within "
            f"{MAX_NAME_BYTES} bytes (linctl adds '.lock' and '.history' beside it); use a shorter name"
        )
    return resolved


MAX_NAME_BYTES = 200


def _check_not_dir(path: Path) -> None:
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise LinctlError(f"cannot look at {path}: {exc.strerror or exc}; pass another --state") from None
    if is_dir:
        raise LinctlError(
            f"state path {path} is a directory; pass a file path such as --state {path / 'net.safetensors'} "
            "(or set LINCTL_STATE to one)"
        )


def source(path: Path) -> Path:
    """The file to read for `path`: the old default .linctl/net.pt while only it exists, else `path`."""
    if path == Path(DEFAULT_PATH) and not path.exists() and Path(OLD_DEFAULT_PATH).is_file():
        return Path(OLD_DEFAULT_PATH)
    return path


def exists(path: Path) -> bool:
    _check_not_dir(path)
    try:
        return source(path).exists()
    except OSError as exc:
        raise LinctlError(f"cannot look at {path}: {exc.strerror or exc}; pass another --state") from None


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
    _check_not_dir(path)
    if not path.exists():
        raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
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
    data = dict(data)
    for group in ("params", "grads"):
        data[group] = {k: None if v is None else v.numpy() for k, v in data[group].items()}
    for key in ("last_x", "last_t"):
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


class _Unusable(Exception):
    """One reason a loaded dict is not a usable state; check() adds the path."""


def check(data: object, path: Path, size: int | None = None, fix: str = FIX_STATE) -> None:
    """Every field of a loaded state: ours, of a format we know, consistent, and no bigger than the file.

    Only metadata is read (types, shapes, strides, storage sizes), never the
    numbers, so checking a large layer costs nothing and a file that claims a
    huge layer is refused before anything of that size is allocated.
    """
    if isinstance(data, dict) and data.get("app") == APP:
        fmt = data.get("format")
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            raise LinctlError(
                f"{path} was written by a newer linctl (format {fmt}, this one reads up to {FORMAT}); "
                "upgrade linctl with 'pip install -U linctl'"
            )
    try:
        _check(data, size)
    except _Unusable as exc:
        raise LinctlError(f"{path} is not a usable linctl state file ({exc}); {fix}") from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: object) -> str:
    """A value for a message: short, and never the contents of a tensor."""
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _check(data: object, size: int | None) -> None:
    import sys

    from linctl.model import registry, spec
    from linctl.model.network import element_size

    torch = sys.modules.get("torch")  # torch tensors come only from torch, so a file read without it has none

    if not isinstance(data, dict) or data.get("app") != APP:
        raise _Unusable("no linctl header")
    fmt = data.get("format")
    if not _is_int(fmt) or fmt < 1:
        raise _Unusable(f"format {_show(fmt)} is not a format version")
    dtype_name = data.get("dtype", "float32")
    if dtype_name not in spec.DTYPES:
        raise _Unusable(f"dtype {_show(dtype_name)} is not one of {', '.join(spec.DTYPES)}")
    dtype = dtype_name

    layers = data.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
        raise _Unusable("the layer list is not a list of linear layers")
    if len(layers) > spec.MAX_LAYERS:
        raise _Unusable(f"it claims {len(layers)} layers; linctl builds at most {spec.MAX_LAYERS}")
    need = 0
    for k, layer in enumerate(layers):
        what = "the layer" if len(layers) == 1 else f"layer {k + 1}"
        if layer.get("type") != "linear":
            raise _Unusable(f"{what}'s type {_show(layer.get('type'))} is not 'linear'")
        n_in, n_out = layer.get("in_features"), layer.get("out_features")
        if not _is_int(n_in) or not _is_int(n_out) or n_in < 1 or n_out < 1:
            raise _Unusable(f"{what}'s sizes {_show(n_in)} x {_show(n_out)} are not whole numbers 1 or more")
        if k and n_in != layers[k - 1].get("out_features"):
            raise _Unusable(
                f"{what} takes {n_in} inputs but the layer before gives {layers[k - 1].get('out_features')}"
            )
        if not isinstance(layer.get("bias"), bool):
            raise _Unusable(f"{what}'s bias flag {_show(layer.get('bias'))} is not true or false")
        activation = layer.get("activation", "none")
        if activation not in registry.ACTIVATIONS:
            raise _Unusable(f"{what}'s activation {_show(activation)} is not one of {', '.join(registry.ACTIVATIONS)}")
        need += n_in * n_out * element_size(dtype_name)
        if size is not None and need > size:
            raise _Unusable(
                f"it claims a layer of {n_out}x{n_in} ({_bytes(n_in * n_out * element_size(dtype_name))} of weights) "
                f"but holds only {size} bytes"
            )

    specs = spec.from_dicts(layers)
    shapes = spec.param_shapes(specs)
    params, grads = data.get("params"), data.get("grads")
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise _Unusable("params or grads is not a dict")
    for group, entries in (("params", params), ("grads", grads)):
        extra = [k for k in entries if k not in shapes]
        if extra:
            raise _Unusable(f"{group} has {_show(extra[0])}, which {_network(specs)} does not")
    for name, shape in shapes.items():
        if name not in params:
            raise _Unusable(f"{name} is missing")
        _tensor(torch, params[name], name, dtype, shape)
        if grads.get(name) is not None:
            _tensor(torch, grads[name], f"the gradient of {name}", dtype, shape)

    _optimizer(torch, data.get("optimizer"), list(shapes.values()), dtype)

    step = data.get("step")
    if not _is_int(step) or step < 0:
        raise _Unusable(f"step {_show(step)} is not a whole number 0 or more")
    seed = data.get("seed")
    if seed is not None and not (_is_int(seed) and -(2**63) <= seed < 2**64):
        raise _Unusable(f"seed {_show(seed)} is not a 64-bit whole number")
    n_in, n_out = specs[0].in_features, specs[-1].out_features
    for key, width, what in (("last_x", n_in, "in_features"), ("last_t", n_out, "out_features")):
        value = data.get(key)
        if value is not None:
            _tensor(torch, value, key, dtype, None)
            widths = (width, 1) if key == "last_t" else (width,)  # a class index per sample is one column
            if len(value.shape) != 2 or value.shape[0] < 1 or value.shape[1] not in widths:
                raise _Unusable(f"{key} has shape {tuple(value.shape)}, not (rows, {width}) with {what}={width}")
    _classes(data.get("classes"), n_out)
    _history(data.get("history"))


def _classes(names: object, n_out: int) -> None:
    """The class names read from a label column: distinct strings, no more than the network has outputs."""
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise _Unusable(f"the class names {_show(names)} are not a list of distinct labels")
    if len(names) > n_out:
        raise _Unusable(f"it names {len(names)} classes but the network has out_features={n_out} outputs")


def _network(specs) -> str:
    """The network in a message: 'a Linear(2, 3, bias=True)', or 'a Sequential of 2 Linear layers (2 -> 3 -> 1)'."""
    if len(specs) == 1:
        return f"a Linear({specs[0].in_features}, {specs[0].out_features}, bias={specs[0].bias})"
    from linctl.model import spec

    return f"a Sequential of {len(specs)} Linear layers ({' -> '.join(map(str, spec.sizes(specs)))})"


def _tensor(torch, value: object, what: str, dtype: str, shape: tuple[int, ...] | None) -> None:
    """A dense CPU tensor (or numpy array) of `dtype` and `shape` whose storage really holds its numbers."""
    import numpy

    if isinstance(value, numpy.ndarray):  # read from safetensors: its bytes were checked against the file
        if value.dtype.name != dtype:
            raise _Unusable(f"{what} is {value.dtype.name}, but the network is {dtype}")
        if shape is not None and tuple(value.shape) != shape:
            raise _Unusable(f"{what} has shape {tuple(value.shape)}, not {shape}")
        return
    if torch is None or not isinstance(value, torch.Tensor):
        raise _Unusable(f"{what} is a {type(value).__name__}, not a tensor")
    if value.layout != torch.strided or value.device.type != "cpu":
        raise _Unusable(f"{what} is a {value.layout} tensor on {value.device}, not a dense CPU tensor")
    if str(value.dtype).removeprefix("torch.") != dtype:
        raise _Unusable(f"{what} is {str(value.dtype).removeprefix('torch.')}, but the network is {dtype}")
    if value.requires_grad:
        raise _Unusable(f"{what} requires grad; a state file holds plain tensors")
    if shape is not None and tuple(value.shape) != shape:
        raise _Unusable(f"{what} has shape {tuple(value.shape)}, not {shape}")
    # a view with stride 0 (torch.zeros(1).expand(N, N)) or overlapping strides
    # would be copied out to numel numbers: refuse it before anything copies it
    need = value.numel() * value.element_size()
    if not value.is_contiguous():
        raise _Unusable(
            f"{what} of shape {tuple(value.shape)} is a strided view (strides {tuple(value.stride())}), "
            f"not {_bytes(need)} of stored numbers"
        )
    held = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
    if held < need:
        raise _Unusable(
            f"{what} of shape {tuple(value.shape)} claims {_bytes(need)} but holds only {_bytes(max(held, 0))}"
        )


_BOOL_SETTINGS = ("nesterov", "amsgrad", "centered")
# param_groups flags linctl never changes from torch's defaults: another value changes the update
_FIXED_FLAGS = {"maximize": (False,), "capturable": (False,), "differentiable": (False,), "fused": (None, False)}


def _setting_ok(key: str, value: object) -> bool:
    if key in _BOOL_SETTINGS:
        return isinstance(value, bool)
    if key == "betas":
        return isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_number(v) for v in value)
    return _is_number(value)


def _optimizer(torch, entry: object, shapes: list[tuple[int, ...]], dtype) -> None:
    """The optimizer's name, the settings the user chose, and torch's optimizer.state_dict()."""
    from linctl.optim import settings as optimizers

    if entry is None:
        return
    if not isinstance(entry, dict) or not {"name", "settings", "state"} >= set(entry):
        raise _Unusable("the optimizer entry is not {name, settings, state}")
    name, settings, state = entry.get("name"), entry.get("settings"), entry.get("state")
    if name is None:
        if not (settings is None or (isinstance(settings, dict) and not settings)) or state is not None:
            raise _Unusable("the optimizer entry has settings or state but no optimizer name")
        return
    if name not in optimizers.OPTIMIZERS:
        raise _Unusable(f"optimizer {_show(name)} is not one of {', '.join(optimizers.OPTIMIZERS)}")
    if not isinstance(settings, dict):
        raise _Unusable(f"the {name} settings are not a dict")
    known = {"lr", *optimizers.DEFAULTS[name]}
    for key, value in settings.items():
        if key not in known:
            raise _Unusable(f"{_show(key)} is not a setting of {name}")
        if not _setting_ok(key, value):
            raise _Unusable(
                f"the {name} setting {key} is {_show(value)}, not a {'true/false' if key in _BOOL_SETTINGS else 'finite number'}"
            )
    merged = {**optimizers.DEFAULTS[name], "lr": 0.0, **settings}
    try:
        optimizers.validate(merged)
    except UsageError as exc:
        raise _Unusable(f"the {name} settings are out of range: {exc}") from None
    if state is None:
        return
    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise _Unusable(f"the {name} state is not an optimizer.state_dict()")
    groups, per_param = state["param_groups"], state["state"]
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise _Unusable(f"the {name} state does not have one parameter group")
    group = groups[0]
    if not isinstance(group.get("params"), list) or group["params"] != list(range(len(shapes))):
        raise _Unusable(f"the {name} parameter group does not list the {len(shapes)} parameters")
    for key, value in group.items():
        if key == "params":
            continue
        if key in known:
            if not _setting_ok(key, value) or (key in settings and _same(value) != _same(settings[key])):
                raise _Unusable(f"the {name} parameter group has {key}={_show(value)}, unlike its settings")
        elif key in _FIXED_FLAGS:
            if not (value is None or isinstance(value, bool)) or value not in _FIXED_FLAGS[key]:
                raise _Unusable(f"the {name} parameter group has {key}={_show(value)}, which linctl never sets")
        elif key == "foreach":
            if not (value is None or isinstance(value, bool)):
                raise _Unusable(f"the {name} parameter group has foreach={_show(value)}, not true/false/None")
        elif key == "decoupled_weight_decay":
            if value is not (name == "adamw"):
                raise _Unusable(
                    f"the {name} parameter group has decoupled_weight_decay={_show(value)}, not {name == 'adamw'}"
                )
        elif not (value is None or isinstance(value, (bool, int, float, str))):
            raise _Unusable(f"the {name} parameter group has {key}={type(value).__name__}")
    if not isinstance(per_param, dict):
        raise _Unusable(f"the {name} per-parameter state is not a dict")
    always, optional = optimizers.OPTIMIZERS[name].state_keys, optimizers.OPTIMIZERS[name].optional_state
    for index, buffers in per_param.items():
        if not _is_int(index) or not 0 <= index < len(shapes):
            raise _Unusable(f"the {name} state names parameter {_show(index)}, not one of 0..{len(shapes) - 1}")
        if not isinstance(buffers, dict):
            raise _Unusable(f"the {name} state of parameter {index} is not a dict")
        if not buffers:
            continue  # torch starts it afresh
        for key in buffers:
            if key not in always and key not in optional:
                raise _Unusable(f"the {name} state of parameter {index} has {_show(key)}, which {name} never keeps")
        wanted = list(always) + [k for k, flag in optional.items() if flag and merged.get(flag)]
        missing = [k for k in wanted if k not in buffers]
        if missing:
            raise _Unusable(f"the {name} state of parameter {index} lacks {missing[0]!r}")
        for key, value in buffers.items():
            what = f"the {name} {key} of parameter {index}"
            if key == "step":  # a 0-d float tensor (torch's scalar dtype), or a number from older torch
                if hasattr(value, "dtype") and hasattr(value, "shape"):
                    kind = str(value.dtype).removeprefix("torch.")
                    if kind not in ("float32", "float64"):
                        raise _Unusable(f"{what} is a {kind} tensor, not a float count")
                    _tensor(torch, value, what, kind, ())
                    value = float(value)
                if not _is_number(value) or value < 0:
                    raise _Unusable(f"{what} is {_show(value)}, not a count 0 or more")
            elif value is None and name == "sgd":
                continue  # SGD without momentum keeps None
            else:
                _tensor(torch, value, what, dtype, shapes[index])


def _same(value: object) -> object:
    return tuple(value) if isinstance(value, (tuple, list)) else value


def _history(info: object) -> None:
    """The history pointers history.head() reads: newest id, current entry, oldest snapshot."""
    if info is None:
        return
    if not isinstance(info, dict) or set(info) != {"last_id", "head", "oldest"}:
        raise _Unusable("the history pointers are not {last_id, head, oldest}")
    last, head, oldest = info["last_id"], info["head"], info["oldest"]
    if not all(_is_int(v) for v in (last, head, oldest)) or not (0 <= head <= last and 1 <= oldest <= last + 1):
        raise _Unusable(
            f"the history pointers last_id={_show(last)}, head={_show(head)}, oldest={_show(oldest)} do not fit together"
        )


# --------------------------------------------------------------------------
# saving


def save(path: Path, data: dict, snapshot: Path | None = None) -> None:
    """Atomic write in the current format; `snapshot`, if given, gets the same bytes (a hard link where possible).

    A file of an older format at `path` is kept beside it as `path`.bak first, with a note.
    """
    from linctl.store import codec

    _check_not_dir(path)
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
    _check_not_dir(path)
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
