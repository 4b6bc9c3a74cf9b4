"""The state file's format, and the ordered upgrades that bring an older file to it.

Each upgrade takes the data of format N and returns format N + 1; loading
runs every one a file needs, in order, and the next save writes the current
format. An upgrade touches only what it recognises: whatever else a file
holds is left for the checks that follow to judge.
"""

from __future__ import annotations

from collections.abc import Callable

FORMAT = 3


def _names_as_torch_names_them(data: dict) -> dict:
    """1 -> 2: a bare Linear's parameters are 'weight' and 'bias' (format 1 said '0.weight', '0.bias')."""
    for group in ("params", "grads"):
        tensors = data.get(group)
        if isinstance(tensors, dict):
            # a file that also holds the new name keeps both, and the checks refuse it (nothing is dropped)
            data[group] = {
                name[2:] if name in ("0.weight", "0.bias") and name[2:] not in tensors else name: value
                for name, value in tensors.items()
            }
    return data


def _safetensors(data: dict) -> dict:
    """2 -> 3: the same fields; format 3 is the file's encoding (safetensors, store/codec.py), written on save."""
    return data


UPGRADES: list[Callable[[dict], dict]] = [
    _names_as_torch_names_them,
    _safetensors,
]  # UPGRADES[n - 1] takes format n to n + 1


def migrate(data: object) -> object:
    """The data upgraded to FORMAT; anything not a linctl dict of an older known format comes back as it was."""
    if not isinstance(data, dict):
        return data
    fmt = data.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt < FORMAT:
        return data
    from linctl.store import schema

    data = dict(data)
    for upgrade in UPGRADES[fmt - 1 :]:
        data = upgrade(data)
    data = schema.filled(data, fmt)  # the fields it predates, as a new state has them
    data["format"] = FORMAT
    return data
