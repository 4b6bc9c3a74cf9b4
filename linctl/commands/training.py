"""train: many steps over data, with progress, a summary and a loss curve."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from linctl import session
from linctl.commands.holdout import Holdout, PatienceOpt, ValOpt, ValSplitOpt, held_out
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
    from linctl.commands.stepping import read_table, samples_given
    from linctl.model.spec import activations_for
    from linctl.optim.loop import prepare_samples
    from linctl.render.training import train_json, train_view
    from linctl.render.widgets import emit

    refuse_mixed(steps, epochs, data, x, t)
    parsing.check_seed(seed)
    holdout = Holdout.checked(val, val_split, patience, seed)
    table = read_table(data) if data is not None else None
    x_rows, t_rows = samples_given(x, t)
    path = session.path_of(state)
    notes: list[str] = []
    run = Run(steps=steps, epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed)
    show_progress = not (as_json or quiet) and sys.stdout.isatty()

    with deferred_sigint() as stop:

        def work(net):
            xs, ts = samples_for(net, table, targets, x_rows, t_rows, notes, loss)
            xs, ts = prepare_samples(net, xs, ts, loss=loss, table=table, notes=notes)
            acts = activations_for(net.specs, activation)
            xs, ts, watch = held_out(net, xs, ts, holdout, targets, loss, acts, seed, notes)
            plan = choice.plan(net.data.get("optimizer"))
            return run_training(net, plan, xs, ts, loss, acts, run, show_progress, stop, watch)

        result = session.change(path, device, work, history_figures)
    picture = after_training_plot(path, device, table, targets, activation, notes) if plot and not as_json else None
    emit(as_json, lambda: train_json(result), lambda: train_view(result, log, picture), notes + result.notes)
    if result.interrupted:
        stopped(result, path)


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
        TimeRemainingColumn(),
        transient=True,
    )


def progress_updater(progress):
    import time

    task = progress.add_task("train", total=None, loss="…")
    last = [0.0]

    def update(done, total, value):
        now = time.monotonic()
        if now - last[0] > 0.1 or done == total:
            last[0] = now
            progress.update(task, completed=done, total=total, loss=f"{value.item():.4g}")

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
