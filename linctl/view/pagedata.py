"""What the page shows, as plain data: read through linctl.session and linctl.store like a command
that only looks (numpy, no torch), encoded once as JSON for the page, its live events and an export.

Matrices up to FULL_VALUES numbers travel whole (the page draws every edge and each neuron's output
from them); bigger ones travel as block means for the heatmaps, as the terminal's heatmaps draw
them, and as their top-left corner for the drawn network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from linctl import session
from linctl.errors import LinctlError
from linctl.model import spec
from linctl.store import history, index

FULL_VALUES = 16_384  # numbers in one tensor sent whole
HEAT_BLOCKS = 64  # a heatmap has at most this many block rows and columns
DRAWN = 16  # neurons drawn per column of the network; the rest are counted


def encode(data: dict) -> bytes:
    import orjson

    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def tensor_record(array: Any) -> dict:
    """A parameter (or its gradient or change) for the page: shape, values or blocks, and its range."""
    import numpy as np

    from linctl.render.heatmap import block_means, limits

    array = np.asarray(array)
    matrix = array.reshape(1, -1) if array.ndim == 1 else array
    low, high = limits(matrix)
    record: dict[str, Any] = {"shape": list(array.shape), "min": low, "max": high}
    if array.size <= FULL_VALUES:
        record["values"] = np.ascontiguousarray(array)
        return record
    means, bh, bw = block_means(matrix, HEAT_BLOCKS, HEAT_BLOCKS)
    record["blocks"] = means.astype(array.dtype)
    record["block"] = [bh, bw]
    record["corner"] = np.ascontiguousarray(matrix[:DRAWN, :DRAWN] if array.ndim == 2 else array[:DRAWN])
    return record


def network_record(data: dict) -> dict:
    """The layers (names as state_dict() lists them), parameters, gradients, optimizer and step."""
    params = data.get("params") or {}
    grads = data.get("grads") or {}
    specs = spec.from_dicts(data.get("layers") or [])
    layers = [
        {
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "activation": layer.activation,
            "weight": names["weight"],  # the state_dict()'s names: "weight" for one Linear, "0.weight" in a stack
            "bias": names.get("bias"),
        }
        for layer, names in zip(specs, spec.layer_params(specs), strict=True)
    ]
    optimizer = data.get("optimizer") or {}
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in (optimizer.get("settings") or {}).items()}
    return {
        "layers": layers,
        "params": {name: tensor_record(value) for name, value in params.items()},
        "grads": {name: tensor_record(value) for name, value in grads.items() if value is not None},
        "optimizer": {"name": optimizer.get("name"), "settings": settings},
        "step": data.get("step", 0),
        "dtype": data.get("dtype"),
    }


def change_record(data: dict, before: dict | None) -> dict | None:
    """Each parameter minus the same parameter in the snapshot before the last change, and how many optimizer
    steps lie between them (one for step and train-step, many for train, none for set or backward)."""
    if before is None:
        return None
    import numpy as np

    new, old = data.get("params") or {}, before.get("params") or {}
    moved = {}
    for name, value in new.items():
        previous = old.get(name)
        if previous is not None and np.shape(previous) == np.shape(value):
            moved[name] = tensor_record(np.asarray(value) - np.asarray(previous))
    steps = int(data.get("step", 0)) - int(before.get("step", 0))  # optimizer steps the change spans
    return {"params": moved, "before": network_record(before)["params"], "steps": steps}


def history_records(path: Path) -> list[dict]:
    entries = []
    for entry in history.read_index(path):
        record = {key: entry.get(key) for key in ("id", "parent", "restores", "step", "command", "time")}
        record.update({key: entry[key] for key in index.FIGURES if isinstance(entry.get(key), (int, float))})
        if isinstance(entry.get("metric_name"), str):  # accuracy or r2: what the metric figure is
            record["metric_name"] = entry["metric_name"]
        record["snapshot"] = history.snapshot_path(path, entry["id"]).exists()
        entries.append(record)
    return entries


def samples_record(data: dict, samples_file: str | None, targets: int | None) -> dict | None:
    """The samples drawn on the decision surface: --data's, else the last ones a command used."""
    import numpy as np

    layers = data.get("layers") or []
    if samples_file is not None and layers:
        from linctl import data as csv_data

        table = csv_data.read(samples_file)
        xs, ts = csv_data.split(table, layers[0]["in_features"], targets, layers[-1]["out_features"])
        return {"x": np.ascontiguousarray(xs), "t": np.ascontiguousarray(ts), "source": samples_file}
    if data.get("last_x") is not None and data.get("last_t") is not None:
        x, t = np.ascontiguousarray(data["last_x"]), np.ascontiguousarray(data["last_t"])
        return {"x": x, "t": t, "source": "the last samples used"}
    return None


def activation_records() -> dict:
    """Each activation as the page draws it, from the registry: its JavaScript function and, where both
    ends are finite, the range its outputs lie in (the pictures' colour scale)."""
    import math

    from linctl.model.registry import ACTIVATIONS

    def finite(span):
        return list(span) if span is not None and all(math.isfinite(end) for end in span) else None

    return {a.name: {"browser": a.browser, "range": finite(a.output_range)} for a in ACTIVATIONS.values()}


def page_data(path: Path, samples_file: str | None = None, targets: int | None = None) -> dict:
    """Everything the page draws for the state file now; a state that cannot be read gives its one line."""
    base: dict[str, Any] = {"state": str(path), "error": None, "activations": activation_records()}
    try:
        if not session.exists(path):
            raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
        data = session.read_data(path)
        entries = history_records(path)
        current = history.head(data)
        parent = next((e["parent"] for e in entries if e["id"] == current["head"]), None)
        before = None
        if parent is not None and history.snapshot_path(path, parent).exists():
            before = history.load_snapshot(path, parent, "numpy")
        base.update(
            network=network_record(data),
            change=change_record(data, before),
            change_from=parent if before is not None else None,
            history=entries,
            head=current["head"],
            samples=samples_record(data, samples_file, targets),
        )
    except LinctlError as exc:
        base["error"] = "linctl: " + " ".join(str(exc).split())
    return base


def snapshot_data(path: Path, entry_id: int) -> dict:
    """One history entry's network, as the timeline shows it (read from its snapshot, as `diff` does)."""
    history.entry_or_error(path, entry_id)
    return {"id": entry_id, "network": network_record(history.load_snapshot(path, entry_id, "numpy"))}


def baked(path: Path, samples_file: str | None = None, targets: int | None = None) -> dict:
    """The page's data with every snapshot still kept, for `view --export`."""
    page = page_data(path, samples_file, targets)
    if page["error"] is not None:
        raise LinctlError(page["error"].removeprefix("linctl: "))
    page["snapshots"] = {e["id"]: snapshot_data(path, e["id"]) for e in page["history"] if e["snapshot"]}
    return page
