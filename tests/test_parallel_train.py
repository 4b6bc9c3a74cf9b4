"""train --nproc 2: two gloo processes, against a plain DDP loop and the single-process full batch built here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from parallel_support import full_batch, plain_ddp

from conftest import run, run_process, saved

pytestmark = pytest.mark.slow


def inspected(state: Path, *args: str) -> None:
    result = run(*args, state=state)
    assert result.exit_code == 0, result.stderr


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

    inspected(state, "inspect", "2", "3", "1", "--seed", "7", "--activation", "tanh", "--activation", "none")
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
    options = ["--nproc", "2", "--batch-size", "4", "--epochs", "3", "--seed", "5", "--lr", "0.1", "--momentum", "0.9", "--json"]  # fmt: skip
    ran = run_process("train", "--data", str(data), *options, state=state)
    assert ran.exit_code == 0, ran.stderr
    plain = plain_ddp(job, tmp_path / "plain.pt")
    after = saved(state)
    for name, value in plain["params"].items():
        assert torch.equal(after["params"][name], value), name
    out = ran.json()
    assert torch.equal(torch.tensor(out["losses"], dtype=torch.float32), plain["losses"])
    assert out["steps"] == 9 and out["batch_size"] == 4
    assert out["parallel"]["nproc"] == 2 and out["parallel"]["per_rank_batch"] == 2 and out["parallel"]["seed"] == 5


def test_float64_full_batch_on_two_processes_is_the_single_process_full_batch(state: Path, tmp_path: Path):
    import torch

    inspected(
        state,
        "inspect",
        "2",
        "4",
        "1",
        "--seed",
        "2",
        "--dtype",
        "float64",
        "--activation",
        "tanh",
        "--activation",
        "none",
    )
    x, t = samples(10, torch.float64)
    data = write_csv(tmp_path / "d.csv", x, t)
    job = job_for(state, x, t, sizes=[2, 4, 1], activations=["tanh", "none"], lr=0.2, momentum=0.0, epochs=6)
    ran = run_process("train", "--data", str(data), "--nproc", "2", "--epochs", "6", "--lr", "0.2", "-q", state=state)
    assert ran.exit_code == 0, ran.stderr
    one = full_batch(job)
    after = saved(state)["params"]
    worst = max(float((after[name] - value).abs().max()) for name, value in one.items())
    assert worst <= 1e-12, worst
    assert any(not torch.equal(after[name], job["state_dict"][name]) for name in one)  # it did train


def test_backward_nproc_2_shows_each_rank_and_the_mean_equals_the_full_batch(state: Path):
    import torch

    inspected(state, "inspect", "2", "3", "1", "--seed", "1", "--activation", "relu", "--activation", "none")
    x, t = samples(6, torch.float32, seed=9)
    job = job_for(state, x, t, sizes=[2, 3, 1], activations=["relu", "none"])
    args = [a for xr in x.tolist() for a in ("--x", ",".join(repr(v) for v in xr))]
    args += [a for tr in t.tolist() for a in ("--t", repr(tr[0]))]
    ran = run_process("backward", *args, "--nproc", "2", "--json", state=state)
    assert ran.exit_code == 0, ran.stderr
    out = ran.json()
    from parallel_support import build

    local = []
    for rank in range(2):
        idx = list(range(rank, 6, 2))  # DistributedSampler without shuffle: every 2nd from the rank
        model = build(job["state_dict"], [2, 3, 1], ["relu", "none"], torch.float32)
        torch.nn.functional.mse_loss(model(x[idx]), t[idx]).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        assert out["ranks"][rank]["samples"] == idx
        for name, grad in grads.items():
            assert torch.equal(torch.tensor(out["ranks"][rank]["grads"][name]), grad), (rank, name)
        local.append(grads)
    model = build(job["state_dict"], [2, 3, 1], ["relu", "none"], torch.float32)
    torch.nn.functional.mse_loss(model(x), t).backward()
    worst = 0.0
    for name, p in model.named_parameters():
        # DDP's all-reduce: each rank's gradient divided by the world size, then summed
        mean = local[0][name] / 2 + local[1][name] / 2
        reduced = torch.tensor(out["all_reduced"][name])
        assert torch.equal(reduced, mean), name
        assert torch.equal(torch.tensor(out["full_batch"][name]), p.grad)
        assert torch.equal(saved(state)["grads"][name], reduced)  # the stored gradient is the all-reduced one
        worst = max(worst, float((reduced - p.grad).abs().max()))
    assert out["same_on_every_rank"] is True
    assert out["largest_difference"] == pytest.approx(worst, abs=0)
    assert out["largest_difference"] < 1e-6


def test_history_undo_and_export_after_a_parallel_run(state: Path, tmp_path: Path):
    import json
    import subprocess
    import sys

    import torch

    inspected(state, "inspect", "2", "1", "--seed", "0")
    before = saved(state)["params"]
    x, t = samples(8, torch.float32)
    data = write_csv(tmp_path / "d.csv", x, t)
    options = ["--nproc", "2", "--epochs", "2", "--batch-size", "4", "--seed", "1", "--lr", "0.1", "-q"]
    ran = run_process("train", "--data", str(data), *options, state=state)
    assert ran.exit_code == 0, ran.stderr
    trained = saved(state)["params"]
    history = run("history", "--json", state=state).json()
    assert "--nproc 2" in history["entries"][-1]["command"] and history["entries"][-1]["steps"] == 4
    program = tmp_path / "s.py"
    assert run("export", "--python", str(program), state=state).exit_code == 0
    assert "ran on several processes" in program.read_text()
    printed = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    exported = json.loads(printed.stdout.strip().splitlines()[-1])
    for name, value in trained.items():
        assert torch.equal(torch.tensor(exported[name], dtype=torch.float32), value)
    assert run("undo", state=state).exit_code == 0
    for name, value in before.items():
        assert torch.equal(saved(state)["params"][name], value)


def test_stream_takes_the_batches_of_no_shuffle_bit_for_bit(state: Path, tmp_path: Path):
    """11 samples on 2 ranks: the file in chunks of 3 rows (sample 1 repeated to even the shares) gives the very
    run that the samples in memory give with --no-shuffle; on one process, the plain torch loop in file order."""
    import shutil

    import torch

    inspected(state, "inspect", "2", "3", "1", "--seed", "3", "--activation", "tanh", "--activation", "none")
    x, t = samples(11, torch.float32, seed=4)
    data = write_csv(tmp_path / "d.csv", x, t)
    copies = {name: tmp_path / f"{name}.pt" for name in ("memory", "single")}
    for copy in copies.values():
        shutil.copy(state, copy)
    common = ["--data", str(data), "--batch-size", "4", "--epochs", "2", "--lr", "0.1", "--json"]
    streamed = run_process("train", *common, "--nproc", "2", "--stream", state=state, env={"LINCTL_CHUNK_ROWS": "3"})
    assert streamed.exit_code == 0, streamed.stderr
    memory = run_process("train", *common, "--nproc", "2", "--no-shuffle", state=copies["memory"])
    assert memory.exit_code == 0, memory.stderr
    for name, value in saved(copies["memory"])["params"].items():
        assert torch.equal(saved(state)["params"][name], value), name
    assert streamed.json()["losses"] == memory.json()["losses"]
    assert streamed.json()["parallel"]["padded"] == 1 and streamed.json()["samples"] == 11

    job = job_for(copies["single"], x, t, sizes=[2, 3, 1], activations=["tanh", "none"])
    one = run_process("train", *common, "--stream", state=copies["single"], env={"LINCTL_CHUNK_ROWS": "3"})
    assert one.exit_code == 0, one.stderr
    from parallel_support import build

    model = build(job["state_dict"], [2, 3, 1], ["tanh", "none"], torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        for start in range(0, 11, 4):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[start : start + 4]), t[start : start + 4]).backward()
            opt.step()
    for name, value in model.state_dict().items():
        assert torch.equal(saved(copies["single"])["params"][name], value), name
