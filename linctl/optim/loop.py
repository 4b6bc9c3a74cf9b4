"""Whole training iterations: one (`train-step`) or many over data (`train`),
the plain torch loop over every parameter of the network."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from linctl.errors import UsageError
from linctl.model import metrics, registry
from linctl.model.backward import backward_rows, loss_value, zero_grad
from linctl.model.network import Network
from linctl.model.samples import check_output, loss_notes, range_checked
from linctl.optim.records import LossLog, TrainResult, TrainStepResult
from linctl.optim.settings import Plan
from linctl.optim.step import LayerMoved, layer_moved, step
from linctl.optim.torch_step import build, run_step, save_into
from linctl.parsing import shown_int
from linctl.tensors import cast_note, copied


def train_step(
    net: Network, plan: Plan, x_rows, t_rows, loss: str, activations: list[str], place=None
) -> TrainStepResult:
    """zero_grad, forward, loss, backward, step: the loop body once."""
    had_grads = net.has_grads()
    zero_grad(net)
    back = backward_rows(net, x_rows, t_rows, loss, activations, place)
    stepped = step(net, plan)
    return TrainStepResult(backward=back, step=stepped, grads_cleared=had_grads, notes=back.notes + list(plan.notes))


# One run takes at most this many steps (days of work at the fastest); run `train` again to go on:
# the optimizer state carries over, so two runs equal one.
MAX_STEPS = 10**9


def schedule(samples: int, batch_size: int | None, steps: int | None, epochs: int | None) -> tuple[int, int, int]:
    """(batch size, batches per epoch, total steps)."""
    batch = min(batch_size or samples, samples)
    per_epoch = math.ceil(samples / batch)
    total = steps if steps is not None else per_epoch * (epochs if epochs is not None else 1)
    if total > MAX_STEPS:
        option = (
            f"--steps {shown_int(steps)}"
            if steps is not None
            else f"--epochs {shown_int(epochs or 1)} ({shown_int(total)} steps)"
        )
        raise UsageError(
            f"{option}: one train run takes at most {MAX_STEPS:,} steps; run train again to go on "
            "(the optimizer state carries over)"
        )
    return batch, per_epoch, total


def prepare_samples(net: Network, x, t, *, loss: str, table=None, notes: list[str] | None = None):
    """Training samples in the network's dtype, checked as the loss needs them.

    Values the dtype cannot hold (1e39 in float32) are noted; for --loss bce a
    target outside [0, 1] or a NaN input is refused, named by the data file's
    line (or the --x/--t row).
    """
    import torch

    from linctl import data
    from linctl.model import samples as samples_mod

    # row-major, as torch.tensor(rows) is: pandas hands columns (Fortran order), and a matrix product
    # over another memory layout may round differently from the plain loop's
    xs = x.to(dtype=net.dtype, memory_format=torch.contiguous_format).contiguous()
    ts = t.to(dtype=net.dtype, memory_format=torch.contiguous_format).contiguous()
    if table is None:
        checks = [(x, xs, "--x"), (t, ts, "--t")]
        place = samples_mod.option_place(xs.shape[0], ts.shape[0])
    else:
        name = f"--data {table.source}"
        finite = bool(xs.isfinite().all()) and bool(ts.isfinite().all())
        checks = [] if finite else [(torch.cat([x, t], dim=1), torch.cat([xs, ts], dim=1), name)]

        def place(kind: str, row: int, col: int) -> str:
            column = col + 1 + (net.in_features if kind == "t" else 0)
            return f"{name} line {data.line_of(table, row)} column {column}"

    for typed, cast, what in checks:
        warning = cast_note(typed, cast, what)
        if warning and notes is not None:
            notes.append(warning)
    samples_mod.check_samples(loss, xs, ts, place, net.out_features)
    return xs, ts


def train(
    net: Network,
    plan: Plan,
    x,
    t,
    *,
    loss: str,
    activations: list[str],
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    progress: Callable[[int, int, Any], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    watch=None,
) -> TrainResult:
    """The plain-torch loop: `g = Generator().manual_seed(seed)`, per epoch `perm = randperm(N, generator=g)` (arange
    without shuffle), per batch `idx` of it: zero_grad; loss(net(x[idx]), t[idx]).backward(); step."""
    import torch

    samples = x.shape[0]
    batch, _per_epoch, total = schedule(samples, batch_size, steps, epochs)
    generator = shuffler(seed)
    x, t = x.to(device=net.device, dtype=net.dtype), t.to(device=net.device, dtype=net.dtype)
    t = registry.loss(loss).torch_target(t)  # class indices as int64 once, not per step
    before = [(copied(m.weight), copied(m.bias)) for m in net.linears]
    optimizer = build(net, plan, net.data.get("optimizer"))
    one_step = stepper(net, optimizer, loss, activations, tally := metrics.Tally(metrics.metric_of(loss)))
    losses = LossLog()
    per_epoch: list[float | None] = []
    epoch, interrupted, started = 0, False, time.perf_counter()
    while len(losses) < total and not interrupted:
        order = torch.randperm(samples, generator=generator) if shuffle else None
        epoch += 1
        interrupted = run_epoch(batches(x, t, order, batch, net.device), one_step, losses, total, progress, should_stop)
        per_epoch.append(tally.close())
        if watch is not None and watch.after_epoch():
            break
    seconds = time.perf_counter() - started
    kept = finish(net, plan, optimizer, len(losses), watch)
    return result_of(
        net, plan, losses.stacked() if losses else None, before, loss, activations, seconds, kept,
        epochs=epoch, planned_steps=total, batch_size=batch, samples=samples, shuffle=shuffle,
        interrupted=interrupted, **readings(net, x, t, loss, activations, per_epoch, watch),
    )  # fmt: skip


def result_of(net: Network, plan: Plan, losses, before, loss: str, activations: list[str], seconds: float,
              kept: str | None, **figures) -> TrainResult:  # fmt: skip
    """The run's result once the last step is saved into the state data: `losses` the loss of each step (a tensor,
    or None for no step), `before` each layer's (weight, bias) before the first."""
    return TrainResult(
        steps=0 if losses is None else int(losses.shape[0]),
        losses=[] if losses is None else losses.cpu().tolist(),
        layers=moved_layers(net, before, activations),
        step=net.data["step"],
        seconds=seconds,
        optimizer=plan.name,
        settings=dict(plan.settings),
        loss_name=loss,
        activations=list(activations),
        notes=list(plan.notes) + loss_notes(loss, activations[-1]) + ([kept] if kept else []),
        **figures,
    )


