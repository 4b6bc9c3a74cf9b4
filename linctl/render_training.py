"""Views and JSON for the stepping commands: backward, step, zero-grad, train-step, train."""

from __future__ import annotations

from linctl.render import fmt, heading, matrix, plain, samples, show, tensor_view, text, vector

RTOL_NOTE = "autograd vs by hand"


def _grad(title: str, tensor, what_none: str = "None"):
    return tensor_view(title, tensor) if tensor is not None else text(f"{title}: {what_none}")


def _check_line(match: bool, worst: float, what: str):
    if match:
        return text(f"{what}: match (largest |difference| {worst:.3g})", "green")
    return text(f"{what}: MISMATCH (largest |difference| {worst:.3g})", "bold red")


def _change_style(delta):
    values = delta.tolist()

    def style(r, c):
        v = values[r][c] if delta.dim() == 2 else values[c]
        return "green" if v > 0 else "red" if v < 0 else None

    return style


def _changed_matrix(title: str, tensor, delta):
    if delta is None or tensor.dim() != 2:
        return tensor_view(title, tensor)
    return matrix(title, tensor, styles=_change_style(delta))


# --------------------------------------------------------------------------
# backward


def backward_json(r) -> dict:
    return {
        "x": plain(r.x),
        "t": plain(r.t),
        "output": plain(r.output),
        "linear": plain(r.linear),
        "loss": r.loss,
        "loss_name": r.loss_name,
        "activation": r.activation,
        "weight_grad": plain(r.weight_grad),
        "bias_grad": plain(r.bias_grad),
        "weight_grad_before": plain(r.weight_grad_before),
        "bias_grad_before": plain(r.bias_grad_before),
        "weight_grad_added": plain(r.weight_grad_added),
        "bias_grad_added": plain(r.bias_grad_added),
        "manual_weight_grad": plain(r.manual_weight_grad),
        "manual_bias_grad": plain(r.manual_bias_grad),
        "max_abs_diff": r.max_abs_diff,
        "match": r.match,
        "weights_unchanged": r.weights_unchanged,
        "weight": plain(r.weight),
        "bias": plain(r.bias),
    }


def loss_formula(name: str) -> str:
    return {
        "mse": "mean((o - t)²)",
        "l1": "mean(|o - t|)",
        "bce": "mean(-(t·log o + (1-t)·log(1-o)))",
        "diff": "mean(t - o)",
    }[name]


def backward_parts(r) -> list:
    parts = [
        samples("x", r.x, "in"),
        samples(
            f"output o = {r.activation}(net(x))" if r.activation != "none" else "output o = net(x)", r.output, "out"
        ),
        samples("target t", r.t, "out"),
        text(f"loss = {r.loss_name} = {loss_formula(r.loss_name)} = {fmt(r.loss)}", "bold"),
        heading("loss.backward()"),
    ]
    first = r.weight_grad_before is None
    if first:
        parts.append(
            text(
                "weight.grad before: None (first backward since the gradients were cleared); "
                "gradients accumulate, so another backward without zero-grad will ADD to what follows"
            )
        )
    else:
        parts += [
            _grad("weight.grad before", r.weight_grad_before),
            _grad("added by this backward", r.weight_grad_added),
        ]
    parts.append(_grad("weight.grad now" + ("" if first else " = before + added"), r.weight_grad))
    if r.bias is not None:
        if not first:
            parts += [_grad("bias.grad before", r.bias_grad_before), _grad("added by this backward", r.bias_grad_added)]
        parts.append(_grad("bias.grad now" + ("" if first else " = before + added"), r.bias_grad))
    if not first:
        parts.append(
            text(
                "gradients accumulate: this backward ADDED to the stored .grad, exactly as PyTorch does; "
                "run 'linctl zero-grad' to start from None",
                "yellow",
            )
        )
    act = {"none": "1", "sigmoid": "o(1-o)", "relu": "(y > 0)", "tanh": "1 - o²"}[r.activation]
    parts += [
        heading(f"by hand (chain rule): dL/dy = dL/do · {act};  dL/dW = (dL/dy)ᵀ·x;  dL/db = Σ_batch dL/dy"),
        _grad("dL/dW by hand (this backward alone)", r.manual_weight_grad),
    ]
    if r.manual_bias_grad is not None:
        parts.append(_grad("dL/db by hand", r.manual_bias_grad))
    parts.append(_check_line(r.match, r.max_abs_diff, "autograd's gradient vs by hand"))
    parts.append(
        text("the weights did not change (backward only fills .grad)" if r.weights_unchanged else "WEIGHTS CHANGED")
    )
    return parts


