"""`train` on several processes: the plain torch loop of optim/loop.py with each rank's part of the samples
(DistributedSampler) and the network in DistributedDataParallel. Every rank steps the same parameters with the
same all-reduced gradient; rank 0 alone reports and saves."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linctl.model import metrics, registry
from linctl.model.network import Network
from linctl.optim.loop import (
    MAX_STEPS,
    finish,
    readings,
    result_of,
    run_epoch,
    schedule,
    stepper,
)
from linctl.optim.records import LossLog, TrainResult
from linctl.optim.settings import Plan
from linctl.optim.torch_step import build
from linctl.parallel import shard
from linctl.parallel.world import World, collective, summed
from linctl.tensors import copied

# Ctrl-C is agreed on by all ranks every this many steps (one small all-reduce), and after each epoch
AGREE_EVERY = 16


@dataclass(frozen=True)
class Schedule:
    steps: int | None
    epochs: int | None
    batch_size: int | None
    shuffle: bool
    seed: int | None  # DistributedSampler's (None: the file's order, streamed)


@dataclass(frozen=True)
class Job:
    """What a rank trains with: the loss, each layer's activation and the schedule (the same on every rank), and
    this rank's progress callback, stop request and validation watch (rank 0's alone report)."""

    loss: str
    activations: list[str]
    run: Schedule
    progress: Callable | None = None
    should_stop: Callable[[], bool] = lambda: False
    watch: Any = None


class Agreement:
    """Stopping decided together: a rank's Ctrl-C, or rank 0's early stop, stops every rank after the same step."""

    def __init__(self, world: World, requested: Callable[[], bool]):
        self.world, self.requested, self.calls = world, requested, 0

    def _agreed(self, *flags: bool) -> list[bool]:
        import torch

        tensor = torch.tensor([float(f) for f in flags])
        return [bool(v) for v in summed(self.world, tensor, op="max").tolist()]

    def every_step(self) -> bool:
        self.calls += 1
        if not self.world.joined:
            return self.requested()
        return self.calls % AGREE_EVERY == 0 and self._agreed(self.requested())[0]

    def after_epoch(self, watch) -> tuple[bool, bool]:
        """(interrupted, stop early): after the epoch's metric, before the next epoch begins."""
        early = watch.after_epoch() if watch is not None else False
        interrupted, early = self._agreed(self.requested(), early)
        return interrupted, early


@dataclass
class Ran:
    """What a rank's loop leaves behind, for the result."""

    losses: LossLog
    per_epoch: list[float | None]
    epochs: int
    planned: int
    interrupted: bool
    started: float
    before: list
    optimizer: Any


@dataclass
class Passes:
    """Where a rank's batches come from: `batches(epoch)` for each pass (epochs from 0), `total` steps planned
    (MAX_STEPS while unknown), at most `epochs` passes (None: until `total`); `settle(steps)` turns the first
    pass's steps into the total (a streamed file's length is known once read)."""

    batches: Callable[[int], Any]
    total: int
    epochs: int | None = None
    settle: Callable[[int], int] | None = None


def rank_loop(world: World, net: Network, plan: Plan, job: Job, passes: Passes) -> Ran:
    """The plain loop of optim/loop.py on this rank's batches, its forward in DistributedDataParallel; Ctrl-C,
    early stopping and each epoch's metric agreed on by all ranks."""
    loss, activations, progress, watch = job.loss, job.activations, job.progress, job.watch
    before = [(copied(m.weight), copied(m.bias)) for m in net.linears]
    model = shard.wrapped(net, activations, world)
    optimizer = build(net, plan, net.data.get("optimizer"))
    tally = metrics.Tally(metrics.metric_of(loss))
    one_step = stepper(net, optimizer, loss, activations, tally, forward=model)
    agreement = Agreement(world, job.should_stop)
    shown = progress and (lambda done, planned, value: progress(done, None if planned == MAX_STEPS else planned, value))
    losses, per_epoch, total = LossLog(), [], passes.total
    epoch, interrupted, started = 0, False, time.perf_counter()
    while len(losses) < total and not interrupted and (passes.epochs is None or epoch < passes.epochs):
        cut = run_epoch(passes.batches(epoch), one_step, losses, total, shown, agreement.every_step)
        epoch += 1
        if epoch == 1 and passes.settle is not None:
            total = passes.settle(len(losses))
        per_epoch.append(tally.close(reduce=lambda v: summed(world, v)))
        asked, early = agreement.after_epoch(watch)
        interrupted = cut or (asked and len(losses) < total)
        if early:
            break
    return Ran(losses, per_epoch, epoch, total, interrupted, started, before, optimizer)


