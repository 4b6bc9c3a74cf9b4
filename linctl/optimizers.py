"""The optimizer between invocations: its settings, its state, one step.

The optimizer lives in the state file as its name, the settings the user
chose, and torch's own `optimizer.state_dict()`, so N separate `step`
invocations do exactly what N iterations of one Python loop do.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from linctl.core import Network, compare
from linctl.errors import UsageError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")

# torch's defaults, per optimizer; `lr` has none on purpose (see resolve)
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
}

OPTION_NAMES = {
    "lr": "--lr",
    "momentum": "--momentum",
    "dampening": "--dampening",
    "weight_decay": "--weight-decay",
    "nesterov": "--nesterov",
    "betas": "--betas",
    "eps": "--eps",
    "amsgrad": "--amsgrad",
    "alpha": "--alpha",
    "centered": "--centered",
}


@dataclass
class Plan:
    """Which optimizer runs, with which settings, and what became of its state."""

    name: str
    settings: dict[str, Any]
    keep_state: bool
    notes: list[str] = field(default_factory=list)


# Settings that make torch read a state buffer which it creates only when the
# optimizer's state starts: (optimizer, setting) -> (is it on?, the buffer, what it is).
# Turned on after the optimizer has stepped without it, torch raises KeyError.
NEEDS_BUFFER: dict[tuple[str, str], tuple[Any, str, str]] = {
    ("adam", "amsgrad"): (bool, "max_exp_avg_sq", "AMSGrad"),
    ("adamw", "amsgrad"): (bool, "max_exp_avg_sq", "AMSGrad"),
    ("rmsprop", "centered"): (bool, "grad_avg", "centered RMSprop"),
    ("rmsprop", "momentum"): (lambda m: m > 0, "momentum_buffer", "momentum"),
}


def resolve(saved: dict | None, name: str | None, given: dict[str, Any], reset: bool = False) -> Plan:
    """Combine the stored optimizer with the options given on this run.

    `reset` (--reset-optimizer) drops the stored optimizer state: the optimizer
    starts afresh, with the stored settings and the ones given.
    """
    plain_step_wanted()  # a bad LINCTL_PLAIN_STEP is refused before any work
    saved = saved or {}
    given = {k: v for k, v in given.items() if v is not None}
    saved_name = saved.get("name")
    name = (name or saved_name or "sgd").lower()
    if name not in OPTIMIZERS:
        raise UsageError(f"--optimizer: expected one of {', '.join(OPTIMIZERS)}, got {name!r}")
    for key in given:
        if key != "lr" and key not in DEFAULTS[name]:
            users = [o for o in OPTIMIZERS if key in DEFAULTS[o]]
            raise UsageError(
                f"{OPTION_NAMES[key]} applies to {'/'.join(users)}, not {name}; drop it or pick another --optimizer"
            )
    notes: list[str] = []
    same_kind = saved_name == name
    base = dict(saved.get("settings") or {}) if same_kind else {}
    settings = {**DEFAULTS[name], **base, **given}
    if "lr" not in settings:
        if saved.get("settings", {}).get("lr") is not None:
            settings["lr"] = saved["settings"]["lr"]
        else:
            raise UsageError("--lr: no learning rate yet; pass one, like --lr 0.05")
    settings = {"lr": settings.pop("lr"), **settings}
    if "betas" in settings:
        settings["betas"] = tuple(float(b) for b in settings["betas"])
    validate(settings)
    has_state = same_kind and saved.get("state") is not None
    keep_state = has_state and not reset
    if keep_state:
        check_buffers(name, settings, saved["state"])
    if saved_name and not same_kind:
        notes.append(f"optimizer changed from {saved_name} to {name}: the old optimizer's state was reset")
    elif reset:
        notes.append(
            f"--reset-optimizer: the stored {name} state (step count, momentum, moments) was dropped; "
            "the optimizer starts afresh from this step"
            if has_state
            else "--reset-optimizer: there was no stored optimizer state to drop"
        )
    if same_kind:
        changed = [
            f"{OPTION_NAMES.get(k, k)} {fmt_setting(base.get(k))} -> {fmt_setting(v)}"
            for k, v in settings.items()
            if k in base and base[k] != v
        ]
        if changed:
            carries = "" if reset else ", its state (momentum, moments, step count) carries on"
            notes.append(
                "optimizer settings changed (" + ", ".join(changed) + "): the new values apply from this step" + carries
            )
    return Plan(name=name, settings=settings, keep_state=keep_state, notes=notes)


def check_buffers(name: str, settings: dict[str, Any], state: dict) -> None:
    """Refuse a setting that torch cannot turn on for an optimizer that has already stepped.

    In a Python loop, `opt.param_groups[0]["amsgrad"] = True` after steps without
    it makes the next `opt.step()` raise KeyError: the state has no
    max_exp_avg_sq. Likewise centered and momentum for RMSprop. Where the buffer
    exists (the setting was on before), torch carries on with it, and so does linctl.
    """
    per_param = (state or {}).get("state") or {}
    for (kind, key), (is_on, buffer, what) in NEEDS_BUFFER.items():
        if kind != name or not is_on(settings.get(key)):
            continue
        if any(entry and buffer not in entry for entry in per_param.values()):
            option = OPTION_NAMES[key] + (f" {fmt_setting(settings[key])}" if key == "momentum" else "")
            raise UsageError(
                f"{option}: the stored {name} optimizer has stepped without {what}, so its state has no {buffer} "
                f"and torch cannot turn {what} on midway; add --reset-optimizer to start the optimizer afresh"
            )


def fmt_setting(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def validate(s: dict[str, Any]) -> None:
    """The checks torch makes, worded as torch words them, plus the ranges it leaves open."""

    def bad(key: str, text: str) -> UsageError:
        return UsageError(f"{OPTION_NAMES[key]}: {text}")

    for key, value in s.items():
        values = value if key == "betas" else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                what = {"lr": "learning rate", "eps": "epsilon value", "betas": "beta parameter"}.get(
                    key, f"{key} value"
                )
                raise bad(key, f"Invalid {what}: {v} (must be a finite number)")
    if not s["lr"] >= 0:
        raise bad("lr", f"Invalid learning rate: {s['lr']} (must be >= 0)")
    if "momentum" in s and not 0 <= s["momentum"] < 1:
        raise bad("momentum", f"Invalid momentum value: {s['momentum']} (must be in [0, 1))")
    if "dampening" in s and not 0 <= s["dampening"] <= 1:
        raise bad("dampening", f"Invalid dampening value: {s['dampening']} (must be in [0, 1])")
    if "weight_decay" in s and not s["weight_decay"] >= 0:
        raise bad("weight_decay", f"Invalid weight_decay value: {s['weight_decay']} (must be >= 0)")
    if "eps" in s and not s["eps"] >= 0:
        raise bad("eps", f"Invalid epsilon value: {s['eps']} (must be >= 0)")
    if "alpha" in s and not 0 <= s["alpha"] < 1:
        raise bad("alpha", f"Invalid alpha value: {s['alpha']} (must be in [0, 1))")
    if "betas" in s:
        for i, beta in enumerate(s["betas"]):
            if not 0 <= beta < 1:
                raise bad("betas", f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
    if s.get("nesterov") and (s.get("momentum", 0) <= 0 or s.get("dampening", 0) != 0):
        raise bad("nesterov", "Nesterov momentum requires a momentum and zero dampening; add --momentum 0.9")


# The fast path: torch wraps the optimizer's methods in shims that import
# torch._dynamo (1.7 s) on first call, only to keep torch.compile out; linctl
# calls the functions under them instead. It is used only on the torch versions
# below, which tests/test_optimizer_settings.py proves bit-exact against
# `optimizer.step()`; any other torch, or LINCTL_PLAIN_STEP=1, gets torch's own
# methods. Add a version here only after that file passes on it.
FAST_STEP_TORCH = ("2.13.",)


def plain_step_wanted() -> bool:
    """LINCTL_PLAIN_STEP=1: call torch's optimizer methods as they are, no fast path."""
    value = os.environ.get("LINCTL_PLAIN_STEP", "")
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise UsageError(
        f"LINCTL_PLAIN_STEP: expected 1 (use optimizer.step() as it is) or 0 or unset (the fast step), got {value!r}"
    )


