"""JSON pieces shared by every view that shows parameters: one object per Linear layer, its keys
read from the layer's per-parameter records, and the single-layer top-level keys taken from that
one layer (here alone)."""

from __future__ import annotations

from typing import Any

from linctl.model.spec import KINDS, param_name
from linctl.tensors import plain

# a stack keeps these top-level; everything else about parameters is per layer
LAYER_BASICS = ("name", "in_features", "out_features", "activation")
SYMBOLS = {"weight": "W", "bias": "b"}  # how the equations write each kind of parameter


def param_key(key: str) -> tuple[str, str] | None:
    """Which parameter a JSON key is about, and which field of its record: 'bias_grad_before' is the
    bias's `grad_before`, 'manual_weight_grad' the weight's `manual_grad`, 'weight' the weight's `value`;
    None for a key about the whole layer ('linear', 'init_bound')."""
    words = key.split("_")
    kind = next((word for word in words if word in KINDS), None)
    if kind is None:
        return None
    words.remove(kind)
    return kind, "_".join(words) or "value"


def value_of(layer: Any, key: str) -> Any:
    """The value a JSON key names: a field of one parameter's record (None where the layer has no such
    parameter, as a layer built without a bias), or of the layer itself."""
    about = param_key(key)
    if about is None:
        return getattr(layer, key, None)
    record = layer.param(about[0])
    return None if record is None else getattr(record, about[1])


def layer_entry(layer: Any, keys: tuple[str, ...], **extra: Any) -> dict:
    """One layer as JSON: its name, sizes, activation, then the values named by `keys`."""
    entry = {key: getattr(layer, key) for key in LAYER_BASICS if hasattr(layer, key)}
    for key in keys:
        value = value_of(layer, key)
        entry[key] = value if isinstance(value, (bool, int, float, str)) else plain(value)
    entry.update(extra)
    return entry


def with_layers(top: dict, layers: list[dict], single_keys: tuple[str, ...]) -> dict:
    """`layers` always; for one bare Linear, its per-layer keys at the top level as well (as before stacks).

    The one place where a network of one layer adds keys: README's `weight`, `bias`, `weight_grad`, ...
    """
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


class Symbols:
    """How the equations write layer k of `count`: a lone Linear as the tutorial writes it (W, b,
    y = net(x)), a stack's layers numbered (W0, b0, z0 = W0·x + b0, h0). The one place that decides it."""

    def __init__(self, k: int, count: int):
        self.k, self.lone = k, count == 1
        self.input = "x" if k == 0 else f"h{k - 1}"

    def of(self, kind: str) -> str:
        """'W' or 'W2', 'b' or 'b2'."""
        return SYMBOLS[kind] + ("" if self.lone else str(self.k))

    @property
    def linear(self) -> str:
        """The layer's linear output: 'y' (net(x) itself), or 'z2'."""
        return "y" if self.lone else f"z{self.k}"

    def linear_title(self, has_bias: bool) -> str:
        if self.lone:
            return "net(x)"
        return f"z{self.k} = W{self.k}·{self.input}" + (f" + b{self.k}" if has_bias else "")

    def output_title(self, activation: str) -> str:
        return f"{activation}(net(x))" if self.lone else f"h{self.k} = {activation}(z{self.k})"

    @property
    def compared(self) -> str:
        """What is checked against the by-hand product: net(x) itself, or z_k."""
        return "net(x)" if self.lone else f"z{self.k}"


def titled(layer: Any, count: int) -> list:
    """The heading a layer's part of a view starts with: its place in the stack; none for one bare layer."""
    from linctl.render.widgets import heading

    title = layer_title(layer, count)
    return [heading(title)] if title else []


def symbols(layers: list) -> str:
    """What W_k and b_k stand for: k counts the Linear layers, the names are the state_dict's."""
    return "   ".join(
        ", ".join(f"{SYMBOLS[record.kind]}{k} = {record.name}" for record in layer.params.values())
        for k, layer in enumerate(layers)
    )


def prefixed(layer: Any, kind: str) -> str:
    """The parameter's name as torch's state_dict has it: 'weight', '2.bias'."""
    return param_name(layer.name, kind)
