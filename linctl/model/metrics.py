"""What learners read beside the loss: the class a classifier predicts and its probability, accuracy (argmax for
several classes, the 0.5 threshold for a sigmoid output with bce) or R² for regression, and the confusion matrix.

Everything here is plain torch on detached tensors; torch is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linctl.model import registry

THRESHOLD = 0.5  # a sigmoid output above it predicts class 1


@dataclass
class Classified:
    """A classifier's reading of its output: predicted class per sample, the probabilities behind it."""

    predicted: Any  # (B,) int64
    probabilities: Any  # (B, C)
    from_softmax: bool  # the probabilities are softmax(output): the last activation is not softmax
    classes: list[str] | None


def is_classifier(activation: str, classes: list[str] | None) -> bool:
    """A network that ends in softmax/log_softmax, or that learnt class names from a label column."""
    return activation in ("softmax", "log_softmax") or bool(classes)


def classify(output, activation: str, classes: list[str] | None) -> Classified:
    """The probabilities as the last activation gives them (softmax: the output; log_softmax: its exp), else the
    softmax of the output (flagged); a single output is a sigmoid's probability of class 1."""
    import torch

    o = output.detach()
    if o.shape[1] == 1:
        return Classified((o[:, 0] > THRESHOLD).long(), o, False, classes)
    if activation == "softmax":
        probabilities, flag = o, False
    elif activation == "log_softmax":
        probabilities, flag = o.exp(), False
    else:
        probabilities, flag = torch.softmax(o, dim=1), True
    return Classified(o.argmax(dim=1), probabilities, flag, classes)


def metric_of(loss: str) -> str:
    return registry.loss(loss).metric


def true_classes(t, out_features: int):
    """The class each target names: its index column, the largest probability, or a 0/1 target above 0.5."""
    if t.ndim == 1:  # class indices already
        return t
    if out_features > 1 and t.shape[1] == 1:
        return t[:, 0].long()
    if t.shape[1] > 1:
        return t.argmax(dim=1)
    return (t[:, 0] > THRESHOLD).long()


def predicted_classes(o):
    return o.argmax(dim=1) if o.shape[1] > 1 else (o[:, 0] > THRESHOLD).long()


class Tally:
    """One epoch's metric over the batch outputs the steps computed (no extra forward): accuracy, or R² (the mean
    over the outputs of 1 − SSE/SST, in float64).

    Each batch's output is held as it is (detached, not copied) and the held ones are summed together once they
    reach HOLD values: the sums are a handful of torch operations, which taken at every step slowed a loop of
    small batches by a quarter. The sums stay on the device (no sync per step)."""

    HOLD = 1 << 16  # output values held before they are summed (a few hundred KB: memory stays bounded)

    def __init__(self, name: str):
        self.name = name
        self.held: list[tuple[Any, Any]] = []
        self.size = 0  # values in self.held's outputs
        self.sums: Any = None  # accuracy: the hits; R²: [SSE, Σt, Σt²] per output, float64
        self.count = 0  # samples summed into self.sums

    def add(self, o, t) -> None:
        self.held.append((o.detach(), t))
        self.size += o.numel()
        if self.size >= self.HOLD:
            self.flush()

    def flush(self) -> None:
        """The held batches added into the sums."""
        import torch

        if not self.held:
            return
        with torch.no_grad():
            o = torch.cat([pair[0] for pair in self.held])
            t = torch.cat([pair[1] for pair in self.held])
            if self.name == "accuracy":
                part = (predicted_classes(o) == true_classes(t, o.shape[1])).sum()
            else:
                o, t = o.double(), t.double()
                part = torch.stack([((o - t) ** 2).sum(dim=0), t.sum(dim=0), (t * t).sum(dim=0)])
        self.sums = part if self.sums is None else self.sums + part
        self.count += o.shape[0]
        self.held, self.size = [], 0

    def close(self, reduce=None) -> float | None:
        """The epoch's value, and a fresh tally for the next one. `reduce` sums a tensor over the processes of a
        data-parallel run (in place), so that every rank's batches count."""
        import torch

        self.flush()
        sums, count = self.sums, self.count
        self.sums, self.count = None, 0
        if self.name == "accuracy":
            hits = torch.zeros((), dtype=torch.int64) if sums is None else sums.to(torch.int64)
            counts = torch.stack([hits, torch.tensor(count, dtype=torch.int64, device=hits.device)])
            if reduce is not None:
                reduce(counts)
            return int(counts[0]) / int(counts[1]) if int(counts[1]) else None
        if sums is None:  # no step this epoch (on this rank: its share is nothing)
            return None
        n = torch.tensor(float(count), dtype=torch.float64, device=sums.device)
        if reduce is not None:
            reduce(sums)
            reduce(n)
        return r2_from(sums[0], sums[1], sums[2], n)


def r2_from(sse, total, squares, n) -> float:
    """1 − SSE/SST per output, averaged; SST = Σt² − (Σt)²/n. A constant target scores 1 when matched, else 0."""
    import torch

    sst = squares - total * total / n
    scores = torch.where(sst > 0, 1 - sse / torch.where(sst > 0, sst, 1), (sse == 0).double())
    return float(scores.mean())


def r2(o, t) -> float:
    """R² of outputs against targets, as the tally computes it over one batch."""
    tally = Tally("r2")
    tally.add(o, t)
    value = tally.close()
    assert value is not None
    return value


def confusion(o, t) -> list[list[int]]:
    """Rows the true class, columns the predicted one (a single sigmoid output: classes 0 and 1)."""
    import torch

    classes = max(o.shape[1], 2)
    true, predicted = true_classes(t, o.shape[1]), predicted_classes(o.detach())
    counts = torch.bincount(true * classes + predicted, minlength=classes * classes)
    return counts.reshape(classes, classes).tolist()
