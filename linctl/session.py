"""The one transaction every command goes through: path -> lock -> load (and
migrate) -> the model -> the work -> save -> record history.

No command locks, loads or saves by hand; they call `read`, `change` or
`replace` here.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from linctl.errors import LinctlError
from linctl.store import history, state

T = TypeVar("T")

# the command line being run, as the history records it (set by the app)
command_line: list[str] = []


def command_text() -> str:
    return "linctl " + " ".join(shlex.quote(a) for a in command_line)


def path_of(option: str | None) -> Path:
    return state.resolve(option)


def read_data(path: Path) -> dict:
    """The stored network as data, for the commands that only look."""
    return state.load(path)


def read(path: Path, device: str | None = None):
    """The live network for a command that only reads it (no copy of the parameters)."""
    from linctl.model.devices import resolve_device
    from linctl.model.network import Network

    return Network(state.load(path), resolve_device(device), copy=False)


def change(path: Path, device: str | None, work: Callable[[Any], T], entry: Callable[[T], dict]) -> T:
    """Lock, load, let `work(net)` change it, then save and record one history entry."""
    from linctl.model.devices import resolve_device
    from linctl.model.edit import movement
    from linctl.model.network import Network

    dev = resolve_device(device)
    history.check_settings()  # a bad LINCTL_HISTORY_* stops the command before any work
    with state.locked(path):
        old = state.load(path)
        net = Network(old, dev)
        result = work(net)
        new = net.to_state()
        history.record(
            path, new, old, {"command": command_text(), "step": new["step"], **entry(result), **movement(old, new)}
        )
    return result


def replace(path: Path, new: dict) -> Path | None:
    """Save a new network over the old one, keeping the old one recoverable; returns the backup's path."""
    from linctl.model.edit import movement

    history.check_settings()  # before the backup below, as before any other change
    with state.locked(path):
        old = None
        backup = None
        if state.exists(path):
            try:
                old = state.load(path)
            except LinctlError as exc:
                raise LinctlError(f"refusing to replace it: {exc}") from None
            backup = state.backup(path)
        # a new network: its own norms, no "change" from an unrelated one
        history.record(
            path, new, old, {"command": command_text(), "step": 0, "loss": None, "lr": None, **movement(None, new)}
        )
    return backup


def restore(path: Path, count: int) -> tuple[int, list[dict], dict]:
    """undo: the state `count` changes back along the current line, recorded as a change of its own."""
    from linctl.model.edit import movement

    with state.locked(path):
        current = state.load(path)
        target, undone = history.undo_target(path, current, count)
        restored = history.load_snapshot(path, target)
        history.record(
            path,
            restored,
            current,
            {
                "command": command_text(),
                "step": restored["step"],
                "loss": None,
                "lr": None,
                **movement(current, restored),
            },
            restores=target,
        )
    return target, undone, restored


def exists(path: Path) -> bool:
    return state.exists(path)
