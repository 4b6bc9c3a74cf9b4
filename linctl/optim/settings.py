"""The optimizer between invocations: its kind and the settings the user chose.

The optimizer lives in the state file as its name, those settings, and
torch's own `optimizer.state_dict()`, so N separate `step` invocations do
exactly what N iterations of one Python loop do. Nothing here imports torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from linctl.errors import UsageError


@dataclass(frozen=True)
class Optimizer:
    """One kind of torch optimizer, as linctl knows it: the only list of them."""

    name: str
    torch_class: str  # its class in torch.optim
    defaults: dict[str, Any]  # torch's defaults; `lr` has none on purpose (see resolve)
    update: str  # the change it makes, as the step view explains it
    state_keys: tuple[str, ...]  # in its state_dict() once it has stepped
    optional_state: dict[str, str | None]  # state keys there only with a setting (None: it may be absent)


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer(
            "sgd",
            "SGD",
            {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
            "Δ = -lr·buf, buf = momentum·buf + (1 - dampening)·(grad + weight_decay·W) (nesterov: grad + momentum·buf)",
            (),
            {"momentum_buffer": None},
        ),
        Optimizer(
            "adam",
            "Adam",
            {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
            "Δ = -lr·m̂ / (√v̂ + eps): m̂, v̂ the bias-corrected running means of grad and grad²",
            ("step", "exp_avg", "exp_avg_sq"),
            {"max_exp_avg_sq": "amsgrad"},
        ),
        Optimizer(
            "adamw",
            "AdamW",
            {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
            "Δ = -lr·weight_decay·W - lr·m̂ / (√v̂ + eps): decay decoupled from the Adam step",
            ("step", "exp_avg", "exp_avg_sq"),
            {"max_exp_avg_sq": "amsgrad"},
        ),
        Optimizer(
            "rmsprop",
            "RMSprop",
            {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
            "Δ = -lr·grad / (√v + eps), v = alpha·v + (1 - alpha)·grad² (centered: minus the mean's square)",
            ("step", "square_avg"),
            {"momentum_buffer": "momentum", "grad_avg": "centered"},
        ),
    )
}
DEFAULTS: dict[str, dict[str, Any]] = {name: o.defaults for name, o in OPTIMIZERS.items()}

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
    name = name.lower() if name else saved_name or "sgd"  # a stored name is checked to be one of OPTIMIZERS
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
            f"{OPTION_NAMES[k]} {fmt_setting(base.get(k))} -> {fmt_setting(v)}"
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
