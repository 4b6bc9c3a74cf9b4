"""Golden views of a 2-3-1 stack at a fixed width (100), without colour; their numbers checked against plain torch.

Regenerate after a deliberate change with LINCTL_UPDATE_GOLDEN=1 (that run skips; read the diff, then rerun).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from test_golden import PLACEHOLDER, check_golden, normalise

from conftest import run
from linctl.render.cells import fmt

W0 = "0.5,-0.25;0.125,0.75;-0.5,0.25"
B0 = "0.1,-0.1,0.05"
W1 = "1,-0.5,0.25"
B1 = "-0.2"


def plain() -> torch.nn.Sequential:
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, -0.25], [0.125, 0.75], [-0.5, 0.25]]))
        net[0].bias.copy_(torch.tensor([0.1, -0.1, 0.05]))
        net[2].weight.copy_(torch.tensor([[1.0, -0.5, 0.25]]))
        net[2].bias.copy_(torch.tensor([-0.2]))
    return net


@pytest.fixture
def stack(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    state = Path("net.pt")
    args = ["inspect", "--weight", W0, "--weight", W1, "--bias", B0, "--bias", B1]
    result = run(*args, "--activation", "tanh", "--activation", "sigmoid", state=state)
    assert result.exit_code == 0, result.stderr
    return state


def test_golden_stack_inspect(stack):
    actual = normalise(run("inspect", state=stack).stdout, stack)
    assert PLACEHOLDER in actual
    for line in str(plain()).splitlines():
        assert line in actual
    check_golden("inspect_stack_2_3_1.txt", actual)


def test_golden_stack_forward(stack):
    result = run("forward", "--x", "1,-1", state=stack)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, stack)
    net = plain()
    x = torch.tensor([[1.0, -1.0]])
    with torch.no_grad():
        z0 = net[0](x)
        z1 = net[2](torch.tanh(z0))
        o = net(x)
    # the view prints each number as fmt does (4 decimals): the text of plain torch's value, exactly
    for j in range(3):
        line = re.search(rf"^z0\[{j}\] = .+ = (-?[0-9.]+)\s+tanh\(.+\) = (-?[0-9.]+)$", actual, re.M)
        assert line.group(1) == fmt(z0[0, j].item())
        assert line.group(2) == fmt(torch.tanh(z0[0, j]).item())
    line = re.search(r"^z1\[0\] = .+ = (-?[0-9.]+)\s+sigmoid\(.+\) = ([0-9.]+)$", actual, re.M)
    assert line.group(1) == fmt(z1[0, 0].item())
    assert line.group(2) == fmt(o[0, 0].item())
    check_golden("forward_stack_2_3_1.txt", actual)


def test_golden_stack_backward(stack):
    result = run("backward", "--x", "1,-1", "--t", "1", "--loss", "bce", state=stack)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, stack)
    net = plain()
    loss = torch.nn.functional.binary_cross_entropy(net(torch.tensor([[1.0, -1.0]])), torch.tensor([[1.0]]))
    loss.backward()
    assert f"= {loss.item():.4f}" in actual
    assert "delta1 = dL/dz1" in actual and "delta0 = dL/dz0" in actual
    assert actual.count("autograd vs by hand: match") == 2
    check_golden("backward_stack_2_3_1.txt", actual)
