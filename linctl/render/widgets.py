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

    return Console(highlight=False, soft_wrap=False, record=record)


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


def _titled(title: str, tensor, table):
    from rich.console import Group

    return Group(text(f"{title}  shape {shape(tensor)}", "bold"), table)


def matrix(title: str, tensor, row_name: str | None = "out", col_name: str = "in", styles=None, heat: bool = True):
    """A labelled table for a 2-D tensor; rows and columns summarised when large.

    With colour on (and `heat`), drawn as a heatmap: numbers on coloured cells, or a big matrix whole, downsampled.
    """
    grid = table()
    rows, cols = _kept(tensor.shape[0]), _kept(tensor.shape[1])
    if row_name is not None:  # None: no row labels (a matrix beside one that has them)
        grid.add_column("", style="bold")
    for c in cols:
        grid.add_column("…" if c is None else f"{col_name}[{c}]", justify="right")
    for r, cells in zip(rows, _values(tensor, rows, cols), strict=True):
        label = "⋮" if r is None else f"{row_name}[{r}]"
        if styles is not None and r is not None:
            cells = [_styled(cell, styles, r, c) for cell, c in zip(cells, cols, strict=True)]
        grid.add_row(*([] if row_name is None else [label]), *cells)
    view = _titled(title, tensor, grid)
    if styles is not None or not heat:
        return view
    from linctl.render.heatmap import Heat

    return Heat(view, tensor, title, (row_name, col_name), summarised=None in rows or None in cols)


def _styled(cell: str, styles, r: int, c: int | None) -> str:
    if c is None:
        return cell
    style = styles(r, c)
    if not style:
        return cell + " "
    arrow = "↑" if style == "green" else "↓"  # readable without colour too
    return f"[{style}]{cell}{arrow}[/]"


def vector(title: str, tensor, name: str = "out"):
    """A 1-D tensor as one row, labelled by index."""
    grid = table()
    cols = _kept(tensor.shape[0])
    kept = [c for c in cols if c is not None]
    values = iter(tensor[kept].tolist())
    cells = []
    for c in cols:
        grid.add_column("…" if c is None else f"{name}[{c}]", justify="right")
        cells.append("…" if c is None else fmt(next(values)))
    grid.add_row(*cells)
    from linctl.render.heatmap import Heat

    return Heat(_titled(title, tensor, grid), tensor, title, (name, name), summarised=None in cols)


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


def text(message: str, style: str | None = None):
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
    """A matrix whose cells that went up or down carry ↑/↓ (and colour)."""
    if delta is None or tensor.ndim != 2:
        return tensor_view(title, tensor)
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
