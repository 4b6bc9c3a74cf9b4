"""Golden views of the pictures at a fixed width: the graph, a heatmap, the update equation, the plot.

Regenerate after a deliberate change with LINCTL_UPDATE_GOLDEN=1 (see test_golden.py), then read the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from test_golden import BIAS, WEIGHT, B, W, build, check_golden, normalise

from conftest import ROOT, run

COLOUR = {"NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
# XOR by hand: h0 fires for x1 + x2 > 0.5, h1 for x1 + x2 > 1.5; the output is h0 and not h1
STACK = ["inspect", "2", "3", "1", "--weight", "4,4;4,4;0,0", "--weight", "5,-5,0", "--bias", "-2,-6,0"]
STACK += ["--bias", "-4", "--activation", "tanh", "--activation", "sigmoid"]


@pytest.fixture
def short_state(tmp_path, monkeypatch) -> Path:
    """A short relative state path, so the view's column widths do not depend on tmp_path."""
    monkeypatch.chdir(tmp_path)
    return Path("net.pt")


def test_golden_graph_with_saved(short_state):
    assert build(short_state).exit_code == 0
    result = run("graph", "--x", "1,1,1", "--t", "1,0", "--saved", state=short_state)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, short_state)
    x = torch.tensor([[1.0, 1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0]])
    y = x @ W.t() + B
    dy = 2 * (y - t) / 2  # d mse / dy
    assert f"grad [{', '.join(f'{v:.4f}' for v in dy.sum(0).tolist())}]" in actual  # the bias's gradient
    check_golden("graph_3_2.txt", actual)


def test_golden_heatmap(short_state):
    result = run("inspect", "3", "2", "--weight", WEIGHT, "--bias", BIAS, state=short_state, env=COLOUR)
    assert result.exit_code == 0
    actual = normalise(result.stdout, short_state)
    assert "min -0.6000" in actual and "0.5000 max" in actual
    check_golden("heatmap_3_2.ansi", actual)


def test_golden_update_equation(short_state):
    assert build(short_state).exit_code == 0
    assert run("backward", "--x", "1,1,1", "--t", "1,0", state=short_state).exit_code == 0
    result = run("step", "--lr", "0.1", state=short_state, env={"COLUMNS": "140"})
    assert result.exit_code == 0
    actual = normalise(result.stdout, short_state)
    after = W - 0.1 * torch.outer(B + W.sum(1) - torch.tensor([1.0, 0.0]), torch.ones(3))
    assert f"{after[0, 0].item():.4f}" in actual
    assert re.search(r"- 0\.1 ·.+=", actual)
    check_golden("step_equation_3_2.txt", actual)


def test_golden_plot(short_state):
    assert run(*STACK, state=short_state).exit_code == 0
    result = run("plot", "--data", str(ROOT / "examples" / "xor.csv"), state=short_state)
    assert result.exit_code == 0, result.stderr
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[4.0, 4.0], [4.0, 4.0], [0.0, 0.0]]))
        net[0].bias.copy_(torch.tensor([-2.0, -6.0, 0.0]))
        net[2].weight.copy_(torch.tensor([[5.0, -5.0, 0.0]]))
        net[2].bias.copy_(torch.tensor([-4.0]))
        corners = net(torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))[:, 0]
    assert corners.round().tolist() == [0.0, 1.0, 1.0, 0.0]  # it is XOR
    check_golden("plot_xor_2_3_1.txt", normalise(result.stdout, short_state))
