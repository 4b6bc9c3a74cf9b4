"""One optimizer.step() on the stored gradients, every parameter of every layer,
with the plain SGD update checked by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.errors import LinctlError
from linctl.model.forward import compare
from linctl.model.network import Network
from linctl.model.records import LayerRecord, ParamRecord
from linctl.model.spec import KINDS, param_name
from linctl.optim.settings import Plan
from linctl.optim.torch_step import build, run_step, save_into
from linctl.tensors import copied


def is_plain_sgd(plan: Plan) -> bool:
    s = plan.settings
    return plan.name == "sgd" and s["momentum"] == 0 and s["weight_decay"] == 0


@dataclass
class ParamMoved(ParamRecord):
    """One parameter before and after an update, and its gradient now."""

    before: Any
    value: Any
    grad: Any
    change: Any  # value - before
    hand: Any = None  # before - lr·grad by hand: plain SGD's step only


@dataclass
class LayerMoved(LayerRecord[ParamMoved]):
    """One Linear layer before and after an update (a step, or a whole training run)."""


def layer_moved(name: str, linear, before: tuple, activation: str) -> LayerMoved:
    """The record of a layer whose update is done; `before` is its parameters from `snapshot`, in the
    order of spec.KINDS (None for one the layer does not have)."""
    was = dict(zip(KINDS, before, strict=True))
    params = {}
    for kind, param in linear.named_parameters():  # the ones it has: weight, then bias unless bias=False
        key = param_name(name, kind)
        value = copied(param)
        params[key] = ParamMoved(
            name=key, kind=kind, before=was[kind], value=value, grad=copied(param.grad), change=value - was[kind]
        )
    return LayerMoved(
        name=name,
        params=params,
        in_features=linear.in_features,
        out_features=linear.out_features,
        activation=activation,
    )


@dataclass
class StepResult:
    optimizer: str
    settings: dict
    lr: float
    layers: list[LayerMoved]
    hand_max_abs_diff: float | None
    hand_match: bool | None
    step: int
    notes: list[str] = field(default_factory=list)


def snapshot(net: Network) -> list[tuple]:
    """Each layer's parameters as they are now, copied, in the order of spec.KINDS (None where it has none)."""
    return [tuple(copied(getattr(linear, kind)) for kind in KINDS) for linear in net.linears]


def layer_steps(
    net: Network, before: list[tuple], lr: float | None
) -> tuple[list[LayerMoved], float | None, bool | None]:
    """Per-layer records of a finished update; with `lr`, the plain SGD update by hand beside it."""
    import torch

    layers, worst, same = [], None, None
    for name, linear, before_layer, activation in zip(
        net.layer_names(), net.linears, before, net.activations, strict=True
    ):
        moved = layer_moved(name, linear, before_layer, activation)
        for param in moved.params.values():
            if lr is None or param.grad is None:
                continue
            with torch.no_grad():
                param.hand = param.before - lr * param.grad
            w, s = compare(param.hand, param.value)
            worst = w if worst is None else max(worst, w)
            same = s if same is None else same and s
        layers.append(moved)
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
