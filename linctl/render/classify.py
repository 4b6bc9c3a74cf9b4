"""What a classifier shows: outputs as CSV rows, classes predicted, their probabilities."""

from __future__ import annotations

from linctl.tensors import plain


def forward_csv(r) -> str:
    """The outputs, one CSV row per sample, each number written so that it reads back as the same value."""
    import numpy as np

    values = np.asarray(plain(r.output))
    lines = [",".join(f"out{j}" for j in range(values.shape[1]))]
    lines += [",".join(str(v) for v in row) for row in values]
    return "\n".join(lines) + "\n"


def classified_json(c) -> dict:
    """forward's classifier keys: class names (when known), the predicted class per sample, the probabilities."""
    return {
        "classes": c.classes,
        "predicted": plain(c.predicted),
        "probabilities": plain(c.probabilities),
        "probabilities_from_softmax": c.from_softmax,
    }


def classified_parts(c) -> list:
    """Each sample's predicted class (its name, where known) and its probability."""
    from rich.table import Table

    from linctl.render.cells import fmt
    from linctl.render.widgets import heading, text

    probabilities = plain(c.probabilities)
    table = Table(box=None)
    for column in ("sample", "predicted class", "probability"):
        table.add_column(column, justify="right")
    for b, k in enumerate(plain(c.predicted).tolist()):
        name = f"{k} ({c.classes[k]})" if c.classes and k < len(c.classes) else str(k)
        p = probabilities[b, k] if probabilities.shape[1] > 1 else probabilities[b, 0]
        table.add_row(str(b), name, fmt(float(p)))
    parts = [
        heading(
            "predicted class (argmax of the output)" if probabilities.shape[1] > 1 else "predicted class (output > 0.5)"
        ),
        table,
    ]
    if c.from_softmax:
        parts.append(text("probabilities: softmax of the output (the last activation is not softmax)"))
    return parts