def finish(net: Network, plan: Plan, optimizer, steps: int, watch) -> str | None:
    """After the last step: the best epoch's weights back (with --patience), the optimizer state and the step
    count into the state data. Returns the note about kept weights, if any."""
    kept = watch.restore_best() if watch is not None else None
    save_into(net.data, plan, optimizer)
    net.data["step"] = int(net.data.get("step", 0)) + steps
    return kept


def readings(net: Network, x, t, loss: str, activations: list[str], per_epoch: list, watch) -> dict:
    """What learners read beside the loss: the metric per epoch, the confusion matrix, the validation figures."""
    held = {"val_losses": watch.losses, "val_metrics": watch.metrics, "best_epoch": watch.best_epoch} if watch else {}
    return {
        "metric": metrics.metric_of(loss),
        "metrics": per_epoch,
        "confusion": final_confusion(net, x, t, loss, activations),
        "classes": net.data.get("classes"),
        **held,
    }


def final_confusion(net: Network, x, t, loss: str, activations: list[str]) -> list[list[int]] | None:
    """The confusion matrix of the trained network over the training samples (one forward, no gradient)."""
    import torch

    entry = registry.loss(loss)
    if entry.target != "classes" and not (entry.metric == "accuracy" and net.out_features == 1):
        return None
    with torch.no_grad():
        return metrics.confusion(net.output(x, activations), t)


def moved_layers(net: Network, before: list[tuple[Any, Any]], activations: list[str]) -> list[LayerMoved]:
    return [
        layer_moved(name, m, wb, act)
        for name, m, wb, act in zip(net.layer_names(), net.linears, before, activations, strict=True)
    ]


def run_epoch(epoch_batches, one_step, losses: LossLog, total: int, progress, should_stop) -> bool:
    """One pass over the batches, stopping at `total` steps; True when asked to stop before them."""
    for xb, tb in epoch_batches:
        losses.append(one_step(xb, tb, len(losses) + 1))
        if progress is not None:
            progress(len(losses), total, losses.last())
        if should_stop():
            return len(losses) < total
        if len(losses) >= total:
            return False
    return False


def shuffler(seed: int | None):
    """The generator of each epoch's order: seeded, or from fresh entropy."""
    import torch

    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


def batches(x, t, order, batch: int, device):
    """One epoch's batches: in order, or by the epoch's permutation."""
    for start in range(0, x.shape[0], batch):
        if order is None:
            yield x[start : start + batch], t[start : start + batch]
        else:
            idx = order[start : start + batch].to(device)
            yield x[idx], t[idx]


def stepper(net: Network, optimizer, loss: str, activations: list[str], tally=None, forward=None):
    """The loop body: zero_grad, forward, loss, backward, step; returns the loss (a tensor, not synced).
    The batch's outputs (before the step) go to `tally`, the epoch's metric. `forward` runs the network
    (DistributedDataParallel's, which all-reduces the gradients in backward); by default its own output."""
    last = activations[-1]
    check_range = range_checked(loss, last)
    run = forward if forward is not None else (lambda xb: net.output(xb, activations))

    def one_step(xb, tb, number: int):
        optimizer.zero_grad()
        o = run(xb)
        if check_range:
            check_output(loss, last, o.detach(), step=number)
        try:
            value = loss_value(loss, o, tb)
        except RuntimeError:
            check_output(loss, last, o.detach(), step=number)  # says why, when it is the range
            raise
        value.backward()
        run_step(optimizer)
        if tally is not None:
            tally.add(o, tb)
        return value.detach()

    return one_step
