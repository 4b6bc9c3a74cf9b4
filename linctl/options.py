"""The options the commands share, declared once, each parsed at the option
itself (Typer's `parser=`): vectors, matrices, betas, ASCII numbers, choices.

A parser raises UsageError naming its option, so a bad value becomes one
line and exit 2 before the command body runs. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from linctl.errors import UsageError
from linctl.model import registry, spec
from linctl.optim import settings as optimizers

NETWORK = "Network"
DATA = "Data"
OPTIMIZER = "Optimizer"
OUTPUT = "Output"

DTYPES = spec.DTYPES
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Rows:
    """Numbers typed for one option: rows of comma-separated values, rows split by ';'."""

    rows: list[list[float]]
    option: str


def rows_parser(option: str) -> Callable[[str], Rows]:
    def parse(text: str) -> Rows:
        from linctl import parsing

        if isinstance(text, Rows):
            return text
        return Rows(parsing.parse_rows([text], option), option)

    return parse


def number_parser(option: str, whole: bool = False, least: int | None = None) -> Callable[[str], Any]:
    """A number as typed; with `least`, a whole number below it is refused here, at the option."""

    def parse(text: str) -> Any:
        from linctl.parsing import number_problem, shown_int

        if not isinstance(text, str):
            return text
        problem = number_problem(text, whole=whole)
        if problem:
            raise UsageError(f"{option}: {problem}")
        try:
            value = (int if whole else float)(text.strip(" \t\r\n\f\v"))
        except ValueError as exc:  # more digits than Python converts (4300 by default)
            raise UsageError(f"{option}: {text[:20]!r}… ({len(text)} characters): {exc}") from None
        if least is not None and value < least:
            raise UsageError(f"{option}: must be {least} or more, got {shown_int(int(value))}")
        return value

    return parse


def choice_parser(option: str, choices: Collection[str]) -> Callable[[str], str]:
    """A parser for one of `choices`, read when a value comes (a registry's dict: every entry it has then)."""

    def parse(text: str) -> str:
        lowered = text.lower()
        if lowered not in choices:
            raise UsageError(f"{option}: expected one of {', '.join(choices)}, got {text!r}")
        return lowered

    return parse


@dataclass(frozen=True)
class Betas:
    """--betas as typed: two numbers."""

    values: tuple[float, float]


def betas_parser(text: str) -> Betas:
    from linctl.parsing import parse_betas

    if isinstance(text, Betas):
        return text
    return Betas(parse_betas(text))


def merged(values: list[Rows] | None) -> list[list[float]] | None:
    """Several --x (or --t) given: their rows in order, of one width."""
    if not values:
        return None
    option = values[0].option
    rows = [row for value in values for row in value.rows]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise UsageError(
                f"{option}: row {i + 1} has {len(row)} values but row 1 has {width}; "
                "every row needs the same number of values"
            )
    return rows


def warn_non_finite(rows: list[list[float]] | None, option: str) -> None:
    from linctl.parsing import non_finite_warning
    from linctl.render.widgets import note

    if rows:
        warning = non_finite_warning(rows, option)
        if warning:
            note(warning)


# --------------------------------------------------------------------------
# the shared options

StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        envvar="LINCTL_STATE",
        metavar="PATH",
        help="State file (default: .linctl/net.safetensors).",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", rich_help_panel=OUTPUT)]


def save_callback(kind: str) -> Callable[[str | None], str | None]:
    """--svg/--html: checked here, then handed to render, which records what it draws and saves it."""

    def remember(value: str | None) -> str | None:
        from pathlib import Path

        from linctl.render import widgets

        if value is not None:
            check_writable(f"--{kind}", Path(value).expanduser() if value.strip() else None, value)
        widgets.SAVE_TO[kind] = value
        return value

    return remember


def check_writable(option: str, path: Any, typed: str) -> None:
    """Before any work (a command may change the state first): the file can be written, or exit 2 naming it."""
    shown = repr(typed) if len(typed) <= 60 else repr(typed[:60]) + f"… ({len(typed)} characters)"
    try:
        if path is None or not path.parent.is_dir() or path.is_dir():
            raise UsageError(f"{option}: {shown}: expected a file path in an existing folder")
        existed = path.exists()
        with open(path, "ab"):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{option}: {shown}: cannot write there ({reason})") from None
    if not existed:
        path.unlink(missing_ok=True)


def _save_option(kind: str, what: str) -> Any:
    return typer.Option(
        f"--{kind}",
        metavar="FILE",
        callback=save_callback(kind),
        rich_help_panel=OUTPUT,
        help=f"Also save exactly what is drawn as {what} (rich's own export).",
    )


SvgOpt = Annotated[str | None, _save_option("svg", "an SVG picture")]
HtmlOpt = Annotated[str | None, _save_option("html", "an HTML page")]
XOpt = Annotated[
    list[Rows] | None,
    typer.Option(
        "--x",
        parser=rows_parser("--x"),
        metavar="ROWS",
        rich_help_panel=DATA,
        help="Input sample(s): 1,1 ; repeat or use ';' for several.",
    ),
]
TOpt = Annotated[
    list[Rows] | None,
    typer.Option(
        "--t",
        parser=rows_parser("--t"),
        metavar="ROWS",
        rich_help_panel=DATA,
        help="Target(s), one row per sample, OUT values each.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        envvar="LINCTL_DEVICE",
        metavar="DEVICE",
        help="cpu, cuda or auto.",
        show_default=True,
        rich_help_panel=NETWORK,
    ),
]
LossOpt = Annotated[
    str,
    typer.Option(
        "--loss",
        parser=choice_parser("--loss", registry.LOSSES),
        metavar="LOSS",
        rich_help_panel=DATA,
        help=f"{registry.names(registry.LOSSES)}; all mean-reduced.",
    ),
]


def _activation_option(text: str) -> Any:
    return typer.Option(
        "--activation",
        parser=choice_parser("--activation", registry.ACTIVATIONS),
        metavar="NAME",
        rich_help_panel=NETWORK,
        help=text,
    )


# the one-run override (backward, train-step, train, graph, plot) and the built network's (inspect, import)
ActOpt = Annotated[
    list[str] | None,
    _activation_option(
        f"For this run: {registry.names(registry.ACTIVATIONS)}; once for every layer, or once per layer in order."
    ),
]
LayerActOpt = Annotated[
    list[str] | None,
    _activation_option(
        f"{registry.names(registry.ACTIVATIONS)} after each layer: once for every layer, or once per layer in order."
    ),
]
OptimizerOpt = Annotated[
    str | None,
    typer.Option(
        "--optimizer",
        parser=choice_parser("--optimizer", optimizers.OPTIMIZERS),
        metavar="NAME",
        rich_help_panel=OPTIMIZER,
        help=f"{registry.names(optimizers.OPTIMIZERS)} (default: stored, else sgd).",
    ),
]


def _float(option: str, text: str) -> Any:
    return typer.Option(option, parser=number_parser(option), metavar="FLOAT", rich_help_panel=OPTIMIZER, help=text)


LrOpt = Annotated[float | None, _float("--lr", "Learning rate (default: the last one used).")]
MomentumOpt = Annotated[float | None, _float("--momentum", "SGD/RMSprop momentum, in [0, 1).")]
DampeningOpt = Annotated[float | None, _float("--dampening", "SGD dampening.")]
DecayOpt = Annotated[float | None, _float("--weight-decay", "L2 penalty (decoupled for adamw).")]
EpsOpt = Annotated[float | None, _float("--eps", "Adam/AdamW/RMSprop epsilon.")]
AlphaOpt = Annotated[float | None, _float("--alpha", "RMSprop smoothing constant.")]
NesterovOpt = Annotated[
    bool | None,
    typer.Option(
        "--nesterov/--no-nesterov", help="SGD Nesterov momentum.", show_default=False, rich_help_panel=OPTIMIZER
    ),
]
BetasOpt = Annotated[
    Betas | None,
    typer.Option(
        "--betas",
        parser=betas_parser,
        metavar="B1,B2",
        rich_help_panel=OPTIMIZER,
        help="Adam/AdamW betas, like 0.9,0.999.",
    ),
]
AmsgradOpt = Annotated[
    bool | None,
    typer.Option("--amsgrad/--no-amsgrad", help="Adam/AdamW AMSGrad.", show_default=False, rich_help_panel=OPTIMIZER),
]
CenteredOpt = Annotated[
    bool | None,
    typer.Option("--centered/--no-centered", help="RMSprop centered.", show_default=False, rich_help_panel=OPTIMIZER),
]
ResetOpt = Annotated[
    bool,
    typer.Option(
        "--reset-optimizer",
        rich_help_panel=OPTIMIZER,
        help="Drop the stored optimizer state and start it afresh (settings given still apply).",
    ),
]


def whole(option: str, text: str, panel: str = DATA, metavar: str = "N", least: int | None = None) -> Any:
    return typer.Option(
        option, parser=number_parser(option, whole=True, least=least), metavar=metavar, help=text, rich_help_panel=panel
    )


# --targets K of train and plot: how many of --data's last columns are targets
TargetsOpt = Annotated[int | None, whole("--targets", "Target columns in --data (default: out_features).", least=1)]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="FILE",
        rich_help_panel=DATA,
        help="CSV of samples: input columns then target columns (or a class label); - for stdin.",
    ),
]


