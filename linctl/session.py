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
from linctl.store import history, paths, state

T = TypeVar("T")

# the command line being run, as the history records it (set by the app)
command_line: list[str] = []


def command_text() -> str:
    return "linctl " + " ".join(shlex.quote(a) for a in command_line)


def path_of(option: str | None) -> Path:
    return paths.resolve(option)


def read_data(path: Path) -> dict:
    """The stored network as data, for the commands that only look: numpy arrays, no torch (format 3)."""
    return state.load(path, framework="numpy")


def read_head(path: Path) -> dict:
    """The stored network's history pointers (last_id, head, oldest); its numbers are not read."""
    return history.head(state.load(path, framework="mapped"))


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
        before = old.get("optimizer") or {}
        optimizer_before = (before.get("name"), before.get("state") is not None)  # work() may change `old`
        net = Network(old, dev)
        result = work(net)
        new = net.to_state()
        history.record(
            path,
            new,
            old,
            {
                "command": command_text(),
                "step": new["step"],
                **entry(result),
                **movement(old, new),
                "replay": replay_record(optimizer_before, new, result),
            },
        )
    return result


def _no_command() -> tuple[str, dict] | None:
    return None


# (name, parsed options) of the command being run; the command layer installs the real one (it knows Typer)
running_command: Callable[[], tuple[str, dict] | None] = _no_command

# the options of the running command that `export --python` needs to replay a change, besides the state itself
_REPLAYED = (
    "loss",
    "activation",
    "reset_optimizer",
    "data",
    "targets",
    "steps",
    "epochs",
    "batch_size",
    "shuffle",
    "seed",
    "val",
    "val_split",
    "patience",
    "nproc",
    "stream",
)


def replay_record(optimizer_before: tuple[str | None, bool], new: dict, result: Any) -> dict | None:
    """What a history entry keeps so that `export --python` can replay the change with plain torch.

    The parsed options of the running command (its click context), the
    optimizer as the change left it, the samples it used (the state's
    last_x/last_t) and, for `set`, each value written.
    """
    import os

    running = running_command()
    if running is None:
        return None
    name, params = running
    record: dict[str, Any] = {"command": name}
    for key in _REPLAYED:
        value = params.get(key)
        if isinstance(value, (str, int, float, bool)) or value is None:
            record[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            record[key] = list(value)
    if record.get("data") not in (None, "-"):
        record["data"] = os.path.abspath(str(record["data"]))
    opt_new = new.get("optimizer") or {}
    if opt_new.get("name") is not None:
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in (opt_new.get("settings") or {}).items()}
        record["optimizer"] = opt_new["name"]
        record["settings"] = settings
        record["optimizer_before"], record["state_before"] = optimizer_before
    for key in ("last_x", "last_t"):
        value = new.get(key)
        record[key] = None if value is None else value.tolist()
    if record["command"] == "set" and isinstance(result, list):
        record["changes"] = [{"name": c["name"], "index": c["index"], "new": c["new"]} for c in result]
    return record


def replace(path: Path, new: dict, built_by_seed: bool = False) -> Path | None:
    """Save a new network over the old one, keeping the old one recoverable; returns the backup's path."""
    from linctl.model.edit import movement

    history.check_settings()  # before the backup below, as before any other change
    with state.locked(path):
        old = None
        backup = None
        if paths.exists(path):
            try:
                # checked whole, but its numbers are never read: only its history pointers carry on
                old = {"history": state.load(path, framework="mapped").get("history")}
            except LinctlError as exc:
                raise LinctlError(f"refusing to replace it: {exc}") from None
            backup = state.backup(path)
        # a new network: its own norms, no "change" from an unrelated one
        history.record(
            path,
            new,
            old,
            {
                "command": command_text(),
                "step": 0,
                "loss": None,
                "lr": None,
                **movement(None, new),
                "replay": {"command": "new", "seed": new.get("seed"), "built_by_seed": built_by_seed},
            },
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
    return paths.exists(path)


def read_torch_data(path: Path) -> dict:
    """The stored network as data with torch tensors, for a command that hands them to torch."""
    return state.load(path)
