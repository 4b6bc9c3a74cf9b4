"""View and JSON for backward: the loss, the gradients autograd filled, and backprop by hand beside them."""

from __future__ import annotations

import math

from linctl.render.cells import fmt, shape, text
from linctl.render.layers import layer_entry, layer_title, prefixed, symbols, with_layers
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
SINGLE_BACKWARD_KEYS = (*GRAD_KEYS, "linear")


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
    if len(r.layers) == 1:
        top["activation"] = r.activation
    # backward leaves the weights as they were: before and after are the same tensors
    layers = [
        layer_entry(layer, BACKWARD_LAYER_KEYS, weight_before=plain(layer.weight), bias_before=plain(layer.bias))
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

    single = len(r.layers) == 1
    act = r.activation
    if single:
        o_title = f"output o = {act}(net(x))" if act != "none" else "output o = net(x)"
    else:
        o_title = "output o = net(x)"
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
    w, b = prefixed(layer, "weight"), prefixed(layer, "bias")
    parts = []
    if not first:
        parts += [
            grad_table(f"{w}.grad before", layer.weight_grad_before),
            grad_table("added by this backward", layer.weight_grad_added),
        ]
    parts.append(grad_table(f"{w}.grad now" + ("" if first else " = before + added"), layer.weight_grad))
    if layer.bias is not None:
        if not first:
            parts += [
                grad_table(f"{b}.grad before", layer.bias_grad_before),
                grad_table("added by this backward", layer.bias_grad_added),
            ]
        parts.append(grad_table(f"{b}.grad now" + ("" if first else " = before + added"), layer.bias_grad))
    return parts


def backward_parts(r) -> list:
    from linctl.model.registry import activation

    parts = [*loss_lines(r), heading("loss.backward()")]
    first = r.layers[0].weight_grad_before is None
    if first:
        parts.append(
            text(
                f"{'weight.grad' if len(r.layers) == 1 else 'every .grad'} before: None "
                "(first backward since the gradients were cleared); "
                "gradients accumulate, so another backward without zero-grad will ADD to what follows"
            )
        )
    single = len(r.layers) == 1
    if single:
        layer = r.layers[0]
        parts += _accumulation(layer, first)
    else:
        for layer in r.layers:
            parts.append(heading(layer_title(layer, len(r.layers))))
            parts += _accumulation(layer, first)
    if not first:
        parts.append(
            text(
                "gradients accumulate: this backward ADDED to the stored .grad, exactly as PyTorch does; "
                "run 'linctl zero-grad' to start from None",
                "yellow",
            )
        )
    if single:
        layer = r.layers[0]
        parts += [
            heading(
                f"by hand (chain rule): dL/dy = {activation(layer.activation).local_rule('dL/do', 'o', 'y')};  "
                "dL/dW = (dL/dy)ᵀ·x;  dL/db = Σ_batch dL/dy"
            ),
            _hand("dL/dW by hand (this backward alone)", layer.manual_weight_grad, layer.weight_grad, "weight.grad"),
        ]
        if layer.manual_bias_grad is not None:
            parts.append(_hand("dL/db by hand", layer.manual_bias_grad, layer.bias_grad, "bias.grad"))
    else:
        parts += backprop_parts(r)
    parts.append(check_line(r.match, r.max_abs_diff, "autograd's gradient vs by hand"))
    parts.append(
        text("the weights did not change (backward only fills .grad)" if r.weights_unchanged else "WEIGHTS CHANGED")
    )
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
        w_hand, b_hand = f"dL/d{prefixed(layer, 'weight')} by hand", f"dL/d{prefixed(layer, 'bias')} by hand"
        parts += [
            heading(
                f"{layer_title(layer, count)}:  {rule};  dL/dW{k} = delta{k}ᵀ·{x_name};  dL/db{k} = Σ_batch delta{k}"
            ),
            samples(f"delta{k} = dL/dz{k}", layer.delta, "out"),
            _hand(w_hand, layer.manual_weight_grad, layer.weight_grad, f"{prefixed(layer, 'weight')}.grad"),
        ]
        if layer.manual_bias_grad is not None:
            parts.append(_hand(b_hand, layer.manual_bias_grad, layer.bias_grad, f"{prefixed(layer, 'bias')}.grad"))
        parts.append(check_line(layer.match, layer.max_abs_diff, f"layer {layer.name}: autograd vs by hand"))
    return parts


def backward_view(r) -> None:
    if len(r.layers) == 1:
        head = f"backward   loss {r.loss_name}   activation {r.activation}   {r.structure}"
    else:
        head = f"backward   loss {r.loss_name}   activations {', '.join(r.activations)}\n{r.structure}"
    extra = [text(symbols(r.layers))] if len(r.layers) > 1 else []
    show(heading(head), *extra, *backward_parts(r))
