"""One entry per activation and per loss: the only list of them.

Each entry keeps side by side what every part of linctl needs to know of it
(micrograd keeps each operation's forward and backward together the same
way): its name, the torch module `nn.Sequential` holds, the code the
exported program runs, the formula text, torch's forward, the local
backward written out by hand, and the function the browser view draws with. Options, the layer specs, the state file's
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

from linctl.model import by_hand as hand
from linctl.model import targets

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
    browser: str  # the same function in JavaScript, over one sample's z (an array), for the view's pictures
    output_range: tuple[float, float] | None = None  # every output lies in it
    arguments: tuple[tuple[str, Any], ...] = ()  # the module's keyword arguments, as torch prints them
    rule: str | None = None  # the local backward over {g}, {h}, {z} where it is not g ⊙ dh/dz (softmax)
    elementwise: bool = True  # h_i depends on z_i alone (softmax: on the whole row)

    def module_call(self) -> str | None:
        """The module as torch prints it and as the program builds it: Softmax(dim=1), Tanh()."""
        if self.module is None:
            return None
        return f"{self.module}({', '.join(f'{key}={value!r}' for key, value in self.arguments)})"

    def local_rule(self, upstream: str, h: str, z: str) -> str:
        """The local backward as text: dL/dz from the upstream gradient, the output h and the input z."""
        if self.rule is not None:
            return self.rule.format(g=upstream, h=h, z=z)
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
    target: str = "same"  # "same": one target per output, like the output's shape; "classes": a class index each
    output_range: tuple[float, float] | None = None  # the outputs it takes (torch refuses others)
    target_range: tuple[float, float] | None = None  # the targets it takes
    probabilities: bool = False  # "classes" only: a row of class probabilities is taken too, as torch takes it
    doubled: str | None = None  # an activation this loss already applies (softmax in cross_entropy)
    check: Callable[..., None] | None = None  # (entry, t, out_features, place): refuses targets it cannot take
    metric: str = "r2"  # what train reports beside it: "accuracy" (a classifier) or "r2" (regression)

    def target_widths(self, out_features: int) -> tuple[int, ...]:
        """How many target values a sample takes: one per output, or one class index (or a probability row)."""
        if self.target == "same":
            return (out_features,)
        return (1, out_features) if self.probabilities and out_features > 1 else (1,)

    def torch_target(self, t):
        """The target as torch's loss takes it: class indices (B,) as int64 from a (B, 1) column, else t."""
        return hand.class_indices(t) if self.target == "classes" else t


