"""What a classification loss's targets must be: a class index per sample, or (cross_entropy) a row of class
probabilities. Each refusal is one line naming the value (by `place`: the --t row and value, or the data file's
line and column) and the fix. torch is imported inside the checks only."""

from __future__ import annotations

from linctl.errors import UsageError

SUM_TOLERANCE = 1e-5  # how far a probability row's sum may be from 1 (float32 rounds 0.1 + 0.7 + 0.2)


def width_problem(entry, width: int, out_features: int, option: str) -> str | None:
    """Why `width` target values per sample do not fit this loss and network, or None."""
    if width in entry.target_widths(out_features):
        return None
    if entry.target == "same":
        example = ",".join(["1"] * out_features)
        return (
            f"{option}: the network has out_features={out_features} outputs, so each target needs "
            f"{out_features} values, got {width}; like {option} {example}"
        )
    probabilities = (
        f", or {out_features} class probabilities summing to 1"
        if out_features in entry.target_widths(out_features)
        else ""
    )
    return (
        f"{option}: --loss {entry.name} takes one class index per sample (0 to {out_features - 1}){probabilities}, "
        f'got {width} values; like {option} {min(1, out_features - 1)}, or {option} "0;2;1" for several samples'
    )


def check_classes(entry, t, out_features: int, place) -> None:
    """Class indices whole and in range; probability rows in [0, 1], each summing to 1."""
    if t.shape[1] == 1:
        _check_indices(entry, t[:, 0], out_features, place)
    else:
        _check_probabilities(entry, t, place)


def _first(mask) -> int:
    return int(mask.nonzero()[0][0])


def _check_indices(entry, column, classes: int, place) -> None:
    import torch

    whole = torch.isfinite(column) & (column == column.round())
    if not bool(whole.all()):
        row = _first(~whole)
        raise UsageError(
            f"{place('t', row, 0)}: --loss {entry.name} needs a class index, a whole number 0 to {classes - 1}, "
            f"got {float(column[row]):g}; give the index of the output that should win"
        )
    outside = (column < 0) | (column >= classes)
    if bool(outside.any()):
        row = _first(outside)
        raise UsageError(
            f"{place('t', row, 0)}: class {float(column[row]):g} is out of range: the network has "
            f"out_features={classes} outputs, classes 0 to {classes - 1}; give an index below {classes}, "
            "or build a network with more outputs"
        )


def _check_probabilities(entry, t, place) -> None:
    inside = (t >= 0) & (t <= 1)  # NaN is outside too
    if not bool(inside.all()):
        row, col = (int(i) for i in (~inside).nonzero()[0])
        raise UsageError(
            f"{place('t', row, col)}: --loss {entry.name} takes class probabilities in [0, 1], "
            f"got {float(t[row, col]):g}; give probabilities, or one class index per sample"
        )
    sums = t.double().sum(dim=1)
    off = (sums - 1).abs() > SUM_TOLERANCE
    if bool(off.any()):
        row = _first(off)
        raise UsageError(
            f"{place('t', row, 0)}: the class probabilities of this sample sum to {float(sums[row]):.6g}, not 1; "
            "give a row that sums to 1, or one class index per sample"
        )
