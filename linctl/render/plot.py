"""View and JSON for `plot`: the output over the input plane as a grid of coloured
cells with the samples drawn on it (2 inputs), or the function against the data (1 input)."""

from __future__ import annotations

import math

import numpy as np

from linctl.render.cells import fmt, text
from linctl.render.heatmap import coloured, legend, limits, style_for, symmetric
from linctl.render.widgets import heading, show
from linctl.tensors import plain

RAMP = " .:-=+*#%@"  # without colour: the output from low to high
HIGH, LOW = "●", "○"  # a sample whose target is above / below the scale's centre


def plot_json(r) -> dict:
    return {
        "structure": r.structure,
        "in_features": r.in_features,
        "bounds": list(r.bounds),
        "columns": r.columns,
        "rows": r.rows,
        "points": plain(r.points),
        "values": plain(r.values),
        "data_x": r.data_x,
        "data_t": r.data_t,
        "predicted": plain(r.predicted),
        "probability": plain(r.confidence),
        "classes": r.classes,
    }


def scale_of(r, values: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The centre and ends of the colour scale: the middle of a bounded activation's range (0.5 in [0, 1] after a
    sigmoid), else 0 and ±max|value|."""
    from linctl.model.registry import activation

    bounds = activation(r.activation).output_range
    if bounds is not None and all(abs(b) != float("inf") for b in bounds):
        return (bounds[0] + bounds[1]) / 2, bounds
    return 0.0, symmetric(*limits(values))


class Plane:
    """The grid, drawn when rich knows whether there is colour."""

    def __init__(self, r):
        self.r = r

    def __rich_console__(self, console, options):
        from rich.text import Text

        r = self.r
        values = np.asarray(r.values)[:, 0].reshape(r.rows, r.columns)
        centre, scale = scale_of(r, values)
        colour = coloured(console)
        marks = self._marks(centre)
        xmin, xmax, ymin, ymax = r.bounds
        low, high = scale
        for j in range(r.rows):
            label = fmt(ymax) if j == 0 else fmt(ymin) if j == r.rows - 1 else ""
            line = Text(label.rjust(10) + " │")
            for i in range(r.columns):
                v = float(values[j, i])
                mark = marks.get((j, i))
                if colour:
                    line.append((mark or " ") + " ", style=style_for(v, low, high, centre))
                else:
                    line.append((mark or _ramp(v, low, high)) + (" " if mark else _ramp(v, low, high)))
            yield line
        yield Text(" " * 11 + "└" + "─" * (2 * r.columns))
        left, right = fmt(xmin), fmt(xmax)
        yield Text(" " * 12 + left + right.rjust(2 * r.columns - len(left)))
        yield Text(" " * 12 + "x1 across, x2 up".center(2 * r.columns))
        vmin, vmax = limits(values)
        yield (
            legend(vmin, vmax, scale, centre, what="output[0] ")
            if colour
            else Text(
                f"output[0] min {fmt(vmin)} '{RAMP[0]}' .. '{RAMP[-1]}' max {fmt(vmax)}   "
                f"(scale {fmt(low)} .. {fmt(high)})"
            )
        )
        if r.data_x is not None:
            yield Text(
                f"samples: {HIGH} target above {fmt(centre)}, {LOW} at or below (their cell's colour is the net's)"
            )

    def _marks(self, centre: float) -> dict[tuple[int, int], str]:
        r = self.r
        if r.data_x is None:
            return {}
        xmin, xmax, ymin, ymax = r.bounds
        out: dict[tuple[int, int], str] = {}
        for (x1, x2), t in zip(np.asarray(r.data_x).tolist(), np.asarray(r.data_t)[:, 0].tolist(), strict=True):
            if not (xmin <= x1 <= xmax and ymin <= x2 <= ymax):
                continue
            i = min(r.columns - 1, int((x1 - xmin) / (xmax - xmin) * r.columns))
            j = min(r.rows - 1, int((ymax - x2) / (ymax - ymin) * r.rows))
            out[(j, i)] = HIGH if t > centre else LOW
        return out


def _ramp(value: float, low: float, high: float) -> str:
    if not math.isfinite(value) or high <= low:
        return "?" if not math.isfinite(value) else RAMP[0]
    f = min(1.0, max(0.0, (value - low) / (high - low)))
    return RAMP[min(len(RAMP) - 1, int(f * len(RAMP)))]


def line_plot(r, width: int = 70, height: int = 18):
    """One input: the function the network computes, and the samples, drawn by plotext."""
    import plotext as plt
    from rich.text import Text

    xs = np.asarray(r.points)[:, 0].tolist()
    ys = np.asarray(r.values)[:, 0].tolist()
    plt.clear_figure()
    for k, (run_x, run_y) in enumerate(finite_runs(xs, ys)):  # inf and NaN are gaps in the line
        plt.plot(run_x, run_y, marker="braille", color="blue", label="net(x)" if k == 0 else "")
    if r.data_x is not None:
        plt.scatter(np.asarray(r.data_x)[:, 0].tolist(), np.asarray(r.data_t)[:, 0].tolist(), marker="●", label="data")
    if len(r.bounds) == 4:
        plt.ylim(r.bounds[2], r.bounds[3])
    plt.xlim(r.bounds[0], r.bounds[1])
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.title("net(x) over x")
    plt.xlabel("x")
    return Text.from_ansi(plt.build())


def finite_runs(xs: list[float], ys: list[float]) -> list[tuple[list[float], list[float]]]:
    """The stretches of the curve where the output is a finite number, each drawn as its own line."""
    runs: list[tuple[list[float], list[float]]] = []
    fresh = True
    for x, y in zip(xs, ys, strict=True):
        if not math.isfinite(y):
            fresh = True
            continue
        if fresh:
            runs.append(([], []))
            fresh = False
        runs[-1][0].append(x)
        runs[-1][1].append(y)
    return runs


def plot_parts(r) -> list:
    if r.in_features == 2 and r.predicted is not None:
        from linctl.render.classify import ClassPlane

        head = (
            f"predicted class over the input plane: {r.columns}×{r.rows} cells, each coloured by the class the network "
            "predicts at its centre (paler where its probability is lower)"
        )
        return [heading(head), text(r.structure), ClassPlane(r)]
    if r.in_features == 2:
        head = f"output over the input plane: {r.columns}×{r.rows} cells, each coloured by net(x) at its centre"
        return [heading(head), text(r.structure), Plane(r)]
    return [heading("net(x) over x"), text(r.structure), line_plot(r)]


def plot_view(r) -> None:
    show(*plot_parts(r))
