"""The state file's optimizer field checked: its name, the settings the user chose, and torch's state_dict().

Nothing is trusted that torch would act on: every setting is a known one of that optimizer, in range, the
parameter group lists the network's parameters with those very settings, and each buffer is a tensor of its
parameter's shape and dtype (store/checks.py checks the tensors).
"""

from __future__ import annotations

from typing import Any

from linctl.errors import UsageError
from linctl.store.check_basics import Unusable, _is_int, _is_number, _show, tensor

_BOOL_SETTINGS = ("nesterov", "amsgrad", "centered")
# param_groups flags linctl never changes from torch's defaults: another value changes the update
_FIXED_FLAGS = {"maximize": (False,), "capturable": (False,), "differentiable": (False,), "fused": (None, False)}


def _setting_ok(key: str, value: object) -> bool:
    if key in _BOOL_SETTINGS:
        return isinstance(value, bool)
    if key == "betas":
        return isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_number(v) for v in value)
    return _is_number(value)


def _same(value: object) -> object:
    return tuple(value) if isinstance(value, (tuple, list)) else value


def check_optimizer(torch, entry: object, shapes: list[tuple[int, ...]], dtype: str) -> None:
    """The optimizer's name, the settings the user chose, and torch's optimizer.state_dict()."""
    if entry is None:
        return
    if not isinstance(entry, dict) or not {"name", "settings", "state"} >= set(entry):
        raise Unusable("the optimizer entry is not {name, settings, state}")
    name, settings, state = entry.get("name"), entry.get("settings"), entry.get("state")
    if name is None:
        if not (settings is None or (isinstance(settings, dict) and not settings)) or state is not None:
            raise Unusable("the optimizer entry has settings or state but no optimizer name")
        return
    merged = _settings(name, settings)
    assert isinstance(settings, dict)
    if state is None:
        return
    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise Unusable(f"the {name} state is not an optimizer.state_dict()")
    _group(name, state["param_groups"], settings, len(shapes))
    _buffers(torch, name, state["state"], merged, shapes, dtype)


def _settings(name: object, settings: object) -> dict[str, Any]:
    """The settings of a known optimizer, each known and in range; returns them over torch's defaults."""
    from linctl.optim import settings as optimizers

    if name not in optimizers.OPTIMIZERS:
        raise Unusable(f"optimizer {_show(name)} is not one of {', '.join(optimizers.OPTIMIZERS)}")
    assert isinstance(name, str)
    if not isinstance(settings, dict):
        raise Unusable(f"the {name} settings are not a dict")
    known = {"lr", *optimizers.DEFAULTS[name]}
    for key, value in settings.items():
        if key not in known:
            raise Unusable(f"{_show(key)} is not a setting of {name}")
        if not _setting_ok(key, value):
            kind = "true/false" if key in _BOOL_SETTINGS else "finite number"
            raise Unusable(f"the {name} setting {key} is {_show(value)}, not a {kind}")
    merged = {**optimizers.DEFAULTS[name], "lr": 0.0, **settings}
    try:
        optimizers.validate(merged)
    except UsageError as exc:
        raise Unusable(f"the {name} settings are out of range: {exc}") from None
    return merged


def _group(name: str, groups: object, settings: dict, count: int) -> None:
    """The one parameter group: every parameter, the settings as chosen, torch's fixed flags as linctl leaves them."""
    from linctl.optim import settings as optimizers

    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise Unusable(f"the {name} state does not have one parameter group")
    group = groups[0]
    if not isinstance(group.get("params"), list) or group["params"] != list(range(count)):
        raise Unusable(f"the {name} parameter group does not list the {count} parameters")
    known = {"lr", *optimizers.DEFAULTS[name]}
    for key, value in group.items():
        if key == "params":
            continue
        if key in known:
            if not _setting_ok(key, value) or (key in settings and _same(value) != _same(settings[key])):
                raise Unusable(f"the {name} parameter group has {key}={_show(value)}, unlike its settings")
        elif key in _FIXED_FLAGS:
            if not (value is None or isinstance(value, bool)) or value not in _FIXED_FLAGS[key]:
                raise Unusable(f"the {name} parameter group has {key}={_show(value)}, which linctl never sets")
        elif key == "foreach":
            if not (value is None or isinstance(value, bool)):
                raise Unusable(f"the {name} parameter group has foreach={_show(value)}, not true/false/None")
        elif key == "decoupled_weight_decay":
            if value is not (name == "adamw"):
                raise Unusable(
                    f"the {name} parameter group has decoupled_weight_decay={_show(value)}, not {name == 'adamw'}"
                )
        elif not (value is None or isinstance(value, (bool, int, float, str))):
            raise Unusable(f"the {name} parameter group has {key}={type(value).__name__}")


def _buffers(torch, name: str, per_param: object, merged: dict, shapes: list[tuple[int, ...]], dtype: str) -> None:
    """Each parameter's state: the buffers this optimizer keeps with these settings, each of the parameter's shape."""
    from linctl.optim import settings as optimizers

    if not isinstance(per_param, dict):
        raise Unusable(f"the {name} per-parameter state is not a dict")
    kind = optimizers.OPTIMIZERS[name]
    always, optional = kind.state_keys, kind.optional_state
    for index, buffers in per_param.items():
        if not _is_int(index) or not 0 <= index < len(shapes):
            raise Unusable(f"the {name} state names parameter {_show(index)}, not one of 0..{len(shapes) - 1}")
        if not isinstance(buffers, dict):
            raise Unusable(f"the {name} state of parameter {index} is not a dict")
        if not buffers:
            continue  # torch starts it afresh
        for key in buffers:
            if key not in always and key not in optional:
                raise Unusable(f"the {name} state of parameter {index} has {_show(key)}, which {name} never keeps")
        wanted = list(always) + [k for k, flag in optional.items() if flag and merged.get(flag)]
        missing = [k for k in wanted if k not in buffers]
        if missing:
            raise Unusable(f"the {name} state of parameter {index} lacks {missing[0]!r}")
        for key, value in buffers.items():
            _buffer(torch, f"the {name} {key} of parameter {index}", name, key, value, dtype, shapes[index])


def _buffer(torch, what: str, name: str, key: str, value: object, dtype: str, shape: tuple[int, ...]) -> None:
    if key == "step":  # a 0-d float tensor (torch's scalar dtype), or a number from older torch
        if hasattr(value, "dtype") and hasattr(value, "shape"):
            kind = str(value.dtype).removeprefix("torch.")
            if kind not in ("float32", "float64"):
                raise Unusable(f"{what} is a {kind} tensor, not a float count")
            tensor(torch, value, what, kind, ())
            value = float(value)  # type: ignore[arg-type]
        if not _is_number(value) or value < 0:
            raise Unusable(f"{what} is {_show(value)}, not a count 0 or more")
    elif value is None and name == "sgd":
        return  # SGD without momentum keeps None
    else:
        tensor(torch, value, what, dtype, shape)
