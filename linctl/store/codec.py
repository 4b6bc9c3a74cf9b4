"""The state file's bytes (format 3): a safetensors file, and nothing that can run code.

Tensors (parameters, gradients, optimizer state tensors, the last inputs and
targets) are the safetensors tensors, named by where they sit in the state
data (`params/0.weight`, `optimizer/state/1/exp_avg`, `last_x`); everything
else is one JSON document in the header's `__metadata__` under the key
`linctl`, each tensor replaced there by `{"tensor": NAME}`.

The header is read and checked here before the safetensors library sees the
file: its length against the file and a cap, its JSON, each tensor's dtype,
shape and byte range (in order, back to back, exactly filling the file), and
the metadata's size. A header that claims more than the file holds is
refused before anything is allocated. Reading needs numpy only; torch is
imported only when the caller asks for torch tensors.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path
from typing import Any

MAGIC_TORCH = b"PK\x03\x04"  # torch.save's zip: formats 1 and 2
MAX_HEADER = 100 * 2**20
MAX_METADATA = 16 * 2**20
MAX_TENSORS = 4096
# how deeply the metadata's JSON may nest: linctl writes about 6 levels (optimizer/state/state/0/exp_avg)
MAX_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
METADATA_KEY = "linctl"
# the dtypes a linctl state holds (float32 and float64 networks; the optimizer's step count is one of them)
DTYPES = {"F32": ("float32", 4), "F64": ("float64", 8)}
ALL_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


class BadFile(Exception):
    """Why the bytes are not a safetensors file linctl can read (one line, without the path)."""


def is_torch_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == MAGIC_TORCH


def read_header(path: Path, dtypes: dict[str, int] | None = None) -> tuple[dict[str, dict], dict[str, str]]:
    """The tensor table and the string metadata of a safetensors file, checked against the file's size.

    `dtypes` maps the safetensors dtypes allowed to their element size
    (default: linctl's float32 and float64).
    """
    allowed = dtypes if dtypes is not None else {k: v[1] for k, v in DTYPES.items()}
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 8:
            raise BadFile("it is empty" if size == 0 else f"it is {size} bytes, shorter than a safetensors header")
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > size - 8:
            raise BadFile(f"its header claims {length} bytes but the file holds {size - 8} after the length")
        if length > MAX_HEADER:
            raise BadFile(f"its header claims {length} bytes, over the {MAX_HEADER // 2**20} MiB linctl reads")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadFile("its header is not JSON") from None
    if not isinstance(header, dict):
        raise BadFile("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BadFile("its __metadata__ is not an object of strings")
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_METADATA:
        raise BadFile(f"its metadata is over {MAX_METADATA // 2**20} MiB")
    if len(header) > MAX_TENSORS:
        raise BadFile(f"it lists {len(header)} tensors, over the {MAX_TENSORS} linctl reads")
    _check_tensors(header, allowed, size - 8 - length)
    return header, metadata


def _check_tensors(header: dict, allowed: dict[str, int], data_size: int) -> None:
    """Each tensor entry well formed, of an allowed dtype, its bytes exactly its shape's, the entries tiling the data."""
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise BadFile(f"tensor {name[:60]!r} is not {{dtype, shape, data_offsets}}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in allowed:
            raise BadFile(f"tensor {name[:60]!r} has dtype {str(dtype)[:20]!r}, not one of {', '.join(allowed)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_whole(n) for n in shape):
            raise BadFile(f"tensor {name[:60]!r} has a shape that is not a list of whole numbers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_whole(n) for n in offsets):
            raise BadFile(f"tensor {name[:60]!r} has offsets that are not two whole numbers")
        begin, end = offsets
        need = math.prod(shape) * allowed[dtype]
        if end > data_size or begin > end:
            raise BadFile(f"tensor {name[:60]!r} claims bytes {begin}..{end} but the file holds {data_size}")
        if end - begin != need:
            raise BadFile(
                f"tensor {name[:60]!r} of shape {tuple(shape)} needs {need} bytes, its offsets give {end - begin}"
            )
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            raise BadFile(f"tensor {name[:60]!r} starts at byte {begin}, not {at}: overlapping or out of order offsets")
        at = end
    if at != data_size:
        raise BadFile(f"its tensors fill {at} bytes but the file holds {data_size}")


def nesting(text: bytes) -> int:
    """How deeply JSON text nests its arrays and objects, counted without decoding it (strings left out)."""
    import numpy as np

    codes = np.frombuffer(_JSON_STRING.sub(b"", text), dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62


def mapped_tensors(path: Path, header: dict[str, dict]) -> dict[str, Any]:
    """Every tensor as a read-only numpy view of the mapped file: nothing is read until a value is used.

    For a caller that needs a state's structure and shapes but not its numbers (`header` from read_header,
    which checked every tensor's place in the file)."""
    import mmap

    import numpy as np

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data_size = max((info["data_offsets"][1] for info in header.values()), default=0)
        mapped: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if data_size else None
    start = size - data_size  # the tensors fill the end of the file exactly (read_header checked it)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]][0]).newbyteorder("<")
        if begin == end:  # no elements: nothing in the file to view (there may be no file data at all)
            out[name] = np.empty(info["shape"], dtype=dtype)
            continue
        count = (end - begin) // dtype.itemsize
        out[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=start + begin).reshape(info["shape"])
    return out


def read_tensors(path: Path, names: list[str], framework: str) -> dict[str, Any]:
    """The named tensors, as numpy arrays or torch tensors ('numpy' or 'pt'); call read_header first."""
    from safetensors import safe_open

    out = {}
    with safe_open(str(path), framework=framework) as handle:
        for name in names:
            tensor = handle.get_tensor(name)
            # torch gets a copy in memory of its own: a view of the mapped file sits wherever the header ends,
            # and a matrix product over unaligned memory may sum in another order than plain torch's
            out[name] = tensor.clone() if framework == "pt" else tensor
    return out


# --------------------------------------------------------------------------
# state data <-> tensors + metadata


def encode(data: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """The state data as (numpy arrays by name, metadata): tensors out, structure in one JSON document."""
    tensors: dict[str, Any] = {}

    def walk(value: Any, where: list[str]) -> Any:
        if isinstance(value, dict):
            return {str(k): walk(v, [*where, str(k)]) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, [*where, str(i)]) for i, v in enumerate(value)]
        if hasattr(value, "shape") and hasattr(value, "dtype"):  # a torch tensor or a numpy array
            name = "/".join(where)
            tensors[name] = _array(value)
            return {"tensor": name}
        return value

    structure = walk(data, [])
    return tensors, {METADATA_KEY: json.dumps(structure, allow_nan=True)}


def _array(value: Any):
    import numpy

    if not isinstance(value, numpy.ndarray):
        value = value.detach().cpu().numpy()
    # (numpy.ascontiguousarray would make a 0-d array, Adam's step, 1-d)
    return value if value.flags.c_contiguous else value.copy(order="C")


def decode(structure: Any, tensors: dict[str, Any]) -> Any:
    """The state data back: each {"tensor": NAME} replaced by that tensor; optimizer state ids as ints."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"tensor"} and isinstance(value["tensor"], str):
                if value["tensor"] not in tensors:
                    raise BadFile(f"its metadata names a tensor {value['tensor'][:60]!r} the file does not hold")
                return tensors[value["tensor"]]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    data = walk(structure)
    if isinstance(data, dict):
        optimizer = data.get("optimizer")
        state = optimizer.get("state") if isinstance(optimizer, dict) else None
        if isinstance(state, dict) and isinstance(state.get("state"), dict):
            state["state"] = {
                int(k) if isinstance(k, str) and k.isascii() and k.isdigit() and len(k) < 10 else k: v
                for k, v in state["state"].items()
            }
        if isinstance(optimizer, dict):
            groups = state.get("param_groups") if isinstance(state, dict) else None
            for group in [optimizer.get("settings"), *(groups if isinstance(groups, list) else [])]:
                if isinstance(group, dict) and isinstance(group.get("betas"), list):
                    group["betas"] = tuple(group["betas"])
    return data


def read(path: Path, framework: str = "numpy") -> Any:
    """A format-3 file's state data, every tensor as `framework` gives it ('numpy' or 'pt'; 'mapped': numpy
    views of the mapped file, for a caller that does not read the numbers)."""
    header, metadata = read_header(path)
    if METADATA_KEY not in metadata:
        raise BadFile("it is a safetensors file without linctl's metadata")
    text = metadata[METADATA_KEY]
    if nesting(text.encode("utf-8", "surrogatepass")) > MAX_DEPTH:
        raise BadFile(f"its linctl metadata nests deeper than the {MAX_DEPTH} levels linctl writes")
    try:
        structure = json.loads(text)
    except (ValueError, RecursionError):
        raise BadFile("its linctl metadata is not JSON") from None
    if framework == "mapped":
        return decode(structure, mapped_tensors(path, header))
    try:
        tensors = read_tensors(path, list(header), framework)
    except Exception as exc:  # whatever the library says about bytes that passed the checks above
        raise BadFile(
            f"the safetensors library refused it ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        ) from None
    return decode(structure, tensors)


def write(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """The safetensors file, written by the library straight to `path`."""
    from safetensors.numpy import save_file

    try:
        save_file(tensors, str(path), metadata=metadata)
    except OSError:
        raise
    except Exception as exc:  # the library's own error for a write that failed: the caller's OSError path
        raise OSError(str(exc)) from None
