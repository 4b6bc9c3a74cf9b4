"""Each rank's part of the samples, by torch's DistributedSampler, and the network wrapped in
DistributedDataParallel so that backward() all-reduces the gradients."""

from __future__ import annotations

import math
from typing import Any

from linctl.errors import UsageError
from linctl.parallel.world import World


class Order:
    """The epoch's indices of this rank: `DistributedSampler(range(N), num_replicas, rank, shuffle, seed,
    drop_last=False)` with `set_epoch(epoch)`. Its permutation is `randperm(N)` from a generator seeded with
    seed + epoch, the same for every number of ranks, padded by repeating its first indices to a multiple of the
    ranks; rank r takes every world-th index from r."""

    def __init__(self, samples: int, world: World, shuffle: bool, seed: int):
        from torch.utils.data import DistributedSampler

        self.samples = samples
        self.sampler: Any = DistributedSampler(
            range(samples),  # type: ignore[arg-type]  # a sized sequence is all it reads
            num_replicas=world.size,
            rank=world.rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
        )

    @property
    def shard_size(self) -> int:
        return int(self.sampler.num_samples)

    @property
    def padded(self) -> int:
        """Samples repeated to even the shards (0 when N divides by the ranks)."""
        return int(self.sampler.total_size) - self.samples

    def epoch(self, epoch: int):
        import torch

        self.sampler.set_epoch(epoch)
        return torch.tensor(list(iter(self.sampler)), dtype=torch.int64)


def split_batch(batch_size: int, world: World) -> int:
    """Samples per step on each rank: --batch-size is the step's batch over all ranks, split evenly."""
    if batch_size % world.size:
        raise UsageError(
            f"--batch-size {batch_size}: each step splits its batch evenly over the {world.size} processes; "
            f"give a multiple of {world.size}, like {max(world.size, batch_size - batch_size % world.size)}"
        )
    return batch_size // world.size


def rank_batch(batch_size: int | None, samples: int, world: World) -> int:
    """Samples per step on each rank over `samples` in memory: the whole share without --batch-size (or with one
    as large as the samples), else the batch split evenly."""
    if batch_size is None or batch_size >= samples:
        return math.ceil(samples / world.size)
    return split_batch(batch_size, world)


def batches(x, t, indices, batch: int):
    """One epoch's batches of this rank: its indices, `batch` at a time (the last may be smaller)."""
    for start in range(0, indices.shape[0], batch):
        idx = indices[start : start + batch].to(x.device)
        yield x[idx], t[idx]


def wrapped(net, activations: list[str], world: World) -> Any:
    """The network's forward as a module, in DistributedDataParallel when a process group is up: its
    backward() then all-reduces each gradient to the mean over the ranks."""
    import torch

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = net.module  # its parameters are the network's own

        def forward(self, x):
            return net.output(x, activations)

    module = Forward()
    if not world.joined:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.cuda.current_device()] if net.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