def fast_path_allowed() -> bool:
    """The fast calls are used only on a tested torch, and not with LINCTL_PLAIN_STEP=1."""
    import torch

    return not plain_step_wanted() and str(torch.__version__).startswith(FAST_STEP_TORCH)


def _shim_code():
    """The code object of torch's lazy `_disable_dynamo` wrapper (None if this torch has none)."""
    import torch

    try:
        return torch._disable_dynamo(lambda: None).__code__
    except AttributeError:
        return None


def _undecorated(function):
    """The function under torch's `_disable_dynamo` wrapper, or the function itself.

    That wrapper imports torch._dynamo (over a second) on its first call, only to
    keep torch.compile out of the function; linctl compiles nothing, and outside
    torch.compile the wrapped function does exactly what the wrapper does.
    """
    code = _shim_code()
    if code is not None and getattr(function, "__code__", None) is code and hasattr(function, "__wrapped__"):
        return function.__wrapped__
    return function


def _new_optimizer(cls, params, settings: dict):
    """cls(params, **settings); on the fast path its add_param_group and zero_grad
    are the undecorated functions, bound to this one object (torch itself is not changed)."""
    if not fast_path_allowed():
        return cls(params, **settings)
    optimizer = cls.__new__(cls)
    optimizer.add_param_group = functools.partial(_undecorated(cls.add_param_group), optimizer)
    try:
        optimizer.__init__(params, **settings)
    finally:
        del optimizer.add_param_group
    optimizer.zero_grad = functools.partial(_undecorated(cls.zero_grad), optimizer)
    return optimizer


