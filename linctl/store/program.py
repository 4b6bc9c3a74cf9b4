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

import json
import math
from pathlib import Path
from typing import Any

from linctl.errors import LinctlError
from linctl.model import registry, spec
from linctl.store import codec
from linctl.store import history as record

HEADER = '''"""The linctl session in {state} as a plain PyTorch program (written by 'linctl export --python').

Run it with python; it prints the final state_dict() as one JSON object on its last line.
"""

import json
import os

import torch
import torch.nn.functional as F

DTYPE = torch.{dtype}
{tables}'''


def _table(name: str, code: dict[str, str]) -> str:
    """A dict of the program's source, one entry a line: the registry's names and their plain torch code."""
    return "\n".join([f"{name} = {{", *(f"    {key!r}: {value}," for key, value in code.items()), "}"]) + "\n"


def tables() -> str:
    """The activations, losses (mean-reduced, as linctl's) and optimizers the program knows: all of linctl's."""
    from linctl.optim.settings import OPTIMIZERS

    return (
        _table("ACTIVATIONS", {k: a.program for k, a in registry.ACTIVATIONS.items()})
        + _table("LOSSES", {k: entry.program for k, entry in registry.LOSSES.items()})
        + _table("OPTIMIZERS", {k: f"torch.optim.{o.torch_class}" for k, o in OPTIMIZERS.items()})
    )


HELPERS = '''

def run(x, acts):
    """The network's output with these activations after each Linear (the stored ones unless a command chose others)."""
    h = x
    for linear, act in zip(linears, acts):
        h = ACTIVATIONS[act](linear(h))
    return h


opt, opt_name = None, None


def optimizer(name, settings, keep):
    """One optimizer object for the whole session; a new one where linctl reset its state."""
    global opt, opt_name
    if opt is None or not keep or name != opt_name:
        opt, opt_name = OPTIMIZERS[name](net.parameters(), **settings), name
    else:
        for group in opt.param_groups:
            group.update(settings)
    return opt
'''

SIDE_LOADER = '''

def side_state(key):
    """A linctl state stored in the safetensors file beside this program (tensors, and its structure as JSON)."""
    from safetensors import safe_open

    with safe_open(SIDE, framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        structure = json.loads(handle.metadata()[key])

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"tensor"}:
                return tensors[value["tensor"]]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(structure), tensors


def side_samples(key):
    """Training samples as linctl read them from the data file: in the network's dtype, row-major."""
    from safetensors import safe_open

    with safe_open(SIDE, framework="pt") as handle:
        x, t = handle.get_tensor(key + "/x"), handle.get_tensor(key + "/t")
    return x.to(DTYPE).contiguous(), t.to(DTYPE).contiguous()


def load_state(key):
    """Parameters, gradients and the optimizer exactly as that state holds them."""
    global opt, opt_name
    data, _ = side_state(key)
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.copy_(data["params"][name])
            grad = data["grads"].get(name)
            param.grad = None if grad is None else grad.clone()
    entry = data.get("optimizer") or {}
    opt, opt_name = None, None
    if entry.get("name") is not None:
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["settings"].items()}
        optimizer(entry["name"], settings, False)
        if entry.get("state") is not None:
            state = entry["state"]
            state["state"] = {int(k): v for k, v in state["state"].items()}
            opt.load_state_dict(state)
'''

FOOTER = """

print(json.dumps({name: value.tolist() for name, value in net.state_dict().items()}))
"""


def current_line(path: Path, data: dict) -> list[dict]:
    """The entries of the current line of history, oldest first (undone changes are not on it)."""
    entries = record.read_index(path)
    by_id = {e["id"]: e for e in entries}
    line: list[dict] = []
    current: int | None = record.head(data)["head"] or None
    while current is not None and current in by_id:
        entry = by_id[current]
        line.append(entry)
        current = record.effective(by_id, entry.get("parent"))
    line.reverse()
    return line


def _is_new(entry: dict) -> bool:
    replay = entry.get("replay") or {}
    if replay.get("command") == "new":
        return True
    words = entry.get("command", "").split()
    return (len(words) > 1 and words[1] == "import") or (
        len(words) > 3 and words[1] == "inspect" and words[2].isdigit()
    )


