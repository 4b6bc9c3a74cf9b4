"""Views and JSON for inspect and set (forward's are in render/forward.py)."""

from __future__ import annotations

from linctl.model.spec import KINDS
from linctl.render.cells import fmt, text
from linctl.render.layers import layer_entry, prefixed, titled, with_layers
from linctl.render.widgets import (
    heading,
    kv,
    matrix,
    setting_text,
    show,
    summary_table,
    tensor_view,
    vector,
)

PARAM_KEYS = ("weight", "bias", "weight_grad", "bias_grad")
RANGE_KEYS = ("init_bound", "weight_min", "weight_max")

# --------------------------------------------------------------------------
# inspect


def inspect_json(d, path: str, backup: str | None = None) -> dict:
    top = {
        "structure": d.structure,
        "sizes": d.sizes,
        "in_features": d.in_features,
        "out_features": d.out_features,
        "bias_enabled": d.bias_enabled,
        "activation": d.layers[-1].activation,  # the last layer's (a stack's each are in `layers`)
        "dtype": d.dtype,
        "requires_grad": d.requires_grad,
        "parameters": d.parameters,
        "optimizer": d.optimizer,
        "step": d.step,
        "state": path,
        "backup": backup,
    }
    layers = [layer_entry(layer, (*PARAM_KEYS, "parameters", *RANGE_KEYS)) for layer in d.layers]
    return with_layers(top, layers, (*RANGE_KEYS, *PARAM_KEYS))


def _optimizer_text(optimizer: dict) -> str:
    name = optimizer.get("name")
    if not name:
        return "none yet"
    return f"{name} " + ", ".join(f"{k}={setting_text(v)}" for k, v in optimizer["settings"].items())


def layer_parts(layer) -> list:
    """A layer's parameters, then their gradients, as inspect shows them."""
    parts = []
    for kind in KINDS:
        record = layer.param(kind)
        if record is None:
            parts.append(text(f"{prefixed(layer, kind)}: None (built with --no-{kind})"))
        elif record.value.ndim == 2:
            parts.append(matrix(f"{record.name} (rows = output neurons, columns = inputs)", record.value))
        else:
            parts.append(vector(record.name, record.value))
    for record in layer.params.values():
        title = f"{record.name}.grad"
        none = text(f"{title}: None  (no backward yet)")
        parts.append(tensor_view(title, record.grad) if record.grad is not None else none)
    return parts


def inspect_view(d, path: str) -> None:
    if len(d.layers) == 1:  # one layer's facts fit one list; a stack's layers need a table
        layer = d.layers[0]
        weight, bias = layer.param("weight"), layer.param("bias")
        act = layer.activation
        facts = [
            ("structure", d.structure),
            ("activation", act + ("" if act == "none" else "  (applied after the linear map)")),
            ("dtype", d.dtype),
            ("requires_grad", f"weight {d.requires_grad}" + (f", bias {d.requires_grad}" if d.bias_enabled else "")),
            (
                "parameters",
                f"{d.parameters:,}  (weight {d.out_features}×{d.in_features}"
                + (f" + bias {d.out_features})" if d.bias_enabled else ")"),
            ),
            ("init bound", f"±{fmt(layer.init_bound)}  (torch's ±1/sqrt(in_features) = ±1/sqrt({d.in_features}))"),
            ("weight range", f"min {fmt(weight.min)}  max {fmt(weight.max)}"),
        ]
        if bias is not None:
            facts.append(("bias range", f"min {fmt(bias.min)}  max {fmt(bias.max)}"))
        facts += [("step", str(d.step)), ("optimizer", _optimizer_text(d.optimizer)), ("state", path)]
        show(heading(d.structure), kv(facts), *layer_parts(layer))
        return
    facts = [
        ("sizes", " -> ".join(str(n) for n in d.sizes)),
        ("dtype", d.dtype),
        ("parameters", f"{d.parameters:,}"),
        ("step", str(d.step)),
        ("optimizer", _optimizer_text(d.optimizer)),
        ("state", path),
    ]
    rows = [
        (
            layer.name,
            f"Linear({layer.in_features}, {layer.out_features})" + ("" if layer.param("bias") else " no bias"),
            layer.activation,
            f"(B, {layer.out_features})",
            f"{layer.parameters:,}",
            f"{fmt(layer.param('weight').min)} .. {fmt(layer.param('weight').max)}",
        )
        for layer in d.layers
    ]
    table = summary_table(("layer", "module", "activation", "output", "params", "weight range"), rows)
    parts = [heading(d.structure), kv(facts), table]
    for layer in d.layers:
        parts += [*titled(layer, len(d.layers)), *layer_parts(layer)]
    show(*parts)


# --------------------------------------------------------------------------
# set


def set_json(changes: list[dict], d, path: str) -> dict:
    top = {"changes": changes, "step": d.step, "state": path}
    layers = [layer_entry(layer, PARAM_KEYS) for layer in d.layers]
    return with_layers(top, layers, ("weight", "bias"))


def set_view(changes: list[dict], d, path: str) -> None:
    lines = [
        text(f"{c['name']}[{','.join(map(str, c['index']))}]: {fmt(c['old'])} -> {fmt(c['new'])}") for c in changes
    ]
    touched = {c["name"].rsplit(".", 1)[0] if "." in c["name"] else "" for c in changes}
    parts = [heading("set by hand"), *lines]
    for layer in (layer for layer in d.layers if layer.name in touched):
        parts += titled(layer, len(d.layers))
        parts += [tensor_view(record.name, record.value) for record in layer.params.values()]
    parts.append(text("gradients and optimizer state were left as they were"))
    show(*parts)
