"""Views and JSON for the history commands: history, undo, diff, set."""

from __future__ import annotations

import csv
import sys

from linctl.render import _table, fmt, heading, plain, show, tensor_view, text, vector
from linctl.render_training import _changed_matrix

COLUMNS = (
    "id",
    "time",
    "step",
    "command",
    "loss",
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


def history_view(entries: list[dict], head: int | None, path: str, keep: int) -> None:
    if not entries:
        show(text(f"no history yet for {path}"))
        return
    table = _table(padding=(0, 1))
    table.add_column("id", justify="right", no_wrap=True, min_width=3)
    table.add_column("step", justify="right", no_wrap=True, min_width=4)
    table.add_column("command", no_wrap=True, overflow="ellipsis", max_width=18)
    for name in ("loss", "lr", "|ΔW|", "|Δb|", "|∇W|"):
        table.add_column(name, justify="right", no_wrap=True, min_width=6)
    table.add_column("snap", no_wrap=True)
    for e in entries:
        command = e.get("command", "").removeprefix("linctl ")
        if e.get("restores"):
            command = f"(= #{e['restores']}) " + command
        table.add_row(
            ("▶" if e is entries[-1] else "") + str(e["id"]),
            str(e.get("step", "")),
            command,
            _num(e.get("loss")),
            _num(e.get("lr")),
            _num(e.get("weight_change")),
            _num(e.get("bias_change")),
            _num(e.get("weight_grad_norm")),
            "✓" if e.get("snapshot") else "",
        )
    show(
        heading(f"history of {path}  (▶ = current state; |Δ| = norm of the change)"),
        table,
        text(
            f"'snap' entries can be restored by undo and compared by diff; the newest {keep} at most keep one, "
            "older entries keep their figures only"
        ),
    )


def _num(value) -> str:
    return "" if value is None else f"{value:.3g}"


def _short(command: str, width: int = 48) -> str:
    command = command.removeprefix("linctl ")
    return command if len(command) <= width else command[: width - 1] + "…"


def undo_json(target: int, undone: list[dict], d, path: str) -> dict:
    return {
        "restored": target,
        "undone": [e["id"] for e in undone],
        "step": d.step,
        "weight": plain(d.weight),
        "bias": plain(d.bias),
        "weight_grad": plain(d.weight_grad),
        "bias_grad": plain(d.bias_grad),
        "optimizer": d.optimizer,
        "state": path,
    }


def undo_view(target: int, undone: list[dict], d, path: str) -> None:
    lines = [text(f"undid #{e['id']}: {_short(e.get('command', ''), 70)}") for e in undone]
    show(
        heading(f"restored the state of entry #{target} (step {d.step}): network, gradients and optimizer"),
        *lines,
        tensor_view("weight", d.weight),
        vector("bias", d.bias) if d.bias is not None else None,
        tensor_view("weight.grad", d.weight_grad) if d.weight_grad is not None else text("weight.grad: None"),
        text("'linctl undo' again goes further back; 'linctl history' shows where you are"),
    )


def diff_json(a: int, b: int, r) -> dict:
    return {
        "a": a,
        "b": b,
        "step_a": r.step_a,
        "step_b": r.step_b,
        "weight_a": plain(r.weight_a),
        "weight_b": plain(r.weight_b),
        "weight_change": plain(r.weight_change),
        "bias_a": plain(r.bias_a),
        "bias_b": plain(r.bias_b),
        "bias_change": plain(r.bias_change),
        "weight_grad_a": plain(r.weight_grad_a),
        "weight_grad_b": plain(r.weight_grad_b),
        "bias_grad_a": plain(r.bias_grad_a),
        "bias_grad_b": plain(r.bias_grad_b),
        "max_abs_change": r.max_abs_change,
    }


def diff_view(a: int, b: int, r) -> None:
    from rich.columns import Columns

    def grad(title, tensor):
        return tensor_view(title, tensor) if tensor is not None else text(f"{title}: None")

    parts = [heading(f"diff #{a} (step {r.step_a}) -> #{b} (step {r.step_b})")]
    weights = [
        tensor_view(f"weight at #{a}", r.weight_a),
        _changed_matrix(f"weight at #{b} (↑ up, ↓ down)", r.weight_b, r.weight_change),
    ]
    if r.weight_change is not None:
        weights.append(tensor_view("change", r.weight_change))
    parts.append(Columns(weights, padding=(0, 3)))
    if r.weight_change is None:
        parts.append(text("the shapes differ: the network was replaced between these entries"))
    if r.bias_a is not None or r.bias_b is not None:
        biases = [tensor_view(f"bias at #{a}", r.bias_a), tensor_view(f"bias at #{b}", r.bias_b)]
        if r.bias_change is not None:
            biases.append(tensor_view("change", r.bias_change))
        parts.append(Columns(biases, padding=(0, 3)))
    parts.append(
        Columns(
            [grad(f"weight.grad at #{a}", r.weight_grad_a), grad(f"weight.grad at #{b}", r.weight_grad_b)],
            padding=(0, 3),
        )
    )
    if r.max_abs_change is not None:
        parts.append(text(f"largest |change|: {fmt(r.max_abs_change)}"))
    show(*parts)


def set_json(changes: list[dict], d, path: str) -> dict:
    return {"changes": changes, "weight": plain(d.weight), "bias": plain(d.bias), "step": d.step, "state": path}


def set_view(changes: list[dict], d, path: str) -> None:
    lines = [
        text(f"{c['name']}[{','.join(map(str, c['index']))}]: {fmt(c['old'])} -> {fmt(c['new'])}") for c in changes
    ]
    show(
        heading("set by hand"),
        *lines,
        tensor_view("weight", d.weight),
        vector("bias", d.bias) if d.bias is not None else None,
        text("gradients and optimizer state were left as they were"),
    )
