"""backward, step, zero-grad, train-step: autograd and the optimizer, one piece at a time."""

from __future__ import annotations

from linctl import session
from linctl.commands.parallel import NprocOpt, in_world, launched, world_for
from linctl.errors import UsageError
from linctl.optimizer_options import NO_CHOICE, OptimizerChoice, optimizer_options
from linctl.options import (
    ActOpt,
    DataOpt,
    DeviceOpt,
    HtmlOpt,
    JsonOpt,
    LossOpt,
    StateOpt,
    SvgOpt,
    TargetsOpt,
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
    data: DataOpt = None,
    targets: TargetsOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    nproc: NprocOpt = None,
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
    table = data_table("backward", data, x_rows, t_rows)
    if table is None and (x_rows is None or t_rows is None):
        raise UsageError("backward: needs --x and --t, like --x 1,1 --t 1 (or --data FILE)")
    world = world_for(nproc)
    launched(nproc, world)
    path = session.path_of(state)
    notes: list[str] = []
    if world is not None:
        return backward_in_world(
            world, path, device, (table, targets, x_rows, t_rows), loss, activation, notes, as_json
        )

    def work(net):
        xs, ts, place = given_samples(net, table, targets, x_rows, t_rows, loss, notes)
        return backward_rows(net, xs, ts, loss, activations_for(net.specs, activation), place)

    result = session.change(path, device, work, lambda r: {"loss": r.loss, "lr": None})
    emit(as_json, lambda: backward_json(result), lambda: backward_view(result), notes + result.notes)


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
    data: DataOpt = None,
    targets: TargetsOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    choice: OptimizerChoice = NO_CHOICE,
    nproc: NprocOpt = None,
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

    table = data_table("train-step", data, x_rows, t_rows)
    world = world_for(nproc)
    launched(nproc, world)
    if world is not None:
        given = (table, targets, x_rows, t_rows)
        return backward_in_world(world, path, device, given, loss, activation, notes, as_json, choice)

    def work(net):
        xs, ts, place = given_samples(net, table, targets, x_rows, t_rows, loss, notes)
        acts = activations_for(net.specs, activation)
        plan = choice.plan(net.data.get("optimizer"))
        return one_step(net, plan, xs, ts, loss, acts, place)

    result = session.change(path, device, work, lambda r: {"loss": r.backward.loss, "lr": r.step.lr})
    emit(as_json, lambda: train_step_json(result), lambda: train_step_view(result), notes + result.notes)
    warning = finite_or_warn(result.backward.loss)
    if warning:
        note(warning)


def backward_in_world(world, path, device, given, loss: str, activation, notes: list[str], as_json: bool, choice=None):
    """backward (or, with `choice`, train-step) on several processes: rank 0's transaction and the lesson's view."""
    from linctl.commands.parallel import follow_lesson, lead_lesson, lead_lesson_step
    from linctl.model.spec import activations_for
    from linctl.render.parallel import lesson_json, lesson_step_json, lesson_step_view, lesson_view
    from linctl.render.widgets import emit

    table, targets, x_rows, t_rows = given

    def lead(group, announcer):
        def work(net):
            rows = given_samples(net, table, targets, x_rows, t_rows, loss, notes)
            acts = activations_for(net.specs, activation)
            if choice is None:
                return lead_lesson(group, announcer, net, rows, loss, acts, keep=True)
            return lead_lesson_step(group, announcer, net, rows, loss, acts, choice.plan(net.data.get("optimizer")))

        figures = (
            (lambda r: {"loss": r.loss, "lr": None})
            if choice is None
            else (lambda r: {"loss": r.lesson.loss, "lr": r.step.lr})
        )
        return session.change(path, device, work, figures)

    result = in_world(world, device, lead, lambda group, payload: follow_lesson(group, payload, device))
    if result is None:  # another rank: rank 0 reports
        return
    if choice is None:
        emit(as_json, lambda: lesson_json(result), lambda: lesson_view(result), notes + result.notes)
    else:
        emit(as_json, lambda: lesson_step_json(result), lambda: lesson_step_view(result), notes + result.notes)


def data_table(command: str, data: str | None, x_rows, t_rows):
    """The --data file read, or None; it replaces --x/--t, so not both."""
    if data is None:
        return None
    if x_rows is not None or t_rows is not None:
        raise UsageError(f"{command}: give --data or --x/--t, not both")
    return read_table(data)


def read_table(source: str):
    from linctl import data
    from linctl.render.widgets import note

    table = data.read(source)
    bad = data.non_finite(table)
    if bad:
        note(f"warning: --data has {bad} NaN/inf value(s); the loss will not be finite")
    return table


def given_samples(net, table, targets, x_rows, t_rows, loss: str, notes: list[str], store: bool = True):
    """(x rows, t rows, place): from the data file (values named by line and column), else --x/--t or the last."""
    from linctl.model import samples

    if table is not None:
        xs, ts = samples.table_rows(net, table, targets, loss, notes, store)
        return xs, ts, samples.table_place(table, net.in_features)
    xs, ts = default_samples(net, x_rows, t_rows, notes, loss)
    return xs, ts, None


def default_samples(net, x_rows, t_rows, notes: list[str], loss: str = "mse"):
    """--x/--t, else the last ones used with this network, else all ones (class 0 for a classification loss)."""
    from linctl.model.registry import loss as loss_entry
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
        widths = loss_entry(loss).target_widths(net.out_features)
        if t_rows is not None and len(t_rows) == len(x_rows) and len(t_rows[0]) in widths:
            notes.append(f"--t not given: using the last targets, {rows_text(t_rows)}")
        else:
            fill = [1.0] * net.out_features if widths[0] == net.out_features else [0.0]
            t_rows = [list(fill) for _ in x_rows]
            notes.append(f"--t not given and none used before: using t = {rows_text(t_rows)}")
    return x_rows, t_rows
