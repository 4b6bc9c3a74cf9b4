"""Views and JSON for the stepping commands: backward, step, zero-grad, train-step."""

from __future__ import annotations

import math

from linctl.render.cells import fmt, shape, text
from linctl.render.layers import layer_entry, layer_title, prefixed, symbols, with_layers
from linctl.render.widgets import (
    changed_matrix,
    check_line,
    heading,
    matrix,
    samples,
    settings_text,
    show,
    shown_alike,
    tensor_view,
    vector,
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


def _grad(title: str, tensor, what_none: str = "None"):
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
    return _grad(title, hand)


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
            _grad(f"{w}.grad before", layer.weight_grad_before),
            _grad("added by this backward", layer.weight_grad_added),
        ]
    parts.append(_grad(f"{w}.grad now" + ("" if first else " = before + added"), layer.weight_grad))
    if layer.bias is not None:
        if not first:
            parts += [
                _grad(f"{b}.grad before", layer.bias_grad_before),
                _grad("added by this backward", layer.bias_grad_added),
            ]
        parts.append(_grad(f"{b}.grad now" + ("" if first else " = before + added"), layer.bias_grad))
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


# --------------------------------------------------------------------------
# step

STEP_KEYS = (
    "weight_before",
    "bias_before",
    "weight",
    "bias",
    "weight_grad",
    "bias_grad",
    "weight_change",
    "bias_change",
    "hand_weight",
    "hand_bias",
)