def each(expression: str) -> str:
    """A browser function applying a JavaScript expression in z to each pre-activation of a sample."""
    return f"(zs) => zs.map((z) => {expression})"


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("none", None, "lambda z: z", "h = z", "1", lambda z: z, lambda z, h, g: g, browser="(zs) => zs"),
        Activation(
            "sigmoid",
            "Sigmoid",
            "torch.sigmoid",
            "h = 1 / (1 + e^-z)",
            "{h}(1-{h})",
            hand.torch("sigmoid"),
            lambda z, h, g: g * (h * (1 - h)),
            browser=each("1 / (1 + Math.exp(-z))"),
            output_range=(0.0, 1.0),
        ),
        Activation(
            "relu",
            "ReLU",
            "torch.relu",
            "h = max(z, 0)",
            "{z} > 0",
            hand.torch("relu"),
            lambda z, h, g: g * (z > 0).to(z.dtype),
            browser=each("Math.max(z, 0)"),
        ),
        Activation(
            "tanh",
            "Tanh",
            "torch.tanh",
            "h = tanh(z)",
            "1 - {h}²",
            hand.torch("tanh"),
            lambda z, h, g: g * (1 - h * h),
            browser=each("Math.tanh(z)"),
        ),
        Activation(
            "softmax",
            "Softmax",
            "lambda z: torch.softmax(z, dim=1)",
            "h = e^z / Σ_j e^z_j (per sample, over the features)",
            "diag({h}) - {h}·{h}ᵀ",
            hand.over_features("softmax"),
            hand.softmax_backward,
            browser="(zs) => { const m = Math.max(...zs), e = zs.map((z) => Math.exp(z - m)), s = e.reduce((a, v) => a + v, 0);"
            " return e.map((v) => v / s); }",
            output_range=(0.0, 1.0),
            arguments=(("dim", 1),),
            rule="{h} ⊙ ({g} − ({g}·{h}))",
            elementwise=False,
        ),
        Activation(
            "log_softmax",
            "LogSoftmax",
            "lambda z: torch.log_softmax(z, dim=1)",
            "h = z - log Σ_j e^z_j (per sample, over the features)",
            "I - e^{h}·1ᵀ",
            hand.over_features("log_softmax"),
            hand.log_softmax_backward,
            browser="(zs) => { const m = Math.max(...zs), s = zs.reduce((a, z) => a + Math.exp(z - m), 0);"
            " return zs.map((z) => z - m - Math.log(s)); }",
            output_range=(float("-inf"), 0.0),
            arguments=(("dim", 1),),
            rule="{g} − e^{h} ⊙ Σ{g}",
            elementwise=False,
        ),
        Activation(
            "leaky_relu",
            "LeakyReLU",
            "F.leaky_relu",
            f"h = max(z, {hand.LEAKY_SLOPE}·z)",
            f"1 if {{z}} > 0 else {hand.LEAKY_SLOPE}",
            hand.functional("leaky_relu"),
            hand.leaky_relu_backward,
            browser=each(f"z > 0 ? z : {hand.LEAKY_SLOPE!r} * z"),
            arguments=(("negative_slope", hand.LEAKY_SLOPE),),
        ),
        Activation(
            "gelu",
            "GELU",
            "F.gelu",
            "h = z·Φ(z)",
            "Φ({z}) + {z}·φ({z})",
            hand.functional("gelu"),
            hand.gelu_backward,
            browser=each("0.5 * z * (1 + erf(z / Math.SQRT2))"),  # erf: the page's own, as Math has none
            arguments=(("approximate", "none"),),
        ),
        Activation(
            "silu",
            "SiLU",
            "F.silu",
            "h = z·σ(z)",
            "σ({z})·(1 + {z}·(1 - σ({z})))",
            hand.functional("silu"),
            hand.silu_backward,
            browser=each("z / (1 + Math.exp(-z))"),
        ),
        Activation(
            "softplus",
            "Softplus",
            "F.softplus",
            "h = log(1 + e^z) (z above 20: h = z)",
            "σ({z})",
            hand.functional("softplus"),
            hand.softplus_backward,
            browser=each(f"z > {hand.SOFTPLUS_THRESHOLD!r} ? z : Math.log1p(Math.exp(z))"),
            output_range=(0.0, float("inf")),
            arguments=(("beta", 1.0), ("threshold", hand.SOFTPLUS_THRESHOLD)),
        ),
        Activation(
            "elu",
            "ELU",
            "F.elu",
            "h = z if z > 0 else α·(e^z - 1), α = 1",
            f"1 if {{z}} > 0 else {{h}} + {hand.ELU_ALPHA:g}",
            hand.functional("elu"),
            hand.elu_backward,
            browser=each(f"z > 0 ? z : {hand.ELU_ALPHA!r} * Math.expm1(z)"),
            output_range=(-hand.ELU_ALPHA, float("inf")),
            arguments=(("alpha", hand.ELU_ALPHA),),
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
            hand.functional("mse_loss"),
            lambda o, t: 2 * (o - t) / o.numel(),
        ),
        Loss("l1", "F.l1_loss", "L = mean(|o - t|)", "sign(o - t) / N", hand.functional("l1_loss"), hand.sign_over_n),
        Loss(
            "bce",
            "F.binary_cross_entropy",
            "L = -mean(t·log o + (1 - t)·log(1 - o))",
            "(o - t) / (o·(1 - o)) / N",
            hand.functional("binary_cross_entropy"),
            hand.bce_gradient,
            output_range=(0.0, 1.0),
            target_range=(0.0, 1.0),
            metric="accuracy",
        ),
        Loss(
            "diff",
            "lambda o, t: (t - o).mean()",
            "L = mean(t - o)",
            "-1 / N",
            lambda o, t: (t - o).mean(),
            lambda o, t: -o.new_ones(o.shape) / o.numel(),
        ),
        Loss(
            "cross_entropy",
            "lambda o, t: F.cross_entropy(o, t[:, 0].long() if t.shape[1] == 1 else t)",
            "L = -mean(log softmax(o)[t])  (o: logits; t: class index, or probabilities p: -mean(Σ p·log softmax(o)))",
            "(softmax(o) - onehot(t)) / B",
            hand.on_classes("cross_entropy"),
            hand.cross_entropy_gradient,
            target="classes",
            probabilities=True,
            doubled="softmax",
            check=targets.check_classes,
            metric="accuracy",
        ),
        Loss(
            "nll",
            "lambda o, t: F.nll_loss(o, t[:, 0].long())",
            "L = -mean(o[t])  (o: log-probabilities, after log_softmax; t: class index)",
            "-onehot(t) / B",
            hand.on_classes("nll_loss"),
            hand.nll_gradient,
            target="classes",
            output_range=(float("-inf"), 0.0),
            check=targets.check_classes,
            metric="accuracy",
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
