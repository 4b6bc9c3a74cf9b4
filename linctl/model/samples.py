"""Inputs and targets as a command receives them: shapes checked against the
network, values the dtype cannot hold noted, what the loss cannot take refused."""

from __future__ import annotations

import math

from linctl.errors import UsageError
from linctl.model.network import cpu


def cast_note(typed, cast, what: str) -> str | None:
    """A warning when finite typed numbers became inf in the network's dtype (1e39 in float32)."""
    import torch

    if cast.dtype == torch.float64 or cast.numel() == 0:
        return None
    bad = ~torch.isfinite(cast)
    if not bool(bad.any()):
        return None
    typed = typed.double() if isinstance(typed, torch.Tensor) else torch.tensor(typed, dtype=torch.float64)
    overflowed = bad.cpu() & torch.isfinite(typed.cpu())
    count = int(overflowed.sum())
    if not count:
        return None  # NaN/inf as typed: the typed-value warning covers them
    first = float(typed.cpu()[overflowed][0])
    name = str(cast.dtype).replace("torch.", "")
    more = f" (and {count - 1} more)" if count > 1 else ""
    return (
        f"warning: {what}: {first:g}{more} is beyond {name}'s range (±{torch.finfo(cast.dtype).max:.4g}) and became "
        f"{'inf' if first > 0 else '-inf'}; results will not be finite. Use smaller values, or a float64 network "
        "(inspect IN OUT --dtype float64)"
    )


def check_inputs(rows: list[list[float]], in_features: int, option: str = "--x") -> None:
    width = len(rows[0])
    if width != in_features:
        example = ",".join(["1"] * in_features)
        raise UsageError(
            f"{option}: the network takes in_features={in_features} values per sample, got {width}; "
            f"pass {in_features} comma-separated numbers like {option} {example}"
        )


def check_targets(rows: list[list[float]], out_features: int, samples: int, option: str = "--t") -> None:
    width = len(rows[0])
    if width != out_features:
        example = ",".join(["1"] * out_features)
        raise UsageError(
            f"{option}: the network has out_features={out_features} outputs, so each target needs "
            f"{out_features} values, got {width}; like {option} {example}"
        )
    if len(rows) != samples:
        raise UsageError(f"{option}: got {len(rows)} target rows for {samples} samples in --x; give one row per sample")


def remember_inputs(data: dict, x, t=None) -> None:
    data["last_x"] = cpu(x).clone()
    if t is not None:
        data["last_t"] = cpu(t).clone()


def stored_rows(data: dict, key: str) -> list[list[float]] | None:
    value = data.get(key)
    return None if value is None else value.tolist()


def check_bce(loss: str, activation: str, output, step: int | None = None) -> None:
    """torch's binary_cross_entropy refuses outputs outside [0, 1] (NaN too): say why, and the fix."""
    if loss != "bce":
        return
    inside = (output >= 0) & (output <= 1)
    if bool(inside.all()):
        return
    worst = float(output[~inside].flatten()[0])
    where = f"train step {step}: " if step is not None else ""
    if worst != worst:  # NaN
        fix = "a smaller --lr" if step is not None and step > 1 else "check --x and the weights ('linctl inspect')"
        raise UsageError(
            f"{where}--loss bce needs outputs in [0, 1], but an output is nan (activation {activation}): "
            f"NaN/inf weights or inf inputs make NaN; {fix}, or use another --loss"
        )
    raise UsageError(
        f"{where}--loss bce needs outputs in [0, 1], but an output is {worst:.4g} (activation {activation}); "
        "use --activation sigmoid, or another --loss"
    )


def check_bce_samples(loss: str, x, t, place) -> None:
    """--loss bce: targets in [0, 1] and no NaN input, as torch requires, named by `place(kind, row, col)`."""
    import torch

    if loss != "bce":
        return
    outside = ~((t >= 0) & (t <= 1))  # NaN is outside too
    if bool(outside.any()):
        row, col = (int(i) for i in outside.nonzero()[0])
        value = float(t[row, col])
        raise UsageError(
            f"{place('t', row, col)}: --loss bce needs targets in [0, 1], got {value:g}; "
            "give targets between 0 and 1, or use another --loss"
        )
    missing = torch.isnan(x)
    if bool(missing.any()):
        row, col = (int(i) for i in missing.nonzero()[0])
        raise UsageError(
            f"{place('x', row, col)}: --loss bce cannot take a NaN input (the output would be NaN, outside [0, 1]); "
            "give a number there, or use another --loss"
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


def checked_tensors(net, x_rows, t_rows, loss: str):
    """Typed inputs and targets as the network's tensors: shapes checked, values the loss cannot take refused."""
    check_inputs(x_rows, net.in_features)
    check_targets(t_rows, net.out_features, len(x_rows))
    x = net.tensor(x_rows, "--x")
    t = net.tensor(t_rows, "--t")
    check_bce_samples(loss, x, t, option_place(len(x_rows), len(t_rows)))
    return x, t
