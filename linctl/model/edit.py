"""Changes by hand and comparisons between two states: set, history figures, diff."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linctl.errors import UsageError
from linctl.model import spec
from linctl.model.network import Network
from linctl.model.records import LayerParams, ParamRecord


def resolve_name(net: Network, name: str) -> str:
    """A parameter name as `set` accepts it: torch's own, or '0.weight' for a bare Linear's 'weight'."""
    names = [n for n, _ in net.named_params()]
    if name in names:
        return name
    bare = spec.bare(net.specs)  # a bare Linear's names have no prefix; '0.weight' is how a stack would name it
    if bare and name in ("0.weight", "0.bias") and name[2:] in names:
        return name[2:]
    if bare and name == "bias":
        raise UsageError("bias[...]: this network has no bias (it was built with --no-bias)")
    raise UsageError(f"{name!r} is not a parameter of this network; its parameters are {', '.join(names)}")


def set_value(net: Network, name: str, index: tuple[int, ...], value: float) -> tuple[str, float, float]:
    """Edit one entry of a parameter by hand; returns (name, old, new)."""
    import torch

    name = resolve_name(net, name)
    param = net.param(name)
    shape = tuple(param.shape)
    if len(index) != len(shape):
        want = "ROW,COL" if len(shape) == 2 else "ROW"
        raise UsageError(f"{name} has shape {shape}; index it as {name}[{want}], got {len(index)} index(es)")
    for i, (k, n) in enumerate(zip(index, shape, strict=True)):
        if not -n <= k < n:
            raise UsageError(
                f"{name}[{','.join(map(str, index))}]: index {k} is out of range for dimension {i} of size {n}"
            )
    with torch.no_grad():
        old = float(param[index])
        try:
            param[index] = value
        except RuntimeError:
            raise UsageError(f"{name}[{','.join(map(str, index))}]={value}: too large for {param.dtype}") from None
        new = float(param[index])
    return name, old, new


def _kind_names(data: dict, kind: str) -> list[str]:
    specs = spec.from_dicts(data["layers"])
    return [names[kind] for names in spec.layer_params(specs) if kind in names]


def global_norm(tensors: list) -> float | None:
    """||all of them as one vector||, as torch.nn.utils.get_total_norm computes it."""
    import torch

    if not tensors:
        return None
    if len(tensors) == 1:
        return float(tensors[0].norm())
    return float(torch.linalg.vector_norm(torch.stack([t.norm() for t in tensors])))


def movement(old: dict | None, new: dict) -> dict:
    """How far a change moved the parameters: the figures a history entry keeps.

    `weight_change`, `bias_change` and the norms are global over the layers (one vector of all weights, as
    torch.nn.utils.get_total_norm takes them); `changes` has each parameter's own ||after - before||, by its
    state_dict name (None where the network was replaced).
    """
    changes = per_parameter(old, new)
    figures: dict[str, Any] = {}
    for kind in spec.KINDS:
        names = _kind_names(new, kind)
        parts = [changes[n] for n in names] if changes is not None else []
        figures[f"{kind}_change"] = (
            (parts[0] if len(parts) == 1 else math.sqrt(sum(p * p for p in parts))) if parts else None
        )
        figures[f"{kind}_norm"] = global_norm([new["params"][n] for n in names])
    grads = [new["grads"].get(n) for n in _kind_names(new, "weight")]
    figures["weight_grad_norm"] = None if any(g is None for g in grads) else global_norm(grads)
    figures["changes"] = changes
    return figures


def per_parameter(old: dict | None, new: dict) -> dict[str, float] | None:
    """Each parameter's ||after - before||, where the network kept its layers (else None)."""
    if old is None or old.get("layers") != new.get("layers"):
        return None
    before = old["params"]
    if any(before.get(n) is None or before[n].shape != a.shape for n, a in new["params"].items()):
        return None
    return {name: distance(after, before[name]) for name, after in new["params"].items()}


def distance(a, b, chunk: int = 1 << 20) -> float:
    """||a - b||, a row block at a time so a large layer needs no full-size temporary."""
    if a.numel() <= chunk:
        return float((a - b).norm())
    rows = max(1, chunk // max(1, a.shape[-1]))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        total += float((a[start : start + rows] - b[start : start + rows]).double().pow(2).sum())
    return math.sqrt(total)


@dataclass
class ParamDifference(ParamRecord):
    """One parameter in two states: each side's value and gradient (None where that side has none)."""

    a: Any
    b: Any
    grad_a: Any
    grad_b: Any
    change: Any  # b - a, where both have it in the same shape


@dataclass
class LayerDifference(LayerParams[ParamDifference]):
    """The k-th Linear layer of two states; a parameter either side has gets a record."""

    in_a: bool  # whether each state has this layer
    in_b: bool


@dataclass
class Difference:
    """Two recorded states side by side, layer by layer."""

    layers: list[LayerDifference]
    structure_a: str
    structure_b: str
    max_abs_change: float | None
    step_a: int
    step_b: int


def difference(a: dict, b: dict) -> Difference:
    """Layers are paired by position; a layer that only one side has shows with nothing beside it."""
    specs_a, specs_b = spec.from_dicts(a["layers"]), spec.from_dicts(b["layers"])
    names_a, names_b = spec.layer_params(specs_a), spec.layer_params(specs_b)
    prefixes = spec.prefixes(specs_b)
    dtype = b["params"][names_b[0]["weight"]].dtype

    def get(data, group, key):
        value = data[group].get(key) if key else None
        if value is None or value.dtype == dtype:
            return value
        # torch tensors or numpy arrays (read without torch); both sides come from the same reader
        return value.astype(dtype) if hasattr(value, "astype") else value.to(dtype)

    layers, changes = [], []
    for k in range(max(len(names_a), len(names_b))):
        side_a = names_a[k] if k < len(names_a) else {}
        side_b = names_b[k] if k < len(names_b) else {}
        params = {}
        for kind in (kind for kind in spec.KINDS if kind in side_a or kind in side_b):
            key_a, key_b = side_a.get(kind), side_b.get(kind)
            pa, pb = get(a, "params", key_a), get(b, "params", key_b)
            change = pb - pa if pa is not None and pb is not None and pa.shape == pb.shape else None
            if change is not None and math.prod(change.shape):
                changes.append(abs(change).max())
            key = spec.param_name(prefixes[k], kind) if side_b else key_a or kind  # #b's names where it has the layer
            params[key] = ParamDifference(
                name=key,
                kind=kind,
                a=pa,
                b=pb,
                grad_a=get(a, "grads", key_a),
                grad_b=get(b, "grads", key_b),
                change=change,
            )
        name = prefixes[k] if k < len(prefixes) else str(k)
        layers.append(LayerDifference(name=name, params=params, in_a=bool(side_a), in_b=bool(side_b)))
    return Difference(
        layers=layers,
        structure_a=spec.structure(specs_a),
        structure_b=spec.structure(specs_b),
        max_abs_change=float(max(changes)) if changes else None,
        step_a=int(a.get("step", 0)),
        step_b=int(b.get("step", 0)),
    )