class _Side:
    """The safetensors file beside the program: whole states (start, snapshots) and training data."""

    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}
        self.metadata: dict[str, str] = {}

    def add_state(self, key: str, data: dict) -> None:
        tensors, metadata = codec.encode(data)
        structure = json.loads(metadata[codec.METADATA_KEY])

        def rename(value: Any) -> Any:
            if isinstance(value, dict):
                if set(value) == {"tensor"}:
                    return {"tensor": f"{key}/{value['tensor']}"}
                return {k: rename(v) for k, v in value.items()}
            if isinstance(value, list):
                return [rename(v) for v in value]
            return value

        self.tensors.update({f"{key}/{name}": array for name, array in tensors.items()})
        self.metadata[key] = json.dumps(rename(structure))

    def add_tensor(self, key: str, value: Any) -> None:
        self.tensors[key] = codec._array(value)

    def write(self, target: Path) -> None:
        from safetensors.numpy import save

        from linctl.store.exchange import _atomic

        content = save(self.tensors, metadata=self.metadata)
        _atomic(target, lambda handle: handle.write(content))


def _module_text(specs: list[spec.LayerSpec], dtype: str) -> list[str]:
    lines = [
        "linears = [",
        *(f"    torch.nn.Linear({s.in_features}, {s.out_features}, bias={s.bias}, dtype=DTYPE)," for s in specs),
        "]",
    ]
    if len(specs) == 1:
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


def _acts(specs: list[spec.LayerSpec], given: list[str] | None) -> list[str]:
    return spec.activations_for(specs, given)


