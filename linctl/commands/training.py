"""train: many steps over data, with progress, a summary and a loss curve."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from linctl import session
from linctl.commands.holdout import Holdout, PatienceOpt, ValOpt, ValSplitOpt, held_out
from linctl.commands.parallel import NprocOpt, in_world, launched, world_for
from linctl.errors import UsageError
from linctl.optimizer_options import NO_CHOICE, OptimizerChoice, optimizer_options
from linctl.options import (
    DATA,
    OUTPUT,
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
    whole,
)

StepsOpt = Annotated[int | None, whole("--steps", "Optimizer steps to take.", least=1)]
EpochsOpt = Annotated[int | None, whole("--epochs", "Passes over the data (default: 1).", least=1)]
BatchOpt = Annotated[int | None, whole("--batch-size", "Samples per step (default: all).", least=1)]
ShuffleOpt = Annotated[
    bool, typer.Option("--shuffle/--no-shuffle", help="Shuffle each epoch (torch.randperm).", rich_help_panel=DATA)
]
ShuffleSeedOpt = Annotated[int | None, whole("--seed", "Seed for the shuffle.", metavar="S")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=OUTPUT)]
LogOpt = Annotated[bool, typer.Option("--log", help="Loss curve on a log scale.", rich_help_panel=OUTPUT)]
StreamOpt = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Read --data in chunks as it trains, each process only its rows, in file order (needs --batch-size).",
        rich_help_panel=DATA,
    ),
]
PlotAfterOpt = Annotated[
    bool,
    typer.Option(
        "--plot", help="Afterwards, plot the output over the inputs (as 'linctl plot').", rich_help_panel=OUTPUT
    ),
]


@dataclass(frozen=True)
class Run:
    """How long and in what order `train` goes over the samples."""

    steps: int | None
    epochs: int | None
    batch_size: int | None
    shuffle: bool
    seed: int | None


@optimizer_options
def train(
    data: DataOpt = None,
    targets: TargetsOpt = None,
    x: XOpt = None,
    t: TOpt = None,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = None,
    shuffle: ShuffleOpt = True,
    seed: ShuffleSeedOpt = None,
    quiet: QuietOpt = False,
    log: LogOpt = False,
    plot: PlotAfterOpt = False,
    val: ValOpt = None,
    val_split: ValSplitOpt = None,
    patience: PatienceOpt = None,
    nproc: NprocOpt = None,
    stream: StreamOpt = False,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    choice: OptimizerChoice = NO_CHOICE,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Many steps over data, with progress, a summary and a loss curve. Ctrl-C stops cleanly."""
    from linctl import parsing
    from linctl.render.training import train_json, train_view
    from linctl.render.widgets import emit

    refuse_mixed(steps, epochs, data, x, t)
    parsing.check_seed(seed)
    holdout = Holdout.checked(val, val_split, patience, seed)
    refuse_stream(stream, data, batch_size, val_split)
    x_rows, t_rows = samples_given(x, t)
    world = world_for(nproc)
    launched(nproc, world)
    path = session.path_of(state)
    notes: list[str] = []
    run = Run(steps=steps, epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed)
    show_progress = not (as_json or quiet) and sys.stdout.isatty()
    given = Given(data, targets, x_rows, t_rows, loss, activation, holdout, choice, stream)

    result = trained(world, path, device, given, run, show_progress, notes)
    if result is None:  # another rank: rank 0 reports
        return
    table = given.table
    picture = after_training_plot(path, device, table, targets, activation, notes) if plot and not as_json else None
    emit(as_json, lambda: train_json(result), lambda: train_view(result, log, picture), notes + result.notes)
    if result.interrupted:
        stopped(result, path)


def trained(world, path, device, given: Given, run: Run, show_progress: bool, notes: list[str]):
    """The run, Ctrl-C deferred: in this process, or as one rank of several (None on all but rank 0)."""
    with deferred_sigint() as stop:
        if world is None:
            return transaction(path, device, given, run, show_progress, stop, notes)
        return in_world(
            world,
            device,
            lambda group, announcer: transaction(
                path, device, given, run, show_progress, stop, notes, (group, announcer)
            ),
            lambda group, payload: follow_training(group, payload, device, stop),
        )


@dataclass
class Given:
    """What train was given to learn from, and how; the data file is read inside the transaction (by rank 0 alone)."""

    data: str | None
    targets: int | None
    x_rows: list | None
    t_rows: list | None
    loss: str
    activation: list[str] | None
    holdout: Holdout
    choice: OptimizerChoice
    stream: bool = False
    table: object = None


