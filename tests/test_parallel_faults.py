"""--nproc's faults: a killed worker, a failure on rank 0, bad options and variables: one line each, the state
file as it was, nothing left hanging. And the same command under torchrun."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PLAIN, run, run_process, saved
from hostile import one_line

pytestmark = pytest.mark.slow

SAMPLES = ["--x", "1,1", "--x", "0,1", "--x", "1,0", "--x", "0,0", "--t", "1", "--t", "0", "--t", "0", "--t", "1"]


def built(state: Path) -> bytes:
    assert run("inspect", "2", "1", "--seed", "0", state=state).exit_code == 0
    return state.read_bytes()


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


def test_a_killed_worker_stops_the_run_with_one_line_and_the_state_file_intact(state: Path):
    before = built(state)
    argv = [sys.executable, "-m", "linctl", "train", *SAMPLES, "--steps", "100000000", "--lr", "0.01", "-q"]
    launcher = subprocess.Popen(
        [*argv, "--nproc", "2", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **PLAIN, "LINCTL_TIMEOUT": "30"},
    )
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        for pid in children(launcher.pid):
            if rank_of(pid) == 1:
                victim = pid
        time.sleep(0.2)
    assert victim is not None
    time.sleep(4)  # well into the training steps
    os.kill(victim, signal.SIGKILL)
    began = time.monotonic()
    _out, err = launcher.communicate(timeout=60)
    assert time.monotonic() - began < 30  # within the timeout: nothing hangs
    assert launcher.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "rank 1 of 2 was killed by SIGKILL" in lines[0] and "as it was before" in lines[0]
    assert "Traceback" not in err
    assert state.read_bytes() == before
    assert children(launcher.pid) == []


def test_rank_0_failing_first_is_its_own_line_and_the_others_follow(state: Path, tmp_path: Path):
    built(state)
    missing = tmp_path / "none.csv"
    began = time.monotonic()
    result = run_process("train", "--data", str(missing), "--nproc", "2", "--lr", "0.1", state=state, timeout=60)
    one_line(result, 2, "--data", "no such file")
    assert time.monotonic() - began < 40
    result = run_process("backward", *SAMPLES, "--nproc", "2", state=tmp_path / "absent.pt", timeout=60)
    one_line(result, 1, "absent.pt")


def test_bad_parallel_options_and_variables(state: Path):
    before = built(state)
    one_line(run("train", *SAMPLES, "--nproc", "2", "--batch-size", "3", "--lr", "0.1", state=state), 2)
    result = run_process("train", *SAMPLES, "--nproc", "2", "--batch-size", "3", "--lr", "0.1", state=state)
    one_line(result, 2, "--batch-size 3", "multiple of 2")
    one_line(run("train", *SAMPLES, "--nproc", "0", state=state), 2, "--nproc")
    one_line(run("train", *SAMPLES, "--nproc", "65", "--lr", "0.1", state=state), 2, "--nproc 65", "torchrun")
    result = run("train", *SAMPLES, "--nproc", "2", "--lr", "0.1", state=state, env={"WORLD_SIZE": "3", "RANK": "0"})
    one_line(result, 2, "--nproc 2", "WORLD_SIZE")
    one_line(
        run("train", *SAMPLES, "--lr", "0.1", state=state, env={"WORLD_SIZE": "two", "RANK": "0"}), 2, "WORLD_SIZE"
    )
    one_line(run("train", *SAMPLES, "--lr", "0.1", state=state, env={"WORLD_SIZE": "2", "RANK": "2"}), 2, "RANK=2")
    result = run("train", *SAMPLES, "--lr", "0.1", state=state, env={"WORLD_SIZE": "2", "RANK": "1"})
    one_line(result, 1, "rank 1", "MASTER_ADDR", "torchrun")  # torchrun's variables, but not all of them
    result = run_process("train", *SAMPLES, "--nproc", "2", "--lr", "0.1", state=state, env={"LINCTL_TIMEOUT": "soon"})
    one_line(result, 2, "LINCTL_TIMEOUT")
    rows = state.parent / "d.csv"
    rows.write_text("1,1,1\n0,1,0\n")
    result = run("train", "--data", str(rows), "--stream", "--batch-size", "2", "--lr", "0.1", state=state,
                 env={"LINCTL_CHUNK_ROWS": "0"})  # fmt: skip
    one_line(result, 2, "LINCTL_CHUNK_ROWS")
    one_line(run("train", "--data", str(rows), "--stream", "--lr", "0.1", state=state), 2, "--batch-size")
    rows.write_text("1,1\n")
    one_line(run("train", "--data", str(rows), "--stream", "--batch-size", "2", state=state), 2, "2 columns")
    one_line(run("train", *SAMPLES, "--stream", "--lr", "0.1", state=state), 2, "--stream", "--data FILE")
    assert state.read_bytes() == before


def test_nproc_on_cuda_without_a_gpu_is_one_line(state: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    before = built(state)
    result = run_process("train", *SAMPLES, "--nproc", "2", "--device", "cuda", "--lr", "0.1", state=state)
    one_line(result, 1, "--device cuda", "no CUDA GPU")
    assert state.read_bytes() == before


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on the PATH")
def test_under_torchrun_the_same_command_gives_the_same_network(state: Path, tmp_path: Path):
    import torch

    built(state)
    other = tmp_path / "other.pt"
    shutil.copy(state, other)
    common = [*SAMPLES, "--steps", "3", "--batch-size", "2", "--seed", "4", "--lr", "0.1", "-q"]
    assert run_process("train", *common, "--nproc", "2", state=state).exit_code == 0
    ran = subprocess.run(
        ["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "linctl", "train", *common, "--state", str(other)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **PLAIN},
    )
    assert ran.returncode == 0, ran.stderr
    for name, value in saved(state)["params"].items():
        assert torch.equal(saved(other)["params"][name], value)
    assert "train" in ran.stdout
