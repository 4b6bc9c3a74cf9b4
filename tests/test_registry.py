"""The registry is the only list of activations and losses: an entry added there alone is a whole citizen.

A throwaway activation (softsign) and loss (smooth L1) are put into the registry for one test, and then every
command that names activations or losses takes them: the option parsers, the layer specs and the module printed,
the state file's checks, backward's by-hand backprop, train, and the exported program; every number is plain
torch's, built in the test.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import exact, exported_program_state, run, run_json
from linctl.model import registry


def _softsign_backward(z, h, g):
    return g / (1 + z.abs()) ** 2


def _smooth_l1_gradient(o, t):
    d = o - t
    return torch.where(d.abs() < 1, d, torch.sign(d)) / o.numel()


@pytest.fixture
def throwaway(monkeypatch):
    monkeypatch.setitem(
        registry.ACTIVATIONS,
        "softsign",
        registry.Activation(
            "softsign",
            "Softsign",
            "F.softsign",
            "h = z / (1 + |z|)",
            "1 / (1 + |{z}|)²",
            F.softsign,
            _softsign_backward,
            browser="(zs) => zs.map((z) => z / (1 + Math.abs(z)))",
            output_range=(-1.0, 1.0),
        ),
    )
    monkeypatch.setitem(
        registry.LOSSES,
        "smooth_l1",
        registry.Loss(
            "smooth_l1",
            "F.smooth_l1_loss",
            "L = mean(½(o - t)² if |o - t| < 1 else |o - t| - ½)",
            "clamp(o - t, -1, 1) / N",
            F.smooth_l1_loss,
            _smooth_l1_gradient,
        ),
    )


def _plain():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softsign(), torch.nn.Linear(3, 1), torch.nn.Softsign())
    return net


X = [[1.0, -2.0], [0.5, 3.0]]
T = [[0.9], [-3.0]]


def test_an_activation_and_a_loss_added_to_the_registry_alone_work_in_every_command(throwaway, tmp_path):
    state = tmp_path / "net.safetensors"
    built = run("inspect", "2", "3", "1", "--seed", "0", "--activation", "softsign", state=state)
    assert built.exit_code == 0, built.stderr
    assert "(1): Softsign()" in built.stdout and "(3): Softsign()" in built.stdout

    net = _plain()
    x, t = torch.tensor(X), torch.tensor(T)
    loss = F.smooth_l1_loss(net(x), t)
    loss.backward()
    args = ("--x", "1,-2;0.5,3", "--t", "0.9;-3", "--loss", "smooth_l1")
    shown = run("backward", *args, state=state).stdout
    assert "1 / (1 + |z1|)²" in shown and "1 / (1 + |z0|)²" in shown  # the entry's formula, in backprop by hand
    assert run("zero-grad", state=state).exit_code == 0
    back = run_json("backward", *args, state=state)
    assert back["loss"] == loss.item() and back["loss_name"] == "smooth_l1"
    assert back["match"] is True
    for layer, linear in zip(back["layers"], [net[0], net[2]], strict=True):
        exact(layer["weight_grad"], linear.weight.grad)
        exact(layer["bias_grad"], linear.bias.grad)
        torch.testing.assert_close(torch.tensor(layer["manual_weight_grad"]), linear.weight.grad)

    torch.optim.SGD(net.parameters(), lr=0.1).step()
    stepped = run_json("step", "--lr", "0.1", state=state)
    exact(stepped["layers"][0]["weight"], net[0].weight)

    program = tmp_path / "s.py"
    replayed = exported_program_state(state, program)
    for name, value in net.state_dict().items():
        exact(replayed[name], value)


def test_an_unknown_activation_is_refused_naming_every_registered_one(throwaway, tmp_path):
    result = run("inspect", "2", "1", "--activation", "softsine", state=tmp_path / "n.safetensors")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"--activation: expected one of {', '.join(registry.ACTIVATIONS)}, got 'softsine'" in line
    assert "softsign" in line


def test_every_entry_is_whole():
    """Every activation and loss has what each part of linctl reads of it, and the program's code is plain torch."""
    for act in registry.ACTIVATIONS.values():
        assert act.formula.startswith("h = ") and act.derivative
        assert act.module is None or hasattr(torch.nn, act.module)
        assert "g" in act.local_rule("g", "h", "z")
    for entry in registry.LOSSES.values():
        assert entry.formula.startswith("L = ") and entry.reduction == "mean" and entry.target in ("same", "classes")
