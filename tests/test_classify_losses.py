"""Issue 17: cross_entropy (on logits) and nll (after log_softmax) with class-index targets, probability targets
for cross_entropy, the targets they refuse (one line, exit 2, the state file unchanged) and the double-softmax trap.

Every number is plain torch's, built in the test: nn.CrossEntropyLoss / nn.NLLLoss on a tensor of class indices,
losses and autograd's gradients bit for bit, the by-hand (softmax(z) − onehot(t)) / B beside them, and `train` in
one run and over separate invocations equal to the plain loop.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from conftest import exact, exported_program_state, rows, run, run_json
from linctl.model import registry

X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7], [2.5, -0.2, 0.1], [0.2, 0.4, -2.0]]
CLASSES = [2, 0, 1, 1, 0]
SIZES = {1: [3, 3], 2: [3, 4, 3], 3: [3, 5, 4, 3]}


def indices(values) -> str:
    return ";".join(str(v) for v in values)


def plain(sizes, hidden: str, last: str, seed: int) -> nn.Module:
    """torch.manual_seed(seed); Linear layers with tanh between them and `last` (none/log_softmax/softmax) at the end."""
    torch.manual_seed(seed)
    linears = [nn.Linear(sizes[k], sizes[k + 1]) for k in range(len(sizes) - 1)]
    modules: list[nn.Module] = []
    for k, linear in enumerate(linears):
        modules.append(linear)
        act = hidden if k < len(linears) - 1 else last
        if act == "tanh":
            modules.append(nn.Tanh())
        elif act == "log_softmax":
            modules.append(nn.LogSoftmax(dim=1))
        elif act == "softmax":
            modules.append(nn.Softmax(dim=1))
    return nn.Sequential(*modules)


def build(state, depth: int, last: str, seed: int = 5) -> nn.Module:
    sizes = SIZES[depth]
    acts = ["--activation", "tanh"] * (depth - 1) + ["--activation", last]
    if depth == 1:
        acts = ["--activation", last]
    out = run("inspect", *map(str, sizes), "--seed", str(seed), *acts, "--json", state=state)
    assert out.exit_code == 0, out.stderr
    return plain(sizes, "tanh", last, seed)


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net if isinstance(m, nn.Linear)]


LOSSES = {"cross_entropy": (nn.CrossEntropyLoss, "none"), "nll": (nn.NLLLoss, "log_softmax")}


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_backward_with_class_indices_equals_plain_torch_and_the_hand_gradient(tmp_path, loss, depth):
    state = tmp_path / "net.safetensors"
    criterion, last = LOSSES[loss]
    net = build(state, depth, last)
    x, t = torch.tensor(X), torch.tensor(CLASSES)
    back = run_json("backward", "--x", rows(X), "--t", indices(CLASSES), "--loss", loss, state=state)
    o = net(x)
    value = criterion()(o, t)
    value.backward()
    exact(back["loss"], value)
    exact(back["output"], o)
    assert back["match"] is True
    layers = back.get("layers", [back])
    for layer, linear in zip(layers, linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad)
        exact(layer["bias_grad"], linear.bias.grad)
        assert_close(torch.tensor(layer["manual_weight_grad"]), linear.weight.grad)
        assert_close(torch.tensor(layer["manual_bias_grad"]), linear.bias.grad)


def test_the_hand_gradient_is_softmax_minus_onehot_over_the_batch():
    o = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    t = torch.tensor([3, 0, 1, 1, 2, 0])
    column = t.to(torch.float32).unsqueeze(1)  # how linctl holds class indices: one column of the typed numbers
    entry = registry.loss("cross_entropy")
    exact(entry.forward(o, column), F.cross_entropy(o, t))
    (autograd,) = torch.autograd.grad(F.cross_entropy(o, t), o)
    by_hand = (torch.softmax(o, dim=1) - F.one_hot(t, 4)) / 6
    assert_close(entry.gradient(o.detach(), column), autograd)
    assert_close(entry.gradient(o.detach(), column), by_hand)
    logp = torch.log_softmax(o.detach(), dim=1).requires_grad_()
    (autograd,) = torch.autograd.grad(F.nll_loss(logp, t), logp)
    assert_close(registry.loss("nll").gradient(logp.detach(), column), autograd)


def test_probability_targets_for_cross_entropy_as_torch_takes_them(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, 2, "none")
    p = [[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]]
    back = run_json("backward", "--x", rows(X), "--t", rows(p), "--loss", "cross_entropy", state=state)
    value = F.cross_entropy(net(torch.tensor(X)), torch.tensor(p))
    value.backward()
    exact(back["loss"], value)
    assert back["match"] is True
    for layer, linear in zip(back["layers"], linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad)


def plain_loop(net, x, t, lr: float, steps: int, batch: int, seed: int) -> list[float]:
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    while len(losses) < steps:
        order = torch.randperm(x.shape[0], generator=g)
        for start in range(0, x.shape[0], batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            loss = F.cross_entropy(net(x[idx]), t[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


def test_train_with_cross_entropy_in_one_run_and_over_separate_runs_is_the_plain_loop(tmp_path):
    x, t = torch.tensor(X), torch.tensor(CLASSES)
    common = ("--x", rows(X), "--t", indices(CLASSES), "--loss", "cross_entropy", "--lr", "0.5", "--batch-size", "2")
    one = tmp_path / "one.safetensors"
    build(one, 2, "none")
    whole = run_json("train", *common, "--steps", "9", "--seed", "3", state=one)
    net = plain(SIZES[2], "tanh", "none", 5)
    losses = plain_loop(net, x, t, 0.5, 9, 2, 3)
    assert whole["losses"] == losses
    shown = run_json("inspect", state=one)
    for layer, linear in zip(shown["layers"], linears(net), strict=True):
        exact(layer["weight"], linear.weight)
        exact(layer["bias"], linear.bias)

    # one step at a time, each a separate invocation, the batches chosen by hand: plain SGD steps
    steps = tmp_path / "steps.safetensors"
    build(steps, 3, "none")
    net = plain(SIZES[3], "tanh", "none", 5)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for start in (0, 2, 4, 1):
        batch = slice(start, start + 2)
        out = run_json(
            "train-step",
            "--x",
            rows(X[batch]),
            "--t",
            indices(CLASSES[batch]),
            "--loss",
            "cross_entropy",
            "--lr",
            "0.5",
            state=steps,
        )
        opt.zero_grad()
        loss = F.cross_entropy(net(x[batch]), t[batch])
        loss.backward()
        opt.step()
        exact(out["loss"], loss)
    shown = run_json("inspect", state=steps)
    for layer, linear in zip(shown["layers"], linears(net), strict=True):
        exact(layer["weight"], linear.weight)


def test_two_train_runs_equal_one_with_cross_entropy(tmp_path):
    common = ("--x", rows(X), "--t", indices(CLASSES), "--loss", "cross_entropy", "--optimizer", "adam")
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    build(one, 2, "none")
    build(two, 2, "none")
    run_json("train", *common, "--lr", "0.05", "--steps", "6", "--no-shuffle", state=one)
    run_json("train", *common, "--lr", "0.05", "--steps", "2", "--no-shuffle", state=two)
    run_json("train", *common, "--steps", "4", "--no-shuffle", state=two)
    net = plain(SIZES[2], "tanh", "none", 5)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(6):
        opt.zero_grad()
        F.cross_entropy(net(torch.tensor(X)), torch.tensor(CLASSES)).backward()
        opt.step()
    for path in (one, two):
        for layer, linear in zip(run_json("inspect", state=path)["layers"], linears(net), strict=True):
            exact(layer["weight"], linear.weight)


@pytest.mark.parametrize(
    "loss, last, t, expected",
    [
        ("cross_entropy", "none", "3", "--t value 1: class 3 is out of range"),
        ("cross_entropy", "none", "-1", "--t value 1: class -1 is out of range"),
        (
            "cross_entropy",
            "none",
            "1.5",
            "--t value 1: --loss cross_entropy needs a class index, a whole number 0 to 2",
        ),
        ("nll", "log_softmax", "0.5", "--t value 1: --loss nll needs a class index, a whole number 0 to 2, got 0.5"),
        ("cross_entropy", "none", "0.2,0.7,0.2", "the class probabilities of this sample sum to 1.1, not 1"),
        (
            "cross_entropy",
            "none",
            "1.5,-0.5,0",
            "--t value 1: --loss cross_entropy takes class probabilities in [0, 1]",
        ),
        ("cross_entropy", "none", "1,0", "--t: --loss cross_entropy takes one class index per sample (0 to 2)"),
        ("nll", "log_softmax", "0.1,0.7,0.2", "--t: --loss nll takes one class index per sample (0 to 2), got 3"),
        ("nll", "none", "1", "--loss nll needs outputs in [-inf, 0], but an output is"),
    ],
)
@pytest.mark.parametrize("command", ["backward", "train-step", "train"])
def test_targets_a_classification_loss_cannot_take_are_one_line_exit_2_and_change_nothing(
    tmp_path, command, loss, last, t, expected
):
    state = tmp_path / "net.safetensors"
    build(state, 2, last)
    x = "2,-1,1"
    if last == "none" and loss == "nll":  # an output above 0 is no log-probability
        assert max(run_json("forward", "--x", x, state=state)["output"][0]) > 0
    before = state.read_bytes()
    extra = ["--lr", "0.1"] if command != "backward" else []
    result = run(command, "--x", x, "--t", t, "--loss", loss, *extra, state=state)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert expected in line, line
    assert "Traceback" not in result.stderr and "internal error" not in line
    assert state.read_bytes() == before


def test_a_softmax_before_cross_entropy_runs_as_torch_runs_it_with_one_warning_naming_the_fix(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, 2, "softmax")
    result = run("backward", "--x", rows(X), "--t", indices(CLASSES), "--loss", "cross_entropy", "--json", state=state)
    assert result.exit_code == 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("warning: ") and "softmax runs twice" in line
    assert "--activation none on the last layer" in line and "log_softmax with --loss nll" in line
    value = F.cross_entropy(net(torch.tensor(X)), torch.tensor(CLASSES))  # what torch computes, softmax twice
    exact(json.loads(result.stdout)["loss"], value)
    plain_run = run(
        "backward",
        "--x",
        rows(X),
        "--t",
        indices(CLASSES),
        "--loss",
        "cross_entropy",
        "--activation",
        "tanh",
        "--activation",
        "none",
        "--json",
        state=state,
    )
    assert plain_run.exit_code == 0 and "softmax runs twice" not in plain_run.stderr


def test_the_exported_program_replays_cross_entropy_steps(tmp_path):
    state = tmp_path / "net.safetensors"
    build(state, 2, "none")
    run_json(
        "train-step", "--x", rows(X), "--t", indices(CLASSES), "--loss", "cross_entropy", "--lr", "0.2", state=state
    )
    p = "0.1,0.7,0.2;0.5,0.25,0.25;0,0,1;0.3,0.3,0.4;1,0,0"
    run_json("train-step", "--x", rows(X), "--t", p, "--loss", "cross_entropy", "--lr", "0.2", state=state)
    net = plain(SIZES[2], "tanh", "none", 5)
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for target in (torch.tensor(CLASSES), torch.tensor([[float(v) for v in r.split(",")] for r in p.split(";")])):
        opt.zero_grad()
        F.cross_entropy(net(torch.tensor(X)), target).backward()
        opt.step()
    program = tmp_path / "session.py"
    replayed = exported_program_state(state, program)
    for name, value in net.state_dict().items():
        exact(replayed[name], value)