def samples_given(x, t):
    from linctl.commands.stepping import samples_given as given

    return given(x, t)


def transaction(path, device, given: Given, run: Run, show_progress: bool, stop, notes: list[str], lead=None):
    """Read the data, then lock, load, train, save and record; `lead`: (group, announcer) on rank 0 of several."""
    from linctl.commands.stepping import read_table
    from linctl.model.spec import activations_for
    from linctl.optim.loop import prepare_samples

    if given.stream:
        return session.change(
            path, device, lambda net: streamed(net, given, run, show_progress, stop, notes, lead), history_figures
        )
    given.table = read_table(given.data) if given.data is not None else None
    loss = given.loss

    def work(net):
        xs, ts = samples_for(net, given.table, given.targets, given.x_rows, given.t_rows, notes, loss)
        xs, ts = prepare_samples(net, xs, ts, loss=loss, table=given.table, notes=notes)
        acts = activations_for(net.specs, given.activation)
        xs, ts, watch = held_out(net, xs, ts, given.holdout, given.targets, loss, acts, run.seed, notes)
        plan = given.choice.plan(net.data.get("optimizer"))
        if lead is not None:
            return lead_run(lead, net, plan, xs, ts, loss, acts, run, show_progress, stop, watch)
        return run_training(net, plan, xs, ts, loss, acts, run, show_progress, stop, watch)

    return session.change(path, device, work, history_figures)


def lead_run(lead, net, plan, xs, ts, loss: str, acts: list[str], run: Run, show_progress: bool, stop, watch):
    from linctl.commands.parallel import lead_training

    group, announcer = lead
    if not show_progress:
        return lead_training(group, announcer, net, plan, xs, ts, loss, acts, run, None, stop, watch)
    with progress_bar() as progress:
        update = progress_updater(progress, per_step=samples_per_step(xs.shape[0], run.batch_size))
        return lead_training(group, announcer, net, plan, xs, ts, loss, acts, run, update, stop, watch)


def refuse_stream(stream: bool, data: str | None, batch_size: int | None, val_split: float | None) -> None:
    if not stream:
        return
    if data is None or data == "-":
        raise UsageError("--stream: reads a --data FILE in chunks; give one (not stdin)")
    if batch_size is None:
        raise UsageError("--stream: give --batch-size B; a streamed step cannot hold the whole file")
    if val_split is not None:
        raise UsageError("--stream: --val-split needs the samples in memory; give the held-out samples as --val FILE")


def streamed(net, given: Given, run: Run, show_progress: bool, stop, notes: list[str], lead=None):
    """train --stream: the file checked from its first line, then read in chunks on every rank while training."""
    from linctl.commands.holdout import held_out
    from linctl.model import registry
    from linctl.model.spec import activations_for
    from linctl.parallel import stream
    from linctl.parallel.train import Schedule, stream_rank
    from linctl.parallel.world import SINGLE

    assert given.data is not None
    widths = registry.loss(given.loss).target_widths(net.out_features)
    source = stream.source_for(given.data, net.in_features, net.out_features, given.targets, widths)
    acts = activations_for(net.specs, given.activation)
    _, _, watch = held_out(net, None, None, given.holdout, given.targets, given.loss, acts, run.seed, notes)
    plan = given.choice.plan(net.data.get("optimizer"))
    schedule = Schedule(steps=run.steps, epochs=run.epochs, batch_size=run.batch_size, shuffle=False, seed=0)
    group, announcer = lead if lead is not None else (SINGLE, None)
    if announcer is not None:
        announcer.send(
            {"state": net.to_state(), "plan": plan, "source": source, "loss": given.loss, "acts": acts, "run": schedule}
        )

    def go(update):
        return stream_rank(
            group,
            net,
            plan,
            source,
            loss=given.loss,
            activations=acts,
            run=schedule,
            progress=update,
            should_stop=lambda: stop.requested,
            watch=watch,
        )

    if not show_progress:
        return go(None)
    with progress_bar() as progress:
        return go(progress_updater(progress, per_step=run.batch_size))


def samples_per_step(samples: int, batch_size: int | None) -> int:
    return min(batch_size or samples, samples)


def follow_training(group, payload, device, stop) -> None:
    from linctl.commands.parallel import follow_training as follow

    follow(group, payload, device, stop)


