"""One entry per activation and per loss: forward, the local derivative by
hand, and the formula text, side by side (micrograd keeps each operation's
forward and backward together the same way).

The forward functions are torch's own, so autograd records the same graph
the tutorial's code would; the derivatives are written out by hand and only
ever compared with autograd, never used to compute what linctl reports as
torch's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Tensor = Any


@dataclass(frozen=True)
class Activation:
    name: str
    formula: str  # h = f(z)
    derivative_formula: str  # dh/dz
    forward: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]  # (z, h) -> dh/dz, by hand


@dataclass(frozen=True)
class Loss:
    name: str
    formula: str
    gradient_formula: str
    forward: Callable[[Tensor, Tensor], Tensor]
    gradient: Callable[[Tensor, Tensor], Tensor]  # (o, t) -> dL/do, by hand


def _sigmoid(z):
    import torch

    return torch.sigmoid(z)


def _relu(z):
    import torch

    return torch.relu(z)


def _tanh(z):
    import torch

    return torch.tanh(z)


ACTIVATIONS: dict[str, Activation] = {
    "none": Activation("none", "h = z", "1", lambda z: z, lambda z, h: z.new_ones(z.shape)),
    "sigmoid": Activation("sigmoid", "h = 1 / (1 + e^-z)", "h·(1 - h)", _sigmoid, lambda z, h: h * (1 - h)),
    "relu": Activation("relu", "h = max(z, 0)", "1 if z > 0 else 0", _relu, lambda z, h: (z > 0).to(z.dtype)),
    "tanh": Activation("tanh", "h = tanh(z)", "1 - h²", _tanh, lambda z, h: 1 - h * h),
}


def _mse(o, t):
    import torch.nn.functional as F

    return F.mse_loss(o, t)


def _l1(o, t):
    import torch.nn.functional as F

    return F.l1_loss(o, t)


def _bce(o, t):
    import torch.nn.functional as F

    return F.binary_cross_entropy(o, t)


def _l1_gradient(o, t):
    import torch

    return torch.sign(o - t) / o.numel()


def _bce_gradient(o, t):
    import torch

    return (o - t) / torch.clamp(o * (1 - o), min=1e-12) / o.numel()


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", "L = mean((o - t)²)", "2·(o - t) / N", _mse, lambda o, t: 2 * (o - t) / o.numel()),
    "l1": Loss("l1", "L = mean(|o - t|)", "sign(o - t) / N", _l1, _l1_gradient),
    "bce": Loss("bce", "L = -mean(t·log o + (1 - t)·log(1 - o))", "(o - t) / (o·(1 - o)) / N", _bce, _bce_gradient),
    "diff": Loss(
        "diff", "L = mean(t - o)", "-1 / N", lambda o, t: (t - o).mean(), lambda o, t: -o.new_ones(o.shape) / o.numel()
    ),
}


def activation(name: str) -> Activation:
    return ACTIVATIONS[name]


def loss(name: str) -> Loss:
    return LOSSES[name]
