"""One entry per activation and per loss: the only list of them.

Each entry keeps side by side what every part of linctl needs to know of it
(micrograd keeps each operation's forward and backward together the same
way): its name, the torch module `nn.Sequential` holds, the code the
exported program runs, the formula text, torch's forward and the local
backward written out by hand. Options, the layer specs, the state file's
checks, the views and the exported program all read names, modules and
formulas from here; adding an activation or a loss is adding an entry.

The forward functions are torch's own, so autograd records the same graph
the tutorial's code would; the backward functions are written out by hand
and only ever compared with autograd, never used to compute what linctl
reports as torch's numbers. Nothing here imports torch at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Tensor = Any


@dataclass(frozen=True)
class Activation:
    """h = f(z) after a Linear, and its local backward: (z, h, dL/dh) -> dL/dz, by hand."""

    name: str
    module: str | None  # the torch.nn module in nn.Sequential (None: no module)
    program: str  # the same function in the exported program's source
    formula: str  # h = f(z)
    derivative: str  # dh/dz as a template over {h} (output) and {z} (input)
    forward: Callable[[Tensor], Tensor]
    backward: Callable[[Tensor, Tensor, Tensor], Tensor]
    output_range: tuple[float, float] | None = None  # every output lies in it

    def local_rule(self, upstream: str, h: str, z: str) -> str:
        """The local backward as text: dL/dz from the upstream gradient, the output h and the input z."""
        factor = self.derivative.format(h=h, z=z)
        if factor == "1":
            return upstream
        return f"{upstream} ⊙ {f'({factor})' if ' ' in factor else factor}"


@dataclass(frozen=True)
class Loss:
    """L = loss(o, t), mean-reduced, with its gradient dL/do by hand and what its targets must be."""

    name: str
    program: str  # the same function in the exported program's source
    formula: str
    gradient_formula: str
    forward: Callable[[Tensor, Tensor], Tensor]
    gradient: Callable[[Tensor, Tensor], Tensor]  # (o, t) -> dL/do, by hand
    reduction: str = "mean"
    target: str = "same"  # "same": one target per output, like the output's shape
    output_range: tuple[float, float] | None = None  # the outputs it takes (torch refuses others)
    target_range: tuple[float, float] | None = None  # the targets it takes


def _torch(name: str) -> Callable[..., Tensor]:
    def call(*args):
        import torch

        return getattr(torch, name)(*args)

    return call


def _functional(name: str) -> Callable[..., Tensor]:
    def call(*args):
        import torch.nn.functional as F

        return getattr(F, name)(*args)

    return call


def _sign_over_n(o, t):
    import torch

    return torch.sign(o - t) / o.numel()


def _bce_gradient(o, t):
    import torch

    return (o - t) / torch.clamp(o * (1 - o), min=1e-12) / o.numel()


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("none", None, "lambda z: z", "h = z", "1", lambda z: z, lambda z, h, g: g),
        Activation(
            "sigmoid",
            "Sigmoid",
            "torch.sigmoid",
            "h = 1 / (1 + e^-z)",
            "{h}(1-{h})",
            _torch("sigmoid"),
            lambda z, h, g: g * (h * (1 - h)),
            output_range=(0.0, 1.0),
        ),
        Activation(
            "relu",
            "ReLU",
            "torch.relu",
            "h = max(z, 0)",
            "{z} > 0",
            _torch("relu"),
            lambda z, h, g: g * (z > 0).to(z.dtype),
        ),
        Activation(
            "tanh", "Tanh", "torch.tanh", "h = tanh(z)", "1 - {h}²", _torch("tanh"), lambda z, h, g: g * (1 - h * h)
        ),
    )
}

LOSSES: dict[str, Loss] = {
    entry.name: entry
    for entry in (
        Loss(
            "mse",
            "F.mse_loss",
            "L = mean((o - t)²)",
            "2·(o - t) / N",
            _functional("mse_loss"),
            lambda o, t: 2 * (o - t) / o.numel(),
        ),
        Loss("l1", "F.l1_loss", "L = mean(|o - t|)", "sign(o - t) / N", _functional("l1_loss"), _sign_over_n),
        Loss(
            "bce",
            "F.binary_cross_entropy",
            "L = -mean(t·log o + (1 - t)·log(1 - o))",
            "(o - t) / (o·(1 - o)) / N",
            _functional("binary_cross_entropy"),
            _bce_gradient,
            output_range=(0.0, 1.0),
            target_range=(0.0, 1.0),
        ),
        Loss(
            "diff",
            "lambda o, t: (t - o).mean()",
            "L = mean(t - o)",
            "-1 / N",
            lambda o, t: (t - o).mean(),
            lambda o, t: -o.new_ones(o.shape) / o.numel(),
        ),
    )
}


def activation(name: str) -> Activation:
    return ACTIVATIONS[name]


def loss(name: str) -> Loss:
    return LOSSES[name]


def names(entries: dict) -> str:
    """The names as a help text lists them: a|b|c."""
    return "|".join(entries)
