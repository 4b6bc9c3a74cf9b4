"""Typer commands only: parse options -> core -> state -> render.

torch is never imported here at module level, so `linctl --help` and
`linctl --version` start fast; each command imports what it needs.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from linctl import __version__
from linctl import state as state_file
from linctl.errors import LinctlError, UsageError

_command_line: list[str] = []


class Group(TyperGroup):
    """Turns every failure into one line on stderr and the contract's exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        import gc

        # importing torch makes ~1M objects; the default thresholds would walk them
        # all in full collections several times per command (~0.1 s)
        gc.set_threshold(100_000, 50, 100)
        argv = list(sys.argv[1:] if args is None else args)
        _command_line[:] = argv
        code = run_guarded(
            lambda: super(Group, self).main(
                args=argv, prog_name=prog_name or "linctl", complete_var=complete_var, standalone_mode=False, **extra
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


def run_guarded(call: Callable[[], Any]) -> int:
    """Run a command; map every outcome to an exit code and at most one line."""
    debug = os.environ.get("LINCTL_DEBUG") == "1"
    try:
        result = call()
        return result if isinstance(result, int) else 0
    except LinctlError as exc:
        if debug:
            raise
        note("linctl: " + str(exc).replace("\r", "\\r").replace("\n", "\\n"))  # one line, whatever the input held
        return exc.exit_code
    except KeyboardInterrupt:
        note("linctl: interrupted; the state file was left as it was")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except Exception as exc:
        if debug:
            raise
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):  # typer's usage errors
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "linctl"
            message = " ".join(exc.format_message().split())
            if re.match(r"No such option:? '?-[0-9.]", message):
                message += " A negative number? IN/OUT and N must be positive; values are written --x=-1,2"
            note(f"{where}: {message} (see '{where} --help')")
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            return 130
        note(f"linctl: internal error: {type(exc).__name__}: {exc}; rerun with LINCTL_DEBUG=1 for the traceback")
        return 1


def note(message: str) -> None:
    """One line on stderr (render's own is not imported on the fast path)."""
    print(message, file=sys.stderr)


def version_callback(value: bool) -> None:
    if value:
        print(f"linctl {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help panels cost ~0.1 s of start-up
    help="Inspect and step a PyTorch nn.Linear from the command line: every number shown and checked.",
)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Inspect and step a PyTorch nn.Linear from the command line: every number shown and checked."""


# --------------------------------------------------------------------------
# options shared by the commands


class AsciiNumber(click.ParamType):
    """click's INT and FLOAT, but ASCII only: Python's int() and float() also read '١' and '１'."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = "integer" if kind is int else "float"  # as click names its own, for --help

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from linctl.parsing import number_problem

        if not isinstance(value, str):
            return value
        problem = number_problem(value, whole=self.kind is int)
        if problem:
            self.fail(problem, param, ctx)
        try:
            return self.kind(value.strip(" \t\r\n\f\v"))
        except ValueError as exc:  # more digits than Python converts (4300 by default)
            self.fail(f"{value[:20]!r}… ({len(value)} characters): {exc}", param, ctx)


INT = AsciiNumber(int)
FLOAT = AsciiNumber(float)

StateOpt = Annotated[
    str | None,
    typer.Option("--state", envvar="LINCTL_STATE", help="State file [default: .linctl/net.pt].", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
XOpt = Annotated[list[str] | None, typer.Option("--x", help="Input sample(s): 1,1 ; repeat or use ';' for several.")]
TOpt = Annotated[list[str] | None, typer.Option("--t", help="Target(s), one row per sample, OUT values each.")]
DeviceOpt = Annotated[
    str, typer.Option("--device", envvar="LINCTL_DEVICE", help="cpu, cuda or auto.", show_default=True)
]
LossOpt = Annotated[str, typer.Option("--loss", help="mse, l1, bce or diff (t - o); all mean-reduced.")]
ActOpt = Annotated[
    str | None,
    typer.Option("--activation", help="Override the stored activation for this run: none|sigmoid|relu|tanh."),
]
OptimizerOpt = Annotated[
    str | None, typer.Option("--optimizer", help="sgd, adam, adamw or rmsprop [default: stored, else sgd].")
]
LrOpt = Annotated[
    float | None, typer.Option("--lr", click_type=FLOAT, help="Learning rate [default: the last one used].")
]
MomentumOpt = Annotated[
    float | None, typer.Option("--momentum", click_type=FLOAT, help="SGD/RMSprop momentum, in [0, 1).")
]
DampeningOpt = Annotated[float | None, typer.Option("--dampening", click_type=FLOAT, help="SGD dampening.")]
DecayOpt = Annotated[
    float | None, typer.Option("--weight-decay", click_type=FLOAT, help="L2 penalty (decoupled for adamw).")
]
NesterovOpt = Annotated[
    bool | None, typer.Option("--nesterov/--no-nesterov", help="SGD Nesterov momentum.", show_default=False)
]
BetasOpt = Annotated[str | None, typer.Option("--betas", help="Adam/AdamW betas, like 0.9,0.999.")]
EpsOpt = Annotated[float | None, typer.Option("--eps", click_type=FLOAT, help="Adam/AdamW/RMSprop epsilon.")]
AmsgradOpt = Annotated[
    bool | None, typer.Option("--amsgrad/--no-amsgrad", help="Adam/AdamW AMSGrad.", show_default=False)
]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", click_type=FLOAT, help="RMSprop smoothing constant.")]
CenteredOpt = Annotated[
    bool | None, typer.Option("--centered/--no-centered", help="RMSprop centered.", show_default=False)
]
ResetOpt = Annotated[
    bool,
    typer.Option(
        "--reset-optimizer", help="Drop the stored optimizer state and start it afresh (settings given still apply)."
    ),
]


def choice(value: str | None, options: tuple[str, ...], option: str) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in options:
        raise UsageError(f"{option}: expected one of {', '.join(options)}, got {value!r}")
    return lowered


OPTIMIZER_SETTINGS = (
    "lr",
    "momentum",
    "dampening",
    "weight_decay",
    "nesterov",
    "betas",
    "eps",
    "amsgrad",
    "alpha",
    "centered",
)


def optimizer_options(options: dict) -> dict:
    """The optimizer settings among a command's options, --betas parsed."""
    from linctl.parsing import parse_betas

    given = {key: options[key] for key in OPTIMIZER_SETTINGS}
    if given.get("betas") is not None:
        given["betas"] = parse_betas(given["betas"])
    return given


def command_text() -> str:
    return "linctl " + " ".join(shlex.quote(a) for a in _command_line)


# --------------------------------------------------------------------------
# the state file around a command


def load_network(path: Path, device: str | None = None):
    """The network for a command that only reads it (no copy of the parameters)."""
    from linctl import core

    data = state_file.load(path)
    return core.Network(data, core.resolve_device(device), copy=False)


def change(path: Path, device: str | None, work: Callable, entry: Callable[[Any], dict]):
    """Lock, load, let `work(net)` change it, then save and record one history entry."""
    from linctl import core, history

    dev = core.resolve_device(device)
    history.check_settings()  # a bad LINCTL_HISTORY_* stops the command before any work
    with state_file.locked(path):
        old = state_file.load(path)
        net = core.Network(old, dev)
        result = work(net)
        new = net.to_state()
        history.record(
            path, new, old, {"command": command_text(), "step": new["step"], **entry(result), **core.movement(old, new)}
        )
    return result


def emit(as_json: bool, data: Callable[[], dict], view: Callable[[], None], notes: list[str] = ()) -> None:
    from linctl import render

    for message in notes:
        render.note(message)
    if as_json:
        render.print_json(data())
    else:
        view()


def rows_or(values: list[str] | None, option: str) -> list[list[float]] | None:
    from linctl import parsing, render

    if not values:
        return None
    rows = parsing.parse_rows(values, option)
    warning = parsing.non_finite_warning(rows, option)
    if warning:
        render.note(warning)
    return rows


# --------------------------------------------------------------------------
# inspect and forward


@app.command()
def inspect(
    in_features: Annotated[
        int | None, typer.Argument(metavar="[IN]", click_type=INT, help="Input features.", show_default=False)
    ] = None,
    out_features: Annotated[
        int | None, typer.Argument(metavar="[OUT]", click_type=INT, help="Output features.", show_default=False)
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", click_type=INT, help="torch.manual_seed(S) before building.")
    ] = None,
    weight: Annotated[str | None, typer.Option("--weight", help="Weight rows 'a,b;c,d', shape (OUT, IN).")] = None,
    bias: Annotated[str | None, typer.Option("--bias", help="Bias values 'e,f', OUT of them.")] = None,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Build without a bias.")] = False,
    activation: Annotated[
        str, typer.Option("--activation", help="none|sigmoid|relu|tanh, applied after the layer.")
    ] = "none",
    dtype: Annotated[str, typer.Option("--dtype", help="float32 or float64.")] = "float32",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build nn.Linear(IN, OUT) and save it; with no IN OUT, show the current network."""
    from linctl import core, parsing, render

    path = state_file.resolve(state)
    building = in_features is not None or weight is not None
    if not building:
        if seed is not None or bias is not None or no_bias or activation != "none" or dtype != "float32":
            raise UsageError("inspect: --seed/--bias/--no-bias/--activation/--dtype build a network; give IN OUT too")
        net = load_network(path)
        d = core.describe(net)
        emit(as_json, lambda: render.inspect_json(d, str(path)), lambda: render.inspect_view(d, str(path)))
        return
    parsing.check_seed(seed)
    weight_rows = rows_or([weight], "--weight") if weight is not None else None
    if in_features is None:
        out_features, in_features = len(weight_rows), len(weight_rows[0])
    elif out_features is None:
        raise UsageError("inspect: give both IN and OUT, like 'linctl inspect 3 2'")
    activation = choice(activation, core.ACTIVATIONS, "--activation")
    dtype = choice(dtype, core.DTYPES, "--dtype")
    parsing.check_sizes(in_features, out_features, core.element_size(dtype), core.available_memory())
    bias_values = None
    if bias is not None:
        bias_rows = rows_or([bias], "--bias")
        if len(bias_rows) != 1:
            raise UsageError("--bias: one row of OUT values separated by commas, like --bias 0.1,-0.2 (no ';')")
        bias_values = bias_rows[0]
    cast_notes: list[str] = []
    new = core.new_state(
        in_features,
        out_features,
        bias=not no_bias,
        activation=activation,
        dtype=dtype,
        seed=seed,
        weight=weight_rows,
        bias_values=bias_values,
        notes=cast_notes,
    )
    backup = replace_network(path, new)
    net = core.Network(new, copy=False)
    d = core.describe(net)
    notes = cast_notes + (
        [f"replaced the network in {path}; the old one is kept in {backup} (and 'linctl undo' restores it)"]
        if backup
        else []
    )
    emit(
        as_json,
        lambda: render.inspect_json(d, str(path), str(backup) if backup else None),
        lambda: render.inspect_view(d, str(path)),
        notes,
    )


def replace_network(path: Path, new: dict) -> Path | None:
    """Save a new network over the old one, keeping the old one recoverable."""
    from linctl import core, history

    history.check_settings()  # before the backup below, as before any other change
    with state_file.locked(path):
        old = None
        backup = None
        if state_file.exists(path):
            try:
                old = state_file.load(path)
            except LinctlError as exc:
                raise LinctlError(f"refusing to replace it: {exc}") from None
            backup = state_file.backup(path)
        # a new network: its own norms, no "change" from an unrelated one
        history.record(
            path, new, old, {"command": command_text(), "step": 0, "loss": None, "lr": None, **core.movement(None, new)}
        )
    return backup


@app.command()
def forward(
    x: XOpt = None,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run net(x) beside torch.mm(W, x.t()) + b.view(OUT, 1), written out by hand."""
    from linctl import core, render

    rows = rows_or(x, "--x")
    if rows is None:
        raise UsageError("forward: --x is required, like --x 1,1 (repeat it, or use ';', for several samples)")
    path = state_file.resolve(state)
    if not state_file.exists(path):
        replace_network(path, core.new_state(len(rows[0]), 1))
        render.note(f"no network at {path} yet: built nn.Linear({len(rows[0])}, 1) and saved it there")
    net = load_network(path, device)
    result = core.forward(net, rows)
    emit(as_json, lambda: render.forward_json(result), lambda: render.forward_view(result), result.notes)


# --------------------------------------------------------------------------
# backward, step, zero-grad, train-step


@app.command()
def backward(
    x: XOpt = None,
    t: TOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forward, loss, loss.backward(): gradients ADD UP until zero-grad, as in PyTorch."""
    from linctl import core, render_training

    x_rows, t_rows = rows_or(x, "--x"), rows_or(t, "--t")
    if x_rows is None or t_rows is None:
        raise UsageError("backward: needs --x and --t, like --x 1,1 --t 1")
    loss = choice(loss, core.LOSSES, "--loss")
    activation = choice(activation, core.ACTIVATIONS, "--activation")
    path = state_file.resolve(state)
    result = change(
        path,
        device,
        lambda net: core.backward(net, x_rows, t_rows, loss, activation),
        lambda r: {"loss": r.loss, "lr": None},
    )
    emit(
        as_json,
        lambda: render_training.backward_json(result),
        lambda: render_training.backward_view(result),
        result.notes,
    )


@app.command()
def step(
    optimizer: OptimizerOpt = None,
    lr: LrOpt = None,
    momentum: MomentumOpt = None,
    dampening: DampeningOpt = None,
    weight_decay: DecayOpt = None,
    nesterov: NesterovOpt = None,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    amsgrad: AmsgradOpt = None,
    alpha: AlphaOpt = None,
    centered: CenteredOpt = None,
    reset_optimizer: ResetOpt = False,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """optimizer.step() on the stored gradients (they are kept, as in PyTorch)."""
    from linctl import optimizers, render_training

    given = optimizer_options(locals())
    name = choice(optimizer, optimizers.OPTIMIZERS, "--optimizer")
    path = state_file.resolve(state)

    def work(net):
        plan = optimizers.resolve(net.data.get("optimizer"), name, given, reset=reset_optimizer)
        return optimizers.step(net, plan)

    result = change(path, device, work, lambda r: {"loss": None, "lr": r.lr})
    emit(as_json, lambda: render_training.step_json(result), lambda: render_training.step_view(result), result.notes)


@app.command("zero-grad")
def zero_grad(state: StateOpt = None, as_json: JsonOpt = False) -> None:
    """Set the gradients to None, as optimizer.zero_grad() does by default."""
    from linctl import core, render_training

    path = state_file.resolve(state)
    before = change(path, "cpu", core.zero_grad, lambda r: {"loss": None, "lr": None})
    emit(
        as_json,
        lambda: render_training.zero_grad_json(before, str(path)),
        lambda: render_training.zero_grad_view(before, str(path)),
    )


@app.command("train-step")
def train_step(
    x: XOpt = None,
    t: TOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    optimizer: OptimizerOpt = None,
    lr: LrOpt = None,
    momentum: MomentumOpt = None,
    dampening: DampeningOpt = None,
    weight_decay: DecayOpt = None,
    nesterov: NesterovOpt = None,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    amsgrad: AmsgradOpt = None,
    alpha: AlphaOpt = None,
    centered: CenteredOpt = None,
    reset_optimizer: ResetOpt = False,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One whole iteration: zero-grad, forward, loss, backward, step."""
    from linctl import core, optimizers, render, render_training, training

    x_rows, t_rows = rows_or(x, "--x"), rows_or(t, "--t")
    loss = choice(loss, core.LOSSES, "--loss")
    activation = choice(activation, core.ACTIVATIONS, "--activation")
    name = choice(optimizer, optimizers.OPTIMIZERS, "--optimizer")
    given = optimizer_options(locals())
    path = state_file.resolve(state)
    notes: list[str] = []

    def work(net):
        xs, ts = default_samples(net, x_rows, t_rows, notes)
        plan = optimizers.resolve(net.data.get("optimizer"), name, given, reset=reset_optimizer)
        return training.train_step(net, plan, xs, ts, loss, activation)

    result = change(path, device, work, lambda r: {"loss": r.backward.loss, "lr": r.step.lr})
    emit(
        as_json,
        lambda: render_training.train_step_json(result),
        lambda: render_training.train_step_view(result),
        notes + result.notes,
    )
    for message in [core.finite_or_warn(result.backward.loss)]:
        if message:
            render.note(message)


def default_samples(net, x_rows, t_rows, notes: list[str]):
    """--x/--t, else the last ones used with this network, else all ones."""
    from linctl import core, render

    if x_rows is None:
        x_rows = core.stored_rows(net.data, "last_x")
        if x_rows is not None and len(x_rows[0]) == net.in_features:
            notes.append(f"--x not given: using the last inputs, {render.rows_text(x_rows)}")
        else:
            x_rows = [[1.0] * net.in_features]
            notes.append(f"--x not given and none used before: using x = {render.rows_text(x_rows)}")
    if t_rows is None:
        t_rows = core.stored_rows(net.data, "last_t")
        if t_rows is not None and len(t_rows) == len(x_rows) and len(t_rows[0]) == net.out_features:
            notes.append(f"--t not given: using the last targets, {render.rows_text(t_rows)}")
        else:
            t_rows = [[1.0] * net.out_features for _ in x_rows]
            notes.append(f"--t not given and none used before: using t = {render.rows_text(t_rows)}")
    return x_rows, t_rows


def main() -> None:
    """The console entry point."""
    app()


# --------------------------------------------------------------------------
# train over data


@app.command()
def train(
    data: Annotated[
        str | None, typer.Option("--data", help="CSV of samples: input columns then target columns; - for stdin.")
    ] = None,
    targets: Annotated[
        int | None, typer.Option("--targets", click_type=INT, help="Target columns in --data [default: out_features].")
    ] = None,
    x: XOpt = None,
    t: TOpt = None,
    steps: Annotated[int | None, typer.Option("--steps", click_type=INT, help="Optimizer steps to take.")] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", click_type=INT, help="Passes over the data [default: 1].")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", click_type=INT, help="Samples per step [default: all].")
    ] = None,
    shuffle: Annotated[
        bool, typer.Option("--shuffle/--no-shuffle", help="Shuffle each epoch (torch.randperm).")
    ] = True,
    seed: Annotated[int | None, typer.Option("--seed", click_type=INT, help="Seed for the shuffle.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    optimizer: OptimizerOpt = None,
    lr: LrOpt = None,
    momentum: MomentumOpt = None,
    dampening: DampeningOpt = None,
    weight_decay: DecayOpt = None,
    nesterov: NesterovOpt = None,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    amsgrad: AmsgradOpt = None,
    alpha: AlphaOpt = None,
    centered: CenteredOpt = None,
    reset_optimizer: ResetOpt = False,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Many steps over data, with progress, a summary and a loss curve. Ctrl-C stops cleanly."""
    from linctl import core, optimizers, parsing, render, render_training, training

    loss = choice(loss, core.LOSSES, "--loss")
    activation = choice(activation, core.ACTIVATIONS, "--activation")
    name = choice(optimizer, optimizers.OPTIMIZERS, "--optimizer")
    given = optimizer_options(locals())
    for option, value in (
        ("--steps", steps),
        ("--epochs", epochs),
        ("--batch-size", batch_size),
        ("--targets", targets),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{option}: must be 1 or more, got {value}")
    if steps is not None and epochs is not None:
        raise UsageError("train: give --steps or --epochs, not both")
    if data is not None and (x or t):
        raise UsageError("train: give --data or --x/--t, not both")
    parsing.check_seed(seed)
    table = read_table(data) if data is not None else None
    x_rows, t_rows = rows_or(x, "--x"), rows_or(t, "--t")
    path = state_file.resolve(state)
    notes: list[str] = []
    show_progress = not (as_json or quiet) and sys.stdout.isatty()

    with deferred_sigint() as stop:

        def work(net):
            xs, ts = samples_for(net, table, targets, x_rows, t_rows, notes)
            xs, ts = training.prepare_samples(net, xs, ts, loss=loss, table=table, notes=notes)
            plan = optimizers.resolve(net.data.get("optimizer"), name, given, reset=reset_optimizer)
            return run_training(
                net, plan, xs, ts, loss, activation, steps, epochs, batch_size, shuffle, seed, show_progress, stop
            )

        result = change(path, device, work, lambda r: {"loss": r.loss_last, "lr": r.settings["lr"], "steps": r.steps})
    emit(
        as_json,
        lambda: render_training.train_json(result),
        lambda: render_training.train_view(result),
        notes + result.notes,
    )
    if result.interrupted:
        render.note(
            f"interrupted: stopped after {result.steps} of {result.planned_steps} steps; all {result.steps} are saved in {path}"
        )
        raise typer.Exit(130)


def read_table(source: str):
    from linctl import data, render

    table = data.read(source)
    bad = data.non_finite(table)
    if bad:
        render.note(f"warning: --data has {bad} NaN/inf value(s); the loss will not be finite")
    return table


def samples_for(net, table, targets, x_rows, t_rows, notes):
    """Training tensors from --data, --x/--t, or the last samples used."""
    import torch

    from linctl import core, data

    if table is not None:
        xs, ts = data.split(table, net.in_features, targets, net.out_features)
        return torch.from_numpy(xs), torch.from_numpy(ts)
    if x_rows is not None and t_rows is None:
        raise UsageError("train: --x needs --t (one target row per sample)")
    if x_rows is not None:
        core.check_inputs(x_rows, net.in_features)
        core.check_targets(t_rows, net.out_features, len(x_rows))
    else:
        x_rows, t_rows = default_samples(net, x_rows, t_rows, notes)
    xs, ts = torch.tensor(x_rows, dtype=torch.float64), torch.tensor(t_rows, dtype=torch.float64)
    core.remember_inputs(net.data, xs.to(net.dtype), ts.to(net.dtype))
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
        from linctl.render import note

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


def run_training(net, plan, xs, ts, loss, activation, steps, epochs, batch_size, shuffle, seed, show_progress, stop):
    from linctl import training

    def train_with(update):
        return training.train(
            net,
            plan,
            xs,
            ts,
            loss=loss,
            activation=activation,
            steps=steps,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            progress=update,
            should_stop=lambda: stop.requested,
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


# --------------------------------------------------------------------------
# history, undo, diff, set


@app.command("history")
def history_cmd(
    last: Annotated[int | None, typer.Option("--last", click_type=INT, help="Only the newest N entries.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout, to plot elsewhere.")] = False,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List every recorded change: step, command, loss, lr and how far the weights moved."""
    from linctl import history, render_history

    path = state_file.resolve(state)
    if not state_file.exists(path) and not history.folder(path).exists():
        raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
    if last is not None and last < 1:
        raise UsageError(f"--last: must be 1 or more, got {last}")
    entries = history.read_index(path)
    if last is not None:
        entries = entries[-last:]
    for entry in entries:
        entry["snapshot"] = history.snapshot_path(path, entry["id"]).exists()
    current = history.head(state_file.load(path))["head"] if state_file.exists(path) else None
    keep = history.keep_snapshots()
    if as_csv:
        render_history.history_csv(entries)
        return
    emit(
        as_json,
        lambda: render_history.history_json(entries, current, str(path), keep),
        lambda: render_history.history_view(entries, current, str(path), keep),
    )


@app.command()
def undo(
    count: Annotated[int, typer.Argument(metavar="[N]", click_type=INT, help="How many changes to go back.")] = 1,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore the network, gradients and optimizer state as they were N changes ago."""
    from linctl import core, history, render_history

    path = state_file.resolve(state)
    with state_file.locked(path):
        current = state_file.load(path)
        target, undone = history.undo_target(path, current, count)
        restored = history.load_snapshot(path, target)
        history.record(
            path,
            restored,
            current,
            {
                "command": command_text(),
                "step": restored["step"],
                "loss": None,
                "lr": None,
                **core.movement(current, restored),
            },
            restores=target,
        )
    d = core.describe(core.Network(restored))
    emit(
        as_json,
        lambda: render_history.undo_json(target, undone, d, str(path)),
        lambda: render_history.undo_view(target, undone, d, str(path)),
    )


@app.command()
def diff(
    a: Annotated[
        int | None,
        typer.Argument(metavar="[A]", click_type=INT, help="Entry id [default: the one before the current]."),
    ] = None,
    b: Annotated[
        int | None, typer.Argument(metavar="[B]", click_type=INT, help="Entry id [default: the current one].")
    ] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Two entries' weights and gradients side by side, the change highlighted."""
    from linctl import core, history, render_history

    path = state_file.resolve(state)
    if b is None:
        b = history.head(state_file.load(path))["last_id"]
    if a is None:
        entry = history.entry_or_error(path, b)
        a = entry.get("parent")
        if a is None:
            raise LinctlError(
                f"entry {b} is the first one: nothing before it to compare with; name two entries, like 'linctl diff 1 3'"
            )
    history.entry_or_error(path, a)
    history.entry_or_error(path, b)
    result = core.difference(history.load_snapshot(path, a), history.load_snapshot(path, b))
    emit(as_json, lambda: render_history.diff_json(a, b, result), lambda: render_history.diff_view(a, b, result))


@app.command("set")
def set_cmd(
    assignments: Annotated[
        list[str], typer.Argument(metavar="ASSIGNMENT...", help="Like 'weight[0,1]=0.5' 'bias[1]=0'.")
    ],
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Edit weights or biases by hand: set 'weight[0,1]=0.5' 'bias[1]=0'."""
    from linctl import core, parsing, render_history

    parsed = [parsing.parse_assignment(a) for a in assignments]
    path = state_file.resolve(state)

    def work(net):
        changes = []
        for name, index, value in parsed:
            old, new = core.set_value(net, name, index, value)
            changes.append({"name": name, "index": list(index), "old": old, "new": new})
        return changes

    changes = change(path, "cpu", work, lambda r: {"loss": None, "lr": None})
    d = core.describe(load_network(path))
    notes = [n for c in changes if (n := core.set_note(c["name"], tuple(c["index"]), c["new"]))]
    emit(
        as_json,
        lambda: render_history.set_json(changes, d, str(path)),
        lambda: render_history.set_view(changes, d, str(path)),
        notes,
    )


# --------------------------------------------------------------------------
# shell


@app.command()
def shell(state: StateOpt = None) -> None:
    """Run commands in one process: a prompt on a terminal, one command per line from a pipe."""
    from linctl import shell as shell_mod

    group = typer.main.get_command(app)
    shell_mod.use_state(state)

    def run(tokens: list[str]) -> int:
        if tokens and tokens[0] == "shell":
            from linctl.render import note

            note("linctl shell: already in the shell")
            return 2
        return group.main(args=tokens, prog_name="linctl", standalone_mode=False)

    if sys.stdin.isatty():
        options = {
            name: sorted(opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("-"))
            for name, command in group.commands.items()
        }
        history_file = state_file.resolve(state).with_name("shell_history")
        code = shell_mod.interactive(run, options, history_file)
    else:
        code = shell_mod.run_lines(sys.stdin, run)
    if code:
        raise typer.Exit(code)
