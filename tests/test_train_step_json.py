"""`train-step --json` has the keys of backward and of step, each equal to plain torch computed here.

docs/scripts.md promises them: "train-step: those of backward and step". Where both commands have a key
(`weight`, `bias`, `weight_grad`, `bias_grad`), train-step's is step's: the weights after the step.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_backward import BACKWARD_KEYS
from torch.testing import assert_close

from conftest import exact, f32, rows, run, run_json, vec

W = [[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]]
B = [0.1, -0.25]
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6]]

STEP_KEYS = {"weight_before", "bias_before", "weight", "bias", "weight_grad", "bias_grad", "lr", "optimizer", "step"}


def build(state, activation="sigmoid"):
    result = run(
        "inspect", "3", "2", f"--weight={rows(W)}", f"--bias={vec(B)}", "--activation", activation, state=state
    )
    assert result.exit_code == 0, result.stderr


def torch_net() -> torch.nn.Linear:
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(f32(W))
        net.bias.copy_(f32(B))
    return net


@pytest.mark.parametrize("backward_first", [False, True])
def test_every_key_of_backward_and_step_equals_plain_torch(state, backward_first):
    build(state)
    net = torch_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, t = f32(X), f32(T)
    if backward_first:  # gradients stored before: train-step's zero_grad clears them
        assert run("backward", f"--x={rows(X)}", f"--t={rows(T)}", state=state).exit_code == 0
        F.mse_loss(torch.sigmoid(net(x)), t).backward()
    out = run_json("train-step", f"--x={rows(X)}", f"--t={rows(T)}", "--lr", "0.1", state=state)
    assert BACKWARD_KEYS | STEP_KEYS | {"grad_match"} <= set(out)

    # the loop body, in plain torch
    w_before, b_before = net.weight.detach().clone(), net.bias.detach().clone()
    opt.zero_grad()
    w_grad_before, b_grad_before = net.weight.grad, net.bias.grad  # None: zero_grad sets them to None
    y = net(x)
    o = torch.sigmoid(y)
    loss = F.mse_loss(o, t)
    loss.backward()
    w_grad, b_grad = net.weight.grad.clone(), net.bias.grad.clone()
    opt.step()

    # backward's keys
    exact(out["x"], x)
    exact(out["t"], t)
    exact(out["output"], o)
    exact(out["linear"], y)
    assert out["loss"] == loss.item()
    assert w_grad_before is None and b_grad_before is None
    assert out["weight_grad_before"] is None and out["bias_grad_before"] is None
    assert out["grads_cleared"] is backward_first
    exact(out["weight_grad"], w_grad)
    exact(out["bias_grad"], b_grad)
    # the chain rule by hand: other operations in another order than autograd, so within float tolerance
    dy = 2 * (o - t) / o.numel() * o * (1 - o)
    assert_close(f32(out["manual_weight_grad"]), dy.t().mm(x).detach())
    assert_close(f32(out["manual_bias_grad"]), dy.sum(0).detach())
    # and the figures that compare it with autograd are exactly the comparison of these numbers
    manual_w, manual_b = f32(out["manual_weight_grad"]), f32(out["manual_bias_grad"])
    worst = max(float((manual_w - w_grad).abs().max()), float((manual_b - b_grad).abs().max()))
    assert out["max_abs_diff"] == worst
    assert out["match"] is out["grad_match"] is True
    assert out["match"] == (
        torch.allclose(manual_w, w_grad, rtol=1.3e-6, atol=1e-5)
        and torch.allclose(manual_b, b_grad, rtol=1.3e-6, atol=1e-5)
    )

    # step's keys: the weights after the step
    exact(out["weight_before"], w_before)
    exact(out["bias_before"], b_before)
    exact(out["weight"], net.weight)
    exact(out["bias"], net.bias)
    exact(out["weight_change"], net.weight.detach() - w_before)
    exact(out["bias_change"], net.bias.detach() - b_before)
    exact(out["hand_weight"], w_before - 0.1 * w_grad)
    exact(out["hand_bias"], b_before - 0.1 * b_grad)
    assert out["hand_match"] is True
    assert out["lr"] == 0.1 and out["optimizer"] == "sgd" and out["step"] == 1


def test_a_mismatch_shows_in_match_and_max_abs_diff(state, monkeypatch):
    """max_abs_diff and match report the comparison: a wrong hand formula makes them say so."""
    from dataclasses import replace

    from linctl.model import registry

    build(state)
    wrong = replace(registry.LOSSES["mse"], gradient=lambda output, target: 3 * (output - target) / output.numel())
    monkeypatch.setitem(registry.LOSSES, "mse", wrong)
    out = run_json("train-step", f"--x={rows(X)}", f"--t={rows(T)}", "--lr", "0.1", state=state)
    assert out["match"] is False and out["grad_match"] is False
    assert out["max_abs_diff"] > 1e-3


def test_adam_train_step_keys(state):
    build(state, "tanh")
    out = run_json(
        "train-step",
        f"--x={rows(X)}",
        f"--t={rows(T)}",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--loss",
        "l1",
        state=state,
    )
    net = torch_net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    opt.zero_grad()
    loss = F.l1_loss(torch.tanh(net(f32(X))), f32(T))
    loss.backward()
    w_grad = net.weight.grad.clone()
    opt.step()
    assert out["loss"] == loss.item()
    exact(out["weight_grad"], w_grad)
    exact(out["weight"], net.weight)
    assert out["weight_grad_before"] is None
    assert out["hand_weight"] is None and out["hand_match"] is None  # W - lr·grad is plain SGD's update only
    assert out["match"] is True and out["optimizer"] == "adam"