def _load_state(optimizer, state: dict) -> None:
    if fast_path_allowed():
        _undecorated(type(optimizer).load_state_dict)(optimizer, state)
    else:
        optimizer.load_state_dict(state)


def _state_dict(optimizer) -> dict:
    if fast_path_allowed():
        return _undecorated(type(optimizer).state_dict)(optimizer)
    return optimizer.state_dict()


def _has_hooks(optimizer) -> bool:
    """Any step hook, global or on this optimizer (an unknown torch counts as yes)."""
    base = sys.modules["torch.optim.optimizer"]
    registries = (
        getattr(base, "_global_optimizer_pre_hooks", None),
        getattr(base, "_global_optimizer_post_hooks", None),
        getattr(optimizer, "_optimizer_step_pre_hooks", None),
        getattr(optimizer, "_optimizer_step_post_hooks", None),
    )
    return any(registry is None or len(registry) > 0 for registry in registries)


def _step_body(optimizer):
    """The optimizer's own step under torch's two wrappers, or None if they are not as expected.

    `Optimizer.step` is `profile_hook_step(_use_grad_for_differentiable(step))`:
    the outer one opens the profiler label and runs the step hooks, the inner one
    imports torch._dynamo, turns grad off and marks graph breaks for torch.compile.
    """
    outer = type(optimizer).step
    inner = getattr(outer, "__wrapped__", None)
    body = getattr(inner, "__wrapped__", None)
    if (
        not getattr(outer, "hooked", False)
        or getattr(getattr(outer, "__code__", None), "co_name", None) != "wrapper"
        or getattr(getattr(inner, "__code__", None), "co_name", None) != "_use_grad"
        or body is None
        or hasattr(body, "__wrapped__")
    ):
        return None
    return body


def _fast_step_body(optimizer):
    """The step body to call directly, or None where the real `optimizer.step()` must run:
    an untested torch, LINCTL_PLAIN_STEP=1, a differentiable optimizer, any step hook,
    or a profiler running (it gets torch's own label and entry point)."""
    import torch

    if (
        not fast_path_allowed()
        or optimizer.defaults.get("differentiable")
        or _has_hooks(optimizer)
        or torch.autograd._profiler_enabled()
    ):
        return None
    return _step_body(optimizer)


