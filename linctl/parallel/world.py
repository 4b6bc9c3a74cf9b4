"""The world a command runs in: its rank among how many processes, read from the variables torchrun sets
(and `--nproc N` sets the same way), and the process group joined with a timeout on every collective."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from linctl.errors import LinctlError, UsageError

# every collective (and the rendezvous) gives up after this many seconds; LINCTL_TIMEOUT changes it
DEFAULT_TIMEOUT = 120.0
TIMEOUT_VARIABLE = "LINCTL_TIMEOUT"
# at most this many processes on one machine (`--nproc`)
MAX_NPROC = 64


@dataclass(frozen=True)
class World:
    """This process's place: rank 0 of size 1 is a plain single-process run."""

    rank: int
    size: int
    local_rank: int = 0
    joined: bool = False  # a process group is up (collectives run)

    @property
    def leader(self) -> bool:
        return self.rank == 0


SINGLE = World(rank=0, size=1)


def _whole(environ: Mapping[str, str], key: str, least: int) -> int:
    text = environ.get(key, "").strip()
    if not text.isascii() or not text.isdigit() or int(text) < least:
        raise UsageError(f"{key}={environ.get(key, '')!r}: expected a whole number ≥ {least}, as torchrun sets it")
    return int(text)


def from_environment(environ: Mapping[str, str] | None = None) -> World | None:
    """The world torchrun (or `--nproc`) set up for this process, or None when it runs alone."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env and "RANK" not in env:
        return None
    size = _whole(env, "WORLD_SIZE", 1)
    rank = _whole(env, "RANK", 0)
    if rank >= size:
        raise UsageError(f"RANK={rank} but WORLD_SIZE={size}: a rank runs from 0 to WORLD_SIZE-1")
    local = _whole(env, "LOCAL_RANK", 0) if "LOCAL_RANK" in env else rank
    return World(rank=rank, size=size, local_rank=local)


def timeout_seconds(environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    text = env.get(TIMEOUT_VARIABLE)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 10**6:
        raise UsageError(
            f"{TIMEOUT_VARIABLE}={text!r}: expected seconds between 0 and 1000000, like 120; "
            "unset it for the default (120)"
        )
    return value


def check_nproc(nproc: int | None, world: World | None) -> None:
    """--nproc against the world the launcher or torchrun made: they must agree."""
    if nproc is None:
        return
    if nproc > MAX_NPROC:
        raise UsageError(f"--nproc {nproc}: at most {MAX_NPROC} processes on one machine; use torchrun for more")
    if world is not None and world.size != nproc:
        raise UsageError(
            f"--nproc {nproc}: this process already runs in a world of {world.size} (WORLD_SIZE); drop --nproc under torchrun"
        )


def backend_for(device: str | None) -> str:
    return "nccl" if (device or "cpu").startswith("cuda") else "gloo"


@contextmanager
def joined(world: World, device: str | None) -> Iterator[World]:
    """The process group for `world`, from torchrun's rendezvous variables (MASTER_ADDR, MASTER_PORT); left on exit."""
    import datetime

    import torch.distributed as dist

    from linctl.model.devices import resolve_device

    resolve_device(device)  # --device cuda with no GPU: its own line, before any rendezvous
    seconds = timeout_seconds()
    try:
        dist.init_process_group(
            backend=backend_for(device),
            init_method="env://",
            rank=world.rank,
            world_size=world.size,
            timeout=datetime.timedelta(seconds=seconds),
        )
    except ValueError as exc:  # a rendezvous variable missing
        raise LinctlError(f"rank {world.rank}: cannot join the other processes ({exc}); run under torchrun") from None
    except Exception as exc:  # the rendezvous timed out or was refused
        raise LinctlError(
            f"rank {world.rank}: cannot join the other processes ({first_line(exc)}); "
            f"each waits {seconds:g} s for the rest ({TIMEOUT_VARIABLE})"
        ) from None
    if backend_for(device) == "nccl":
        import torch

        torch.cuda.set_device(world.local_rank)  # one GPU per process, by its local rank
    group = World(rank=world.rank, size=world.size, local_rank=world.local_rank, joined=True)
    try:
        yield group
        # all ranks leave together, once rank 0 has saved: a rank that left early would break the others' links
        with collective(group, "the final barrier"):
            dist.barrier()
    finally:
        dist.destroy_process_group()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def collective(world: World, what: str) -> Iterator[None]:
    """A failed or timed-out collective as one line naming the rank: another process stopped or died."""
    try:
        yield
    except LinctlError:
        raise
    except RuntimeError as exc:
        raise LinctlError(
            f"rank {world.rank}: {what} failed ({first_line(exc)}); another process stopped or died"
        ) from None


def broadcast(world: World, payload: Any) -> Any:
    """Rank 0's object on every rank (pickled; tensors travel with it)."""
    import torch.distributed as dist

    if not world.joined:
        return payload
    box = [payload]
    with collective(world, "receiving the network from rank 0"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(world: World, item: Any) -> list[Any]:
    """Every rank's object, in rank order, on every rank."""
    import torch.distributed as dist

    if not world.joined:
        return [item]
    out: list[Any] = [None] * world.size
    with collective(world, "gathering the ranks' results"):
        dist.all_gather_object(out, item)
    return out


def summed(world: World, tensor, op: str = "sum"):
    """The tensor reduced over the ranks (in place; sum or max)."""
    import torch.distributed as dist

    if world.joined:
        with collective(world, "an all-reduce"):
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return tensor