def _lit(value: Any) -> str:
    """A Python literal for numbers and nested lists of them; inf and nan as float('inf'), float('nan')."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _settings(settings: dict) -> str:
    return "{" + ", ".join(f"{k!r}: {tuple(v) if isinstance(v, list) else v!r}" for k, v in settings.items()) + "}"


def _keep(replay: dict) -> bool:
    return bool(
        replay.get("optimizer_before") == replay.get("optimizer")
        and replay.get("state_before")
        and not replay.get("reset_optimizer")
    )


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
    first_data = record.load_snapshot(path, first["id"]) if record.snapshot_path(path, first["id"]).exists() else None
    specs = spec.from_dicts((first_data or data)["layers"])
    dtype = (first_data or data).get("dtype", "float32")
    side = _Side()
    side_path = program.with_name(program.stem + ".safetensors")
    body: list[str] = []
    replay = first.get("replay") or {}
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
    body.append(f"# {first.get('command', '')}")
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
        body.append(f"# {entry.get('command', '')}")
        body += _block(path, entry, specs, side, notes)
    needs_side = bool(side.metadata or side.tensors)
    text = HEADER.format(state=path.name.replace('"', "'").replace("\\", "/"), dtype=dtype, tables=tables())
    if needs_side:
        text += f"SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), {side_path.name!r})  # written beside it\n"
    text += HELPERS + (SIDE_LOADER if needs_side else "") + "\n\n" + "\n".join(body) + "\n" + FOOTER
    if needs_side:
        side.write(side_path)
    return text, side_path if needs_side else None, notes


def _snapshot_block(path: Path, entry: dict, side: _Side, why: str) -> list[str]:
    if not record.snapshot_path(path, entry["id"]).exists():
        raise LinctlError(
            f"cannot export a program: entry {entry['id']} ({entry.get('command', '')[:60]}) {why}, "
            "and its snapshot is no longer kept"
        )
    side.add_state(f"entry{entry['id']}", record.load_snapshot(path, entry["id"]))
    return [f"# not replayed: {why}; the state after it is loaded instead", f'load_state("entry{entry["id"]}")']


def _block(path: Path, entry: dict, specs: list[spec.LayerSpec], side: _Side, notes: list[str]) -> list[str]:
    replay = entry.get("replay")
    if not replay:
        return _snapshot_block(path, entry, side, "this entry was recorded without its options")
    command = replay.get("command")
    acts = _acts(specs, replay.get("activation"))
    lines: list[str] = []
    if command in ("backward", "train-step"):
        if command == "train-step":
            lines.append("for p in net.parameters():  # zero_grad: gradients back to None")
            lines.append("    p.grad = None")
        lines.append(f"x = torch.tensor({_lit(replay['last_x'])}, dtype=DTYPE)")
        lines.append(f"t = torch.tensor({_lit(replay['last_t'])}, dtype=DTYPE)")
        lines.append(f"LOSSES[{replay.get('loss') or 'mse'!r}](run(x, {acts!r}), t).backward()")
        if command == "backward":
            return lines
    if command in ("step", "train-step"):
        lines.append(
            f"optimizer({replay['optimizer']!r}, {_settings(replay['settings'])}, keep={_keep(replay)}).step()"
        )
        return lines
    if command == "zero-grad":
        return ["for p in net.parameters():", "    p.grad = None"]
    if command == "set":
        lines.append("with torch.no_grad():")
        for change in replay.get("changes", []):
            index = ", ".join(str(i) for i in change["index"])
            lines.append(f"    net.get_parameter({change['name']!r})[{index}] = {_lit(change['new'])}")
        return lines
    if command == "train":
        shuffle = replay.get("shuffle", True)
        if shuffle and replay.get("seed") is None:
            return _snapshot_block(path, entry, side, "train shuffled without --seed")
        if replay.get("data") == "-":
            return _snapshot_block(path, entry, side, "train read its data from stdin")
        if replay.get("data") is not None:
            xs, ts = _data(replay, specs, entry)
            side.add_tensor(f"data{entry['id']}/x", xs)
            side.add_tensor(f"data{entry['id']}/t", ts)
            lines.append(f"x, t = side_samples('data{entry['id']}')  # read from {Path(replay['data']).name}")
        else:
            lines.append(f"x = torch.tensor({_lit(replay['last_x'])}, dtype=DTYPE)")
            lines.append(f"t = torch.tensor({_lit(replay['last_t'])}, dtype=DTYPE)")
        samples = "x.shape[0]"
        lines += [
            f"opt = optimizer({replay['optimizer']!r}, {_settings(replay['settings'])}, keep={_keep(replay)})",
            "g = torch.Generator()",
            f"g.manual_seed({replay['seed']!r})" if replay.get("seed") is not None else "g.seed()",
            f"batch = min({replay.get('batch_size')!r} or {samples}, {samples})",
            f"total = {replay['steps']!r}"
            if replay.get("steps") is not None
            else f"total = -(-{samples} // batch) * {replay.get('epochs') or 1!r}",
            "done = 0",
            "while done < total:",
            f"    order = torch.randperm({samples}, generator=g)" if shuffle else "    order = None",
            f"    for start in range(0, {samples}, batch):",
            "        idx = slice(start, start + batch) if order is None else order[start : start + batch]",
            "        opt.zero_grad()",
            f"        LOSSES[{replay.get('loss') or 'mse'!r}](run(x[idx], {acts!r}), t[idx]).backward()",
            "        opt.step()",
            "        done += 1",
            "        if done >= total:",
            "            break",
        ]
        return lines
    if command == "new":
        return _snapshot_block(path, entry, side, "a new network")
    return _snapshot_block(path, entry, side, f"'{command}' is not replayed")


def _data(replay: dict, specs: list[spec.LayerSpec], entry: dict):
    """The training samples exactly as linctl built them from the data file (read again now)."""
    import torch

    from linctl import data

    try:
        table = data.read(replay["data"])
    except Exception as exc:
        raise LinctlError(
            f"cannot export a program: entry {entry['id']} trained on {replay['data']}, which cannot be read now ({exc})"
        ) from None
    kind = registry.loss(replay.get("loss") or "mse")
    out = specs[-1].out_features
    xs, ts = data.split(
        table, specs[0].in_features, replay.get("targets"), out, kind.target_widths(out), None, kind.target == "classes"
    )
    return torch.from_numpy(xs), torch.from_numpy(ts)
