"""Whole training iterations: one (`train-step`) or many over data (`train`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from linctl import core, optimizers
from linctl.core import Network, activate, check_bce, loss_value
from linctl.errors import UsageError
from linctl.parsing import shown_int


@dataclass
class TrainStepResult:
    backward: core.BackwardResult
    step: optimizers.StepResult
    grads_cleared: bool
    notes: list[str] = field(default_factory=list)


def train_step(
    net: Network, plan: optimizers.Plan, x_rows, t_rows, loss: str, activation: str | None
) -> TrainStepResult:
    """zero_grad, forward, loss, backward, step: the loop body once."""
    had_grads = net.linear.weight.grad is not None
    core.zero_grad(net)
    back = core.backward(net, x_rows, t_rows, loss, activation)
    back.weight = back.weight.clone()
    back.bias = None if back.bias is None else back.bias.clone()
    stepped = optimizers.step(net, plan)
    return TrainStepResult(backward=back, step=stepped, grads_cleared=had_grads, notes=back.notes + list(plan.notes))


@dataclass
class TrainResult:
    steps: int
    epochs: int
    planned_steps: int
    batch_size: int
    samples: int
    shuffle: bool
    losses: list[float]
    weight_before: Any
    bias_before: Any
    weight: Any
    bias: Any
    step: int
    seconds: float
    optimizer: str
    settings: dict
    loss_name: str
    activation: str
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def loss_first(self) -> float | None:
        return self.losses[0] if self.losses else None

    @property
    def loss_last(self) -> float | None:
        return self.losses[-1] if self.losses else None


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

    # row-major, as torch.tensor(rows) is: pandas hands columns (Fortran order), and a matrix product
    # over another memory layout may round differently from the plain loop's
    xs = x.to(dtype=net.dtype, memory_format=torch.contiguous_format).contiguous()
    ts = t.to(dtype=net.dtype, memory_format=torch.contiguous_format).contiguous()
    if table is None:
        checks = [(x, xs, "--x"), (t, ts, "--t")]
        place = core.option_place(xs.shape[0], ts.shape[0])
    else:
        name = f"--data {table.source}"
        finite = bool(xs.isfinite().all()) and bool(ts.isfinite().all())
        checks = [] if finite else [(torch.cat([x, t], dim=1), torch.cat([xs, ts], dim=1), name)]

        def place(kind: str, row: int, col: int) -> str:
            column = col + 1 + (net.in_features if kind == "t" else 0)
            return f"{name} line {data.line_of(table, row)} column {column}"

    for typed, cast, what in checks:
        warning = core.cast_note(typed, cast, what)
        if warning and notes is not None:
            notes.append(warning)
    core.check_bce_samples(loss, xs, ts, place)
    return xs, ts


def train(
    net: Network,
    plan: optimizers.Plan,
    x,
    t,
    *,
    loss: str,
    activation: str | None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    progress: Callable[[int, int, Any], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """The plain-torch loop over (x, t), batch by batch, epoch by epoch.

    Same as:
        g = torch.Generator().manual_seed(seed)
        for epoch: perm = torch.randperm(N, generator=g)  (or arange without shuffle)
            for each batch idx in perm: zero_grad; o = act(net(x[idx])); loss(o, t[idx]).backward(); step
    """
    import torch

    activation = activation or net.activation
    samples = x.shape[0]
    batch, _per_epoch, total = schedule(samples, batch_size, steps, epochs)
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    x = x.to(device=net.device, dtype=net.dtype)
    t = t.to(device=net.device, dtype=net.dtype)
    w_before = net.weight().clone()
    b_before = None if net.bias() is None else net.bias().clone()
    optimizer = optimizers.build(net, plan, net.data.get("optimizer"))
    linear = net.linear
    check_range = loss == "bce" and activation != "sigmoid"
    losses = []
    done = 0
    epoch = 0
    interrupted = False
    started = time.perf_counter()
    while done < total and not interrupted:
        order = torch.randperm(samples, generator=generator) if shuffle else None
        epoch += 1
        for start in range(0, samples, batch):
            if order is None:
                xb, tb = x[start : start + batch], t[start : start + batch]
            else:
                idx = order[start : start + batch].to(net.device)
                xb, tb = x[idx], t[idx]
            optimizer.zero_grad()
            o = activate(activation, linear(xb))
            if check_range:
                check_bce(loss, activation, o.detach(), step=done + 1)
            try:
                value = loss_value(loss, o, tb)
            except RuntimeError:
                check_bce(loss, activation, o.detach(), step=done + 1)  # says why, when it is the range
                raise
            value.backward()
            optimizers.run_step(optimizer)
            losses.append(value.detach())
            done += 1
            if progress is not None:
                progress(done, total, value)
            if should_stop():
                interrupted = done < total
                break
            if done >= total:
                break
    seconds = time.perf_counter() - started
    optimizers.save_into(net.data, plan, optimizer)
    net.data["step"] = int(net.data.get("step", 0)) + done
    loss_list = torch.stack(losses).cpu().tolist() if losses else []
    return TrainResult(
        steps=done,
        epochs=epoch,
        planned_steps=total,
        batch_size=batch,
        samples=samples,
        shuffle=shuffle,
        losses=loss_list,
        weight_before=w_before,
        bias_before=b_before,
        weight=net.weight(),
        bias=net.bias(),
        step=net.data["step"],
        seconds=seconds,
        optimizer=plan.name,
        settings=dict(plan.settings),
        loss_name=loss,
        activation=activation,
        interrupted=interrupted,
        notes=list(plan.notes),
    )
