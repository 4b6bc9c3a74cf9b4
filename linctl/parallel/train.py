"""`train` on several processes: the plain torch loop of optim/loop.py with each rank's part of the samples
(DistributedSampler) and the network in DistributedDataParallel. Every rank steps the same parameters with the
same all-reduced gradient; rank 0 alone reports and saves."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from linctl.model import metrics, registry
from linctl.model.network import Network
from linctl.model.samples import loss_notes
from linctl.optim.loop import (
    MAX_STEPS,
    LossLog,
    TrainResult,
    finish,
    moved_layers,
    readings,
    run_epoch,
    schedule,
    stepper,
)
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
    seed: int


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
    epochs: int
    planned: int
    batch_size: int
    samples: int
    interrupted: bool
    started: float
    before: list


def finished(
    world: World, net, plan, optimizer, ran: Ran, loss: str, activations, run: Schedule, watch, late, **figures
):
    """After the loop, on every rank: the mean loss of each step over the ranks; then, on rank 0 alone, the saved
    optimizer state and step count, and the result (None on the other ranks)."""
    mean_losses = summed(world, ran.losses.stacked()) / world.size if ran.losses else None
    seconds = time.perf_counter() - ran.started
    if not world.leader:
        return None
    kept = finish(net, plan, optimizer, len(ran.losses), watch)
    if late is not None:
        figures.update(late())
    return TrainResult(
        steps=len(ran.losses),
        epochs=ran.epochs,
        planned_steps=ran.planned,
        batch_size=ran.batch_size,
        samples=ran.samples,
        shuffle=figures.pop("shuffle", run.shuffle),
        losses=mean_losses.cpu().tolist() if mean_losses is not None else [],
        layers=moved_layers(net, ran.before, activations),
        step=net.data["step"],
        seconds=seconds,
        optimizer=plan.name,
        settings=dict(plan.settings),
        loss_name=loss,
        activations=list(activations),
        interrupted=ran.interrupted,
        notes=list(plan.notes) + loss_notes(loss, activations[-1]) + ([kept] if kept else []),
        nproc=world.size,
        sampler_seed=run.seed,
        **figures,
    )


def train_rank(
    world: World,
    net: Network,
    plan: Plan,
    x,
    t,
    *,
    loss: str,
    activations: list[str],
    run: Schedule,
    progress=None,
    should_stop: Callable[[], bool] = lambda: False,
    watch=None,
) -> TrainResult | None:
    """This rank's part of the run; the result on rank 0 (None on the others)."""
    with collective(world, "a training step"):
        return _train_rank(world, net, plan, x, t, loss, activations, run, progress, should_stop, watch)


def _train_rank(world, net, plan, x, t, loss, activations, run, progress, should_stop, watch) -> TrainResult | None:

    samples = x.shape[0]
    order = shard.Order(samples, world, run.shuffle, run.seed)
    per_rank = shard.rank_batch(run.batch_size, samples, world)
    per_rank, _per_epoch, total = schedule(order.shard_size, per_rank, run.steps, run.epochs)
    x, t = x.to(device=net.device, dtype=net.dtype), t.to(device=net.device, dtype=net.dtype)
    t = registry.loss(loss).torch_target(t)
    before = [(copied(m.weight), copied(m.bias)) for m in net.linears]
    model = shard.wrapped(net, activations, world)
    optimizer = build(net, plan, net.data.get("optimizer"))
    tally = metrics.Tally(metrics.metric_of(loss))
    one_step = stepper(net, optimizer, loss, activations, tally, forward=model)
    agreement = Agreement(world, should_stop)
    losses = LossLog()
    per_epoch: list[float | None] = []
    epoch, interrupted, started = 0, False, time.perf_counter()
    while len(losses) < total and not interrupted:
        indices = order.epoch(epoch)
        epoch += 1
        cut = run_epoch(shard.batches(x, t, indices, per_rank), one_step, losses, total, progress, agreement.every_step)
        per_epoch.append(tally.close(reduce=lambda v: summed(world, v)))
        asked, early = agreement.after_epoch(watch)
        interrupted = cut or (asked and len(losses) < total)
        if early:
            break
    run_ = Ran(losses, epoch, total, per_rank * world.size, samples, interrupted, started, before)
    late = lambda: readings(net, x, t, loss, activations, per_epoch, watch)  # noqa: E731  # after the best weights are back
    return finished(world, net, plan, optimizer, run_, loss, activations, run, watch, late, padded=order.padded)


def stream_rank(
    world: World,
    net: Network,
    plan: Plan,
    source,
    *,
    loss: str,
    activations: list[str],
    run: Schedule,
    progress=None,
    should_stop: Callable[[], bool] = lambda: False,
    watch=None,
) -> TrainResult | None:
    """train --stream on this rank: each epoch reads the file again, this rank's rows only."""
    with collective(world, "a training step"):
        return _stream_rank(world, net, plan, source, loss, activations, run, progress, should_stop, watch)


def _stream_rank(world, net, plan, source, loss, activations, run, progress, should_stop, watch):

    from linctl.parallel import stream

    per_rank = shard.rank_batch(run.batch_size, MAX_STEPS, world)
    before = [(copied(m.weight), copied(m.bias)) for m in net.linears]
    model = shard.wrapped(net, activations, world)
    optimizer = build(net, plan, net.data.get("optimizer"))
    tally = metrics.Tally(metrics.metric_of(loss))
    one_step = stepper(net, optimizer, loss, activations, tally, forward=model)
    agreement = Agreement(world, should_stop)
    epochs = run.epochs if run.epochs is not None else (None if run.steps is not None else 1)
    total = run.steps if run.steps is not None else MAX_STEPS
    shown = progress and (lambda done, planned, value: progress(done, None if planned == MAX_STEPS else planned, value))
    losses = LossLog()
    per_epoch: list[float | None] = []
    seen: dict = {}
    epoch, interrupted, started = 0, False, time.perf_counter()
    while len(losses) < total and not interrupted and (epochs is None or epoch < epochs):
        epoch += 1
        epoch_batches = stream.batches(source, world.rank, world.size, per_rank, net, loss, seen)
        cut = run_epoch(epoch_batches, one_step, losses, total, shown, agreement.every_step)
        if epoch == 1 and run.steps is None and epochs is not None:
            total = len(losses) * epochs
        per_epoch.append(tally.close(reduce=lambda v: summed(world, v)))
        asked, early = agreement.after_epoch(watch)
        interrupted = cut or (asked and len(losses) < total)
        if early:
            break
    run_ = Ran(losses, epoch, total, per_rank * world.size, int(seen.get("samples", 0)), interrupted, started, before)
    held = {"val_losses": watch.losses, "val_metrics": watch.metrics, "best_epoch": watch.best_epoch} if watch else {}
    figures = {"metric": metrics.metric_of(loss), "metrics": per_epoch, "classes": net.data.get("classes"), **held}
    return finished(
        world, net, plan, optimizer, run_, loss, activations, run, watch, None,
        shuffle=False, padded=int(seen.get("padded", 0)), streamed=True, **figures,
    )  # fmt: skip