def settings_json(settings: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def step_json(r) -> dict:
    top = {
        "optimizer": r.optimizer,
        "lr": r.lr,
        "settings": settings_json(r.settings),
        "hand_max_abs_diff": r.hand_max_abs_diff,
        "hand_match": r.hand_match,
        "step": r.step,
    }
    layers = [layer_entry(layer, STEP_KEYS) for layer in r.layers]
    return with_layers(top, layers, STEP_KEYS)


def _explained(name: str) -> str:
    from linctl.optim.settings import OPTIMIZERS

    kind = OPTIMIZERS.get(name)
    return kind.update if kind is not None else "Δ: the optimizer's change"


def update_equation(r, layer, kind: str):
    """`W − lr·∇W = W′` (plain SGD) or `W + Δ = W′`, the matrices side by side."""
    from linctl.render.equation import Equation

    name = prefixed(layer, kind)
    before, after = getattr(layer, f"{kind}_before"), getattr(layer, kind)
    grad, change = getattr(layer, f"{kind}_grad"), getattr(layer, f"{kind}_change")
    if kind == "weight" and before.ndim == 2:

        def view(title, tensor, labelled=False):
            return matrix(title, tensor, row_name="out" if labelled else None)

        result = changed_matrix(f"{name} after", after, change, row_name=None)
    else:

        def view(title, tensor, labelled=False):
            return vector(title, tensor)

        result = changed_matrix(f"{name} after", after, change)
    first = view(f"{name} before", before, labelled=True)
    if r.hand_match is not None:  # plain SGD: the change is -lr·grad
        return Equation(first, f"- {r.lr:g} ·", view(f"{name}.grad", grad), "=", result)
    return Equation(first, "+", view("Δ", change), "=", result)


def _layer_step_parts(r, layer, skip_grad: bool = False) -> list:
    parts = [update_equation(r, layer, "weight")]
    if layer.bias is not None:
        parts.append(update_equation(r, layer, "bias"))
    return parts


def step_parts(r, skip_grad: bool = False) -> list:
    if r.hand_match is not None:
        parts = [heading(f"the update: W - lr·∇W = W′  (lr = {r.lr:g}; in W′ ↑ went up, ↓ went down)")]
    else:
        parts = [
            heading("the update: W + Δ = W′  (in W′ ↑ went up, ↓ went down)"),
            text(_explained(r.optimizer)),
        ]
    for layer in r.layers:
        if len(r.layers) > 1:
            parts.append(heading(layer_title(layer, len(r.layers))))
        parts += _layer_step_parts(r, layer, skip_grad)
    if r.hand_match is not None:
        parts.append(check_line(r.hand_match, r.hand_max_abs_diff, f"optimizer vs by hand W - lr·grad (lr={r.lr:g})"))
    parts.append(text(f"step count: {r.step}.  The gradients were kept (optimizer.step() does not clear them)."))
    return parts


def step_view(r) -> None:
    show(heading(f"optimizer.step()   {settings_text(r.optimizer, r.settings)}"), *step_parts(r))


# --------------------------------------------------------------------------
# zero-grad


def zero_grad_json(before: list, path: str) -> dict:
    layers = [
        {
            "name": layer.name,
            "weight_grad": None,
            "bias_grad": None,
            "weight_grad_before": plain(layer.weight_grad),
            "bias_grad_before": plain(layer.bias_grad),
        }
        for layer in before
    ]
    return with_layers({"state": path}, layers, ("weight_grad", "bias_grad", "weight_grad_before", "bias_grad_before"))


def zero_grad_view(before: list, path: str) -> None:
    if all(layer.weight_grad is None and layer.bias_grad is None for layer in before):
        show(text("the gradients were already None; nothing to clear"))
        return
    parts = [heading("optimizer.zero_grad()  (set_to_none=True, PyTorch's default)")]
    for layer in before:
        parts += [_grad(f"{prefixed(layer, 'weight')}.grad before", layer.weight_grad)]
        if layer.bias is not None:
            parts.append(_grad(f"{prefixed(layer, 'bias')}.grad before", layer.bias_grad))
    names = [
        f"{prefixed(layer, 'weight')}.grad: None"
        + (f"    {prefixed(layer, 'bias')}.grad: None" if layer.bias is not None else "")
        for layer in before
    ]
    parts += [text(line) for line in names]
    show(*parts)


# --------------------------------------------------------------------------
# train-step


def train_step_json(r) -> dict:
    """The keys of backward and of step (step's where both have one: the weights after the step).

    `weight_grad_before`/`bias_grad_before` are .grad just before loss.backward(),
    as in backward: None here, since zero_grad ran first. `grad_match` is `match`,
    kept under its first name.
    """
    back, stepped = backward_json(r.backward), step_json(r.step)
    layers = [{**a, **b} for a, b in zip(back.pop("layers"), stepped.pop("layers"), strict=True)]
    top = {**back, **stepped, "grad_match": r.backward.match, "grads_cleared": r.grads_cleared}
    top["layers"] = layers
    return top


def train_step_view(r) -> None:
    b, s = r.backward, r.step
    parts = [heading(f"train-step {s.step}: zero_grad -> forward -> loss -> backward -> step"), text("1. weights")]
    for layer in s.layers:
        parts.append(tensor_view(prefixed(layer, "weight"), layer.weight_before))
        if layer.bias_before is not None:
            parts.append(vector(prefixed(layer, "bias"), layer.bias_before))
    parts += [
        text(
            "2. optimizer.zero_grad(): "
            + ("the stored gradients were cleared; " if r.grads_cleared else "")
            + ", ".join(
                f"{prefixed(layer, kind)}.grad = None"
                for layer in s.layers
                for kind in ("weight", "bias")
                if kind == "weight" or layer.bias is not None
            )
        ),
        text("3. forward, 4. target, 5. loss"),
        *loss_lines(b)[1:],
        text("6. loss.backward()"),
    ]
    for layer in s.layers:
        parts.append(_grad(f"{prefixed(layer, 'weight')}.grad", layer.weight_grad))
        if layer.bias is not None:
            parts.append(_grad(f"{prefixed(layer, 'bias')}.grad", layer.bias_grad))
    parts += [
        check_line(b.match, b.max_abs_diff, "autograd's gradient vs by hand (chain rule)"),
        text("7. after backward the weights are unchanged" if b.weights_unchanged else "WEIGHTS CHANGED IN BACKWARD"),
        text(f"8. optimizer.step()   {settings_text(s.optimizer, s.settings)}"),
        *step_parts(s, skip_grad=True),
    ]
    show(*parts)
