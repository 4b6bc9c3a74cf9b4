"""`set` takes any parameter name the network has, as state_dict() lists it; others are refused naming them all."""

from __future__ import annotations

import torch

from conftest import exact, run, run_json


def test_set_reads_names_from_the_network_not_a_pattern(tmp_path):
    state = tmp_path / "net.safetensors"
    assert (
        run(
            "inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state
        ).exit_code
        == 0
    )
    before = state.read_bytes()
    for typed in ("1.weight[0,0]=1", "foo[0]=1", "2.weights[0,0]=1"):
        result = run("set", typed, state=state)
        assert result.exit_code == 2, typed
        (line,) = result.stderr.strip().splitlines()
        assert "is not a parameter of this network; its parameters are 0.weight, 0.bias, 2.weight, 2.bias" in line
        assert state.read_bytes() == before
    changed = run_json("set", "2.bias[0]=0.25", state=state)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with torch.no_grad():
        net[2].bias[0] = 0.25
    shown = run_json("inspect", state=state)
    exact(shown["layers"][1]["bias"], net[2].bias)
    assert changed