def backward_view(r) -> None:
    show(heading(f"backward   loss {r.loss_name}   activation {r.activation}   {r.structure}"), *backward_parts(r))


# --------------------------------------------------------------------------
# step


def step_json(r) -> dict:
    return {
        "optimizer": r.optimizer,
        "lr": r.lr,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in r.settings.items()},
        "weight_before": plain(r.weight_before),
        "bias_before": plain(r.bias_before),
        "weight": plain(r.weight),
        "bias": plain(r.bias),
        "weight_grad": plain(r.weight_grad),
        "bias_grad": plain(r.bias_grad),
        "weight_change": plain(r.weight_change),
        "bias_change": plain(r.bias_change),
        "hand_weight": plain(r.hand_weight),
        "hand_bias": plain(r.hand_bias),
        "hand_max_abs_diff": r.hand_max_abs_diff,
        "hand_match": r.hand_match,
        "step": r.step,
    }


def settings_text(name: str, settings: dict) -> str:
    def one(v):
        if isinstance(v, (tuple, list)):
            return ",".join(f"{b:g}" for b in v)
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{name}(" + ", ".join(f"{k}={one(v)}" for k, v in settings.items()) + ")"


def step_parts(r) -> list:
    plain_sgd = r.hand_weight is not None
    change = "-lr·grad" if plain_sgd else "the optimizer's change"
    parts = [
        heading(f"optimizer.step()   {settings_text(r.optimizer, r.settings)}"),
        tensor_view("weight before", r.weight_before),
        tensor_view("weight.grad", r.weight_grad),
        tensor_view(f"change = {change}", r.weight_change),
        _changed_matrix("weight after (↑ went up, ↓ went down)", r.weight, r.weight_change),
    ]
    if r.bias is not None:
        parts += [
            vector("bias before", r.bias_before),
            tensor_view("bias.grad", r.bias_grad),
            vector(f"change = {change}", r.bias_change),
            vector("bias after", r.bias),
        ]
    if plain_sgd:
        parts.append(_check_line(r.hand_match, r.hand_max_abs_diff, f"optimizer vs by hand W - lr·grad (lr={r.lr:g})"))
    parts.append(text(f"step count: {r.step}.  The gradients were kept (optimizer.step() does not clear them)."))
    return parts


def step_view(r) -> None:
    show(*step_parts(r))


# --------------------------------------------------------------------------
# zero-grad


def zero_grad_json(before: dict, path: str) -> dict:
    return {
        "weight_grad": None,
        "bias_grad": None,
        "weight_grad_before": plain(before["weight_grad"]),
        "bias_grad_before": plain(before["bias_grad"]),
        "state": path,
    }


def zero_grad_view(before: dict, path: str) -> None:
    if before["weight_grad"] is None:
        show(text("the gradients were already None; nothing to clear"))
        return
    show(
        heading("optimizer.zero_grad()  (set_to_none=True, PyTorch's default)"),
        _grad("weight.grad before", before["weight_grad"]),
        _grad("bias.grad before", before["bias_grad"]),
        text("weight.grad: None    bias.grad: None"),
    )


# --------------------------------------------------------------------------
# train-step


def train_step_json(r) -> dict:
    """The keys of backward and of step (step's where both have one: the weights after the step).

    `weight_grad_before`/`bias_grad_before` are .grad just before loss.backward(),
    as in backward: None here, since zero_grad ran first. `grad_match` is `match`,
    kept under its first name.
    """
    b, s = r.backward, r.step
    return {
        **backward_json(b),
        **step_json(s),
        "grad_match": b.match,
        "grads_cleared": r.grads_cleared,
    }


