"""Several linctl processes changing one state file at once lose nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import PLAIN, run, saved


@pytest.mark.parametrize("processes", [3, pytest.param(8, marks=pytest.mark.slow)])
def test_train_steps_at_once_equal_as_many_in_a_row(state, processes):
    """`processes` linctl processes started together on one state file: each step lands, one after another."""
    result = run("inspect", "2", "2", "--weight", "0.5,-0.25;0.1,0.3", "--bias", "0.1,-0.2", state=state)
    assert result.exit_code == 0, result.stderr

    env = {**os.environ, **PLAIN}
    argv = [
        sys.executable,
        "-m",
        "linctl",
        "train-step",
        "--x",
        "1,-2",
        "--t",
        "0.5,1.5",
        "--lr",
        "0.05",
        "--json",
        "--state",
        str(state),
    ]
    # all started before any is waited for
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=180))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr

    # the same steps in a row, in plain torch
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.5, -0.25], [0.1, 0.3]]))
        net.bias.copy_(torch.tensor([0.1, -0.2]))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, t = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, 1.5]])
    for _ in range(processes):
        opt.zero_grad()
        F.mse_loss(net(x), t).backward()
        opt.step()

    data = saved(state)
    assert data["step"] == processes
    torch.testing.assert_close(data["params"]["weight"], net.weight.detach())
    torch.testing.assert_close(data["params"]["bias"], net.bias.detach())

    # each process saw its own step number: none read a state another one was about to replace
    steps = sorted(json.loads(stdout)["step"] for stdout, _ in outputs)
    assert steps == list(range(1, processes + 1))

    # and the history holds every one of them, in one unbroken line
    lines = (Path(str(state) + ".history") / "index.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["id"] for e in entries] == list(range(1, processes + 2))
    assert [e["step"] for e in entries] == list(range(0, processes + 1))
    assert [e["parent"] for e in entries[1:]] == list(range(1, processes + 1))
    # no temp files left behind
    assert not list(state.parent.glob(".*.tmp"))