def stopped(result, path) -> None:
    """Ctrl-C: what was kept, and exit 130."""
    from linctl.render.widgets import note

    note(
        f"interrupted: stopped after {result.steps} of {result.planned_steps} steps; all {result.steps} are saved in {path}"
    )
    raise typer.Exit(130)


def history_figures(r) -> dict:
    """The history entry's figures for a train run."""
    return {"loss": r.loss_last, "lr": r.settings["lr"], "steps": r.steps, **last_metric(r)}


def refuse_mixed(steps, epochs, data, x, t) -> None:
    if steps is not None and epochs is not None:
        raise UsageError("train: give --steps or --epochs, not both")
    if data is not None and (x or t):
        raise UsageError("train: give --data or --x/--t, not both")


def after_training_plot(path, device, table, targets, activation, notes: list[str]):
    """train --plot: the trained network's output over its inputs, with the training data when it came from a file."""
    from linctl.model.spec import activations_for
    from linctl.model.surface import surface

    net = session.read(path, device)
    if net.in_features not in (1, 2):
        notes.append(f"--plot: draws networks with 1 or 2 inputs; this one has {net.in_features}")
        return None
    result = surface(net, activations_for(net.specs, activation), table=table, targets=targets)
    notes += result.notes
    return result


def samples_for(net, table, targets, x_rows, t_rows, notes, loss: str = "mse"):
    """Training tensors from --data, --x/--t, or the last samples used."""
    import torch

    from linctl.commands.stepping import default_samples
    from linctl.model import samples

    if table is not None:
        xs, ts = samples.table_samples(net, table, targets, loss, notes)
        return torch.from_numpy(xs), torch.from_numpy(ts)
    if x_rows is not None and t_rows is None:
        raise UsageError("train: --x needs --t (one target row per sample)")
    if x_rows is not None:
        samples.check_inputs(x_rows, net.in_features)
        samples.check_targets(t_rows, net.out_features, len(x_rows), loss=loss)
    else:
        x_rows, t_rows = default_samples(net, x_rows, t_rows, notes, loss)
    xs, ts = torch.tensor(x_rows, dtype=torch.float64), torch.tensor(t_rows, dtype=torch.float64)
    samples.remember_inputs(net.data, xs.to(net.dtype), ts.to(net.dtype))
    return xs, ts


class deferred_sigint:
    """Ctrl-C only sets a flag until the block ends: training stops after the
    current step, and the state file is saved whole before the exit."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now, keep the state file as it was
            raise KeyboardInterrupt
        self.requested = True
        from linctl.render.widgets import note

        note("stopping after the current step (Ctrl-C again to quit without saving)")

    def __enter__(self):
        import signal

        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C keeps its default meaning
            self.previous = None
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def run_training(net, plan, xs, ts, loss: str, activations: list[str], run: Run, show_progress: bool, stop, watch=None):
    from linctl.optim.loop import train as loop

    def train_with(update):
        return loop(
            net,
            plan,
            xs,
            ts,
            loss=loss,
            activations=activations,
            progress=update,
            should_stop=lambda: stop.requested,
            watch=watch,
            **vars(run),
        )

    if not show_progress:
        return train_with(None)
    with progress_bar() as progress:
        return train_with(progress_updater(progress))


def progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        transient=True,
    )


def progress_updater(progress, per_step: int | None = None):
    """`per_step`: the samples of one step over all processes, for the samples per second of a parallel run."""
    import time

    task = progress.add_task("train", total=None, loss="…", rate="")
    last = [0.0]
    began = time.monotonic()

    def update(done, total, value):
        now = time.monotonic()
        if now - last[0] > 0.1 or done == total:
            last[0] = now
            rate = f"{done * per_step / max(now - began, 1e-9):,.0f} samples/s" if per_step else ""
            progress.update(task, completed=done, total=total, loss=f"{value.item():.4g}", rate=rate)

    return update


def last_metric(r) -> dict:
    """The history entry's metric: the last epoch's accuracy or R² (with its name)."""
    shown = [m for m in r.metrics if m is not None]
    figures: dict = {"metric": shown[-1], "metric_name": r.metric} if shown else {}
    if r.val_losses:  # the held-out samples' loss and metric after the last epoch evaluated
        figures["val_loss"] = r.val_losses[-1]
        held = [m for m in r.val_metrics if m is not None]
        if held:
            figures["val_metric"] = held[-1]
    return figures
