"""What a network is, as plain data: its layers, their names, its structure text.

Nothing here imports torch, so the read-only paths can describe a network
from the state file alone. A network is one `nn.Linear` or an
`nn.Sequential` of `Linear` layers, each followed by its activation module
(none adds no module); parameter names are those of `state_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from linctl.model import registry

DTYPES = ("float32", "float64")
MAX_LAYERS = 64  # the most Linear layers linctl builds, imports or loads


@dataclass(frozen=True)
class LayerSpec:
    """One Linear layer and the activation after it."""

    in_features: int
    out_features: int
    bias: bool = True
    activation: str = "none"

    def as_dict(self) -> dict:
        return {
            "type": "linear",
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation": self.activation,
        }


def from_dicts(layers: list[dict]) -> list[LayerSpec]:
    return [
        LayerSpec(int(d["in_features"]), int(d["out_features"]), bool(d["bias"]), str(d.get("activation") or "none"))
        for d in layers
    ]


def module_indices(specs: list[LayerSpec]) -> list[int]:
    """Where each Linear sits in the nn.Sequential (activation modules take a place each)."""
    indices, position = [], 0
    for layer in specs:
        indices.append(position)
        position += 1 if registry.activation(layer.activation).module is None else 2
    return indices


KINDS = ("weight", "bias")  # a Linear's parameters, in the order module.parameters() gives them


def bare(specs: list[LayerSpec]) -> bool:
    """One layer is built as a bare nn.Linear, as `inspect IN OUT` promises; more are an nn.Sequential."""
    return len(specs) == 1


def which_layer(k: int, count: int, form: str = " (layer {})") -> str:
    """Layer k named in a message, as `form` with its number from 1 (' (layer 2)'); '' when it is the only one."""
    return "" if count == 1 else form.format(k + 1)


def prefixes(specs: list[LayerSpec]) -> list[str]:
    """Each layer's prefix in the state_dict: '' for a bare Linear, '0', '2', ... in a stack."""
    return [""] if bare(specs) else [str(i) for i in module_indices(specs)]


def param_name(prefix: str, kind: str) -> str:
    return f"{prefix}.{kind}" if prefix else kind


def layer_params(specs: list[LayerSpec]) -> list[dict[str, str]]:
    """Each layer's parameters, {kind: state_dict name} in the order of KINDS: {'weight': '0.weight',
    'bias': '0.bias'}; a layer built without a bias has no 'bias'."""
    return [
        {kind: param_name(p, kind) for kind in KINDS if kind == "weight" or layer.bias}
        for p, layer in zip(prefixes(specs), specs, strict=True)
    ]


def param_names(specs: list[LayerSpec]) -> list[str]:
    """Every parameter name, in the order of `module.parameters()`."""
    return [name for layer in layer_params(specs) for name in layer.values()]


def param_shape(layer: LayerSpec, kind: str) -> tuple[int, ...]:
    return (layer.out_features, layer.in_features) if kind == "weight" else (layer.out_features,)


def param_shapes(specs: list[LayerSpec]) -> dict[str, tuple[int, ...]]:
    return {
        name: param_shape(layer, kind)
        for names, layer in zip(layer_params(specs), specs, strict=True)
        for kind, name in names.items()
    }


def linear_text(layer: LayerSpec) -> str:
    return f"Linear(in_features={layer.in_features}, out_features={layer.out_features}, bias={layer.bias})"


def structure(specs: list[LayerSpec]) -> str:
    """The module exactly as torch prints it."""
    if bare(specs):
        return linear_text(specs[0])
    lines = ["Sequential("]
    for index, layer in zip(module_indices(specs), specs, strict=True):
        lines.append(f"  ({index}): {linear_text(layer)}")
        module = registry.activation(layer.activation).module_call()
        if module is not None:
            lines.append(f"  ({index + 1}): {module}")
    lines.append(")")
    return "\n".join(lines)


def sizes(specs: list[LayerSpec]) -> list[int]:
    return [specs[0].in_features] + [layer.out_features for layer in specs]


