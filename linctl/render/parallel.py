"""What a data-parallel run adds to the views: the processes, the sampler, the samples per second, and the
lesson of backward/train-step on several processes (each rank's gradient beside the all-reduced mean and the
full batch)."""

from __future__ import annotations

from linctl.render.cells import fmt


def throughput(r) -> float | None:
    return r.steps * r.batch_size / r.seconds if r.seconds > 0 else None


def parallel_facts(r) -> list[tuple[str, str]]:
    """train's summary lines for a run on several processes (none for one process)."""
    if r.nproc <= 1 and r.sampler_seed is None and not r.streamed:
        return []
    per_rank = r.batch_size // r.nproc
    order = "shuffled" if r.shuffle else "in order"
    padded = f"; {r.padded} sample(s) repeated to even the shares" if r.padded else ""
    if r.streamed:
        order = "the file streamed in chunks, in file order"
    rate = throughput(r)
    return [
        (
            "processes",
            f"{r.nproc} (torch.distributed, DistributedDataParallel; {per_rank} sample{'s' if per_rank != 1 else ''} per rank per step)",
        ),
        ("sampler", f"DistributedSampler, {order}" + ("" if r.streamed else f", seed {r.sampler_seed}") + padded),
        ("throughput", f"{rate:,.0f} samples/s over all processes" if rate is not None else "–"),
    ]


def parallel_json(r) -> dict:
    """train --json's `parallel` key, present only for a run on several processes."""
    if r.nproc <= 1 and r.sampler_seed is None and not r.streamed:
        return {}
    return {
        "parallel": {
            "nproc": r.nproc,
            "sampler": "DistributedSampler",
            "seed": r.sampler_seed,
            "padded": r.padded,
            "per_rank_batch": r.batch_size // r.nproc,
            "samples_per_second": throughput(r),
            "streamed": r.streamed,
        }
    }


# --------------------------------------------------------------------------
# backward / train-step --nproc: the lesson

SHOWN_ENTRIES = 8  # a gradient with more entries shows its first ones in the comparison table


def _samples_text(indices: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:12])
    return shown + (f", … ({len(indices)})" if len(indices) > 12 else "")


def _rule(nproc: int) -> str:
    return f"rank r takes samples r+1, r+{1 + nproc}, r+{1 + 2 * nproc}, …"


def lesson_json(r) -> dict:
    from linctl.tensors import plain

    return {
        "nproc": r.nproc,
        "samples": r.samples,
        "padded": r.padded,
        "loss_name": r.loss_name,
        "activations": r.activations,
        "ranks": [
            {"rank": p.rank, "samples": p.samples, "loss": p.loss, "grads": {n: plain(g) for n, g in p.grads.items()}}
            for p in r.ranks
        ],
        "all_reduced": {n: plain(g) for n, g in r.all_reduced.items()},
        "same_on_every_rank": r.same_on_every_rank,
        "full_batch": {n: plain(g) for n, g in r.full_batch.items()},
        "full_batch_loss": r.full_loss,
        "largest_difference": r.largest_difference,
        "loss": r.loss,
        "grads": {n: None if g is None else plain(g) for n, g in r.grads.items()},
    }


def lesson_parts(r) -> list:
    from linctl.render.cells import text
    from linctl.render.widgets import heading, kv

    pad = f" ({r.padded} repeated to even the shares, as DistributedSampler does)" if r.padded else ""
    facts = [
        ("processes", f"{r.nproc}, torch.distributed, DistributedSampler in order: {_rule(r.nproc)}"),
        *[(f"rank {p.rank}", f"samples {_samples_text(p.samples)}   loss {fmt(p.loss)}") for p in r.ranks],
        ("mean loss", f"{fmt(r.loss)}   (full batch of {r.samples}{pad}: {fmt(r.full_loss)})"),
    ]
    parts = [heading(f"backward() on {r.nproc} processes: each rank's gradient, all-reduced"), kv(facts)]
    for name in r.all_reduced:
        parts.append(_comparison(name, r))
    same = "the same on every rank, bit for bit" if r.same_on_every_rank else "NOT the same on every rank"
    parts.append(
        text(
            f"all-reduced = the mean of the ranks' gradients, {same}; largest |all-reduced − full batch| = "
            + (
                "0, equal bit for bit"
                if r.largest_difference == 0 and not r.padded
                else f"{r.largest_difference:.3g} ({r.dtype} rounding"
                + ("; the repeated samples count twice" if r.padded else "")
                + ")"
            )
        )
    )
    return parts


def _comparison(name: str, r):
    from linctl.render.cells import shape, table

    entries = r.all_reduced[name].reshape(-1).shape[0]
    shown = min(entries, SHOWN_ENTRIES)
    more = f", first {shown} of {entries} entries" if entries > shown else ""
    grid = table(f"{name}.grad  shape {shape(r.all_reduced[name])}{more}")
    grid.add_column("")
    for k in range(shown):
        grid.add_column(f"[{k}]", justify="right")

    def row(label: str, tensor) -> None:
        grid.add_row(label, *[fmt(v) for v in tensor.reshape(-1)[:shown].tolist()])

    for part in r.ranks:
        row(f"rank {part.rank} alone", part.grads[name])
    row("all-reduced mean", r.all_reduced[name])
    row("full batch", r.full_batch[name])
    return grid


def lesson_view(r) -> None:
    from linctl.render.widgets import show

    show(*lesson_parts(r))


def lesson_step_json(r) -> dict:
    from linctl.render.step import step_json

    return {**lesson_json(r.lesson), **step_json(r.step), "grads_cleared": r.grads_cleared}


def lesson_step_view(r) -> None:
    from linctl.render.step import step_parts
    from linctl.render.widgets import heading, show, text

    cleared = "the stored gradients were cleared; " if r.grads_cleared else ""
    show(
        text(f"optimizer.zero_grad(): {cleared}every .grad = None"),
        *lesson_parts(r.lesson),
        heading("optimizer.step() on the all-reduced gradient (every rank takes the same step; rank 0 saves)"),
        *step_parts(r.step),
    )
