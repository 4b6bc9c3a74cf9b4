"""Heatmaps: matrices and vectors drawn with cells coloured on a diverging scale
(negative blue, zero white, positive red), a legend with the values at the ends,
and a matrix too big to show drawn whole, downsampled into blocks.

Everything here takes numpy arrays and CPU tensors alike (numpy.asarray); the
colour is chosen when rich draws, so NO_COLOR, pipes and --json get none and
the plain view stays exactly as it was.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NEGATIVE = (33, 102, 172)  # RdBu's ends, and white in the middle
ZERO = (247, 247, 247)
POSITIVE = (178, 24, 43)
NAN = (128, 128, 128)
BLOCK_ROWS = 48  # a downsampled heatmap has at most this many block rows (two per line)


def coloured(console) -> bool:
    """Whether this console draws colour (not with NO_COLOR, a pipe or a dumb terminal)."""
    return console.color_system is not None and not console.no_color


def rgb(value: float, low: float, high: float, centre: float = 0.0) -> tuple[int, int, int]:
    """The colour of `value` on a diverging scale: `centre` white, `low` full blue, `high` full red."""
    if not math.isfinite(value):
        return NAN
    if value >= centre:
        span = high - centre
        f = 0.0 if span <= 0 else min(1.0, (value - centre) / span)
        end = POSITIVE
    else:
        span = centre - low
        f = 0.0 if span <= 0 else min(1.0, (centre - value) / span)
        end = NEGATIVE
    return tuple(round(z + (e - z) * f) for z, e in zip(ZERO, end, strict=True))  # type: ignore[return-value]


def symmetric(low: float, high: float) -> tuple[float, float]:
    """A scale centred on zero, reaching the larger of |min| and |max|."""
    reach = max(abs(low), abs(high)) if math.isfinite(low) and math.isfinite(high) else 1.0
    return -reach, reach


def style_for(value: float, low: float, high: float, centre: float = 0.0):
    from rich.color import Color
    from rich.style import Style

    r, g, b = rgb(value, low, high, centre)
    ink = "black" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "white"
    return Style(color=ink, bgcolor=Color.from_rgb(r, g, b))


def limits(array: np.ndarray) -> tuple[float, float]:
    """min and max over the finite values (nan, nan when there are none)."""
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return math.nan, math.nan
    return float(finite.min()), float(finite.max())


def legend(low: float, high: float, scale: tuple[float, float], centre: float = 0.0, what: str = "", steps: int = 16):
    """'min -0.6000 ▇▇▇▇ 0.5000 max': the colours between the values at the ends."""
    from rich.text import Text

    from linctl.render.cells import fmt

    line = Text(f"{what}min {fmt(low)} ")
    if math.isfinite(low) and math.isfinite(high):
        for i in range(steps):
            value = low + (high - low) * (i + 0.5) / steps
            line.append(" ", style=style_for(value, scale[0], scale[1], centre))
    line.append(f" {fmt(high)} max")
    return line


def block_means(array: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, int, int]:
    """The array cut into at most rows x cols blocks, each its mean; and the block height and width."""
    n, m = array.shape
    side = max(1, math.ceil(n / rows), math.ceil(m / cols))  # square blocks keep the matrix's proportions
    bh, bw = side, side
    r_edges, c_edges = np.arange(0, n, bh), np.arange(0, m, bw)
    # one band of rows at a time, summed in float64: never a float64 copy of the whole matrix
    bands = [array[r : r + bh].sum(axis=0, dtype=np.float64) for r in r_edges]
    sums = np.add.reduceat(np.stack(bands), c_edges, axis=1)
    counts = np.outer(np.diff(np.append(r_edges, n)), np.diff(np.append(c_edges, m)))
    return sums / counts, bh, bw


class Heat:
    """A matrix or vector view: plain as before without colour; with colour, a heatmap."""

    def __init__(self, plain, tensor: Any, title: str, labels: tuple[str | None, str], summarised: bool):
        self.plain = plain
        self.tensor = tensor
        self.title = title
        self.labels = labels
        self.summarised = summarised

    def __rich_console__(self, console, options):
        yield from self._parts(console, options)

    def __rich_measure__(self, console, options):
        from rich.console import Group
        from rich.measure import Measurement

        return Measurement.get(console, options, Group(*self._parts(console, options)))

    def _parts(self, console, options) -> list:
        if not coloured(console) or self.tensor is None:
            return [self.plain]
        array = np.asarray(self.tensor)
        if array.size == 0:
            return [self.plain]
        return list(self._heat(array, options))

    def _heat(self, array, options):
        if array.ndim == 1:
            array = array.reshape(1, -1)
            vector = True
        else:
            vector = False
        low, high = limits(array)
        if not self.summarised:
            scale = symmetric(low, high)
            yield from self._cells(array, scale, vector)
            yield legend(low, high, scale)
        else:
            yield from self._blocks(array, low, high, options.max_width)

    def _cells(self, array, scale, vector: bool):
        """The plain table again, every number on its colour."""
        from rich.console import Group

        from linctl.render.cells import labelled_grid, shape, text

        row_name, col_name = self.labels
        labelled = not vector and row_name is not None

        def cell(value: str, r: int, c: int):
            return text(value, style_for(float(array[r, c]), *scale))

        grid = labelled_grid(array, row_name if labelled else None, col_name, cell)
        yield Group(text(f"{self.title}  shape {shape(self.tensor)}", "bold"), grid)

    def _blocks(self, array, low: float, high: float, width: int):
        """The whole matrix, downsampled: each character is two blocks (upper and lower half)."""
        from rich.text import Text

        from linctl.render.cells import fmt, shape, text

        m = array.shape[1]
        cols = max(8, min(m, width - 12))
        means, bh, bw = block_means(array, BLOCK_ROWS, cols)
        # coloured on the means' own range: averaging pulls them towards 0, and the matrix's ends would wash them out
        mean_low, mean_high = limits(means)
        scale = symmetric(mean_low, mean_high)
        what = "cell" if bh == bw == 1 else f"block of {bh}×{bw} cells (its mean)"
        yield text(f"{self.title}  shape {shape(self.tensor)}", "bold")
        yield text(f"whole, as a heatmap: each square one {what}")
        for top in range(0, means.shape[0], 2):
            line = Text("row " + str(top * bh).rjust(6) + " ")
            for c in range(means.shape[1]):
                upper = style_for(float(means[top, c]), *scale)
                if top + 1 < means.shape[0]:
                    lower = style_for(float(means[top + 1, c]), *scale)
                    line.append("▀", style=f"{upper.bgcolor.name} on {lower.bgcolor.name}")
                else:
                    line.append("▀", style=f"{upper.bgcolor.name}")
            yield line
        if bh == bw == 1:
            yield legend(low, high, scale)
            return
        key = legend(mean_low, mean_high, scale, what="block means ")
        key.append(f"   whole matrix: min {fmt(low)} max {fmt(high)}")
        yield key
