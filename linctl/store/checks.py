"""Every field of a loaded state checked: ours, of a format we know, consistent, and no bigger than the file.

One check per field of the schema (store/schema.py), run in its order; a key the schema does not list is
refused. Only metadata is read (types, shapes, strides, storage sizes), never the numbers, so checking a large
layer costs nothing and a file that claims a huge layer is refused before anything of that size is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linctl.errors import LinctlError
from linctl.store import schema
from linctl.store.check_basics import Unusable, _bytes, _is_int, _network, _show, tensor
from linctl.store.migrations import FORMAT
from linctl.store.optimizer_check import check_optimizer

APP = "linctl"
MAX_COUNT = 2**63 - 1  # a step or an entry id: what JSON output and torch hold (64 bits)


def check(data: object, path: Path, size: int | None, fix: str) -> None:
    """`data` as a usable state, or one LinctlError naming `path`, the reason and `fix`."""
    if isinstance(data, dict) and data.get("app") == APP:
        fmt = data.get("format")
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            raise LinctlError(
                f"{path} was written by a newer linctl (format {fmt}, this one reads up to {FORMAT}); "
                "upgrade linctl with 'pip install -U linctl'"
            )
    try:
        check_fields(data, size)
    except Unusable as exc:
        raise LinctlError(f"{path} is not a usable linctl state file ({exc}); {fix}") from None


@dataclass
class Seen:
    """What the checks so far have established, for the checks after them."""

    data: dict
    size: int | None
    torch: Any
    dtype: str = "float32"
    specs: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)


def check_fields(data: object, size: int | None) -> None:
    import sys

    if not isinstance(data, dict) or data.get("app") != APP:
        raise Unusable("no linctl header")
    unknown = schema.unknown_keys(data)
    if unknown:
        raise Unusable(f"it has a field {_show(unknown[0])} linctl never writes")
    # torch tensors come only from torch, so a file read without it has none
    seen = Seen(data, size, sys.modules.get("torch"))
    for f in schema.FIELDS:
        CHECKS[f.name](data.get(f.name), seen)


def _app(value: object, seen: Seen) -> None:
    pass  # checked first, with the unknown keys


def _format(value: object, seen: Seen) -> None:
    if not _is_int(value) or value < 1:
        raise Unusable(f"format {_show(value)} is not a format version")


def _dtype(value: object, seen: Seen) -> None:
    from linctl.model import spec

    value = "float32" if value is None and "dtype" not in seen.data else value
    if value not in spec.DTYPES:
        raise Unusable(f"dtype {_show(value)} is not one of {', '.join(spec.DTYPES)}")
    seen.dtype = str(value)


def _layers(layers: object, seen: Seen) -> None:
    from linctl.model import spec

    if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
        raise Unusable("the layer list is not a list of linear layers")
    if len(layers) > spec.MAX_LAYERS:
        raise Unusable(f"it claims {len(layers)} layers; linctl builds at most {spec.MAX_LAYERS}")
    need = 0
    for k, layer in enumerate(layers):
        need += _layer(layer, k, layers, seen)
        if seen.size is not None and need > seen.size:
            n_in, n_out = layer["in_features"], layer["out_features"]
            raise Unusable(
                f"it claims a layer of {n_out}x{n_in} ({_bytes(_weight_bytes(layer, seen))} of weights) "
                f"but holds only {seen.size} bytes"
            )
    seen.specs = spec.from_dicts(layers)
    seen.shapes = spec.param_shapes(seen.specs)


def _weight_bytes(layer: dict, seen: Seen) -> int:
    from linctl.model.network import element_size

    return int(layer["in_features"]) * int(layer["out_features"]) * element_size(seen.dtype)


def _layer(layer: dict, k: int, layers: list, seen: Seen) -> int:
    """One layer's fields; returns the bytes its weight claims."""
    from linctl.model import registry

    what = "the layer" if len(layers) == 1 else f"layer {k + 1}"
    if layer.get("type") != "linear":
        raise Unusable(f"{what}'s type {_show(layer.get('type'))} is not 'linear'")
    n_in, n_out = layer.get("in_features"), layer.get("out_features")
    if not _is_int(n_in) or not _is_int(n_out) or n_in < 1 or n_out < 1:
        raise Unusable(f"{what}'s sizes {_show(n_in)} x {_show(n_out)} are not whole numbers 1 or more")
    if k and n_in != layers[k - 1].get("out_features"):
        raise Unusable(f"{what} takes {n_in} inputs but the layer before gives {layers[k - 1].get('out_features')}")
    if not isinstance(layer.get("bias"), bool):
        raise Unusable(f"{what}'s bias flag {_show(layer.get('bias'))} is not true or false")
    activation = layer.get("activation", "none")
    if activation not in registry.ACTIVATIONS:
        raise Unusable(f"{what}'s activation {_show(activation)} is not one of {', '.join(registry.ACTIVATIONS)}")
    return _weight_bytes(layer, seen)


