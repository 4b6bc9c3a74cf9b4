"""View and JSON for backward: the loss, the gradients autograd filled, and backprop by hand beside them."""

from __future__ import annotations

import math

from linctl.model.spec import KINDS
from linctl.render.cells import fmt, shape, text
from linctl.render.layers import layer_entry, layer_title, symbols, titled, value_of, with_layers
from linctl.render.widgets import (
    check_line,
    heading,
    samples,
    show,
    shown_alike,
    tensor_view,
)
from linctl.tensors import plain

# --------------------------------------------------------------------------
# backward

GRAD_KEYS = (
    "weight_grad",
    "bias_grad",
    "weight_grad_before",
    "bias_grad_before",
    "weight_grad_added",
    "bias_grad_added",
    "manual_weight_grad",
    "manual_bias_grad",
    "weight",
    "bias",
)
BACKWARD_LAYER_KEYS = (*GRAD_KEYS, "linear", "output", "delta", "max_abs_diff", "match")
SINGLE_BACKWARD_KEYS = ("activation", *GRAD_KEYS, "linear")


def backward_json(r) -> dict:
    top = {
        "x": plain(r.x),
        "t": plain(r.t),
        "output": plain(r.output),
        "loss": r.loss,
        "loss_name": r.loss_name,
        "activations": r.activations,
        "max_abs_diff": r.max_abs_diff,
        "match": r.match,
        "weights_unchanged": r.weights_unchanged,
        "structure": r.structure,
        "dtype": r.dtype,
    }
    # backward leaves the weights as they were: before and after are the same tensors
    layers = [
        layer_entry(layer, BACKWARD_LAYER_KEYS, **{f"{kind}_before": plain(value_of(layer, kind)) for kind in KINDS})
        for layer in r.layers
    ]
    return with_layers(top, layers, SINGLE_BACKWARD_KEYS)


def grad_table(title: str, tensor, what_none: str = "None"):
    return tensor_view(title, tensor) if tensor is not None else text(f"{title}: {what_none}")


def _hand(title: str, hand, autograd, autograd_title: str):
    """A gradient by hand; when it is too big to show whole and its corners read exactly as autograd's
    just shown, one line says so instead of the same table twice."""
    if shown_alike(hand, autograd):
        count = math.prod(hand.shape)
        return text(
            f"{title}  shape {shape(hand)}: every number shown is as in {autograd_title} above, "
            f"to 4 decimals; the check below compares all {count:,}"
        )
    return grad_table(title, hand)


def loss_lines(r) -> list:
    from linctl.model.registry import loss

    act = r.layers[-1].activation
    lone = len(r.layers) == 1  # a lone Linear's output names its activation; a stack's, net(x) alone
    o_title = f"output o = {act}(net(x))" if lone and act != "none" else "output o = net(x)"
    entry = loss(r.loss_name)
    formula = entry.formula.removeprefix("L = ")
    indices = entry.target == "classes" and r.t.shape[1] == 1
    return [
        samples("x", r.x, "in"),
        samples(o_title, r.output, "out"),
        samples("target class t (the output that should win)", r.t, "class")
        if indices
        else samples("target t", r.t, "out"),
        text(f"loss = {r.loss_name} = {formula} = {fmt(r.loss)}", "bold"),
    ]


def _accumulation(layer, first: bool) -> list:
    parts = []
    for record in layer.params.values():
        if not first:
            parts += [
                grad_table(f"{record.name}.grad before", record.grad_before),
                grad_table("added by this backward", record.grad_added),
            ]
        parts.append(grad_table(f"{record.name}.grad now" + ("" if first else " = before + added"), record.grad))
    return parts


def backward_parts(r) -> list:

    parts = [*loss_lines(r), heading("loss.backward()")]
    first = r.layers[0].param("weight").grad_before is None
    if first:
        parts.append(
            text(
                f"{'weight.grad' if len(r.layers) == 1 else 'every .grad'} before: None "
                "(first backward since the gradients were cleared); "
                "gradients accumulate, so another backward without zero-grad will ADD to what follows"
            )
        )
    for layer in r.layers:
        parts += [*titled(layer, len(r.layers)), *_accumulation(layer, first)]
    if not first:
        parts.append(
            text(
                "gradients accumulate: this backward ADDED to the stored .grad, exactly as PyTorch does; "
                "run 'linctl zero-grad' to start from None",
                "yellow",
            )
        )
    # one Linear: the chain rule once, as the tutorial writes it; a stack: backprop, layer by layer
    parts += chain_rule_parts(r.layers[0]) if len(r.layers) == 1 else backprop_parts(r)
    parts.append(check_line(r.match, r.max_abs_diff, "autograd's gradient vs by hand"))
    parts.append(
        text("the weights did not change (backward only fills .grad)" if r.weights_unchanged else "WEIGHTS CHANGED")
    )
    return parts


HAND_TITLES = {"weight": "dL/dW by hand (this backward alone)", "bias": "dL/db by hand"}


def chain_rule_parts(layer) -> list:
    """A lone Linear's gradients by hand: dL/dy, then each parameter's."""
    from linctl.model.registry import activation

    rule = activation(layer.activation).local_rule("dL/do", "o", "y")
    parts = [heading(f"by hand (chain rule): dL/dy = {rule};  dL/dW = (dL/dy)ᵀ·x;  dL/db = Σ_batch dL/dy")]
    for record in layer.params.values():
        parts.append(_hand(HAND_TITLES[record.kind], record.manual_grad, record.grad, f"{record.name}.grad"))
    return parts


def backprop_parts(r) -> list:
    """Backprop by hand, from the output back: delta, dL/dW, dL/db per layer."""
    from linctl.model.registry import activation

    count = len(r.layers)
    last = count - 1
    parts = [heading("backprop by hand, from the output back (this backward alone)")]
    for k in range(last, -1, -1):
        layer = r.layers[k]
        upstream = "dL/do" if k == last else f"(delta{k + 1}·W{k + 1})"
        rule = f"delta{k} = {activation(layer.activation).local_rule(upstream, f'h{k}', f'z{k}')}"
        x_name = "x" if k == 0 else f"h{k - 1}"
        parts += [
            heading(
                f"{layer_title(layer, count)}:  {rule};  dL/dW{k} = delta{k}ᵀ·{x_name};  dL/db{k} = Σ_batch delta{k}"
            ),
            samples(f"delta{k} = dL/dz{k}", layer.delta, "out"),
        ]
        for record in layer.params.values():
            parts.append(_hand(f"dL/d{record.name} by hand", record.manual_grad, record.grad, f"{record.name}.grad"))
        parts.append(check_line(layer.match, layer.max_abs_diff, f"layer {layer.name}: autograd vs by hand"))
    return parts


def backward_view(r) -> None:
    if len(r.layers) == 1:
        head = f"backward   loss {r.loss_name}   activation {r.activations[-1]}   {r.structure}"
    else:
        head = f"backward   loss {r.loss_name}   activations {', '.join(r.activations)}\n{r.structure}"
    extra = [text(symbols(r.layers))] if len(r.layers) > 1 else []
    show(heading(head), *extra, *backward_parts(r))
