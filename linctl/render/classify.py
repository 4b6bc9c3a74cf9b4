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