def activations_for(specs: list[LayerSpec], given: list[str] | None, option: str = "--activation") -> list[str]:
    """One activation per layer: none given keeps the stored ones, one applies to all, else one each."""
    from linctl.errors import UsageError

    if not given:
        return [layer.activation for layer in specs]
    for name in given:
        if name not in registry.ACTIVATIONS:
            raise UsageError(f"{option}: expected one of {', '.join(registry.ACTIVATIONS)}, got {name!r}")
    if len(given) == 1:
        return given * len(specs)
    if len(given) != len(specs):
        raise UsageError(
            f"{option}: give it once (for every layer) or once per layer ({len(specs)} here, in order), got {len(given)}"
        )
    return list(given)


def plan(
    sizes: list[int] | None,
    weights: list[list[list[float]]] | None,
    biases: list[list[list[float]]] | None,
    activations: list[str] | None,
    bias: bool,
) -> list[LayerSpec]:
    """The layers `inspect` builds, every shape checked against the sizes before anything is allocated.

    Sizes IN, hidden..., OUT; or none, and then the --weight matrices give them.
    One --weight and one --bias per layer, in order; --activation once for all
    layers or once per layer.
    """
    from linctl.errors import UsageError

    if sizes is not None and len(sizes) < 2:
        raise UsageError(
            "inspect: give at least two sizes, IN and OUT (like 'linctl inspect 3 2'), or IN, hidden sizes and OUT "
            "for a stack (like 'linctl inspect 2 3 1')"
        )
    if sizes is None:
        assert weights is not None
        sizes = [len(weights[0][0])] + [len(w) for w in weights]
        for k in range(1, len(weights)):
            if len(weights[k][0]) != len(weights[k - 1]):
                raise UsageError(
                    f"--weight: layer {k + 1} has {len(weights[k][0])} columns but layer {k} gives "
                    f"{len(weights[k - 1])} outputs (its rows); layer k's weight needs as many columns as the "
                    "weight before it has rows"
                )
    count = len(sizes) - 1
    if weights is not None:
        _check_weights(weights, sizes)
    if biases is not None:
        _check_biases(biases, sizes, bias)
    acts = activations or ["none"]
    if len(acts) not in (1, count):
        raise UsageError(
            f"--activation: give it once (for every layer) or once per layer ({count} here, in order), got {len(acts)}"
        )
    if len(acts) == 1:
        acts = acts * count
    return [LayerSpec(sizes[k], sizes[k + 1], bias, acts[k]) for k in range(count)]


def _check_weights(weights: list[list[list[float]]], sizes: list[int]) -> None:
    from linctl.errors import UsageError

    count = len(sizes) - 1
    if len(weights) != count:
        raise UsageError(f"--weight: give it once per layer ({count} here, in order), got {len(weights)}")
    for k, w in enumerate(weights):
        n_in, n_out = sizes[k], sizes[k + 1]
        if len(w) != n_out or any(len(row) != n_in for row in w):
            where = which_layer(k, count, " for layer {}")
            raise UsageError(
                f"--weight: expected shape (OUT, IN) = ({n_out}, {n_in}){where}: {n_out} rows of {n_in} values, "
                f"got ({len(w)}, {len(w[0]) if w else 0})"
            )


def _check_biases(biases: list[list[list[float]]], sizes: list[int], bias: bool) -> None:
    from linctl.errors import UsageError

    count = len(sizes) - 1
    if not bias:
        raise UsageError("--bias and --no-bias contradict each other; drop one")
    if len(biases) != count:
        raise UsageError(f"--bias: give it once per layer ({count} here, in order), got {len(biases)}")
    for k, b in enumerate(biases):
        if len(b) != 1:
            raise UsageError("--bias: one row of OUT values separated by commas, like --bias 0.1,-0.2 (no ';')")
        if len(b[0]) != sizes[k + 1]:
            where = which_layer(k, count, " for layer {}")
            raise UsageError(f"--bias: expected {sizes[k + 1]} values{where} (one per output), got {len(b[0])}")
