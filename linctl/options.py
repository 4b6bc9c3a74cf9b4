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