def train_step_view(r) -> None:
    b, s = r.backward, r.step
    show(
        heading(f"train-step {s.step}: zero_grad -> forward -> loss -> backward -> step"),
        text("1. weights"),
        tensor_view("weight", s.weight_before),
        vector("bias", s.bias_before) if s.bias_before is not None else None,
        text(
            "2. optimizer.zero_grad(): "
            + ("the stored gradients were cleared; " if r.grads_cleared else "")
            + "weight.grad = None, bias.grad = None"
        ),
        text("3. forward, 4. target, 5. loss"),
        *backward_parts(b)[1:4],
        text("6. loss.backward()"),
        _grad("weight.grad", s.weight_grad),
        _grad("bias.grad", s.bias_grad) if s.bias is not None else None,
        _check_line(b.match, b.max_abs_diff, "autograd's gradient vs by hand (chain rule)"),
        text("7. after backward the weights are unchanged" if b.weights_unchanged else "WEIGHTS CHANGED IN BACKWARD"),
        text(f"8. optimizer.step()   {settings_text(s.optimizer, s.settings)}"),
        *step_parts(s)[3:],
    )


# --------------------------------------------------------------------------
# train


def train_json(r) -> dict:
    return {
        "steps": r.steps,
        "epochs": r.epochs,
        "planned_steps": r.planned_steps,
        "batch_size": r.batch_size,
        "samples": r.samples,
        "shuffle": r.shuffle,
        "losses": r.losses,
        "loss_first": r.loss_first,
        "loss_last": r.loss_last,
        "weight_before": plain(r.weight_before),
        "bias_before": plain(r.bias_before),
        "weight": plain(r.weight),
        "bias": plain(r.bias),
        "optimizer": r.optimizer,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in r.settings.items()},
        "loss_name": r.loss_name,
        "activation": r.activation,
        "seconds": r.seconds,
        "interrupted": r.interrupted,
        "step": r.step,
    }


CURVE_POINTS = 2000  # a longer run is drawn from evenly spaced steps


def loss_curve(losses: list[float], width: int = 70, height: int = 14):
    """The loss per step, drawn in the terminal by plotext."""
    import math

    import plotext as plt
    from rich.text import Text

    points = [(i + 1, v) for i, v in enumerate(losses) if math.isfinite(v)]
    if len(points) < 2:
        return None
    stride = max(1, len(points) // CURVE_POINTS)
    points = points[::stride]
    plt.clear_figure()
    plt.plot([p[0] for p in points], [p[1] for p in points], marker="braille")
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.title("loss per step")
    plt.xlabel("step")
    return Text.from_ansi(plt.build())


def train_view(r) -> None:
    from linctl.render import kv

    facts = [
        (
            "steps",
            f"{r.steps}"
            + (f" of {r.planned_steps} (interrupted)" if r.interrupted else "")
            + f"  ({r.epochs} epoch(s) of {r.samples} samples, batch {r.batch_size}, "
            + ("shuffled" if r.shuffle else "in order")
            + ")",
        ),
        ("optimizer", settings_text(r.optimizer, r.settings)),
        ("loss", f"{r.loss_name}, activation {r.activation}"),
        ("first loss", fmt(r.loss_first)),
        ("last loss", fmt(r.loss_last)),
        ("time", f"{r.seconds:.3f} s  ({r.steps / r.seconds:,.0f} steps/s)" if r.seconds > 0 else "0 s"),
        ("step count", str(r.step)),
    ]
    delta = r.weight - r.weight_before
    parts = [
        heading("train"),
        kv(facts),
        tensor_view("weight before", r.weight_before),
        _changed_matrix("weight after (↑ went up, ↓ went down)", r.weight, delta),
    ]
    if r.bias is not None:
        parts += [vector("bias before", r.bias_before), vector("bias after", r.bias)]
    parts.append(loss_curve(r.losses))
    show(*parts)
