"""The optimizer between invocations: its settings, its state, one step.

The optimizer lives in the state file as its name, the settings the user
chose, and torch's own `optimizer.state_dict()`, so N separate `step`
invocations do exactly what N iterations of one Python loop do.
"""

from __future__ import annotations

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


def resolve(saved: dict | None, name: str | None, given: dict[str, Any]) -> Plan:
    """Combine the stored optimizer with the options given on this run."""
    saved = saved or {}
    given = {k: v for k, v in given.items() if v is not None}
    saved_name = saved.get("name")
    name = (name or saved_name or "sgd").lower()
    if name not in OPTIMIZERS:
        raise UsageError(f"--optimizer: expected one of {', '.join(OPTIMIZERS)}, got {name!r}")
    for key in given:
        if key != "lr" and key not in DEFAULTS[name]:
            users = [o for o in OPTIMIZERS if key in DEFAULTS[o]]
            raise UsageError(f"{OPTION_NAMES[key]} applies to {'/'.join(users)}, not {name}; drop it or pick another --optimizer")
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
    keep_state = same_kind and saved.get("state") is not None
    if saved_name and not same_kind:
        notes.append(f"optimizer changed from {saved_name} to {name}: the old optimizer's state was reset")
    elif same_kind:
        changed = [
            f"{OPTION_NAMES.get(k, k)} {fmt_setting(base.get(k))} -> {fmt_setting(v)}"
            for k, v in settings.items()
            if k in base and base[k] != v
        ]
        if changed:
            notes.append(
                "optimizer settings changed (" + ", ".join(changed) + "): the new values apply from this step, "
                "its state (momentum, moments, step count) carries on"
            )
    return Plan(name=name, settings=settings, keep_state=keep_state, notes=notes)


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


_dynamo_free = False


def _skip_dynamo_import() -> None:
    """Spare every command the import of torch._dynamo (over a second).

    torch wraps optimizer methods in a shim that imports torch._dynamo on first
    call only to mark them as never compiled; linctl compiles nothing. The shim
    caches its answer on the wrapped function as `__dynamo_disable`: setting it
    to the function itself is what the shim would do outside torch.compile.
    """
    global _dynamo_free
    if _dynamo_free:
        return
    _dynamo_free = True
    try:
        import torch
        import torch.optim.optimizer as base
        from torch.optim import adam, adamw, rmsprop, sgd

        shim = torch._disable_dynamo(lambda: None).__code__
    except (ImportError, AttributeError):  # another torch: keep its own behaviour
        return
    seen: set[int] = set()

    def mark(f, depth=0):
        if id(f) in seen or depth > 3 or not callable(f):
            return
        seen.add(id(f))
        if getattr(f, "__code__", None) is shim and hasattr(f, "__wrapped__"):
            setattr(f.__wrapped__, "__dynamo_disable", f.__wrapped__)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                mark(cell.cell_contents, depth + 1)
            except ValueError:
                continue
        if hasattr(f, "__wrapped__"):
            mark(f.__wrapped__, depth + 1)

    for cls in (base.Optimizer, torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop):
        for value in vars(cls).values():
            mark(value)
    for module in (base, sgd, adam, adamw, rmsprop):
        for value in list(vars(module).values()):
            mark(value)


def run_step(optimizer) -> None:
    """optimizer.step(), minus the graph-break wrapper that imports torch._dynamo.

    The wrapper (`_use_grad_for_differentiable`) only turns grad off around the
    update for a non-differentiable optimizer and marks graph breaks for
    torch.compile; this does the first and needs none of the second.
    """
    try:
        _step(optimizer)
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            raise
        raise UsageError(
            f"an optimizer setting does not fit the network's dtype ({exc}); use a smaller --lr or other setting"
        ) from None


def _step(optimizer) -> None:
    import inspect

    import torch

    raw = inspect.unwrap(type(optimizer).step)
    if raw is type(optimizer).step or optimizer.defaults.get("differentiable") or optimizer._optimizer_step_pre_hooks:
        optimizer.step()
        return
    with torch.no_grad():
        raw(optimizer)


def build(net: Network, plan: Plan, saved: dict | None):
    """A real torch optimizer over the network's parameters, with its saved state."""
    import torch

    _skip_dynamo_import()
    classes = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }
    optimizer = classes[plan.name](net.parameters(), **plan.settings)
    if plan.keep_state:
        optimizer.load_state_dict(saved["state"])
        for group in optimizer.param_groups:
            group.update(plan.settings)
    return optimizer


def save_into(data: dict, plan: Plan, optimizer) -> None:
    data["optimizer"] = {"name": plan.name, "settings": dict(plan.settings), "state": to_cpu(optimizer.state_dict())}


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

