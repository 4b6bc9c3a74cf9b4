"""The record of every change: an index of figures, and bounded snapshots.

Beside the state file `net.safetensors` lives `net.safetensors.history/`:
- `index.jsonl`, one line of figures per change (step, command, loss, lr,
  how far the weights moved), appended, never rewritten;
- `<id>.safetensors` (the state file's own extension, when it has one),
  the state right after change <id>, as a hard link to the very file that
  became the state (no extra bytes while it is current); snapshots written
  before format 3 are `<id>.pt` and stay readable.

Only the newest snapshots are kept: at most keep_snapshots() of them, and no
more than snapshot_budget() bytes, so a large layer cannot fill the disk.
Older entries keep their figures. The newest id lives in the state file
itself, so recording a change costs the same however long the history is.
Snapshots are state files, loaded and checked as the state file is.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from linctl.errors import LinctlError, UsageError
from linctl.store import state as state_file

DEFAULT_KEEP = 50
DEFAULT_BUDGET = 512 * 2**20
# the figures an entry may hold, each a number or None
FIGURES = ("loss", "lr", "weight_change", "bias_change", "weight_norm", "bias_norm", "weight_grad_norm", "time")


def keep_snapshots() -> int:
    """LINCTL_HISTORY_KEEP: at most this many snapshots, a whole number >= 1 (default 50).

    0 is refused: the current state always keeps its snapshot (a hard link to
    the state file, no extra bytes), so "keep none" cannot be honoured.
    """
    return int(
        state_file.env_number(
            "LINCTL_HISTORY_KEEP",
            DEFAULT_KEEP,
            whole=True,
            least=1,
            expects=f"how many history snapshots to keep, a whole number 1 or more (default {DEFAULT_KEEP})",
        )
    )


def snapshot_budget() -> int:
    """LINCTL_HISTORY_BYTES: at most this many bytes of snapshots, a whole number >= 0 (1e9 style allowed).

    The newest snapshot is kept whatever the budget (it is the state file
    itself), so 0, or anything below one snapshot's size, keeps only that one.
    """
    return int(
        state_file.env_number(
            "LINCTL_HISTORY_BYTES",
            DEFAULT_BUDGET,
            whole=True,
            least=0,
            expects=f"the bytes of history snapshots to keep, a whole number 0 or more like 1e9 (default {DEFAULT_BUDGET})",
        )
    )


def check_settings() -> None:
    """Both history variables, for a command to check before it does any work."""
    keep_snapshots()
    snapshot_budget()


def folder(path: Path) -> Path:
    path = state_file.source(path)
    return path.with_name(path.name + ".history")


SNAPSHOT_SUFFIXES = (".safetensors", ".pt")
# a whole number an entry holds (id, step, parent...): what JSON output and torch take, 64 bits
MAX_WHOLE = 2**63 - 1
# a hand-edited index: start afresh by moving it away, as a missing index is an empty history
FIX_INDEX = "move it away (linctl starts a new history) or restore it"


def index_path(path: Path) -> Path:
    return folder(path) / "index.jsonl"


def _unusable(target: Path, exc: OSError, doing: str = "read") -> LinctlError:
    reason = exc.strerror or type(exc).__name__
    return LinctlError(f"cannot {doing} the history {target}: {reason}; check its permissions, or {FIX_INDEX}")


def _is_there(target: Path) -> bool:
    """Whether `target` exists; a history folder that cannot be looked into is one line, not a traceback."""
    try:
        return target.exists()
    except OSError as exc:
        raise _unusable(target, exc) from None


def new_snapshot_path(path: Path, entry_id: int) -> Path:
    """Where change <id>'s snapshot is written: named with the state file's extension."""
    return path.with_name(path.name + ".history") / f"{entry_id}{path.suffix or '.safetensors'}"


def snapshot_path(path: Path, entry_id: int) -> Path:
    """Change <id>'s snapshot: whichever name it was written under (new_snapshot_path's when none is there)."""
    first = new_snapshot_path(path, entry_id)
    if _is_there(first):
        return first
    for suffix in SNAPSHOT_SUFFIXES:
        other = folder(path) / f"{entry_id}{suffix}"
        if _is_there(other):
            return other
    return first


def folder_exists(path: Path) -> bool:
    return _is_there(folder(path))


def has_snapshot(path: Path, entry_id: int) -> bool:
    return _is_there(snapshot_path(path, entry_id))


def read_index(path: Path) -> list[dict]:
    """Every entry of the index, oldest first; lines that are not entries are skipped (see scan_index)."""
    return scan_index(path)[0]


def scan_index(path: Path) -> tuple[list[dict], list[int]]:
    """The index's entries, oldest first, and the numbers of the lines skipped: lines cut short by a crash,
    not UTF-8, not JSON, nested deeper than linctl writes, or not shaped as record() writes them."""
    index = index_path(path)
    if not _is_there(index):
        return [], []
    try:
        if not stat.S_ISREG(os.stat(index).st_mode):  # a folder, a FIFO (whose open would wait forever)
            raise LinctlError(f"the history {index} is not a regular file; {FIX_INDEX}")
        with open(index, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise _unusable(index, exc) from None
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


def head(data: dict | None) -> dict:
    info = (data or {}).get("history") or {}
    return {
        "last_id": int(info.get("last_id", 0)),
        "head": int(info.get("head", 0)),
        "oldest": int(info.get("oldest", 1)),
    }


def record(path: Path, new: dict, old: dict | None, entry: dict, restores: int | None = None) -> dict:
    """Save `new` as the state, snapshot it, and append its entry. Call under the lock."""
    keep, budget = keep_snapshots(), snapshot_budget()
    state_file.adopt_old_default(path)
    before = head(old)
    if old is None:
        # a fresh state file: carry on any ids a removed one left in the folder
        ids = [e.get("id", 0) for e in read_index(path)]
        before["last_id"] = max(ids, default=0)
        before["oldest"] = min(ids, default=1) or 1
    entry_id = before["last_id"] + 1
    entry = {
        "id": entry_id,
        "parent": before["head"] or None,
        "restores": restores,
        "time": time.time(),
        **entry,
    }
    # the newest snapshots stay: as many as fit the budget, judged by the current file's size
    size = path.stat().st_size if path.exists() else 0
    cut = entry_id - keep_count(size, keep, budget)  # ids <= cut lose their snapshot
    oldest = max(before["oldest"], cut + 1, 1)
    new = dict(new)
    new["history"] = {"last_id": entry_id, "head": restores or entry_id, "oldest": oldest}
    # a change that history cannot record is refused before the state file is touched: undo, diff and
    # export --python rely on every change being there
    with _index_for_append(path) as handle:
        state_file.save(path, new, snapshot=new_snapshot_path(path, entry_id))
        try:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
        except OSError as exc:
            raise LinctlError(
                f"saved {path}, but cannot write its history entry to {handle.name}: {exc.strerror or exc}; "
                "free some space; 'linctl history' lacks this change"
            ) from None
    prune(path, before["oldest"], cut)
    return entry


def _index_for_append(path: Path):
    """The index opened to append one entry, or one line saying why history cannot be written."""
    index = index_path(path)
    try:
        folder(path).mkdir(parents=True, exist_ok=True)
        if index.exists() and not index.is_file():
            raise LinctlError(
                f"cannot write the history {index}: it is not a regular file; nothing was changed: {FIX_INDEX}"
            )
        return open(index, "a", encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LinctlError(
            f"cannot write the history {index}: {reason}; nothing was changed: make it writable, or {FIX_INDEX}"
        ) from None


def keep_count(snapshot_bytes: int, keep: int | None = None, budget: int | None = None) -> int:
    keep = keep_snapshots() if keep is None else keep
    budget = snapshot_budget() if budget is None else budget
    if snapshot_bytes <= 0:
        return keep
    return max(1, min(keep, budget // snapshot_bytes))


def prune(path: Path, first: int, cut: int) -> None:
    """Drop the snapshots first..cut; amortised O(1) per change."""
    for entry_id in range(max(first, 1), cut + 1):
        for name in {new_snapshot_path(path, entry_id).name, *(f"{entry_id}{s}" for s in SNAPSHOT_SUFFIXES)}:
            try:
                (folder(path) / name).unlink()
            except FileNotFoundError:
                pass
            except OSError:
                return


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


def undo_target(path: Path, data: dict, count: int) -> tuple[int, list[dict]]:
    """The entry `count` changes back along the current line of history."""
    if count < 1:
        raise UsageError(f"undo N: N must be 1 or more, got {count}")
    path_back: list[dict] = []
    current: int | None = None
    for entry, parent in line_back(path, head(data)["head"] or None):
        if len(path_back) == count or entry.get("parent") is None:
            break
        path_back.append(entry)
        current = parent
    if len(path_back) < count:
        raise LinctlError(
            f"cannot undo {count}: the history of {path} goes back only {len(path_back)} change(s) from here; "
            "see 'linctl history'"
        )
    if current is None or not has_snapshot(path, current):
        raise LinctlError(
            f"cannot undo {count}: entry {current} is older than the snapshots kept "
            f"(the newest {keep_snapshots()} at most, {snapshot_budget() // 2**20} MiB in all); "
            "its figures remain in 'linctl history'"
        )
    return current, path_back


def load_snapshot(path: Path, entry_id: int, framework: str = "pt") -> dict:
    snap = snapshot_path(path, entry_id)
    if not _is_there(snap):
        raise LinctlError(
            f"entry {entry_id} has no snapshot any more (only the newest are kept); see 'linctl history' for what is left"
        )
    return state_file.load(
        snap,
        fix="it was left untouched: delete it to drop that entry's snapshot (its figures stay in 'linctl history')",
        framework=framework,
    )


def entry_or_error(path: Path, entry_id: int) -> dict:
    for entry in read_index(path):
        if entry.get("id") == entry_id:
            return entry
    raise UsageError(f"no history entry {entry_id} for {path}; 'linctl history' lists them")