def finished(world: World, net, plan, ran: Ran, job: Job, late, **figures):
    """After the loop, on every rank: the mean loss of each step over the ranks; then, on rank 0 alone, the saved
    optimizer state and step count, and the result (None on the other ranks). `late()`: the figures read after
    the best epoch's weights are back."""
    mean_losses = summed(world, ran.losses.stacked()) / world.size if ran.losses else None
    seconds = time.perf_counter() - ran.started
    if not world.leader:
        return None
    kept = finish(net, plan, ran.optimizer, len(ran.losses), job.watch)
    figures.update(late())
    return result_of(
        net, plan, mean_losses, ran.before, job.loss, job.activations, seconds, kept, epochs=ran.epochs,
        planned_steps=ran.planned, interrupted=ran.interrupted, nproc=world.size, sampler_seed=job.run.seed, **figures,
    )  # fmt: skip


def train_rank(world: World, net: Network, plan: Plan, x, t, job: Job) -> TrainResult | None:
    """This rank's part of the run over samples in memory; the result on rank 0 (None on the others)."""
    loss, activations, run = job.loss, job.activations, job.run
    samples = x.shape[0]
    order = shard.Order(samples, world, run.shuffle, run.seed or 0)
    per_rank, _per_epoch, total = schedule(
        order.shard_size, shard.rank_batch(run.batch_size, samples, world), run.steps, run.epochs
    )
    x, t = x.to(device=net.device, dtype=net.dtype), t.to(device=net.device, dtype=net.dtype)
    t = registry.loss(loss).torch_target(t)
    passes = Passes(batches=lambda epoch: shard.batches(x, t, order.epoch(epoch), per_rank), total=total)
    with collective(world, "a training step"):
        ran = rank_loop(world, net, plan, job, passes)
        late = lambda: readings(net, x, t, loss, activations, ran.per_epoch, job.watch)  # noqa: E731
        return finished(world, net, plan, ran, job, late, batch_size=per_rank * world.size,
                        samples=samples, shuffle=run.shuffle, padded=order.padded)  # fmt: skip


def stream_rank(world: World, net: Network, plan: Plan, source, job: Job) -> TrainResult | None:
    """train --stream on this rank: each epoch reads the file again, this rank's rows only."""
    from linctl.parallel import stream

    loss, run, watch = job.loss, job.run, job.watch

    assert run.batch_size is not None  # train refuses --stream without --batch-size
    per_rank = shard.split_batch(run.batch_size, world)
    seen: dict = {}
    epochs = run.epochs if run.epochs is not None else (None if run.steps is not None else 1)
    passes = Passes(
        batches=lambda epoch: stream.batches(source, world.rank, world.size, per_rank, net, loss, seen),
        total=run.steps if run.steps is not None else MAX_STEPS,
        epochs=epochs,
        settle=(lambda steps: steps * epochs) if run.steps is None and epochs is not None else None,
    )
    with collective(world, "a training step"):
        ran = rank_loop(world, net, plan, job, passes)

        def late() -> dict:  # no confusion matrix: it would need another pass over the file
            figures = {"metric": metrics.metric_of(loss), "metrics": ran.per_epoch, "classes": net.data.get("classes")}
            if watch is None:
                return figures
            return {**figures, "val_losses": watch.losses, "val_metrics": watch.metrics, "best_epoch": watch.best_epoch}

        return finished(world, net, plan, ran, job, late, batch_size=per_rank * world.size,
                        samples=int(seen.get("samples", 0)), shuffle=False, padded=int(seen.get("padded", 0)),
                        streamed=True)  # fmt: skip
