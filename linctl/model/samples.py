"""Inputs and targets as a command receives them: shapes checked against the
network, values the dtype cannot hold noted, what the loss cannot take refused."""

from __future__ import annotations

import math

from linctl.errors import UsageError
from linctl.model import registry
from linctl.tensors import cpu


def check_inputs(rows: list[list[float]], in_features: int, option: str = "--x") -> None:
    width = len(rows[0])
    if width != in_features:
        example = ",".join(["1"] * in_features)
        raise UsageError(
            f"{option}: the network takes in_features={in_features} values per sample, got {width}; "
            f"pass {in_features} comma-separated numbers like {option} {example}"
        )


def check_targets(
    rows: list[list[float]], out_features: int, samples: int, option: str = "--t", loss: str = "mse"
) -> None:
    """One target row per sample, as wide as the loss takes: one value per output, or one class index."""
    from linctl.model.targets import width_problem

    problem = width_problem(registry.loss(loss), len(rows[0]), out_features, option)
    if problem:
        raise UsageError(problem)
    if len(rows) != samples:
        raise UsageError(f"{option}: got {len(rows)} target rows for {samples} samples in --x; give one row per sample")


def remember_inputs(data: dict, x, t=None) -> None:
    data["last_x"] = cpu(x).clone()
    if t is not None:
        data["last_t"] = cpu(t).clone()


def stored_rows(data: dict, key: str) -> list[list[float]] | None:
    value = data.get(key)
    return None if value is None else value.tolist()


def _span(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:g}, {bounds[1]:g}]"


def range_checked(loss: str, activation: str) -> bool:
    """Whether this loss's outputs need checking: it takes a range, and the activation does not ensure it."""
    takes, gives = registry.loss(loss).output_range, registry.activation(activation).output_range
    return takes is not None and not (gives is not None and takes[0] <= gives[0] and gives[1] <= takes[1])


def check_output(loss: str, activation: str, output, step: int | None = None) -> None:
    """A loss that takes outputs in a range (bce: [0, 1]; torch refuses others, NaN too): say why, and the fix."""
    entry = registry.loss(loss)
    if entry.output_range is None:
        return
    low, high = entry.output_range
    inside = (output >= low) & (output <= high)
    if bool(inside.all()):
        return
    worst = float(output[~inside].flatten()[0])
    where = f"train step {step}: " if step is not None else ""
    span = _span(entry.output_range)
    if worst != worst:  # NaN
        fix = "a smaller --lr" if step is not None and step > 1 else "check --x and the weights ('linctl inspect')"
        raise UsageError(
            f"{where}--loss {loss} needs outputs in {span}, but an output is nan (activation {activation}): "
            f"NaN/inf weights or inf inputs make NaN; {fix}, or use another --loss"
        )
    # the element-wise ones: softmax's outputs lie in [0, 1] too, but mean something else
    fitting = [a.name for a in registry.ACTIVATIONS.values() if not range_checked(loss, a.name) and a.elementwise]
    fitting = fitting or [a.name for a in registry.ACTIVATIONS.values() if not range_checked(loss, a.name)]
    raise UsageError(
        f"{where}--loss {loss} needs outputs in {span}, but an output is {worst:.4g} (activation {activation}); "
        f"use --activation {' or '.join(fitting)}, or another --loss"
    )


def check_samples(loss: str, x, t, place, out_features: int) -> None:
    """Targets the loss takes (in its range; class indices, probability rows) and, where it takes outputs in a
    range, no NaN input; named by `place`."""
    import torch

    entry = registry.loss(loss)
    if entry.check is not None:
        entry.check(entry, t, out_features, place)
    if entry.target_range is not None:
        low, high = entry.target_range
        outside = ~((t >= low) & (t <= high))  # NaN is outside too
        if bool(outside.any()):
            row, col = (int(i) for i in outside.nonzero()[0])
            value = float(t[row, col])
            raise UsageError(
                f"{place('t', row, col)}: --loss {loss} needs targets in {_span(entry.target_range)}, got {value:g}; "
                f"give targets between {low:g} and {high:g}, or use another --loss"
            )
    if entry.output_range is not None:
        missing = torch.isnan(x)
        if bool(missing.any()):
            row, col = (int(i) for i in missing.nonzero()[0])
            raise UsageError(
                f"{place('x', row, col)}: --loss {loss} cannot take a NaN input (the output would be NaN, outside "
                f"{_span(entry.output_range)}); give a number there, or use another --loss"
            )


