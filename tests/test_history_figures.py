"""A history entry's figures per parameter (`changes`) beside the global ones, each as plain torch computes it."""

from __future__ import annotations

import math

import torch

from conftest import run, run_json


def test_each_parameter_has_its_own_change_and_the_totals_are_over_all_layers(tmp_path):
    state = tmp_path / "net.safetensors"
    assert (
        run(
            "inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state
        ).exit_code
        == 0
    )
    assert run("train-step", "--x", "1,-1", "--t", "0.5", "--lr", "0.1", state=state).exit_code == 0
    entries = run_json("history", state=state)["entries"]
    assert entries[0]["changes"] is None  # a new network moved from nothing

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    torch.nn.functional.mse_loss(net(torch.tensor([[1.0, -1.0]])), torch.tensor([[0.5]])).backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    moved = {name: float((p.detach() - before[name]).norm()) for name, p in net.named_parameters()}
    changes = entries[1]["changes"]
    assert changes == moved
    weights = [moved[n] for n in moved if n.endswith("weight")]
    assert math.isclose(entries[1]["weight_change"], math.sqrt(sum(w * w for w in weights)), rel_tol=1e-15)
