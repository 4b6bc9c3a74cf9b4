"""The pieces every view is built from: numbers, tables, matrices, panels, JSON.

Render never computes with torch: it reads tensors the model handed over
(`tolist()`, slicing a few rows for a summary) and lays them out.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

SAVE_TO: dict[str, str | None] = {"svg": None, "html": None}  # set by --svg/--html
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


def plain(tensor) -> Any:
    """A tensor as an array for JSON (None stays None); orjson writes it fast."""
    if tensor is None:
        return None
    if not hasattr(tensor, "detach"):  # already a numpy array (read from safetensors without torch)
        return tensor
    return tensor.detach().cpu().contiguous().numpy()


# --------------------------------------------------------------------------
# output plumbing


def console(record: bool = False):
    from rich.console import Console

    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False, record=record)


def print_json(data: dict) -> None:
    """One JSON object on stdout. NaN and inf become null, as strict JSON has no such numbers."""
    import orjson

    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(text)
        buffer.flush()
    else:
        sys.stdout.write(text.decode())
        sys.stdout.flush()


def note(message: str) -> None:
    """A note for the user, on stderr so stdout stays clean."""
    print(message, file=sys.stderr)


def table(title: str | None = None, **kwargs):
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", pad_edge=False, **kwargs)


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


def summarised(tensor) -> bool:
    """Whether a tensor is too big to show whole (its view shows the corners)."""
    return any(n > SHOW_LIMIT for n in tensor.shape)


def shown_alike(a, b) -> bool:
    """Whether two summarised tensors of one shape show the very same numbers in their views."""
    if a is None or b is None or tuple(a.shape) != tuple(b.shape) or not summarised(a):
        return False
    a2, b2 = (a.reshape(1, -1), b.reshape(1, -1)) if a.ndim == 1 else (a, b)
    rows, cols = _kept(a2.shape[0]), _kept(a2.shape[1])
    return _values(a2, rows, cols) == _values(b2, rows, cols)


def _titled(title: str, tensor, table):
    from rich.console import Group

    return Group(text(f"{title}  shape {shape(tensor)}", "bold"), table)


def matrix(title: str, tensor, row_name: str | None = "out", col_name: str = "in", styles=None, heat: bool = True):
    """A labelled table for a 2-D tensor; rows and columns summarised when large or the screen narrow.

    With colour on (and `heat`), drawn as a heatmap: numbers on coloured cells, or a big matrix whole, downsampled.
    """
    cell = None if styles is None else (lambda value, r, c: _styled(value, styles, r, c))
    grid = labelled_grid(tensor, row_name, col_name, cell)
    view = _titled(title, tensor, grid)
    if styles is not None or not heat:
        return view
    from linctl.render.heatmap import Heat

    summarised = tensor.shape[0] > SHOW_LIMIT or tensor.shape[1] > SHOW_LIMIT
    return Heat(view, tensor, title, (row_name, col_name), summarised=summarised)


def _styled(cell: str, styles, r: int, c: int):
    from rich.text import Text

    style = styles(r, c)
    if not style:
        return cell + " "
    arrow = "↑" if style == "green" else "↓"  # readable without colour too
    return Text(cell + arrow, style=style)


def vector(title: str, tensor, name: str = "out", styles=None):
    """A 1-D tensor as one row, labelled by index; `styles` marks cells that went up or down (no heatmap then)."""
    cell = None if styles is None else (lambda value, r, c: _styled(value, styles, r, c))
    grid = labelled_grid(tensor.reshape(1, -1), None, name, cell)
    if styles is not None:
        return _titled(title, tensor, grid)
    from linctl.render.heatmap import Heat

    return Heat(_titled(title, tensor, grid), tensor, title, (name, name), summarised=tensor.shape[0] > SHOW_LIMIT)


def tensor_view(title: str, tensor, row_name: str = "out", col_name: str = "in"):
    from rich.text import Text

    if tensor is None:
        return Text(f"{title}: None")
    if tensor.ndim == 1:
        return vector(title, tensor, row_name)
    return matrix(title, tensor, row_name, col_name)


def kv(pairs: Iterable[tuple[str, str]]):
    grid = table(show_header=False)
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, value)
    return grid


def panel(title: str, *parts):
    from rich.console import Group
    from rich.panel import Panel

    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def text(message: str, style: Any = None):
    from rich.text import Text

    return Text(message, style=style or "")


def verdict(match: bool, exact: bool, worst: float, rtol: float, atol: float, what: str) -> str:
    if exact:
        return f"{what}: identical, bit for bit (largest |difference| 0)"
    if match:
        return (
            f"{what}: match (largest |difference| {worst:.3g}, within rtol={rtol:g}, atol={atol:g}); "
            "the two add up in a different order, so the last bits may differ"
        )
    return f"{what}: MISMATCH (largest |difference| {worst:.3g}, beyond rtol={rtol:g}, atol={atol:g})"


def heading(message: str):
    return text(message, "bold cyan")


def show(*parts) -> None:
    """Print a view; with --svg/--html, also save exactly what was printed."""
    svg, html = SAVE_TO.get("svg"), SAVE_TO.get("html")
    out = console(record=bool(svg or html))
    for part in parts:
        if part is not None:
            out.print(part)
    save(out, svg, html)


def save(out, svg: str | None, html: str | None) -> None:
    from linctl.errors import LinctlError

    title = "linctl"
    for kind, target in (("svg", svg), ("html", html)):
        if not target:
            continue
        try:
            if kind == "svg":
                out.save_svg(target, title=title, clear=False)
            else:
                out.save_html(target, clear=False)
        except OSError as exc:
            raise LinctlError(f"--{kind}: cannot write {target}: {exc.strerror or exc}") from None
        note(f"saved the view as {kind.upper()} in {target}")


def samples(title: str, tensor, col_name: str):
    """A (B, N) batch: rows are samples."""
    return matrix(title, tensor, row_name="sample", col_name=col_name, heat=False)


def setting_text(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_text(name: str, settings: dict) -> str:
    return f"{name}(" + ", ".join(f"{k}={setting_text(v)}" for k, v in settings.items()) + ")"


def check_line(match: bool, worst: float, what: str):
    if match:
        return text(f"{what}: match (largest |difference| {worst:.3g})", "green")
    return text(f"{what}: MISMATCH (largest |difference| {worst:.3g})", "bold red")


def _change_style(delta):
    values = delta.tolist()

    def style(r, c):
        v = values[r][c] if delta.ndim == 2 else values[c]
        return "green" if v > 0 else "red" if v < 0 else None

    return style


def changed_matrix(title: str, tensor, delta, row_name: str | None = "out"):
    """A matrix or vector whose cells that went up or down carry ↑/↓ (and colour)."""
    if delta is None or tensor.ndim not in (1, 2):
        return tensor_view(title, tensor)
    if tensor.ndim == 1:
        return vector(title, tensor, styles=_change_style(delta))
    return matrix(title, tensor, row_name=row_name, styles=_change_style(delta))


def summary_table(columns: tuple[str, ...], rows: Sequence[Sequence[str]]):
    """A torchinfo-style table: one row per layer."""
    grid = table(padding=(0, 1))
    for i, name in enumerate(columns):
        grid.add_column(name, justify="left" if i < 3 else "right", no_wrap=True)
    for row in rows:
        grid.add_row(*row)
    return grid


def rows_text(rows: list[list[float]]) -> str:
    """Rows as they would be typed on the command line: 1,1;0.5,2."""
    return ";".join(",".join(f"{v:g}" for v in row) for row in rows)


def emit(as_json: bool, data: Callable[[], dict], view: Callable[[], None], notes: Iterable[str] = ()) -> None:
    """Notes on stderr, then one JSON object or the rich view on stdout."""
    for message in notes:
        note(message)
    if as_json:
        print_json(data())
    else:
        view()
