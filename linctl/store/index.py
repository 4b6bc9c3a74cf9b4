"""The history's index, `PATH.history/index.jsonl`: read line by line as input from anywhere.

One line of figures per change, appended by history.record. Every line is
checked as record() writes it (UTF-8 JSON, not nested deeper than linctl
writes, whole numbers within 64 bits, figures a float holds); any other line
is skipped and counted. The walks over parent pointers visit each entry once.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from linctl.errors import LinctlError
from linctl.store import paths

# the figures an entry may hold, each a number or None
FIGURES = (
    "loss",
    "metric",
    "val_loss",
    "val_metric",
    "lr",
    "weight_change",
    "bias_change",
    "weight_norm",
    "bias_norm",
    "weight_grad_norm",
    "time",
)

# a whole number an entry holds (id, step, parent...): what JSON output and torch take, 64 bits
MAX_WHOLE = 2**63 - 1
# a hand-edited index: start afresh by moving it away, as a missing index is an empty history
FIX_INDEX = "move it away (linctl starts a new history) or restore it"


def index_path(path: Path) -> Path:
    return folder(path) / "index.jsonl"


def unusable(target: Path, exc: OSError, doing: str = "read") -> LinctlError:
    reason = exc.strerror or type(exc).__name__
    return LinctlError(f"cannot {doing} the history {target}: {reason}; check its permissions, or {FIX_INDEX}")


def is_there(target: Path) -> bool:
    """Whether `target` exists; a history folder that cannot be looked into is one line, not a traceback."""
    try:
        return target.exists()
    except OSError as exc:
        raise unusable(target, exc) from None


def folder(path: Path) -> Path:
    path = paths.source(path)
    return path.with_name(path.name + ".history")


def read_index(path: Path) -> list[dict]:
    """Every entry of the index, oldest first; lines that are not entries are skipped (see scan_index)."""
    return scan_index(path)[0]


def scan_index(path: Path) -> tuple[list[dict], list[int]]:
    """The index's entries, oldest first, and the numbers of the lines skipped: lines cut short by a crash,
    not UTF-8, not JSON, nested deeper than linctl writes, or not shaped as record() writes them."""
    index = index_path(path)
    if not is_there(index):
        return [], []
    try:
        if not stat.S_ISREG(os.stat(index).st_mode):  # a folder, a FIFO (whose open would wait forever)
            raise LinctlError(f"the history {index} is not a regular file; {FIX_INDEX}")
        with open(index, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise unusable(index, exc) from None
    entries, skipped = [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        entry = _entry(line)
        if entry is not None:
            entries.append(entry)
        elif line.strip():
            skipped.append(number)
    return entries, skipped


def skipped_note(path: Path, skipped: list[int]) -> str:
    lines = f"line {skipped[0]}" if len(skipped) == 1 else f"{len(skipped)} lines (the first: line {skipped[0]})"
    return (
        f"skipped {lines} of {index_path(path)}, which linctl did not write as history entries; "
        "the file was left as it was (delete those lines to silence this)"
    )


def _entry(line: bytes) -> dict | None:
    """One index line as an entry, or None when it is not one."""
    from linctl.store.codec import MAX_DEPTH, nesting

    if len(line) > 64 and nesting(line) > MAX_DEPTH:  # decoding it, or writing it out again, would recurse
        return None
    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return entry if well_formed(entry) else None


def well_formed(entry: object) -> bool:
    """An index line as record() writes it; any other line is skipped like a cut one."""
    if not isinstance(entry, dict):
        return False

    def whole(value: object, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and least <= value <= MAX_WHOLE

    if not whole(entry.get("id"), 1) or not whole(entry.get("step", 0), 0):
        return False
    if any(entry.get(key) is not None and not whole(entry[key], 1) for key in ("parent", "restores", "steps")):
        return False
    if not isinstance(entry.get("command", ""), str):
        return False
    return all(entry.get(key) is None or _figure(entry[key]) for key in FIGURES)


def _figure(value: object) -> bool:
    """A number a float holds (JSON may write a whole one, or one of 400 digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, float) or abs(value) <= MAX_WHOLE


def line_back(path: Path, start: int | None) -> Iterator[tuple[dict, int | None]]:
    """The line of history ending at `start`, newest first: each entry and the entry whose state its parent
    holds, which comes next. Each entry once at most: a cycle (an entry its own ancestor) is one line."""
    by_id = {e["id"]: e for e in read_index(path)}
    seen: set[int] = set()
    current = start
    while current is not None and current in by_id:
        if current in seen:
            raise LinctlError(
                f"the history {index_path(path)} goes round in a circle at entry {current} (an entry its own "
                f"ancestor: parent or restores pointers edited by hand); {FIX_INDEX}"
            )
        seen.add(current)
        entry = by_id[current]
        current = effective(by_id, entry.get("parent"))
        yield entry, current


def effective(entries_by_id: dict[int, dict], entry_id: int | None) -> int | None:
    """The entry whose state an entry holds: an undo holds the state it restored."""
    entry = entries_by_id.get(entry_id) if entry_id is not None else None
    if entry is not None and entry.get("restores"):
        return entry["restores"]
    return entry_id
