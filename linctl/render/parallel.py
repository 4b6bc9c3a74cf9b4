"""What a data-parallel run adds to the views: the processes, the sampler, the samples per second, and the
lesson of backward/train-step on several processes (each rank's gradient beside the all-reduced mean and the
full batch)."""

from __future__ import annotations


def throughput(r) -> float | None:
    return r.steps * r.batch_size / r.seconds if r.seconds > 0 else None


def parallel_facts(r) -> list[tuple[str, str]]:
    """train's summary lines for a run on several processes (none for one process)."""
    if r.nproc <= 1 and r.sampler_seed is None:
        return []
    per_rank = r.batch_size // r.nproc
    order = "shuffled" if r.shuffle else "in order"
    padded = f"; {r.padded} sample(s) repeated to even the shares" if r.padded else ""
    rate = throughput(r)
    return [
        ("processes", f"{r.nproc} (torch.distributed, DistributedDataParallel; {per_rank} samples per rank per step)"),
        ("sampler", f"DistributedSampler, {order}, seed {r.sampler_seed}{padded}"),
        ("throughput", f"{rate:,.0f} samples/s over all processes" if rate is not None else "–"),
    ]


def parallel_json(r) -> dict:
    """train --json's `parallel` key, present only for a run on several processes."""
    if r.nproc <= 1 and r.sampler_seed is None:
        return {}
    return {
        "parallel": {
            "nproc": r.nproc,
            "sampler": "DistributedSampler",
            "seed": r.sampler_seed,
            "padded": r.padded,
            "per_rank_batch": r.batch_size // r.nproc,
            "samples_per_second": throughput(r),
        }
    }
