"""A real torch optimizer over the network's parameters, rebuilt each command
with its saved state, and its update run without the wrapper that imports
torch._dynamo where that is proven exact."""

from __future__ import annotations

import functools
import sys

from linctl.errors import UsageError
from linctl.optim.settings import Plan, plain_step_wanted

# The fast path: torch wraps the optimizer's methods in shims that import
# torch._dynamo (1.7 s) on first call, only to keep torch.compile out; linctl
# calls the functions under them instead. It is used only on the torch versions
# below, which tests/test_optimizer_settings.py proves bit-exact against
# `optimizer.step()`; any other torch, or LINCTL_PLAIN_STEP=1, gets torch's own
# methods. Add a version here only after that file passes on it.
FAST_STEP_TORCH = ("2.13.",)


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


def build(net, plan: Plan, saved: dict | None):
    """A real torch optimizer over the network's parameters, with its saved state."""
    import torch

    from linctl.optim.settings import OPTIMIZERS

    kind = getattr(torch.optim, OPTIMIZERS[plan.name].torch_class)
    optimizer = _new_optimizer(kind, net.parameters(), plan.settings)
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
