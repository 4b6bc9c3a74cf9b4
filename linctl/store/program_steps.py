"""`export --python`, one change at a time: the plain torch lines that replay each history entry,
and the safetensors file beside the program for what cannot be replayed (whole states, training data)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linctl.errors import LinctlError
from linctl.model import registry, spec
from linctl.store import codec
from linctl.store import history as record
from linctl.store import replay as replay_record


def comment(text: str) -> str:
    """Text for a `# ...` line of the program: one line whatever it holds (a newline would start code)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Side:
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


def _snapshot_block(path: Path, entry: dict, side: Side, why: str) -> list[str]:
    if not record.has_snapshot(path, entry["id"]):
        raise LinctlError(
            f"cannot export a program: entry {entry['id']} ({entry.get('command', '')[:60]}) {why}, "
            "and its snapshot is no longer kept"
        )
    side.add_state(f"entry{entry['id']}", record.load_snapshot(path, entry["id"]))
    return [f"# not replayed: {why}; the state after it is loaded instead", f'load_state("entry{entry["id"]}")']


@dataclass
class _Replay:
    """One history entry as the program replays it."""

    path: Path
    entry: dict
    replay: dict
    specs: list[spec.LayerSpec]
    side: Side

    @property
    def acts(self) -> list[str]:
        return _acts(self.specs, self.replay.get("activation"))

    @property
    def loss(self) -> str:
        return self.replay.get("loss") or "mse"

    def samples(self) -> list[str]:
        return [
            f"x = torch.tensor({_lit(self.replay['last_x'])}, dtype=DTYPE)",
            f"t = torch.tensor({_lit(self.replay['last_t'])}, dtype=DTYPE)",
        ]

    def optimizer(self) -> str:
        replay = self.replay
        return f"optimizer({replay['optimizer']!r}, {_settings(replay['settings'])}, keep={_keep(replay)})"

    def not_replayed(self, why: str) -> list[str]:
        return _snapshot_block(self.path, self.entry, self.side, why)


def _zero_grad(r: _Replay) -> list[str]:
    return ["for p in net.parameters():  # zero_grad: gradients back to None", "    p.grad = None"]


def _backward(r: _Replay) -> list[str]:
    return [*r.samples(), f"LOSSES[{r.loss!r}](run(x, {r.acts!r}), t).backward()"]


def _step(r: _Replay) -> list[str]:
    return [f"{r.optimizer()}.step()"]


def _train_step(r: _Replay) -> list[str]:
    return _zero_grad(r) + _backward(r) + _step(r)


def _set(r: _Replay) -> list[str]:
    lines = ["with torch.no_grad():"]
    for change in r.replay.get("changes", []):
        index = ", ".join(str(i) for i in change["index"])
        lines.append(f"    net.get_parameter({change['name']!r})[{index}] = {_lit(change['new'])}")
    return lines


def _train_samples(r: _Replay) -> list[str]:
    replay, entry = r.replay, r.entry
    if replay.get("data") is None:
        return r.samples()
    xs, ts = _data(replay, r.specs, entry)
    r.side.add_tensor(f"data{entry['id']}/x", xs)
    r.side.add_tensor(f"data{entry['id']}/t", ts)
    return [f"x, t = side_samples('data{entry['id']}')  # read from {comment(Path(replay['data']).name)}"]


def _train(r: _Replay) -> list[str]:
    replay = r.replay
    shuffle = replay.get("shuffle", True)
    if shuffle and replay.get("seed") is None:
        return r.not_replayed("train shuffled without --seed")
    if replay.get("data") == "-":
        return r.not_replayed("train read its data from stdin")
    if any(replay.get(key) is not None for key in ("val", "val_split", "patience")):
        return r.not_replayed("train held samples out for validation")
    samples = "x.shape[0]"
    return [
        *_train_samples(r),
        f"opt = {r.optimizer()}",
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
        f"        LOSSES[{r.loss!r}](run(x[idx], {r.acts!r}), t[idx]).backward()",
        "        opt.step()",
        "        done += 1",
        "        if done >= total:",
        "            break",
    ]


# each command the program replays with plain torch, and how; any other is loaded from its snapshot
REPLAYERS: dict[str, Callable[[_Replay], list[str]]] = {
    "backward": _backward,
    "step": _step,
    "train-step": _train_step,
    "zero-grad": lambda r: ["for p in net.parameters():", "    p.grad = None"],
    "set": _set,
    "train": _train,
    "new": lambda r: r.not_replayed("a new network"),
}


def block(path: Path, entry: dict, specs: list[spec.LayerSpec], side: Side, notes: list[str]) -> list[str]:
    replay = entry.get("replay")
    if not replay:
        return _snapshot_block(path, entry, side, "this entry was recorded without its options")
    wrong = replay_record.problem(replay)
    if wrong is not None:
        notes.append(
            f"entry {entry['id']} of {record.index_path(path)}: its replay record is not one linctl writes "
            f"({wrong}); the program loads its snapshot instead"
        )
        return _snapshot_block(path, entry, side, "its replay record is not one linctl writes")
    command = replay.get("command")
    writer = REPLAYERS.get(command) if isinstance(command, str) else None
    if writer is None:
        return _snapshot_block(path, entry, side, f"'{command}' is not replayed")
    if replay.get("nproc") is not None:  # all-reduced over processes: equal to one process only to rounding
        return _snapshot_block(path, entry, side, f"'{command}' ran on several processes")
    if replay.get("stream"):
        return _snapshot_block(path, entry, side, f"'{command}' streamed its data file")
    return writer(_Replay(path, entry, replay, specs, side))


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
