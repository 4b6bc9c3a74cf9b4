"""Views and JSON for inspect and set (forward's are in render/forward.py)."""

from __future__ import annotations

from linctl.render.cells import fmt, text
from linctl.render.layers import layer_entry, layer_title, prefixed, with_layers
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

# --------------------------------------------------------------------------
# inspect


def inspect_json(d, path: str, backup: str | None = None) -> dict:
    top = {
        "structure": d.structure,
        "sizes": d.sizes,
        "in_features": d.in_features,
        "out_features": d.out_features,
        "bias_enabled": d.bias_enabled,
        "activation": d.activation,
        "dtype": d.dtype,
        "requires_grad": d.requires_grad,
        "parameters": d.parameters,
        "optimizer": d.optimizer,
        "step": d.step,
        "state": path,
        "backup": backup,
    }
    layers = [
        layer_entry(
            layer,
            PARAM_KEYS,
            parameters=layer.parameters,
            init_bound=layer.init_bound,
            weight_min=layer.weight_min,
            weight_max=layer.weight_max,
        )
        for layer in d.layers
    ]
    if len(layers) == 1:
        for key in ("init_bound", "weight_min", "weight_max"):
            top[key] = layers[0][key]
    return with_layers(top, layers, PARAM_KEYS)


def _optimizer_text(optimizer: dict) -> str:
    name = optimizer.get("name")
    if not name:
        return "none yet"
    return f"{name} " + ", ".join(f"{k}={setting_text(v)}" for k, v in optimizer["settings"].items())


def layer_parts(layer) -> list:
    """A layer's weight, bias and their gradients, as inspect shows them."""
    w, b = prefixed(layer, "weight"), prefixed(layer, "bias")
    parts = [
        matrix(f"{w} (rows = output neurons, columns = inputs)", layer.weight),
        vector(b, layer.bias) if layer.bias is not None else text(f"{b}: None (built with --no-bias)"),
        tensor_view(f"{w}.grad", layer.weight_grad)
        if layer.weight_grad is not None
        else text(f"{w}.grad: None  (no backward yet)"),
    ]
    if layer.bias is not None:
        parts.append(
            tensor_view(f"{b}.grad", layer.bias_grad)
            if layer.bias_grad is not None
            else text(f"{b}.grad: None  (no backward yet)")
        )
    return parts


def inspect_view(d, path: str) -> None:
    if not d.is_stack:
        layer = d.layers[0]
        facts = [
            ("structure", d.structure),
            ("activation", d.activation + ("" if d.activation == "none" else "  (applied after the linear map)")),
            ("dtype", d.dtype),
            ("requires_grad", f"weight {d.requires_grad}" + (f", bias {d.requires_grad}" if d.bias_enabled else "")),
            (
                "parameters",
                f"{d.parameters:,}  (weight {d.out_features}×{d.in_features}"
                + (f" + bias {d.out_features})" if d.bias_enabled else ")"),
            ),
            ("init bound", f"±{fmt(layer.init_bound)}  (torch's ±1/sqrt(in_features) = ±1/sqrt({d.in_features}))"),
            ("weight range", f"min {fmt(layer.weight_min)}  max {fmt(layer.weight_max)}"),
        ]
        if d.bias_enabled:
            facts.append(("bias range", f"min {fmt(layer.bias_min)}  max {fmt(layer.bias_max)}"))
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
            f"Linear({layer.in_features}, {layer.out_features})" + ("" if layer.bias is not None else " no bias"),
            layer.activation,
            f"(B, {layer.out_features})",
            f"{layer.parameters:,}",
            f"{fmt(layer.weight_min)} .. {fmt(layer.weight_max)}",
        )
        for layer in d.layers
    ]
    table = summary_table(("layer", "module", "activation", "output", "params", "weight range"), rows)
    parts = [heading(d.structure), kv(facts), table]
    for layer in d.layers:
        parts.append(heading(layer_title(layer, len(d.layers))))
        parts += layer_parts(layer)
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
    for layer in d.layers:
        if len(d.layers) > 1 and layer.name not in touched:
            continue
        if len(d.layers) > 1:
            parts.append(heading(layer_title(layer, len(d.layers))))
        parts.append(tensor_view(prefixed(layer, "weight"), layer.weight))
        if layer.bias is not None:
            parts.append(vector(prefixed(layer, "bias"), layer.bias))
    parts.append(text("gradients and optimizer state were left as they were"))
    show(*parts)
