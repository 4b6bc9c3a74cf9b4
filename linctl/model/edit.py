"""Changes by hand and comparisons between two states: set, history figures, diff."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linctl.errors import UsageError
from linctl.model import spec
from linctl.model.network import Network


def resolve_name(net: Network, name: str) -> str:
    """A parameter name as `set` accepts it: torch's own, or '0.weight' for a bare Linear's 'weight'."""
    names = [n for n, _ in net.named_params()]
    if name in names:
        return name
    if not net.is_stack and name in ("0.weight", "0.bias") and name[2:] in names:
        return name[2:]
    if not net.is_stack and name == "bias":
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
    names = [weight if kind == "weight" else bias for weight, bias in spec.layer_param_names(specs)]
    return [name for name in names if name is not None]


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
    for kind in ("weight", "bias"):
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
class LayerDifference:
    name: str
    weight_a: Any
    weight_b: Any
    bias_a: Any
    bias_b: Any
    weight_grad_a: Any
    weight_grad_b: Any
    bias_grad_a: Any
    bias_grad_b: Any
    weight_change: Any
    bias_change: Any


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
    names_a, names_b = spec.layer_param_names(specs_a), spec.layer_param_names(specs_b)
    prefixes = spec.prefixes(specs_b)
    dtype = b["params"][names_b[0][0]].dtype

    def get(data, group, key):
        value = data[group].get(key) if key else None
        if value is None or value.dtype == dtype:
            return value
        # torch tensors or numpy arrays (read without torch); both sides come from the same reader
        return value.astype(dtype) if hasattr(value, "astype") else value.to(dtype)

    layers, changes = [], []
    for k in range(max(len(names_a), len(names_b))):
        wa_name, ba_name = names_a[k] if k < len(names_a) else (None, None)
        wb_name, bb_name = names_b[k] if k < len(names_b) else (None, None)
        wa, wb = get(a, "params", wa_name), get(b, "params", wb_name)
        ba, bb = get(a, "params", ba_name), get(b, "params", bb_name)
        w_change = wb - wa if wa is not None and wb is not None and wa.shape == wb.shape else None
        b_change = bb - ba if ba is not None and bb is not None and ba.shape == bb.shape else None
        changes += [abs(c).max() for c in (w_change, b_change) if c is not None and math.prod(c.shape)]
        layers.append(
            LayerDifference(
                name=prefixes[k] if k < len(prefixes) else str(k),
                weight_a=wa,
                weight_b=wb,
                bias_a=ba,
                bias_b=bb,
                weight_grad_a=get(a, "grads", wa_name),
                weight_grad_b=get(b, "grads", wb_name),
                bias_grad_a=get(a, "grads", ba_name),
                bias_grad_b=get(b, "grads", bb_name),
                weight_change=w_change,
                bias_change=b_change,
            )
        )
    return Difference(
        layers=layers,
        structure_a=spec.structure(specs_a),
        structure_b=spec.structure(specs_b),
        max_abs_change=float(max(changes)) if changes else None,
        step_a=int(a.get("step", 0)),
        step_b=int(b.get("step", 0)),
    )
