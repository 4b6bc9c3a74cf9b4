"""The optimizer options of step, train-step and train, declared once: each option, the one OptimizerChoice a
command receives, and the decorator that puts the options in a command's signature (Typer reads options from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from linctl.model import registry
from linctl.optim import settings as optimizers
from linctl.options import OPTIMIZER, Betas, betas_parser, choice_parser, number_parser

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