def _use_fast_step(optimizer) -> bool:
    return _fast_step_body(optimizer) is not None


def _fast_step(optimizer, body=None) -> None:
    """What `optimizer.step()` does outside torch.compile, with no hook and no profiler:
    the step body with grad off."""
    import torch

    body = body or _step_body(optimizer)
    with torch.no_grad():
        body(optimizer)


def run_step(optimizer) -> None:
    """optimizer.step(); on a tested torch without hooks, without the wrapper that imports torch._dynamo."""
    try:
        body = _fast_step_body(optimizer)
        if body is not None:
            _fast_step(optimizer, body)
        else:
            optimizer.step()
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            raise
        raise UsageError(
            f"an optimizer setting does not fit the network's dtype ({exc}); use a smaller --lr or other setting"
        ) from None


def build(net: Network, plan: Plan, saved: dict | None):
    """A real torch optimizer over the network's parameters, with its saved state."""
    import torch

    classes = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }
    optimizer = _new_optimizer(classes[plan.name], net.parameters(), plan.settings)
    if plan.keep_state and saved is not None:
        _load_state(optimizer, saved["state"])
        for group in optimizer.param_groups:
            group.update(plan.settings)
    return optimizer


def save_into(data: dict, plan: Plan, optimizer) -> None:
    data["optimizer"] = {"name": plan.name, "settings": dict(plan.settings), "state": to_cpu(_state_dict(optimizer))}


def to_cpu(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    return obj


def is_plain_sgd(plan: Plan) -> bool:
    s = plan.settings
    return plan.name == "sgd" and s["momentum"] == 0 and s["weight_decay"] == 0


@dataclass
class StepResult:
    optimizer: str
    settings: dict
    lr: float
    weight_before: Any
    bias_before: Any
    weight: Any
    bias: Any
    weight_grad: Any
    bias_grad: Any
    weight_change: Any
    bias_change: Any
    hand_weight: Any
    hand_bias: Any
    hand_max_abs_diff: float | None
    hand_match: bool | None
    step: int
    notes: list[str] = field(default_factory=list)


def step(net: Network, plan: Plan) -> StepResult:
    """optimizer.step() on the stored gradients; the gradients stay (PyTorch keeps them)."""
    import torch

    from linctl.errors import LinctlError

    if net.linear.weight.grad is None:
        raise LinctlError("no gradients to step on; run 'linctl backward --x ... --t ...' first (or use train-step)")
    saved = net.data.get("optimizer")
    optimizer = build(net, plan, saved)
    w_before = net.weight().clone()
    b_before = None if net.bias() is None else net.bias().clone()
    run_step(optimizer)
    save_into(net.data, plan, optimizer)
    net.data["step"] = int(net.data.get("step", 0)) + 1
    w_after, b_after = net.weight(), net.bias()
    w_grad, b_grad = net.weight_grad(), net.bias_grad()
    hand_w = hand_b = None
    worst = same = None
    if is_plain_sgd(plan):
        lr = plan.settings["lr"]
        with torch.no_grad():
            hand_w = w_before - lr * w_grad
            worst, same = compare(hand_w, w_after)
            if b_before is not None and b_grad is not None:
                hand_b = b_before - lr * b_grad
                worst_b, same_b = compare(hand_b, b_after)
                worst, same = max(worst, worst_b), same and same_b
    return StepResult(
        optimizer=plan.name,
        settings=dict(plan.settings),
        lr=plan.settings["lr"],
        weight_before=w_before,
        bias_before=b_before,
        weight=w_after,
        bias=b_after,
        weight_grad=w_grad,
        bias_grad=b_grad,
        weight_change=w_after - w_before,
        bias_change=None if b_before is None else b_after - b_before,
        hand_weight=hand_w,
        hand_bias=hand_b,
        hand_max_abs_diff=worst,
        hand_match=same,
        step=net.data["step"],
        notes=list(plan.notes),
    )
