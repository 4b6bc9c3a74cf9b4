"""`export --python`: the current line of history as a standalone PyTorch program.

The program rebuilds the network as it was where the current line starts (by
seed, or from exact weights in a safetensors file written beside it) and
replays every change of the line in order with plain torch; undone changes
are not on the line. A change recorded without its options (by an older
linctl, or a `train` shuffled without --seed) is not replayed: the program
loads that change's snapshot instead, and says so in a comment. Run, it
prints the final state_dict() as one JSON object on its last line.
"""

from __future__ import annotations

from pathlib import Path

from linctl.errors import LinctlError
from linctl.model import registry, spec
from linctl.store import history as record
from linctl.store import replay as replay_record
from linctl.store.program_steps import Side, block, comment
from linctl.store.program_text import FOOTER, HEADER, HELPERS, SIDE_LOADER, tables


def current_line(path: Path, data: dict) -> list[dict]:
    """The entries of the current line of history, oldest first (undone changes are not on it)."""
    line = [entry for entry, _ in record.line_back(path, record.head(data)["head"] or None)]
    line.reverse()
    return line


def _replay(entry: dict) -> dict:
    """The entry's replay record, {} where it has none or one linctl did not write (block says which)."""
    replay = entry.get("replay")
    return replay if replay and replay_record.problem(replay) is None else {}


def _is_new(entry: dict) -> bool:
    replay = _replay(entry)
    if replay.get("command") == "new":
        return True
    words = entry.get("command", "").split()
    return (len(words) > 1 and words[1] == "import") or (
        len(words) > 3 and words[1] == "inspect" and words[2].isdigit()
    )


def _module_text(specs: list[spec.LayerSpec], dtype: str) -> list[str]:
    lines = [
        "linears = [",
        *(f"    torch.nn.Linear({s.in_features}, {s.out_features}, bias={s.bias}, dtype=DTYPE)," for s in specs),
        "]",
    ]
    if spec.bare(specs):
        lines.append("net = linears[0]")
    else:
        parts = []
        for k, s in enumerate(specs):
            parts.append(f"linears[{k}]")
            module = registry.activation(s.activation).module_call()
            if module is not None:
                parts.append(f"torch.nn.{module}")
        lines.append(f"net = torch.nn.Sequential({', '.join(parts)})")
    return lines


def build(path: Path, data: dict, program: Path) -> tuple[str, Path | None, list[str]]:
    """The program's text, the side file it needs (None when it needs none), and notes."""
    line = current_line(path, data)
    if not line:
        raise LinctlError(
            f"no history for {path}: nothing to export as a program; build a network with 'linctl inspect'"
        )
    starts = [k for k, e in enumerate(line) if _is_new(e)]
    start = starts[-1] if starts else 0
    notes: list[str] = []
    if start == 0 and not starts:
        notes.append(
            f"the history of {path} does not go back to where the network was built; the program starts at entry {line[0]['id']}"
        )
    line = line[start:]
    first = line[0]
    first_data = record.load_snapshot(path, first["id"]) if record.has_snapshot(path, first["id"]) else None
    specs = spec.from_dicts((first_data or data)["layers"])
    dtype = (first_data or data).get("dtype", "float32")
    side = Side()
    side_path = program.with_name(program.stem + ".safetensors")
    body: list[str] = []
    replay = _replay(first)
    seeded = replay.get("command") == "new" and replay.get("built_by_seed") and replay.get("seed") is not None
    if not seeded:
        words = first.get("command", "").split()
        seeded_text = (
            len(words) > 3
            and words[1] == "inspect"
            and "--seed" in words
            and not any(w.startswith(("--weight", "--bias")) for w in words)
        )
        if seeded_text and first_data is not None and first_data.get("seed") is not None:
            seeded, replay = True, {"seed": first_data["seed"]}
    body.append(f"# {comment(first.get('command', ''))}")
    if seeded:
        body.append(f"torch.manual_seed({replay['seed']})")
        body += _module_text(specs, dtype)
    else:
        if first_data is None:
            raise LinctlError(
                f"cannot export a program: entry {first['id']}, where the current line starts, has no snapshot any more "
                "and was not built by --seed"
            )
        body += _module_text(specs, dtype)
        body.append("# the exact weights (and any gradients and optimizer state) it started with, from the file beside")
        body.append('load_state("start")')
        side.add_state("start", first_data)
    for entry in line[1:]:
        body.append("")
        body.append(f"# {comment(entry.get('command', ''))}")
        body += block(path, entry, specs, side, notes)
    needs_side = bool(side.metadata or side.tensors)
    text = HEADER.format(state=path.name.replace('"', "'").replace("\\", "/"), dtype=dtype, tables=tables())
    if needs_side:
        text += f"SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), {side_path.name!r})  # written beside it\n"
    text += HELPERS + (SIDE_LOADER if needs_side else "") + "\n\n" + "\n".join(body) + "\n" + FOOTER
    if needs_side:
        side.write(side_path)
    return text, side_path if needs_side else None, notes
