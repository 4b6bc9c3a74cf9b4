"""Plain torch references for the data-parallel tests: a two-process DDP loop as a PyTorch user writes it
(DistributedSampler, DataLoader, DistributedDataParallel), and the single-process full-batch loop."""

from __future__ import annotations

import os
from pathlib import Path


def build(state_dict: dict, sizes: list[int], activations: list[str], dtype):
    """nn.Linear, or nn.Sequential of Linear and the activation modules, loaded with the given parameters."""
    import torch

    modules: list = []
    for k in range(len(sizes) - 1):
        modules.append(torch.nn.Linear(sizes[k], sizes[k + 1], dtype=dtype))
        if activations[k] == "relu":
            modules.append(torch.nn.ReLU())
        elif activations[k] == "tanh":
            modules.append(torch.nn.Tanh())
    model = modules[0] if len(modules) == 1 else torch.nn.Sequential(*modules)
    model.load_state_dict(state_dict)
    return model


def ddp_worker(rank: int, world: int, port: int, job: dict, out: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = build(job["state_dict"], job["sizes"], job["activations"], job["x"].dtype)
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=job["lr"], momentum=job["momentum"])
    data = TensorDataset(job["x"], job["t"])
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=job["shuffle"], seed=job["seed"])
    loader = DataLoader(data, batch_size=job["batch"] // world, sampler=sampler)
    losses = []
    for epoch in range(job["epochs"]):
        sampler.set_epoch(epoch)
        for xb, tb in loader:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(ddp(xb), tb)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    mean = torch.stack(losses)
    dist.all_reduce(mean)
    mean /= world
    if rank == 0:
        torch.save({"params": model.state_dict(), "losses": mean}, out)
    dist.destroy_process_group()


def plain_ddp(job: dict, out: Path, world: int = 2) -> dict:
    """The DDP loop on `world` processes; rank 0's parameters and the mean loss per step."""
    import socket

    import torch
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(ddp_worker, args=(world, port, job, str(out)), nprocs=world, join=True)
    return torch.load(out, weights_only=True)


def full_batch(job: dict) -> dict:
    """One process, all samples in every step."""
    import torch

    model = build(job["state_dict"], job["sizes"], job["activations"], job["x"].dtype)
    opt = torch.optim.SGD(model.parameters(), lr=job["lr"], momentum=job["momentum"])
    for _ in range(job["epochs"]):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(job["x"]), job["t"]).backward()
        opt.step()
    return model.state_dict()
