"""The cells every table is made of: numbers as the views print them, shapes, and grids that fit the width.

Nothing here imports torch or draws heatmaps; widgets and heatmaps both build on it.
"""

from __future__ import annotations

import math
from typing import Any

EDGE = 3  # rows/columns shown at each end of a summarised tensor
SHOW_LIMIT = 10  # tensors with more rows or columns than this are summarised


# --------------------------------------------------------------------------
# numbers


def fmt(value: float | None) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0.0000"
    if 1e-4 <= abs(value) < 1e6:
        return f"{value:.4f}"
    return f"{value:.4e}"


def fmt_input(value: float) -> str:
    """Inputs as the user typed them: 1.0, -0.5, 2e-05."""
    text = f"{value:.6g}"
    if "e" not in text and "." not in text and "n" not in text:
        text += ".0"
    return text


def shape(tensor) -> str:
    if tensor is None:
        return "None"
    return "(" + ", ".join(str(n) for n in tensor.shape) + ("," if tensor.ndim == 1 else "") + ")"


def _kept(n: int) -> list[int | None]:
    """Indices shown for a dimension of size n; None marks the gap."""
    if n <= SHOW_LIMIT:
        return list(range(n))
    return [*range(EDGE), None, *range(n - EDGE, n)]


def _values(tensor, rows: list[int | None], cols: list[int | None]) -> list[list[str]]:
    real_rows = [r for r in rows if r is not None]
    real_cols = [c for c in cols if c is not None]
    block = tensor[real_rows][:, real_cols].tolist() if real_rows and real_cols else []
    out = []
    it = iter(block)
    for r in rows:
        if r is None:
            out.append(["⋮" if c is not None else "⋱" for c in cols])
            continue
        values = iter(next(it))
        out.append(["…" if c is None else fmt(next(values)) for c in cols])
    return out


def fitting(widths: list[int], gap: int | None, room: int, fixed: int = 0) -> list[int | None]:
    """Which of the columns (their widths, the gap's place or None) fit in `room` characters.

    A table of simple-heavy box with no edge padding is as wide as its cells plus 3 a column, less 1
    (`fixed` is what the other columns take, the row labels). The columns kept are the first and last,
    as many as fit, with one gap (None) between; a gap already there stays where it was.
    """
    n = len(widths)
    order: list[int | None] = list(range(n))
    if gap is not None:
        order.insert(gap, None)

    def width(kept: list[int | None]) -> int:
        return fixed + sum(1 if i is None else widths[i] for i in kept) + 3 * len(kept) - 1

    if width(order) <= room or n <= 2:
        return order
    left_most, right_most = (n, n) if gap is None else (gap, n - gap)  # the columns on each side of a gap
    for shown in range(n - 1, 1, -1):
        left = min((shown + 1) // 2, left_most)
        right = shown - left
        if right > right_most:
            continue
        kept: list[int | None] = [*range(left), None, *range(n - right, n)]
        if width(kept) <= room:
            return kept
    return [0, None, n - 1]


class Fitted:
    """A labelled table of a tensor's values whose columns are chosen when it is drawn:
    as many of the first and last as the width holds, a gap (…) between."""

    def __init__(self, col_labels: list[str], row_labels: list[str] | None, cells: list[list], gap: int | None):
        self.col_labels = col_labels  # the candidate columns, without the gap
        self.row_labels = row_labels
        self.cells = cells  # rows of str or Text, one per candidate column
        self.gap = gap

    def build(self, room: int):
        from rich.cells import cell_len

        def size(cell) -> int:
            return cell.cell_len if hasattr(cell, "cell_len") else cell_len(cell)

        widths = [
            max([cell_len(label)] + [size(row[i]) for row in self.cells]) for i, label in enumerate(self.col_labels)
        ]
        fixed = 0
        if self.row_labels is not None:
            fixed = max([0] + [cell_len(label) for label in self.row_labels]) + 3
        kept = fitting(widths, self.gap, room, fixed)
        grid = table()
        if self.row_labels is not None:
            grid.add_column("", style="bold")
        for i in kept:
            grid.add_column("…" if i is None else self.col_labels[i], justify="right")
        for r, row in enumerate(self.cells):
            dotted = self.row_labels is not None and self.row_labels[r] == "⋮"
            filler = "⋱" if dotted else "…"
            shown = [filler if i is None else row[i] for i in kept]
            grid.add_row(*([] if self.row_labels is None else [self.row_labels[r]]), *shown)
        return grid

    def __rich_console__(self, console, options):
        yield self.build(options.max_width)

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.build(options.max_width))


def labelled_grid(tensor, row_name: str | None, col_name: str, cell=None) -> Fitted:
    """A 2-D tensor as a Fitted table; `cell(text, r, c)` may dress each number (style, arrow)."""
    rows, cols = _kept(tensor.shape[0]), _kept(tensor.shape[1])
    gap = cols.index(None) if None in cols else None
    values = _values(tensor, rows, cols)
    cells = []
    for r, row in zip(rows, values, strict=True):
        kept = [(v, c) for v, c in zip(row, cols, strict=True) if c is not None]
        if cell is not None and r is not None:
            cells.append([cell(v, r, c) for v, c in kept])
        else:
            cells.append([v for v, _ in kept])
    labels = None if row_name is None else ["⋮" if r is None else f"{row_name}[{r}]" for r in rows]
    return Fitted([f"{col_name}[{c}]" for c in cols if c is not None], labels, cells, gap)


def text(message: str, style: Any = None):
    from rich.text import Text

    return Text(message, style=style or "")


def table(title: str | None = None, **kwargs):
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", pad_edge=False, **kwargs)
