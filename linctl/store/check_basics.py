"""The pieces every check of a loaded state uses: the one exception, short values for messages, tensor checks."""

from __future__ import annotations

import math
from typing import TypeGuard


class Unusable(Exception):
    """One reason a loaded dict is not a usable state; check() adds the path."""


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


def _network(specs) -> str:
    """The network in a message: 'a Linear(2, 3, bias=True)', or 'a Sequential of 2 Linear layers (2 -> 3 -> 1)'."""
    from linctl.model import spec

    if spec.bare(specs):
        return f"a Linear({specs[0].in_features}, {specs[0].out_features}, bias={specs[0].bias})"
    return f"a Sequential of {len(specs)} Linear layers ({' -> '.join(map(str, spec.sizes(specs)))})"


def tensor(torch, value: object, what: str, dtype: str, shape: tuple[int, ...] | None) -> None:
    """A dense CPU tensor (or numpy array) of `dtype` and `shape` whose storage really holds its numbers."""
    import numpy

    if isinstance(value, numpy.ndarray):  # read from safetensors: its bytes were checked against the file
        if value.dtype.name != dtype:
            raise Unusable(f"{what} is {value.dtype.name}, but the network is {dtype}")
        if shape is not None and tuple(value.shape) != shape:
            raise Unusable(f"{what} has shape {tuple(value.shape)}, not {shape}")
        return
    if torch is None or not isinstance(value, torch.Tensor):
        raise Unusable(f"{what} is a {type(value).__name__}, not a tensor")
    if value.layout != torch.strided or value.device.type != "cpu":
        raise Unusable(f"{what} is a {value.layout} tensor on {value.device}, not a dense CPU tensor")
    if str(value.dtype).removeprefix("torch.") != dtype:
        raise Unusable(f"{what} is {str(value.dtype).removeprefix('torch.')}, but the network is {dtype}")
    if value.requires_grad:
        raise Unusable(f"{what} requires grad; a state file holds plain tensors")
    if shape is not None and tuple(value.shape) != shape:
        raise Unusable(f"{what} has shape {tuple(value.shape)}, not {shape}")
    # a view with stride 0 (torch.zeros(1).expand(N, N)) or overlapping strides
    # would be copied out to numel numbers: refuse it before anything copies it
    need = value.numel() * value.element_size()
    if not value.is_contiguous():
        raise Unusable(
            f"{what} of shape {tuple(value.shape)} is a strided view (strides {tuple(value.stride())}), "
            f"not {_bytes(need)} of stored numbers"
        )
    held = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
    if held < need:
        raise Unusable(
            f"{what} of shape {tuple(value.shape)} claims {_bytes(need)} but holds only {_bytes(max(held, 0))}"
        )
