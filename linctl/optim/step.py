"""One optimizer.step() on the stored gradients, every parameter of every layer,
with the plain SGD update checked by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.errors import LinctlError
from linctl.model.forward import compare
from linctl.model.network import Network
from linctl.optim.settings import Plan
from linctl.optim.torch_step import build, run_step, save_into
from linctl.tensors import copied


def is_plain_sgd(plan: Plan) -> bool:
    s = plan.settings
    return plan.name == "sgd" and s["momentum"] == 0 and s["weight_decay"] == 0


@dataclass
class LayerMoved:
    """One Linear layer before and after an update (a step, or a whole training run), and its gradient now."""

    name: str
    in_features: int
    out_features: int
    activation: str
    weight_before: Any
    bias_before: Any
    weight: Any
    bias: Any
    weight_grad: Any
    bias_grad: Any
    weight_change: Any  # weight - weight_before
    bias_change: Any


def layer_moved(name: str, linear, before: tuple[Any, Any], activation: str) -> LayerMoved:
    """The record of a layer whose update is done; `before` is its (weight, bias) from `snapshot`."""
    weight, bias = copied(linear.weight), copied(linear.bias)
    return LayerMoved(
        name=name,
        in_features=linear.in_features,
        out_features=linear.out_features,
        activation=activation,
        weight_before=before[0],
        bias_before=before[1],
        weight=weight,
        bias=bias,
        weight_grad=copied(linear.weight.grad),
        bias_grad=None if linear.bias is None else copied(linear.bias.grad),
        weight_change=weight - before[0],
        bias_change=None if bias is None else bias - before[1],
    )


@dataclass
class LayerStep(LayerMoved):
    """One Linear layer's part of the step."""

    hand_weight: Any  # W - lr·grad, plain SGD only
    hand_bias: Any


@dataclass
class StepResult:
    optimizer: str
    settings: dict
    lr: float
    layers: list[LayerStep]
    hand_max_abs_diff: float | None
    hand_match: bool | None
    step: int
    notes: list[str] = field(default_factory=list)


def snapshot(net: Network) -> list[tuple[Any, Any]]:
    """Each layer's (weight, bias) as they are now, copied."""
    return [(copied(linear.weight), copied(linear.bias)) for linear in net.linears]


def layer_steps(
    net: Network, before: list[tuple[Any, Any]], lr: float | None
) -> tuple[list[LayerStep], float | None, bool | None]:
    """Per-layer records of a finished update; with `lr`, the plain SGD update by hand beside it."""
    import torch

    layers, worst, same = [], None, None
    for name, linear, before_layer, activation in zip(
        net.layer_names(), net.linears, before, net.activations, strict=True
    ):
        moved = layer_moved(name, linear, before_layer, activation)
        w_before, b_before, w_grad, b_grad = moved.weight_before, moved.bias_before, moved.weight_grad, moved.bias_grad
        hand_w = hand_b = None
        if lr is not None and w_grad is not None:
            with torch.no_grad():
                hand_w = w_before - lr * w_grad
                pairs = [(hand_w, moved.weight)]
                if b_before is not None and b_grad is not None:
                    hand_b = b_before - lr * b_grad
                    pairs.append((hand_b, moved.bias))
            for hand, real in pairs:
                w, s = compare(hand, real)
                worst = w if worst is None else max(worst, w)
                same = s if same is None else same and s
        layers.append(
            LayerStep(
                **vars(moved),
                hand_weight=hand_w,
                hand_bias=hand_b,
            )
        )
    return layers, worst, same


def step(net: Network, plan: Plan) -> StepResult:
    """optimizer.step() on the stored gradients; the gradients stay (PyTorch keeps them)."""
    if not net.has_grads():
        raise LinctlError("no gradients to step on; run 'linctl backward --x ... --t ...' first (or use train-step)")
    optimizer = build(net, plan, net.data.get("optimizer"))
    before = snapshot(net)
    run_step(optimizer)
    save_into(net.data, plan, optimizer)
    net.data["step"] = int(net.data.get("step", 0)) + 1
    layers, worst, same = layer_steps(net, before, plan.settings["lr"] if is_plain_sgd(plan) else None)
    return StepResult(
        optimizer=plan.name,
        settings=dict(plan.settings),
        lr=plan.settings["lr"],
        layers=layers,
        hand_max_abs_diff=worst,
        hand_match=same,
        step=net.data["step"],
        notes=list(plan.notes),
    )
