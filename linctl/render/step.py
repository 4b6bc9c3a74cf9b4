"""Views and JSON for step, zero-grad and train-step: the update, its equation and the plain-SGD check."""

from __future__ import annotations

from linctl.model.spec import KINDS
from linctl.render.cells import text
from linctl.render.layers import layer_entry, titled, value_of, with_layers
from linctl.render.stepping import backward_json, grad_table, loss_lines
from linctl.render.widgets import (
    changed_matrix,
    check_line,
    heading,
    matrix,
    settings_text,
    show,
    tensor_view,
    vector,
)
from linctl.tensors import plain

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

    record = layer.param(kind)
    name, before, after, grad, change = record.name, record.before, record.value, record.grad, record.change
    if before.ndim == 2:

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
    return [update_equation(r, layer, record.kind) for record in layer.params.values()]


def step_parts(r, skip_grad: bool = False) -> list:
    if r.hand_match is not None:
        parts = [heading(f"the update: W - lr·∇W = W′  (lr = {r.lr:g}; in W′ ↑ went up, ↓ went down)")]
    else:
        parts = [
            heading("the update: W + Δ = W′  (in W′ ↑ went up, ↓ went down)"),
            text(_explained(r.optimizer)),
        ]
    for layer in r.layers:
        parts += [*titled(layer, len(r.layers)), *_layer_step_parts(r, layer, skip_grad)]
    if r.hand_match is not None:
        parts.append(check_line(r.hand_match, r.hand_max_abs_diff, f"optimizer vs by hand W - lr·grad (lr={r.lr:g})"))
    parts.append(text(f"step count: {r.step}.  The gradients were kept (optimizer.step() does not clear them)."))
    return parts


def step_view(r) -> None:
    show(heading(f"optimizer.step()   {settings_text(r.optimizer, r.settings)}"), *step_parts(r))


# --------------------------------------------------------------------------
# zero-grad


ZERO_GRAD_KEYS = ("weight_grad", "bias_grad", "weight_grad_before", "bias_grad_before")


def zero_grad_json(before: list, path: str) -> dict:
    """`before` is each layer as it was (describe's records): its gradients now are None."""
    layers = [
        {"name": layer.name, **{f"{kind}_grad": None for kind in KINDS}}
        | {f"{kind}_grad_before": plain(value_of(layer, f"{kind}_grad")) for kind in KINDS}
        for layer in before
    ]
    return with_layers({"state": path}, layers, ZERO_GRAD_KEYS)


def zero_grad_view(before: list, path: str) -> None:
    if all(record.grad is None for layer in before for record in layer.params.values()):
        show(text("the gradients were already None; nothing to clear"))
        return
    parts = [heading("optimizer.zero_grad()  (set_to_none=True, PyTorch's default)")]
    for layer in before:
        parts += [grad_table(f"{record.name}.grad before", record.grad) for record in layer.params.values()]
    names = ["    ".join(f"{record.name}.grad: None" for record in layer.params.values()) for layer in before]
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
        parts += [tensor_view(record.name, record.before) for record in layer.params.values()]
    parts += [
        text(
            "2. optimizer.zero_grad(): "
            + ("the stored gradients were cleared; " if r.grads_cleared else "")
            + ", ".join(f"{record.name}.grad = None" for layer in s.layers for record in layer.params.values())
        ),
        text("3. forward, 4. target, 5. loss"),
        *loss_lines(b)[1:],
        text("6. loss.backward()"),
    ]
    for layer in s.layers:
        parts += [grad_table(f"{record.name}.grad", record.grad) for record in layer.params.values()]
    parts += [
        check_line(b.match, b.max_abs_diff, "autograd's gradient vs by hand (chain rule)"),
        text("7. after backward the weights are unchanged" if b.weights_unchanged else "WEIGHTS CHANGED IN BACKWARD"),
        text(f"8. optimizer.step()   {settings_text(s.optimizer, s.settings)}"),
        *step_parts(s, skip_grad=True),
    ]
    show(*parts)
