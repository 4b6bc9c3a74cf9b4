"""The plain reference of bench/parallel.py: a two-process DistributedDataParallel script as a PyTorch user
writes it (each rank reads the CSV with pandas, DistributedSampler, DataLoader-free batches, SGD).

    python bench/plain_ddp.py DATA.csv NPROC BATCH EPOCHS
"""

from __future__ import annotations

import os
import socket
import sys


def worker(rank: int, world: int, port: int, path: str, batch: int, epochs: int) -> None:
    import numpy as np
    import pandas as pd
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DistributedSampler

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    frame = pd.read_csv(path, header=None).to_numpy(dtype=np.float64)
    x = torch.from_numpy(np.ascontiguousarray(frame[:, :-1])).float()
    t = torch.from_numpy(np.ascontiguousarray(frame[:, -1:])).float()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    ddp = DistributedDataParallel(net)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    sampler = DistributedSampler(range(len(x)), num_replicas=world, rank=rank, shuffle=True, seed=0)  # type: ignore[arg-type]
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        for i in range(0, len(order), batch // world):
            idx = order[i : i + batch // world]
            opt.zero_grad()
            torch.nn.functional.mse_loss(ddp(x[idx]), t[idx]).backward()
            opt.step()
    if rank == 0:
        torch.save(net.state_dict(), path + ".plain.pt")
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    import torch.multiprocessing as mp

    path, world, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(world, port, path, batch, epochs), nprocs=world, join=True)


if __name__ == "__main__":
    main()
