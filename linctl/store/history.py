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
Snapshots are state files, loaded and checked as the state file is; the
index is read, and its lines checked, in store/index.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from linctl.errors import LinctlError, UsageError
from linctl.store import paths
from linctl.store import state as state_file
from linctl.store.index import FIX_INDEX, folder, index_path, is_there, line_back, read_index
from linctl.store.index import scan_index as scan_index
from linctl.store.index import skipped_note as skipped_note

DEFAULT_KEEP = 50
DEFAULT_BUDGET = 512 * 2**20


def keep_snapshots() -> int:
    """LINCTL_HISTORY_KEEP: at most this many snapshots, a whole number >= 1 (default 50).

    0 is refused: the current state always keeps its snapshot (a hard link to
    the state file, no extra bytes), so "keep none" cannot be honoured.
    """
    return int(
        paths.env_number(
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
        paths.env_number(
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


SNAPSHOT_SUFFIXES = (".safetensors", ".pt")


def new_snapshot_path(path: Path, entry_id: int) -> Path:
    """Where change <id>'s snapshot is written: named with the state file's extension."""
    return path.with_name(path.name + ".history") / f"{entry_id}{path.suffix or '.safetensors'}"


def snapshot_path(path: Path, entry_id: int) -> Path:
    """Change <id>'s snapshot: whichever name it was written under (new_snapshot_path's when none is there)."""
    first = new_snapshot_path(path, entry_id)
    if is_there(first):
        return first
    for suffix in SNAPSHOT_SUFFIXES:
        other = folder(path) / f"{entry_id}{suffix}"
        if is_there(other):
            return other
    return first


def folder_exists(path: Path) -> bool:
    return is_there(folder(path))


def has_snapshot(path: Path, entry_id: int) -> bool:
    return is_there(snapshot_path(path, entry_id))


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
    if not is_there(snap):
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
