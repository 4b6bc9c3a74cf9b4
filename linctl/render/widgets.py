"""The pieces every view is built from: numbers, tables, matrices, panels, JSON.

Render never computes with torch: it reads tensors the model handed over
(`tolist()`, slicing a few rows for a summary) and lays them out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence

from linctl.render.cells import SHOW_LIMIT, _kept, _values, labelled_grid, shape, table, text

SAVE_TO: dict[str, str | None] = {"svg": None, "html": None}  # set by --svg/--html
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
    grid.add_column(overflow="fold")  # a long value (a state file's path) wraps, never cut short with "…"
    for key, value in pairs:
        grid.add_row(key, value)
    return grid


def panel(title: str, *parts):
    from rich.console import Group
    from rich.panel import Panel

    return Panel(Group(*parts), title=title, title_align="left", expand=False)


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
