"""View and JSON for forward: net(x) beside torch.mm(W, x.t()) + b.view(OUT, 1), layer by layer,
each output written out as w·x + b, and the bias-broadcast trap."""

from __future__ import annotations

from linctl.render.cells import fmt, fmt_input, text
from linctl.render.layers import Symbols, layer_entry, symbols, titled, value_of, with_layers
from linctl.render.widgets import heading, matrix, samples, show, verdict
from linctl.tensors import plain

WRITE_OUT_LIMIT = 8  # write each output out as w*x + b when IN and OUT*B are this small
LAYER_FORWARD_KEYS = (
    "weight",
    "bias",
    "linear",
    "output",
    "manual",
    "max_abs_diff",
    "match",
    "exact",
    "grad_fn",
    "output_grad_fn",
)
SINGLE_FORWARD_KEYS = ("linear", "manual", "grad_fn", "output_grad_fn", "activation")


def trap_json(trap) -> dict | None:
    if trap is None:
        return None
    return {
        "kind": trap.kind,
        "shape": list(trap.shape) if trap.shape else None,
        "values": plain(trap.values),
        "message": trap.message,
    }


def forward_json(r) -> dict:
    top = {
        "x": plain(r.x),
        "output": plain(r.output),
        "max_abs_diff": r.max_abs_diff,
        "match": r.match,
        "exact": r.exact,
        "dtype": r.dtype,
        "device": r.device,
        "bias_trap": trap_json(r.trap),
        "structure": r.structure,
    }
    if r.classified is not None:
        from linctl.render.classify import classified_json

        top.update(classified_json(r.classified))
    layers = [layer_entry(layer, LAYER_FORWARD_KEYS) for layer in r.layers]
    return with_layers(top, layers, SINGLE_FORWARD_KEYS)


def write_out(layer, symbol: str = "y") -> list[str]:
    """Each output as w·x + b with the real numbers, for small layers."""
    batch, n_in = layer.x.shape
    n_out = layer.linear.shape[1]
    if n_in > WRITE_OUT_LIMIT or n_out * batch > WRITE_OUT_LIMIT:
        return []
    weight, x, y = layer.param("weight").value.tolist(), layer.x.tolist(), layer.linear.tolist()
    bias = value_of(layer, "bias").tolist() if layer.param("bias") is not None else None
    out_rows = layer.output.tolist()
    lines = []
    for b in range(batch):
        for j in range(n_out):
            name = f"{symbol}[{j}]" if batch == 1 else f"{symbol}[{b},{j}]"
            terms = _signed(
                [f"{fmt(w)}*{_factor(v)}" for w, v in zip(weight[j], x[b], strict=True)]
                + ([fmt(bias[j])] if bias is not None else [])
            )
            line = f"{name} = {terms} = {fmt(y[b][j])}"
            if layer.activation != "none":
                line += f"   {layer.activation}({fmt(y[b][j])}) = {fmt(out_rows[b][j])}"
            lines.append(line)
    return lines


def _factor(value: float) -> str:
    text_ = fmt_input(value)
    return f"({text_})" if text_.startswith("-") else text_


def _signed(terms: list[str]) -> str:
    """'a + b' with '- 0.4' for negative terms after the first."""
    out = terms[0]
    for term in terms[1:]:
        out += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
    return out


def trap_lines(trap, layer) -> list:
    if trap is None:
        return []
    n_out, batch = layer.manual.shape
    head = f"the bias trap: torch.mm(W, x.t()) + b, without .view({n_out}, 1)"
    if trap.kind == "error":
        why = (
            f"b has shape ({n_out},), which lines up with the last dimension (the {batch} samples), "
            f"not with the {n_out} outputs: {trap.message}"
        )
        return [heading(head), text(why)]
    if trap.kind == "shape":
        why = (
            f"gives shape {tuple(trap.shape)} instead of ({n_out}, {batch}): b of shape ({n_out},) is broadcast "
            f"along the last dimension, so column k gets b[k] added to every output: wrong numbers"
        )
    else:
        why = (
            f"gives the right shape {tuple(trap.shape)} but wrong numbers: b of shape ({n_out},) is added along the "
            f"samples, so sample k gets b[k] on every output instead of b[j] on output j"
        )
    parts = [heading(head), text(why)]
    if trap.values is not None:
        parts.append(matrix("torch.mm(W, x.t()) + b  (wrong)", trap.values, row_name="row", col_name="col"))
    return parts


def _layer_forward_parts(r, layer, k: int, count: int) -> list:
    n_out = layer.manual.shape[0]
    names, has_bias = Symbols(k, count), layer.param("bias") is not None
    parts = titled(layer, count)
    if k == 0:
        parts.append(samples("x", layer.x, "in"))
    parts.append(samples(f"{names.linear_title(has_bias)}   grad_fn=<{layer.grad_fn}>", layer.linear, "out"))
    if layer.activation != "none":
        h_name = names.output_title(layer.activation)
        parts.append(samples(f"{h_name}   grad_fn=<{layer.output_grad_fn}>", layer.output, "out"))
    product = f"torch.mm({names.of('weight')}, {names.input}.t())"
    by_hand = product + (f" + {names.of('bias')}.view({n_out}, 1)" if has_bias else "")
    parts.append(matrix(f"by hand: {by_hand}  (rows = outputs, columns = samples)", layer.manual, "out", "sample"))
    what = f"{names.compared} vs by hand (transposed)"
    parts.append(
        text(
            verdict(layer.match, layer.exact, layer.max_abs_diff, r.rtol, r.atol, what),
            "green" if layer.match else "bold red",
        )
    )
    if k == 0:
        parts += trap_lines(r.trap, layer)
    lines = write_out(layer, names.linear)
    if lines:
        parts.append(heading("each output written out (w·x + b)"))
        parts += [text(line) for line in lines]
    return parts


def forward_view(r) -> None:
    count = len(r.layers)
    if count == 1:
        layer = r.layers[0]
        head = f"{r.structure}   activation {layer.activation}   {r.dtype} on {r.device}"
    else:
        head = f"{r.dtype} on {r.device}\n{r.structure}"
    parts = [heading(head)]
    if count > 1:
        parts.append(text(symbols(r.layers)))
    for k, layer in enumerate(r.layers):
        parts += _layer_forward_parts(r, layer, k, count)
    if count > 1:
        parts.append(samples("output = net(x)", r.output, "out"))
    if r.classified is not None:
        from linctl.render.classify import classified_parts

        parts += classified_parts(r.classified)
    parts.append(text("the weights did not change (forward only)"))
    show(*parts)
