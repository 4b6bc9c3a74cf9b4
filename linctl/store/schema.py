"""The state file's fields, declared once: what each holds, its shape rule, since which format, its new value.

Creating a state (`fresh`), checking a loaded one (store/checks.py: one check per field, in this order, and any
key not listed here refused), the numpy view of the commands that only look (`tensor_fields`) and the format
upgrades (store/migrations.py fills a field a file predates) all read this list. Nothing here imports torch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    holds: str  # what it is, as a message or the docs say it
    shape: str  # the rule its value follows
    since: int = 1  # the first format that has it
    new: Callable[[], Any] | None = None  # its value in a new state and in an older file without it (None: None)
    tensors: str | None = None  # "each": a dict of tensors by parameter name; "one": a tensor; None: JSON


def _no_optimizer() -> dict:
    return {"name": None, "settings": {}, "state": None}


FIELDS: tuple[Field, ...] = (
    Field("app", "the application that wrote it", "'linctl'", new=lambda: "linctl"),
    Field("format", "the format version", "a whole number 1 or more (store/migrations.py: FORMAT)"),
    Field("dtype", "the parameters' dtype", "'float32' or 'float64'", new=lambda: "float32"),
    Field(
        "layers",
        "the Linear layers, in order",
        "1 to MAX_LAYERS dicts {type, in_features, out_features, bias, activation}, chained",
    ),
    Field(
        "params",
        "the parameters by state_dict name",
        "one tensor per parameter of the layers, of its shape",
        tensors="each",
    ),
    Field("grads", "the gradients by state_dict name", "a tensor of the parameter's shape, or None", tensors="each"),
    Field(
        "optimizer", "the optimizer: its name, settings and state_dict()", "{name, settings, state}", new=_no_optimizer
    ),
    Field("step", "optimizer steps taken", "a whole number 0 to 2**63 - 1", new=lambda: 0),
    Field("seed", "the seed the network was built with", "None or a 64-bit whole number"),
    Field("last_x", "the last inputs used", "None or (rows, in_features)", tensors="one"),
    Field(
        "last_t",
        "the last targets used",
        "None or (rows, out_features), or (rows, 1): a class index each",
        tensors="one",
    ),
    Field("classes", "the class names of a label column, in class order", "None or up to out_features labels", since=3),
    Field("history", "the history pointers", "None or {last_id, head, oldest}", since=2),
)
NAMES = tuple(f.name for f in FIELDS)


def fresh(**given: Any) -> dict:
    """A new state: every field, the given values and each other field's new value."""
    unknown = set(given) - set(NAMES)
    if unknown:
        raise KeyError(f"not state fields: {sorted(unknown)}")
    return {f.name: given[f.name] if f.name in given else (f.new() if f.new else None) for f in FIELDS}


def unknown_keys(data: dict) -> list[str]:
    return [str(key) for key in data if key not in NAMES]


def tensor_fields(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in FIELDS if f.tensors == kind)


def added_after(fmt: int) -> tuple[Field, ...]:
    """The fields a file of format `fmt` predates."""
    return tuple(f for f in FIELDS if f.since > fmt)


def filled(data: dict, fmt: int) -> dict:
    """`data` with each field its format predates set to that field's new value (what it has is kept)."""
    for f in added_after(fmt):
        if f.name not in data and f.new is not None:
            data[f.name] = copy.deepcopy(f.new())
    return data
