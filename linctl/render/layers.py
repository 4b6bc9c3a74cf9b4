"""JSON pieces shared by every view that shows parameters: one object per
Linear layer, and the single-layer top-level keys taken from that one layer."""

from __future__ import annotations

from typing import Any

from linctl.tensors import plain

# a stack keeps these top-level; everything else about parameters is per layer
LAYER_BASICS = ("name", "in_features", "out_features", "activation")


def layer_entry(layer: Any, keys: tuple[str, ...], **extra: Any) -> dict:
    """One layer as JSON: its name, sizes, activation, then the tensors named by `keys`."""
    entry = {key: getattr(layer, key) for key in LAYER_BASICS if hasattr(layer, key)}
    for key in keys:
        value = getattr(layer, key, None)
        entry[key] = value if isinstance(value, (bool, int, float, str)) else plain(value)
    entry.update(extra)
    return entry


def with_layers(top: dict, layers: list[dict], single_keys: tuple[str, ...]) -> dict:
    """`layers` always; for one bare Linear, its per-layer keys at the top level as well (as before stacks)."""
    if len(layers) == 1:
        for key in single_keys:
            if key in layers[0]:
                top[key] = layers[0][key]
    top["layers"] = layers
    return top


def layer_title(layer: Any, count: int) -> str:
    """'(2): Linear(3, 4) -> tanh' for a stack, its place in the nn.Sequential as torch prints it; '' for one bare layer."""
    if count == 1:
        return ""
    act = "" if layer.activation == "none" else f" -> {layer.activation}"
    return f"({layer.name}): Linear({layer.in_features}, {layer.out_features}){act}"


def symbols(layers: list) -> str:
    """What W_k and b_k stand for: k counts the Linear layers, the names are the state_dict's."""
    return "   ".join(
        f"W{k} = {prefixed(layer, 'weight')}"
        + (f", b{k} = {prefixed(layer, 'bias')}" if layer.bias is not None else "")
        for k, layer in enumerate(layers)
    )


def prefixed(layer: Any, kind: str) -> str:
    """The parameter's name as torch's state_dict has it: 'weight', '2.bias'."""
    return f"{layer.name}.{kind}" if layer.name else kind
