"""train: many steps over data, with progress, a summary and a loss curve."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from linctl import session
from linctl.commands.holdout import Holdout, PatienceOpt, ValOpt, ValSplitOpt, held_out
from linctl.commands.parallel import (
    NprocOpt,
    follow_training,
    in_world,
    launched,
    lead_training,
    refuse_stream,
    world_for,
)
from linctl.commands.running import deferred_sigint, with_progress
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
    from linctl.commands.stepping import samples_given
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


def transaction(path, device, given: Given, run: Run, show_progress: bool, stop, notes: list[str], lead=None):
    """Read the data, then lock, load, train, save and record; `lead`: (group, announcer) on rank 0 of several."""
    from linctl.commands.parallel import streamed
    from linctl.commands.stepping import read_table
    from linctl.model.spec import activations_for
    from linctl.optim.loop import prepare_samples

    given.table = read_table(given.data) if given.data is not None and not given.stream else None
    loss = given.loss

    def work(net):
        acts = activations_for(net.specs, given.activation)
        if given.stream:  # the file is read while training, on every rank
            _, _, watch = held_out(net, None, None, given.holdout, given.targets, loss, acts, run.seed, notes)
            return streamed(net, given, acts, watch, run, show_progress, stop, lead)
        xs, ts = samples_for(net, given.table, given.targets, given.x_rows, given.t_rows, notes, loss)
        xs, ts = prepare_samples(net, xs, ts, loss=loss, table=given.table, notes=notes)
        xs, ts, watch = held_out(net, xs, ts, given.holdout, given.targets, loss, acts, run.seed, notes)
        plan = given.choice.plan(net.data.get("optimizer"))
        if lead is not None:
            group, announcer = lead
            per_step = min(run.batch_size or xs.shape[0], xs.shape[0])
            return with_progress(
                show_progress,
                per_step,
                lambda update: lead_training(group, announcer, net, plan, xs, ts, loss, acts, run, update, stop, watch),
            )
        return run_training(net, plan, xs, ts, loss, acts, run, show_progress, stop, watch)

    return session.change(path, device, work, history_figures)


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

    return with_progress(show_progress, None, train_with)


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