@dataclass
class OptimizerChoice:
    """The optimizer options of one command, as given (None: keep the stored value)."""

    name: str | None = None
    lr: float | None = None
    momentum: float | None = None
    dampening: float | None = None
    weight_decay: float | None = None
    nesterov: bool | None = None
    betas: Betas | None = None
    eps: float | None = None
    amsgrad: bool | None = None
    alpha: float | None = None
    centered: bool | None = None
    reset: bool = False

    def plan(self, saved: dict | None):
        """The optimizer that runs: the stored one combined with these options (optim.settings.resolve)."""
        from linctl.optim.settings import resolve

        return resolve(saved, self.name, self.given(), reset=self.reset)

    def given(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "dampening": self.dampening,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
            "betas": None if self.betas is None else self.betas.values,
            "eps": self.eps,
            "amsgrad": self.amsgrad,
            "alpha": self.alpha,
            "centered": self.centered,
        }


NO_CHOICE = OptimizerChoice()

# the optimizer options step, train-step and train take: (parameter, its option, default), declared once
OPTIMIZER_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("optimizer", OptimizerOpt, None),
    ("lr", LrOpt, None),
    ("momentum", MomentumOpt, None),
    ("dampening", DampeningOpt, None),
    ("weight_decay", DecayOpt, None),
    ("nesterov", NesterovOpt, None),
    ("betas", BetasOpt, None),
    ("eps", EpsOpt, None),
    ("amsgrad", AmsgradOpt, None),
    ("alpha", AlphaOpt, None),
    ("centered", CenteredOpt, None),
    ("reset_optimizer", ResetOpt, False),
)


def optimizer_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The command with the optimizer options in its place of `choice`; it receives them as one OptimizerChoice.

    Typer reads a command's options from its signature, so the wrapper shows the options' parameters in the
    place of `choice` and builds the OptimizerChoice from them on each call.
    """
    import functools
    import inspect

    signature = inspect.signature(command, eval_str=True)
    names = list(signature.parameters)
    at = names.index("choice")
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    added = [
        inspect.Parameter(name, kind, default=default, annotation=option) for name, option, default in OPTIMIZER_OPTIONS
    ]
    parameters = list(signature.parameters.values())
    parameters[at : at + 1] = added

    @functools.wraps(command)
    def with_choice(**given: Any) -> Any:
        values = {name: given.pop(name) for name, _, _ in OPTIMIZER_OPTIONS}
        given["choice"] = OptimizerChoice(
            name=values.pop("optimizer"), reset=bool(values.pop("reset_optimizer")), **values
        )
        return command(**given)

    with_choice.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_choice.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return with_choice
