"""The network's output over its input plane (2 inputs) or line (1 input), evaluated
with torch at the centres of a grid of cells, for `plot`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from linctl.errors import UsageError
from linctl.model.network import Network
from linctl.tensors import cpu

COLUMNS = 40  # cells across the plane
ROWS = 20  # cells down the plane
LINE_POINTS = 200  # points along the line for one input


@dataclass
class SurfaceResult:
    structure: str
    in_features: int
    out_features: int
    activation: str  # the last layer's: it decides the colour scale's centre
    bounds: tuple[float, ...]  # xmin, xmax[, ymin, ymax]
    columns: int
    rows: int
    points: Any  # (N, in_features), row-major from the top row (largest x2) down
    values: Any  # (N, out_features): net(points)
    data_x: Any = None  # numpy (S, in_features), or None
    data_t: Any = None
    notes: list[str] = field(default_factory=list)
    predicted: Any = None  # a classifier's class at each point (N,), int64; None for other networks
    confidence: Any = None  # the probability of that class at each point (N,)
    classes: list[str] | None = None
    data_classes: Any = None  # each sample's true class (S,), when the network is a classifier


def parse_range(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    from linctl.parsing import number_problem

    parts = text.split(",")
    for part in parts:
        problem = number_problem(part)
        if problem:
            raise UsageError(f"--range: {problem}")
    values = tuple(float(p) for p in parts)
    if len(values) not in (2, 4):
        raise UsageError(f"--range: expected xmin,xmax,ymin,ymax (or xmin,xmax for one input), got {text!r}")

    if (
        not all(math.isfinite(v) for v in values)
        or values[0] >= values[1]
        or (len(values) == 4 and values[2] >= values[3])
    ):
        raise UsageError(f"--range: expected finite values with xmin < xmax and ymin < ymax, got {text!r}")
    return values


def _padded(low: float, high: float) -> tuple[float, float]:
    span = high - low if high > low else 1.0
    return low - 0.25 * span, high + 0.25 * span


def default_bounds(in_features: int, data_x) -> tuple[float, ...]:
    if data_x is None or len(data_x) == 0:
        return (-1.0, 1.0, -1.0, 1.0) if in_features == 2 else (-2.0, 2.0)
    import numpy as np

    finite = [data_x[:, k][np.isfinite(data_x[:, k])] for k in range(in_features)]
    out: list[float] = []
    for values in finite:
        out += _padded(float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    return tuple(out)


def grid_points(bounds: tuple[float, ...], columns: int, rows: int, dtype):
    """Cell centres, row-major from the top row down, as the network's dtype."""
    import torch

    xmin, xmax, ymin, ymax = bounds
    i = torch.arange(columns, dtype=torch.float64)
    j = torch.arange(rows, dtype=torch.float64)
    xs = xmin + (i + 0.5) * (xmax - xmin) / columns
    ys = ymax - (j + 0.5) * (ymax - ymin) / rows
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).to(dtype)


def _check_grid(bounds: tuple[float, ...], points, dtype) -> None:
    """A range whose width overflows, or whose points the network's dtype cannot hold, draws nothing true."""
    import torch

    widths = [bounds[k + 1] - bounds[k] for k in range(0, len(bounds), 2)]
    if not all(math.isfinite(w) for w in widths) or not bool(torch.isfinite(points).all()):
        kind = str(dtype).removeprefix("torch.")
        raise UsageError(
            f"--range: the width and every point of the grid must be finite {kind} numbers "
            f"(within ±{torch.finfo(dtype).max:.3g}); give a narrower range"
            + ("" if kind == "float64" else ", or build the network with --dtype float64")
        )


def surface(net: Network, activations: list[str], *, table=None, targets=None, bounds=None) -> SurfaceResult:
    import torch

    data_x = data_t = None
    notes: list[str] = []
    if table is not None:
        from linctl.model.samples import shown_samples

        data_x, data_t, _names = shown_samples(net, table, targets)
    if bounds is None:
        bounds = default_bounds(net.in_features, data_x)
    elif net.in_features == 2 and len(bounds) != 4:
        raise UsageError("--range: a network with 2 inputs needs xmin,xmax,ymin,ymax")
    if net.in_features == 2:
        points = grid_points(bounds, COLUMNS, ROWS, net.dtype)
        columns, rows = COLUMNS, ROWS
    else:
        xmin, xmax = bounds[0], bounds[1]
        i = torch.arange(LINE_POINTS, dtype=torch.float64)
        points = (xmin + i * (xmax - xmin) / (LINE_POINTS - 1)).reshape(-1, 1).to(net.dtype)
        columns, rows = LINE_POINTS, 1
    _check_grid(bounds, points, net.dtype)
    with torch.no_grad():
        values = net.output(points.to(net.device), activations)
    gaps = int((~torch.isfinite(values[:, 0])).sum())
    if gaps:
        notes.append(
            f"output[0] is inf or NaN at {gaps} of {values.shape[0]} points, drawn as gaps "
            "(the weights or biases hold inf or NaN, or the range is too wide for the network's dtype)"
        )
    read = classified(net, activations, values, data_t)
    if net.out_features > 1 and read is None:
        notes.append(f"the network has {net.out_features} outputs; the picture shows output 0 (--json has them all)")
    return SurfaceResult(
        structure=net.structure(),
        in_features=net.in_features,
        out_features=net.out_features,
        activation=activations[-1],
        bounds=tuple(bounds),
        columns=columns,
        rows=rows,
        points=cpu(points),
        values=cpu(values),
        data_x=data_x,
        data_t=data_t,
        notes=notes,
        **(read or {}),
    )


def classified(net: Network, activations: list[str], values, data_t) -> dict | None:
    """For a classifier over the plane: the predicted class and its probability at each point, the samples'
    true classes (TensorFlow Playground colours the regions by class)."""
    import torch

    from linctl.model import metrics

    classes = net.data.get("classes")
    if not metrics.is_classifier(activations[-1], classes) or net.out_features < 2:
        return None
    read = metrics.classify(values, activations[-1], classes)
    confidence = read.probabilities.gather(1, read.predicted.unsqueeze(1))[:, 0]
    truth = None
    if data_t is not None:
        truth = metrics.true_classes(torch.from_numpy(data_t), net.out_features).numpy()
    return {"predicted": cpu(read.predicted), "confidence": cpu(confidence), "classes": classes, "data_classes": truth}
