"""Rich views and JSON, built from result objects.

Render never computes with torch: it reads tensors the core handed over
(`tolist()`, slicing a few rows for a summary) and lays them out.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

EDGE = 3  # rows/columns shown at each end of a summarised tensor
SHOW_LIMIT = 10  # tensors with more rows or columns than this are summarised
WRITE_OUT_LIMIT = 8  # write each output out as w*x + b when IN and OUT*B are this small


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
    return "(" + ", ".join(str(n) for n in tensor.shape) + ("," if tensor.dim() == 1 else "") + ")"


def plain(tensor) -> Any:
    """A tensor as an array for JSON (None stays None); orjson writes it fast."""
    if tensor is None:
        return None
    return tensor.detach().cpu().contiguous().numpy()


# --------------------------------------------------------------------------
# output plumbing


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


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


def _table(title: str | None = None, **kwargs):
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


def matrix(title: str, tensor, row_name: str = "out", col_name: str = "in", styles=None):
    """A labelled table for a 2-D tensor; rows and columns summarised when large."""
    table = _table()
    rows, cols = _kept(tensor.shape[0]), _kept(tensor.shape[1])
    table.add_column("", style="bold")
    for c in cols:
        table.add_column("…" if c is None else f"{col_name}[{c}]", justify="right")
    for r, cells in zip(rows, _values(tensor, rows, cols), strict=True):
        label = "⋮" if r is None else f"{row_name}[{r}]"
        if styles is not None and r is not None:
            cells = [_styled(cell, styles, r, c) for cell, c in zip(cells, cols, strict=True)]
        table.add_row(label, *cells)
    return _titled(title, tensor, table)


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
    table = _table()
    cols = _kept(tensor.shape[0])
    kept = [c for c in cols if c is not None]
    values = iter(tensor[kept].tolist())
    cells = []
    for c in cols:
        table.add_column("…" if c is None else f"{name}[{c}]", justify="right")
        cells.append("…" if c is None else fmt(next(values)))
    table.add_row(*cells)
    return _titled(title, tensor, table)


def tensor_view(title: str, tensor, row_name: str = "out", col_name: str = "in"):
    from rich.text import Text

    if tensor is None:
        return Text(f"{title}: None")
    if tensor.dim() == 1:
        return vector(title, tensor, row_name)
    return matrix(title, tensor, row_name, col_name)


def kv(pairs: Iterable[tuple[str, str]]):
    table = _table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in pairs:
        table.add_row(key, value)
    return table


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
    out = console()
    for part in parts:
        if part is not None:
            out.print(part)


def samples(title: str, tensor, col_name: str):
    """A (B, N) batch: rows are samples."""
    return matrix(title, tensor, row_name="sample", col_name=col_name)


# --------------------------------------------------------------------------
# inspect


def inspect_json(d, path: str, backup: str | None = None) -> dict:
    return {
        "structure": d.structure,
        "in_features": d.in_features,
        "out_features": d.out_features,
        "bias_enabled": d.bias_enabled,
        "activation": d.activation,
        "dtype": d.dtype,
        "weight": plain(d.weight),
        "bias": plain(d.bias),
        "weight_grad": plain(d.weight_grad),
        "bias_grad": plain(d.bias_grad),
        "requires_grad": d.requires_grad,
        "parameters": d.parameters,
        "init_bound": d.init_bound,
        "weight_min": d.weight_min,
        "weight_max": d.weight_max,
        "optimizer": d.optimizer,
        "step": d.step,
        "state": path,
        "backup": backup,
    }


def inspect_view(d, path: str) -> None:
    facts = [
        ("structure", d.structure),
        ("activation", d.activation + ("" if d.activation == "none" else "  (applied after the linear map)")),
        ("dtype", d.dtype),
        ("requires_grad", f"weight {d.requires_grad}" + (f", bias {d.requires_grad}" if d.bias_enabled else "")),
        (
            "parameters",
            f"{d.parameters:,}  (weight {d.out_features}×{d.in_features}"
            + (f" + bias {d.out_features})" if d.bias_enabled else ")"),
        ),
        ("init bound", f"±{fmt(d.init_bound)}  (torch's ±1/sqrt(in_features) = ±1/sqrt({d.in_features}))"),
        ("weight range", f"min {fmt(d.weight_min)}  max {fmt(d.weight_max)}"),
    ]
    if d.bias_enabled:
        facts.append(("bias range", f"min {fmt(d.bias_min)}  max {fmt(d.bias_max)}"))
    opt = d.optimizer.get("name")
    facts += [
        ("step", str(d.step)),
        (
            "optimizer",
            "none yet"
            if not opt
            else f"{opt} " + ", ".join(f"{k}={_setting(v)}" for k, v in d.optimizer["settings"].items()),
        ),
        ("state", path),
    ]
    parts = [
        heading(d.structure),
        kv(facts),
        matrix("weight (rows = output neurons, columns = inputs)", d.weight),
        vector("bias", d.bias) if d.bias is not None else text("bias: None (built with --no-bias)"),
        tensor_view("weight.grad", d.weight_grad)
        if d.weight_grad is not None
        else text("weight.grad: None  (no backward yet)"),
    ]
    if d.bias_enabled:
        parts.append(
            tensor_view("bias.grad", d.bias_grad)
            if d.bias_grad is not None
            else text("bias.grad: None  (no backward yet)")
        )
    show(*parts)


def _setting(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------
# forward


def forward_json(r) -> dict:
    trap = None
    if r.trap is not None:
        trap = {
            "kind": r.trap.kind,
            "shape": list(r.trap.shape) if r.trap.shape else None,
            "values": plain(r.trap.values),
            "message": r.trap.message,
        }
    return {
        "x": plain(r.x),
        "linear": plain(r.linear),
        "output": plain(r.output),
        "manual": plain(r.manual),
        "max_abs_diff": r.max_abs_diff,
        "match": r.match,
        "exact": r.exact,
        "grad_fn": r.grad_fn,
        "output_grad_fn": r.output_grad_fn,
        "activation": r.activation,
        "dtype": r.dtype,
        "device": r.device,
        "bias_trap": trap,
        "structure": r.structure,
    }


def write_out(r) -> list[str]:
    """Each output as w·x + b with the real numbers, for small layers."""
    batch, n_in = r.x.shape
    n_out = r.linear.shape[1]
    if n_in > WRITE_OUT_LIMIT or n_out * batch > WRITE_OUT_LIMIT:
        return []
    weight, x, y = r.weight.tolist(), r.x.tolist(), r.linear.tolist()
    bias = r.bias.tolist() if r.bias is not None else None
    out_rows = r.output.tolist()
    lines = []
    for b in range(batch):
        for j in range(n_out):
            name = f"y[{j}]" if batch == 1 else f"y[{b},{j}]"
            terms = _signed(
                [f"{fmt(w)}*{_factor(v)}" for w, v in zip(weight[j], x[b], strict=True)]
                + ([fmt(bias[j])] if bias is not None else [])
            )
            line = f"{name} = {terms} = {fmt(y[b][j])}"
            if r.activation != "none":
                line += f"   {r.activation}({fmt(y[b][j])}) = {fmt(out_rows[b][j])}"
            lines.append(line)
    return lines


def _factor(value: float) -> str:
    text = fmt_input(value)
    return f"({text})" if text.startswith("-") else text


def _signed(terms: list[str]) -> str:
    """'a + b' with '- 0.4' for negative terms after the first."""
    out = terms[0]
    for term in terms[1:]:
        out += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
    return out


def trap_lines(r) -> list:
    t = r.trap
    if t is None:
        return []
    n_out, batch = r.manual.shape
    head = f"the bias trap: torch.mm(W, x.t()) + b, without .view({n_out}, 1)"
    if t.kind == "error":
        why = f"b has shape ({n_out},), which lines up with the last dimension (the {batch} samples), not with the {n_out} outputs: {t.message}"
        return [heading(head), text(why)]
    if t.kind == "shape":
        why = (
            f"gives shape {tuple(t.shape)} instead of ({n_out}, {batch}): b of shape ({n_out},) is broadcast "
            f"along the last dimension, so column k gets b[k] added to every output: wrong numbers"
        )
    else:
        why = (
            f"gives the right shape {tuple(t.shape)} but wrong numbers: b of shape ({n_out},) is added along the "
            f"samples, so sample k gets b[k] on every output instead of b[j] on output j"
        )
    parts = [heading(head), text(why)]
    if t.values is not None:
        parts.append(matrix("torch.mm(W, x.t()) + b  (wrong)", t.values, row_name="row", col_name="col"))
    return parts


def forward_view(r) -> None:
    n_out, _batch = r.manual.shape
    parts = [
        heading(f"{r.structure}   activation {r.activation}   {r.dtype} on {r.device}"),
        samples("x", r.x, "in"),
        samples(f"net(x)   grad_fn=<{r.grad_fn}>", r.linear, "out"),
    ]
    if r.activation != "none":
        parts.append(samples(f"{r.activation}(net(x))   grad_fn=<{r.output_grad_fn}>", r.output, "out"))
    by_hand = f"torch.mm(W, x.t()) + b.view({n_out}, 1)" if r.bias is not None else "torch.mm(W, x.t())"
    parts.append(matrix(f"by hand: {by_hand}  (rows = outputs, columns = samples)", r.manual, "out", "sample"))
    parts.append(
        text(
            verdict(r.match, r.exact, r.max_abs_diff, r.rtol, r.atol, "net(x) vs by hand (transposed)"),
            "green" if r.match else "bold red",
        )
    )
    parts += trap_lines(r)
    lines = write_out(r)
    if lines:
        parts.append(heading("each output written out (w·x + b)"))
        parts += [text(line) for line in lines]
    parts.append(text("the weights did not change (forward only)"))
    show(*parts)


def rows_text(rows: list[list[float]]) -> str:
    """Rows as they would be typed on the command line: 1,1;0.5,2."""
    return ";".join(",".join(f"{v:g}" for v in row) for row in rows)