def option_place(x_rows: int, t_rows: int):
    """Names a value typed with --x/--t, as parse_rows numbers the rows."""

    def place(kind: str, row: int, col: int) -> str:
        option, rows = ("--x", x_rows) if kind == "x" else ("--t", t_rows)
        return f"{option}{f' row {row + 1}' if rows > 1 else ''} value {col + 1}"

    return place


def set_note(name: str, index: tuple[int, ...], new: float) -> str | None:
    """A warning when a hand edit leaves a NaN or inf in the network."""
    if math.isfinite(new):
        return None
    where = f"{name}[{','.join(map(str, index))}]"
    return f"warning: {where} is now {new}; every output that uses it will not be finite (set it to a number to undo)"


def finite_or_warn(value: float) -> str | None:
    if not math.isfinite(value):
        return f"warning: the loss is {value}; check the inputs, targets and learning rate"
    return None


def checked_tensors(net, x_rows, t_rows, loss: str, place=None):
    """Typed inputs and targets as the network's tensors: shapes checked, values the loss cannot take refused
    (named by `place`: the --x/--t row and value, or the data file's line and column)."""
    check_inputs(x_rows, net.in_features)
    check_targets(t_rows, net.out_features, len(x_rows), loss=loss)
    x = net.tensor(x_rows, "--x")
    t = net.tensor(t_rows, "--t")
    check_samples(loss, x, t, place or option_place(len(x_rows), len(t_rows)), net.out_features)
    return x, t


def table_place(table, in_features: int):
    """Names a sample value read from a data file: its line and column."""
    from linctl import data

    def place(kind: str, row: int, col: int) -> str:
        column = col + 1 + (in_features if kind == "t" else 0)
        return f"--data {table.source} line {data.line_of(table, row)} column {column}"

    return place


def table_samples(net, table, targets: int | None, loss: str, notes: list[str], store: bool = True):
    """(x, t) float64 arrays from a data file, a label column mapped to class indices: by the network's stored
    class names, else the file's labels in sorted order, which are then stored with the network (noted once)."""
    from linctl import data

    entry = registry.loss(loss)
    stored = net.data.get("classes")
    names = data.class_names(table, stored, net.out_features) if entry.target == "classes" else None
    widths = entry.target_widths(net.out_features)
    xs, ts = data.split(table, net.in_features, targets, net.out_features, widths, names, entry.target == "classes")
    if names and names != stored:
        mapping = ", ".join(f"{k} = {name}" for k, name in enumerate(names))
        if store:
            net.data["classes"] = names
        notes.append(f"classes: {mapping} (labels in sorted order{'; stored with the network' if store else ''})")
    return xs, ts


def table_rows(net, table, targets: int | None, loss: str, notes: list[str], store: bool = True):
    """A data file's samples as typed rows (x_rows, t_rows), for the commands that take --x/--t too."""
    xs, ts = table_samples(net, table, targets, loss, notes, store)
    return xs.tolist(), ts.tolist()


def loss_notes(loss: str, activation: str) -> list[str]:
    """The double-softmax trap: torch runs it, but the loss applies the last activation a second time."""
    entry = registry.loss(loss)
    if entry.doubled is None or entry.doubled != activation:
        return []
    return [
        f"warning: the last layer ends in {activation} and --loss {loss} applies log_softmax itself, so softmax runs "
        f"twice (torch allows it; the gradients shrink); use --activation none on the last layer, "
        "or log_softmax with --loss nll"
    ]


def shown_samples(net, table, targets: int | None):
    """(x, t or None, class names or None) from a data file for the commands that only look (forward, plot):
    input columns alone, or inputs then targets (one per output, or a class index or label)."""
    from linctl import data

    if table.columns == net.in_features and targets is None:
        return table.values, None, net.data.get("classes")
    widths = (net.out_features, 1) if net.out_features > 1 else (1,)
    if table.labels is not None:
        widths = (1,)
    names = data.class_names(table, net.data.get("classes"), net.out_features)
    xs, ts = data.split(table, net.in_features, targets, net.out_features, widths, names, classify=True)
    return xs, ts, names
