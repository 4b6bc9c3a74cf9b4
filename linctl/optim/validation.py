"""Held-out samples for `train`: the validation loss and metric after every epoch, and early stopping
(`--patience N`) that keeps the best epoch's weights.

The split (`--val-split F --seed S`) is torch.randperm(N, generator=torch.Generator().manual_seed(S)): its first
round(F·N) samples are held out, the rest train, each in its original order.
"""

from __future__ import annotations

from typing import Any

from linctl.errors import UsageError
from linctl.model import metrics


def split(x, t, fraction: float, seed: int):
    """(x_train, t_train, x_val, t_val): the held-out samples drawn by the seeded permutation."""
    import torch

    n = x.shape[0]
    held = round(fraction * n)
    if held < 1 or held >= n:
        raise UsageError(
            f"--val-split {fraction:g}: holds out {held} of {n} samples; it needs at least one on each side "
            "(a fraction between 0 and 1 that leaves samples to train on)"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:held].sort().values, order[held:].sort().values
    return x[train], t[train], x[val], t[val]


class Watch:
    """After each epoch: the loss and metric on the validation samples (one forward, no gradient), the best epoch
    so far (lowest validation loss) and its weights; stop once `patience` epochs brought no improvement."""

    def __init__(self, net, loss: str, activations: list[str], x, t, patience: int | None):
        self.net, self.loss, self.activations = net, loss, activations
        self.x, self.t = x.to(device=net.device, dtype=net.dtype), t.to(device=net.device, dtype=net.dtype)
        self.patience = patience
        self.losses: list[float] = []
        self.metrics: list[float | None] = []
        self.best_epoch: int | None = None
        self._best: float | None = None
        self._weights: list[Any] | None = None

    def after_epoch(self) -> bool:
        """Score this epoch on the held-out samples; True when training should stop (patience run out)."""
        import torch

        from linctl.model.backward import loss_value

        with torch.no_grad():
            o = self.net.output(self.x, self.activations)
            value = float(loss_value(self.loss, o, self.t))
            tally = metrics.Tally(metrics.metric_of(self.loss))
            tally.add(o, self.t)
            self.metrics.append(tally.close())
        self.losses.append(value)
        if self._best is None or value < self._best:
            self._best, self.best_epoch = value, len(self.losses)
            if self.patience is not None:
                self._weights = [p.detach().clone() for p in self.net.parameters()]
        assert self.best_epoch is not None
        return self.patience is not None and len(self.losses) - self.best_epoch >= self.patience

    def restore_best(self) -> str | None:
        """With --patience: the best epoch's weights back in the network, and a note saying so."""
        import torch

        if self._weights is None or self.best_epoch == len(self.losses):
            return None
        with torch.no_grad():
            for p, kept in zip(self.net.parameters(), self._weights, strict=True):
                p.copy_(kept)
        return (
            f"kept the weights of epoch {self.best_epoch} (validation loss {self._best:.6g}), the best of "
            f"{len(self.losses)}; the optimizer state is the last epoch's"
        )
