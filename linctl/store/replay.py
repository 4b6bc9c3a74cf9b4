"""What a history entry's `replay` record may hold, checked before `export --python` writes a program from it.

session.replay_record writes it: the running command's name and options,
the optimizer as the change left it, the samples it used, and for `set`
each value written. The index is a file a user can edit, so every field is
checked here against what linctl writes; a record that is not one is not
replayed (the entry's snapshot is loaded instead, or export refuses).
"""

from __future__ import annotations

import math
from collections.abc import Callable

MAX_WHOLE = 2**63 - 1


def _number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, float) or abs(value) <= MAX_WHOLE


def _finite(value: object) -> bool:
    return _number(value) and math.isfinite(value)  # type: ignore[arg-type]


def _whole(least: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and least <= value <= MAX_WHOLE


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _rows(value: object) -> bool:
    """Samples as tolist() writes them: a non-empty list of equally long non-empty lists of numbers."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        return False
    return all(len(row) == len(value[0]) and all(_number(v) for v in row) for row in value)


def _names(value: object) -> bool:
    from linctl.model.registry import ACTIVATIONS

    return isinstance(value, list) and all(isinstance(v, str) and v in ACTIVATIONS for v in value)


def _loss(value: object) -> bool:
    from linctl.model.registry import LOSSES

    return isinstance(value, str) and value in LOSSES


def _optimizer(value: object) -> bool:
    from linctl.optim.settings import OPTIMIZERS

    return isinstance(value, str) and value in OPTIMIZERS


def _settings(value: object) -> bool:
    def setting(v: object) -> bool:
        return isinstance(v, bool) or _finite(v) or (isinstance(v, list) and len(v) == 2 and all(map(_finite, v)))

    return isinstance(value, dict) and all(
        isinstance(k, str) and k.isidentifier() and setting(v) for k, v in value.items()
    )


def _changes(value: object) -> bool:
    def change(c: object) -> bool:
        return (
            isinstance(c, dict)
            and set(c) == {"name", "index", "new"}
            and isinstance(c["name"], str)
            and isinstance(c["index"], list)
            and 1 <= len(c["index"]) <= 2
            and all(isinstance(i, int) and not isinstance(i, bool) and abs(i) <= MAX_WHOLE for i in c["index"])
            and _number(c["new"])
        )

    return isinstance(value, list) and all(map(change, value))


_BOOL = _optional(lambda v: isinstance(v, bool))
FIELDS: dict[str, Callable[[object], bool]] = {
    "command": lambda v: isinstance(v, str),
    "loss": _optional(_loss),
    "activation": _optional(_names),
    "reset_optimizer": _BOOL,
    "data": _optional(lambda v: isinstance(v, str)),
    "targets": _optional(_whole(1)),
    "steps": _optional(_whole(1)),
    "epochs": _optional(_whole(1)),
    "batch_size": _optional(_whole(1)),
    "val": _optional(lambda v: isinstance(v, str)),
    "val_split": _optional(lambda v: isinstance(v, float)),
    "patience": _optional(_whole(1)),
    "nproc": _optional(_whole(1)),
    "stream": _BOOL,
    "shuffle": _BOOL,
    "seed": _optional(lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**64),
    "built_by_seed": _BOOL,
    "optimizer": _optimizer,
    "settings": _settings,
    "optimizer_before": _optional(_optimizer),
    "state_before": _BOOL,
    "last_x": _optional(_rows),
    "last_t": _optional(_rows),
    "changes": _changes,
}
# what each replayed command reads from its record (besides `command`)
NEEDS = {
    "backward": ("last_x", "last_t"),
    "train-step": ("last_x", "last_t", "optimizer", "settings"),
    "step": ("optimizer", "settings"),
    "set": ("changes",),
    "train": ("optimizer", "settings"),
}


def problem(replay: object) -> str | None:
    """Why `replay` is not a record linctl writes (a few words), or None when it is one."""
    if not isinstance(replay, dict):
        return f"it is a {type(replay).__name__}, not an object"
    if "command" not in replay:
        return "it names no command"
    for key, value in replay.items():
        check = FIELDS.get(key)
        if check is None:
            return f"it has a field {str(key)[:40]!r} linctl never writes"
        if not check(value):
            return f"its {key} is not what linctl writes there"
    command = replay["command"]
    needed = list(NEEDS.get(command, ()))
    if command == "train" and replay.get("data") is None:
        needed += ["last_x", "last_t"]
    missing = [key for key in needed if replay.get(key) is None]
    return f"it lacks {missing[0]}, which {command} needs" if missing else None