def _params(params: object, seen: Seen) -> None:
    if not isinstance(params, dict):
        raise Unusable("params is not a dict")
    _names(params, "params", seen)
    for name, shape in seen.shapes.items():
        if name not in params:
            raise Unusable(f"{name} is missing")
        tensor(seen.torch, params[name], name, seen.dtype, shape)


def _grads(grads: object, seen: Seen) -> None:
    if not isinstance(grads, dict):
        raise Unusable("grads is not a dict")
    _names(grads, "grads", seen)
    for name, shape in seen.shapes.items():
        if grads.get(name) is not None:
            tensor(seen.torch, grads[name], f"the gradient of {name}", seen.dtype, shape)


def _names(entries: dict, group: str, seen: Seen) -> None:
    extra = [k for k in entries if k not in seen.shapes]
    if extra:
        raise Unusable(f"{group} has {_show(extra[0])}, which {_network(seen.specs)} does not")


def _optimizer(entry: object, seen: Seen) -> None:
    check_optimizer(seen.torch, entry, list(seen.shapes.values()), seen.dtype)


def _step(step: object, seen: Seen) -> None:
    if not _is_int(step) or not 0 <= step <= MAX_COUNT:
        raise Unusable(f"step {_show(step)} is not a whole number from 0 to 2**63-1")


def _seed(seed: object, seen: Seen) -> None:
    if seed is not None and not (_is_int(seed) and -(2**63) <= seed < 2**64):
        raise Unusable(f"seed {_show(seed)} is not a 64-bit whole number")


def _samples(key: str, width_of: Callable[[Seen], int], what: str) -> Callable[[object, Seen], None]:
    def check_samples(value: Any, seen: Seen) -> None:
        if value is None:
            return
        width = width_of(seen)
        widths = (width, 1) if key == "last_t" else (width,)  # a class index per sample is one column
        tensor(seen.torch, value, key, seen.dtype, None)
        if len(value.shape) != 2 or value.shape[0] < 1 or value.shape[1] not in widths:
            raise Unusable(f"{key} has shape {tuple(value.shape)}, not (rows, {width}) with {what}={width}")

    return check_samples


def _classes(names: object, seen: Seen) -> None:
    """The class names read from a label column: distinct labels, no more than the network has outputs."""
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise Unusable(f"the class names {_show(names)} are not a list of distinct labels")
    n_out = seen.specs[-1].out_features
    if len(names) > n_out:
        raise Unusable(f"it names {len(names)} classes but the network has out_features={n_out} outputs")


def _history(info: object, seen: Seen) -> None:
    """The history pointers history.head() reads: newest id, current entry, oldest snapshot."""
    if info is None:
        return
    if not isinstance(info, dict) or set(info) != {"last_id", "head", "oldest"}:
        raise Unusable("the history pointers are not {last_id, head, oldest}")
    last, head, oldest = info["last_id"], info["head"], info["oldest"]
    if not all(_is_int(v) for v in (last, head, oldest)) or not (
        0 <= head <= last < MAX_COUNT and 1 <= oldest <= last + 1
    ):
        raise Unusable(
            f"the history pointers last_id={_show(last)}, head={_show(head)}, oldest={_show(oldest)} do not fit together"
        )


# each field's check, by name: every field of the schema has one
CHECKS: dict[str, Callable[[Any, Seen], None]] = {
    "app": _app,
    "format": _format,
    "dtype": _dtype,
    "layers": _layers,
    "params": _params,
    "grads": _grads,
    "optimizer": _optimizer,
    "step": _step,
    "seed": _seed,
    "last_x": _samples("last_x", lambda seen: seen.specs[0].in_features, "in_features"),
    "last_t": _samples("last_t", lambda seen: seen.specs[-1].out_features, "out_features"),
    "classes": _classes,
    "history": _history,
}
