"""Views and JSON for the history commands: history, undo, diff."""

from __future__ import annotations

import csv
import sys

from linctl.render.cells import fmt, table, text
from linctl.render.layers import layer_entry, titled, with_layers
from linctl.render.widgets import changed_matrix, heading, show, tensor_view

COLUMNS = (
    "id",
    "time",
    "step",
    "command",
    "loss",
    "metric",
    "val_loss",
    "val_metric",
    "lr",
    "weight_change",
    "bias_change",
    "weight_norm",
    "weight_grad_norm",
    "snapshot",
    "restores",
)


def history_json(entries: list[dict], head: int | None, path: str, keep: int) -> dict:
    return {"entries": entries, "head": head, "state": path, "snapshots_kept_at_most": keep}


def history_csv(entries: list[dict]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        writer.writerow({k: ("" if entry.get(k) is None else entry.get(k)) for k in COLUMNS})


def loss_plot(entries: list[dict], log: bool = False):
    """The loss of every recorded change that has one, over the step it was recorded at."""
    from linctl.render.training import loss_curve

    points = [(e["step"], e["loss"]) for e in entries if e.get("loss") is not None and e.get("step") is not None]
    curve = loss_curve([p[1] for p in points], steps=[p[0] for p in points], log=log, title="loss of each change")
    return curve if curve is not None else text("fewer than two recorded changes with a loss: no curve to draw")


def history_view(
    entries: list[dict], head: int | None, path: str, keep: int, plot: bool = False, log: bool = False
) -> None:
    if not entries:
        show(text(f"no history yet for {path}"))
        return
    grid = table(padding=(0, 1))
    grid.add_column("id", justify="right", no_wrap=True, min_width=3)
    grid.add_column("step", justify="right", no_wrap=True, min_width=4)
    held_out = any(e.get("val_loss") is not None for e in entries)  # then "val" and "val m": the held-out samples'
    grid.add_column("command", no_wrap=True, overflow="ellipsis", max_width=12 if held_out else 18)
    for name in ("loss", "metric", *(("val", "val m") if held_out else ()), "lr", "|ΔW|", "|Δb|", "|∇W|"):
        grid.add_column(name, justify="right", no_wrap=True, min_width=6)
    grid.add_column("snap", no_wrap=True)
    for e in entries:
        command = e.get("command", "").removeprefix("linctl ")
        if e.get("restores"):
            command = f"(= #{e['restores']}) " + command
        grid.add_row(
            ("▶" if e is entries[-1] else "") + str(e["id"]),
            str(e.get("step", "")),
            command,
            _num(e.get("loss")),
            _metric(e),
            *((_num(e.get("val_loss")), _metric(e, "val_metric")) if held_out else ()),
            _num(e.get("lr")),
            _num(e.get("weight_change")),
            _num(e.get("bias_change")),
            _num(e.get("weight_grad_norm")),
            "✓" if e.get("snapshot") else "",
        )
    show(
        heading(
            f"history of {path}  (▶ = current state; |Δ| = norm of the change, over every layer"
            + ("; val, val m: the loss and metric on the held-out samples" if held_out else "")
            + ")"
        ),
        grid,
        text(
            f"'snap' entries can be restored by undo and compared by diff; the newest {keep} at most keep one, "
            "older entries keep their figures only"
        ),
        loss_plot(entries, log) if plot else None,
    )


def _num(value) -> str:
    return "" if value is None else f"{value:.3g}"


def _short(command: str, width: int = 48) -> str:
    command = command.removeprefix("linctl ")
    return command if len(command) <= width else command[: width - 1] + "…"


UNDO_KEYS = ("weight", "bias", "weight_grad", "bias_grad")


def undo_json(target: int, undone: list[dict], d, path: str) -> dict:
    top = {
        "restored": target,
        "undone": [e["id"] for e in undone],
        "step": d.step,
        "structure": d.structure,
        "optimizer": d.optimizer,
        "state": path,
    }
    return with_layers(top, [layer_entry(layer, UNDO_KEYS) for layer in d.layers], UNDO_KEYS)


def undo_view(target: int, undone: list[dict], d, path: str) -> None:
    lines = [text(f"undid #{e['id']}: {_short(e.get('command', ''), 70)}") for e in undone]
    parts = [
        heading(f"restored the state of entry #{target} (step {d.step}): network, gradients and optimizer"),
        *lines,
    ]
    for layer in d.layers:
        weight = layer.param("weight")
        parts += titled(layer, len(d.layers))
        parts += [tensor_view(record.name, record.value) for record in layer.params.values()]
        parts.append(tensor_view(f"{weight.name}.grad", weight.grad))
    parts.append(text("'linctl undo' again goes further back; 'linctl history' shows where you are"))
    show(*parts)


DIFF_KEYS = (
    "weight_a",
    "weight_b",
    "weight_change",
    "bias_a",
    "bias_b",
    "bias_change",
    "weight_grad_a",
    "weight_grad_b",
    "bias_grad_a",
    "bias_grad_b",
)


def diff_json(a: int, b: int, r) -> dict:
    top = {
        "a": a,
        "b": b,
        "step_a": r.step_a,
        "step_b": r.step_b,
        "structure_a": r.structure_a,
        "structure_b": r.structure_b,
        "max_abs_change": r.max_abs_change,
    }
    return with_layers(top, [layer_entry(layer, DIFF_KEYS) for layer in r.layers], DIFF_KEYS)


def diff_view(a: int, b: int, r) -> None:
    from rich.columns import Columns

    parts = [heading(f"diff #{a} (step {r.step_a}) -> #{b} (step {r.step_b})")]
    if r.structure_a != r.structure_b:
        parts.append(
            text("the network was replaced between these entries:\n" + r.structure_a + "\n->\n" + r.structure_b)
        )
    for layer in r.layers:
        if len(r.layers) > 1:
            parts.append(heading(f"layer {layer.name}"))
        weight = layer.param("weight")
        compared = _compared(layer, a, b)  # the weight's first: every layer has one
        parts.append(compared[0])
        if weight.change is None and len(r.layers) == 1:  # with several, the structures above say it
            parts.append(text("the shapes differ: the network was replaced between these entries"))
        parts += compared[1:]
        grads = [
            _shown(f"{weight.name}.grad at #{a}", weight.grad_a),
            _shown(f"{weight.name}.grad at #{b}", weight.grad_b),
        ]
        parts.append(Columns(grads, padding=(0, 3)))
    if r.max_abs_change is not None:
        parts.append(text(f"largest |change|: {fmt(r.max_abs_change)}"))
    show(*parts)


def _shown(title: str, tensor, missing: str = "None"):
    return tensor_view(title, tensor) if tensor is not None else text(f"{title}: {missing}")


def _compared(layer, a: int, b: int) -> list:
    """Each parameter (by its state_dict name, #b's where both have it) at #a, at #b (the changed numbers
    marked, where the shapes agree) and the change, side by side. A layer only #b has says '(no such
    layer)' at #a, one only #a has shows nothing at #b; a layer without the parameter shows None."""
    from rich.columns import Columns

    parts = []
    for record in layer.params.values():
        name = record.name
        shown = [_shown(f"{name} at #{a}", record.a, "None" if layer.in_a else "(no such layer)")]
        if record.change is not None:
            shown.append(changed_matrix(f"{name} at #{b} (↑ up, ↓ down)", record.b, record.change))
        elif record.b is not None or layer.in_b:
            shown.append(_shown(f"{name} at #{b}", record.b))
        if record.change is not None:
            shown.append(tensor_view("change", record.change))
        parts.append(Columns(shown, padding=(0, 3)))
    return parts


def _metric(entry: dict, key: str = "metric") -> str:
    """train's last accuracy (as a percentage) or R², on the training or held-out samples; blank elsewhere."""
    value = entry.get(key)
    if value is None:
        return ""
    return f"{100 * value:.1f}%" if entry.get("metric_name") == "accuracy" else _num(value)
