"""backward, step, zero-grad, train-step: autograd and the optimizer, one piece at a time."""

from __future__ import annotations

from linctl import session
from linctl.errors import UsageError
from linctl.optimizer_options import NO_CHOICE, OptimizerChoice, optimizer_options
from linctl.options import (
    ActOpt,
    DeviceOpt,
    HtmlOpt,
    JsonOpt,
    LossOpt,
    StateOpt,
    SvgOpt,
    TOpt,
    XOpt,
    merged,
    warn_non_finite,
)


def samples_given(x, t) -> tuple[list[list[float]] | None, list[list[float]] | None]:
    x_rows, t_rows = merged(x), merged(t)
    warn_non_finite(x_rows, "--x")
    warn_non_finite(t_rows, "--t")
    return x_rows, t_rows


def backward(
    x: XOpt = None,
    t: TOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Forward, loss, loss.backward(): gradients ADD UP until zero-grad, as in PyTorch."""
    from linctl.model.backward import backward_rows
    from linctl.model.spec import activations_for
    from linctl.render.stepping import backward_json, backward_view
    from linctl.render.widgets import emit

    x_rows, t_rows = samples_given(x, t)
    if x_rows is None or t_rows is None:
        raise UsageError("backward: needs --x and --t, like --x 1,1 --t 1")
    path = session.path_of(state)
    result = session.change(
        path,
        device,
        lambda net: backward_rows(net, x_rows, t_rows, loss, activations_for(net.specs, activation)),
        lambda r: {"loss": r.loss, "lr": None},
    )
    emit(as_json, lambda: backward_json(result), lambda: backward_view(result), result.notes)


@optimizer_options
def step(
    choice: OptimizerChoice = NO_CHOICE,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """optimizer.step() on the stored gradients (they are kept, as in PyTorch)."""
    from linctl.optim.step import step as optimizer_step
    from linctl.render.step import step_json, step_view
    from linctl.render.widgets import emit

    path = session.path_of(state)

    def work(net):
        plan = choice.plan(net.data.get("optimizer"))
        return optimizer_step(net, plan)

    result = session.change(path, device, work, lambda r: {"loss": None, "lr": r.lr})
    emit(as_json, lambda: step_json(result), lambda: step_view(result), result.notes)


def zero_grad(state: StateOpt = None, as_json: JsonOpt = False, svg: SvgOpt = None, html: HtmlOpt = None) -> None:
    """Set the gradients to None, as optimizer.zero_grad() does by default."""
    from linctl.model.backward import zero_grad as clear
    from linctl.model.describe import layer_infos
    from linctl.render.step import zero_grad_json, zero_grad_view
    from linctl.render.widgets import emit

    path = session.path_of(state)

    def work(net):
        before = layer_infos(net.to_state())  # each layer's gradients as they were
        clear(net)
        return before

    before = session.change(path, "cpu", work, lambda r: {"loss": None, "lr": None})
    emit(as_json, lambda: zero_grad_json(before, str(path)), lambda: zero_grad_view(before, str(path)))


@optimizer_options
def train_step(
    x: XOpt = None,
    t: TOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    choice: OptimizerChoice = NO_CHOICE,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """One whole iteration: zero-grad, forward, loss, backward, step."""
    from linctl.model.samples import finite_or_warn
    from linctl.model.spec import activations_for
    from linctl.optim.loop import train_step as one_step
    from linctl.render.step import train_step_json, train_step_view
    from linctl.render.widgets import emit, note

    x_rows, t_rows = samples_given(x, t)
    path = session.path_of(state)
    notes: list[str] = []

    def work(net):
        xs, ts = default_samples(net, x_rows, t_rows, notes)
        acts = activations_for(net.specs, activation)
        plan = choice.plan(net.data.get("optimizer"))
        return one_step(net, plan, xs, ts, loss, acts)

    result = session.change(path, device, work, lambda r: {"loss": r.backward.loss, "lr": r.step.lr})
    emit(as_json, lambda: train_step_json(result), lambda: train_step_view(result), notes + result.notes)
    warning = finite_or_warn(result.backward.loss)
    if warning:
        note(warning)


def default_samples(net, x_rows, t_rows, notes: list[str]):
    """--x/--t, else the last ones used with this network, else all ones."""
    from linctl.model.samples import stored_rows
    from linctl.render.widgets import rows_text

    if x_rows is None:
        x_rows = stored_rows(net.data, "last_x")
        if x_rows is not None and len(x_rows[0]) == net.in_features:
            notes.append(f"--x not given: using the last inputs, {rows_text(x_rows)}")
        else:
            x_rows = [[1.0] * net.in_features]
            notes.append(f"--x not given and none used before: using x = {rows_text(x_rows)}")
    if t_rows is None:
        t_rows = stored_rows(net.data, "last_t")
        if t_rows is not None and len(t_rows) == len(x_rows) and len(t_rows[0]) == net.out_features:
            notes.append(f"--t not given: using the last targets, {rows_text(t_rows)}")
        else:
            t_rows = [[1.0] * net.out_features for _ in x_rows]
            notes.append(f"--t not given and none used before: using t = {rows_text(t_rows)}")
    return x_rows, t_rows
