"""What training runs return: one train-step's parts, a whole run's figures, and the loss of every step kept compactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.model.backward import BackwardResult
from linctl.optim.step import LayerMoved, StepResult


@dataclass
class TrainStepResult:
    backward: BackwardResult
    step: StepResult
    grads_cleared: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    steps: int
    epochs: int
    planned_steps: int
    batch_size: int
    samples: int
    shuffle: bool
    losses: list[float]
    layers: list[LayerMoved]  # weight_grad: from the last step
    step: int
    seconds: float
    optimizer: str
    settings: dict
    loss_name: str
    activations: list[str]
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    metric: str = "r2"  # accuracy or r2, per epoch over the batch outputs of its steps
    metrics: list[float | None] = field(default_factory=list)
    confusion: list[list[int]] | None = None  # rows the true class, columns the predicted; after the last step
    classes: list[str] | None = None  # the class names, where a label column gave them
    val_losses: list[float] = field(default_factory=list)  # per epoch, on the held-out samples
    val_metrics: list[float | None] = field(default_factory=list)
    best_epoch: int | None = None  # lowest validation loss (its weights kept with --patience)
    nproc: int = 1  # processes that shared each step (data parallel: --nproc or torchrun)
    sampler_seed: int | None = None  # DistributedSampler's seed, in a data-parallel run
    padded: int = 0  # samples DistributedSampler repeated to even the ranks' shares
    streamed: bool = False  # --stream: the data file read in chunks, each rank its rows

    @property
    def loss_first(self) -> float | None:
        return self.losses[0] if self.losses else None

    @property
    def loss_last(self) -> float | None:
        return self.losses[-1] if self.losses else None


class LossLog:
    """The loss of each step, as the steps return it (a tensor, not synced), kept in a few tensors of many steps: a list of
    one small tensor per step costs kilobytes each, which over a long run grows without bound."""

    CHUNK = 64

    def __init__(self) -> None:
        self.done: list[Any] = []
        self.open: list[Any] = []
        self.count = 0

    def append(self, value) -> None:
        import torch

        self.open.append(value)
        self.count += 1
        if len(self.open) >= self.CHUNK:
            self.done.append(torch.stack(self.open))
            self.open = []
            if len(self.done) >= self.CHUNK:  # the chunks as one tensor: a few tensors, whatever the length
                self.done = [torch.cat(self.done)]

    def __len__(self) -> int:
        return self.count

    def last(self):
        return self.open[-1] if self.open else self.done[-1][-1]

    def stacked(self):
        """Every step's loss in one tensor (the same values torch.stack of them all gives)."""
        import torch

        return torch.cat([*self.done, torch.stack(self.open)]) if self.open else torch.cat(self.done)
