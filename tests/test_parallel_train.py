"""train --nproc 2: two gloo processes, against a plain DDP loop and the single-process full batch built here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import run, run_process, saved
from parallel_support import full_batch, plain_ddp

pytestmark = pytest.mark.slow


def samples(n: int, dtype, seed: int = 3):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4 - 2
    t = (x[:, :1] * x[:, 1:]).sin()
    return x.to(dtype), t.to(dtype)


def write_csv(path: Path, x, t) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        for xr, tr in zip(x.tolist(), t.tolist(), strict=True):
            out.writerow([repr(v) for v in xr + tr])
    return path


def job_for(state: Path, x, t, **settings) -> dict:
    return {"state_dict": dict(saved(state)["params"]), "x": x, "t": t, **settings}


def test_train_nproc_2_equals_a_plain_ddp_loop_bit_for_bit(state: Path, tmp_path: Path):
    import torch

    assert (
        run(
            "inspect", "2", "3", "1", "--seed", "7", "--activation", "tanh", "--activation", "none", state=state
        ).exit_code
        == 0
    )
    x, t = samples(12, torch.float32)
    data = write_csv(tmp_path / "d.csv", x, t)
    job = job_for(
        state,
        x,
        t,
        sizes=[2, 3, 1],
        activations=["tanh", "none"],
        lr=0.1,
        momentum=0.9,
        shuffle=True,
        seed=5,
        batch=4,
        epochs=3,
    )
    ran = run_process(
        "train",
        "--data",
        str(data),
        "--nproc",
        "2",
        "--batch-size",
        "4",
        "--epochs",
        "3",
        "--seed",
        "5",
        "--lr",
        "0.1",
        "--momentum",
        "0.9",
        "--json",
        state=state,
    )
    assert ran.exit_code == 0, ran.stderr
    plain = plain_ddp(job, tmp_path / "plain.pt")
    after = saved(state)
    for name, value in plain["params"].items():
        assert torch.equal(after["params"][name], value), name
    out = ran.json()
    assert torch.equal(torch.tensor(out["losses"], dtype=torch.float32), plain["losses"])
    assert out["steps"] == 9 and out["batch_size"] == 4
    assert out["parallel"]["nproc"] == 2 and out["parallel"]["per_rank_batch"] == 2 and out["parallel"]["seed"] == 5
