"""backward and train-step on several processes, as a lesson: which samples each rank takes, the gradient each
computes alone, the all-reduced mean that DistributedDataParallel leaves on every rank, and beside it the
gradient of one process over all the samples."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from linctl.model.backward import loss_value
from linctl.model.network import Network
from linctl.model.samples import check_output
from linctl.parallel import shard
from linctl.parallel.world import World, collective, gather
from linctl.tensors import cpu

Tensor = Any


@dataclass
class RankPart:
    rank: int
    samples: list[int]  # 0-based indices of the samples this rank took
    loss: float
    grads: dict[str, Tensor]  # its own gradient, before the all-reduce


@dataclass
class LessonResult:
    nproc: int
    samples: int
    padded: int  # samples repeated to even the shares
    loss_name: str
    activations: list[str]
    dtype: str
    ranks: list[RankPart]
    all_reduced: dict[str, Tensor]  # what backward() leaves in .grad on every rank
    same_on_every_rank: bool  # the all-reduced gradients of all ranks equal bit for bit
    full_batch: dict[str, Tensor]  # one process, every sample once
    full_loss: float
    largest_difference: float  # max |all-reduced − full batch| over every gradient entry
    loss: float  # the mean of the ranks' losses: the loss whose gradient the all-reduced one is
    grads: dict[str, Tensor | None] = field(default_factory=dict)  # the stored gradients afterwards
    notes: list[str] = field(default_factory=list)


@dataclass
class LessonStep:
    """train-step on several processes: the lesson, then optimizer.step() on the all-reduced gradient."""

    lesson: LessonResult
    step: Any  # optim.step.StepResult
    grads_cleared: bool
    notes: list[str] = field(default_factory=list)


def _grads(net: Network) -> dict[str, Tensor]:
    return {name: cpu(p.grad).clone() for name, p in net.named_params()}


def _clear(net: Network) -> None:
    for p in net.parameters():
        p.grad = None


def lesson_rank(world: World, net: Network, x, t, loss: str, activations: list[str], keep: bool) -> LessonResult | None:
    """This rank's backward on its share; every rank's parts gathered; the result on rank 0. `keep`: the stored
    gradients accumulate the all-reduced one (backward), else they are replaced by it (train-step)."""
    with collective(world, "the all-reduce of the gradients"):
        return _lesson_rank(world, net, x, t, loss, activations, keep)


def _lesson_rank(world, net, x, t, loss, activations, keep) -> LessonResult | None:
    import torch

    order = shard.Order(x.shape[0], world, shuffle=False, seed=0)
    idx = order.epoch(0)
    xb, tb = x[idx.to(x.device)], t[idx.to(t.device)]
    stored = {name: None if p.grad is None else p.grad.detach().clone() for name, p in net.named_params()}
    model = shard.wrapped(net, activations, world)
    _clear(net)
    own = model.no_sync() if world.joined else contextlib.nullcontext()
    with own:  # the rank's own gradient: DDP skips the all-reduce inside no_sync()
        out = model(xb)
        check_output(loss, activations[-1], out.detach())
        local_loss = loss_value(loss, out, tb)
        local_loss.backward()
    local = _grads(net)
    _clear(net)
    loss_value(loss, model(xb), tb).backward()  # the same again, now all-reduced by DDP
    reduced = _grads(net)
    for name, p in net.named_params():
        before = stored[name]
        if keep and before is not None:
            p.grad = before + p.grad
    parts = gather(world, (RankPart(world.rank, idx.tolist(), local_loss.item(), local), reduced))
    if not world.leader:
        return None
    full, full_loss = _full_batch(net, x, t, loss, activations)
    largest = max(float((reduced[n].double() - full[n].double()).abs().max()) for n in full)
    same = all(all(torch.equal(other[n], reduced[n]) for n in reduced) for _, other in parts)
    return LessonResult(
        nproc=world.size,
        samples=x.shape[0],
        padded=order.padded,
        loss_name=loss,
        activations=list(activations),
        dtype=net.dtype_name,
        ranks=[part for part, _ in parts],
        all_reduced=reduced,
        same_on_every_rank=same,
        full_batch=full,
        full_loss=full_loss,
        largest_difference=largest,
        loss=sum(part.loss for part, _ in parts) / world.size,
        grads=net.grads(),
    )


def _full_batch(net: Network, x, t, loss: str, activations: list[str]) -> tuple[dict[str, Tensor], float]:
    """One process, every sample once, on a copy of the network (its stored gradients stay as they are)."""
    twin = Network(net.to_state(), net.device)
    _clear(twin)
    value = loss_value(loss, twin.output(x, activations), t)
    value.backward()
    return _grads(twin), value.item()
