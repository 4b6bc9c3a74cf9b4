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


# class colours, as TensorFlow Playground tells its classes apart; more classes wrap around
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip
WHITE = (255, 255, 255)


def class_style(k: int, strength: float = 1.0, mark: bool = False) -> str:
    """The cell's background: class k's colour, paler towards white as `strength` (0..1) falls."""
    r, g, b = (round(w + (c - w) * strength) for c, w in zip(PALETTE[k % len(PALETTE)], WHITE, strict=True))
    return f"bold black on rgb({r},{g},{b})" if mark else f"on rgb({r},{g},{b})"


def class_name(k: int, classes) -> str:
    return f"{k} = {classes[k]}" if classes and k < len(classes) else str(k)


class ClassPlane:
    """The plane coloured by predicted class (intensity by probability), the samples in their own class's
    colour; without colour, each cell is its class number and each sample a ● beside its true class."""

    def __init__(self, r):
        self.r = r

    def __rich_console__(self, console, options):
        from rich.text import Text

        from linctl.render.cells import fmt
        from linctl.render.heatmap import coloured

        r = self.r
        predicted = plain(r.predicted).reshape(r.rows, r.columns)
        confidence = plain(r.confidence).reshape(r.rows, r.columns)
        count = int(r.out_features)
        marks = self._marks()
        colour = coloured(console)
        xmin, xmax, ymin, ymax = r.bounds
        for j in range(r.rows):
            label = fmt(ymax) if j == 0 else fmt(ymin) if j == r.rows - 1 else ""
            line = Text(label.rjust(10) + " │")
            for i in range(r.columns):
                k, p = int(predicted[j, i]), float(confidence[j, i])
                strength = max(0.0, min(1.0, (p - 1 / count) / (1 - 1 / count))) * 0.8 + 0.2
                truth = marks.get((j, i))
                if colour:
                    cell = "● " if truth is not None else "  "
                    style = class_style(k, strength)
                    if truth is not None:
                        r_, g, b = PALETTE[truth % len(PALETTE)]
                        style = f"bold rgb({r_},{g},{b}) on {style.removeprefix('on ')}"
                    line.append(cell, style=style)
                else:
                    line.append(f"●{truth}"[:2] if truth is not None else f"{k} ")
            yield line
        yield Text(" " * 11 + "└" + "─" * (2 * r.columns))
        left, right = fmt(xmin), fmt(xmax)
        yield Text(" " * 12 + left + right.rjust(2 * r.columns - len(left)))
        yield Text(" " * 12 + "x1 across, x2 up".center(2 * r.columns))
        key = Text("classes: ")
        for k in range(count):
            key.append(f" {class_name(k, r.classes)} ", style=class_style(k) if colour else None)
            key.append(" ")
        yield key
        if r.data_x is not None:
            yield Text("samples: ● in the colour of their true class (the cell's colour is the predicted one)")

    def _marks(self) -> dict[tuple[int, int], int]:
        r = self.r
        if r.data_x is None or r.data_classes is None:
            return {}
        xmin, xmax, ymin, ymax = r.bounds
        out: dict[tuple[int, int], int] = {}
        for (x1, x2), k in zip(plain(r.data_x).tolist(), plain(r.data_classes).tolist(), strict=True):
            if xmin <= x1 <= xmax and ymin <= x2 <= ymax:
                i = min(r.columns - 1, int((x1 - xmin) / (xmax - xmin) * r.columns))
                j = min(r.rows - 1, int((ymax - x2) / (ymax - ymin) * r.rows))
                out[(j, i)] = int(k)
        return out
