"""`linctl forward --x ...`: net(x) and the hand computation, checked against plain torch.

linctl runs the very torch operations these tests run (net(x); torch.mm(W, x.t()) + b.view(OUT, 1)),
on CPU, so the numbers are compared bit for bit. Only where net(x) (one fused addmm) is set beside the
product-then-sum by hand may the last bits differ, and that comparison keeps a float tolerance.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import exact, run, run_json, saved
from linctl.render.cells import fmt

FORWARD_KEYS = {"x", "linear", "output", "manual", "max_abs_diff", "match", "grad_fn"}


def stored_net(path: Path) -> torch.nn.Linear:
    """The network in the state file, rebuilt as a plain torch.nn.Linear."""
    data = saved(path)
    layer = data["layers"][0]
    weight = data["params"]["weight"]
    net = torch.nn.Linear(layer["in_features"], layer["out_features"], bias=layer["bias"], dtype=weight.dtype)
    with torch.no_grad():
        net.weight.copy_(weight)
        if layer["bias"]:
            net.bias.copy_(data["params"]["bias"])
    return net


def build(state: Path, n_in: int, n_out: int, seed: int = 0, *extra: str) -> torch.nn.Linear:
    run_json("inspect", str(n_in), str(n_out), "--seed", str(seed), *extra, state=state)
    torch.manual_seed(seed)
    net = torch.nn.Linear(n_in, n_out)
    assert torch.equal(net.weight.detach(), stored_net(state).weight.detach())
    return net


@pytest.mark.parametrize("n_in,n_out", [(2, 1), (2, 2), (2, 3), (3, 2)])
def test_forward_equals_torch(state, n_in, n_out):
    net = build(state, n_in, n_out, seed=n_in * 10 + n_out)
    values = [0.5 * (i + 1) * (-1) ** i for i in range(n_in)]
    x = torch.tensor([values])
    data = run_json("forward", "--x", ",".join(str(v) for v in values), state=state)
    assert set(data) >= FORWARD_KEYS
    y = net(x)
    exact(data["x"], x)
    exact(data["linear"], y)
    exact(data["output"], y)  # no activation
    manual = torch.mm(net.weight, x.t()) + net.bias.view(n_out, 1)
    exact(data["manual"], manual)
    assert torch.tensor(data["manual"]).shape == (n_out, 1)
    assert torch.tensor(data["linear"]).shape == (1, n_out)
    assert data["match"] is True
    # net(x) is one addmm, the hand version a product then a sum: equal within float tolerance
    assert data["max_abs_diff"] == pytest.approx(0.0, abs=1e-5)
    assert data["max_abs_diff"] == float((manual.t() - y).detach().abs().max())
    assert data["grad_fn"] == type(y.grad_fn).__name__ == "AddmmBackward0"


def test_the_tutorial_example(state):
    """x = [[1.0, 1.0]] into nn.Linear(2, 1)."""
    net = build(state, 2, 1, seed=0)
    data = run_json("forward", "--x", "1,1", state=state)
    x = torch.tensor([[1.0, 1.0]])
    exact(data["linear"], net.forward(x))
    exact(data["manual"], torch.mm(net.weight, x.t()) + net.bias.view(1, 1))


def test_several_samples_repeat_and_semicolon_agree(state):
    net = build(state, 2, 3, seed=5)
    repeated = run_json("forward", "--x", "1,1", "--x", "0.1,0.5", "--x", "-2,3", state=state)
    separated = run_json("forward", "--x", "1,1;0.1,0.5;-2,3", state=state)
    mixed = run_json("forward", "--x", "1,1;0.1,0.5", "--x", "-2,3", state=state)
    assert repeated == separated == mixed
    x = torch.tensor([[1.0, 1.0], [0.1, 0.5], [-2.0, 3.0]])
    y = net(x)
    exact(repeated["x"], x)
    exact(repeated["linear"], y)
    assert torch.tensor(repeated["linear"]).shape == (3, 3)  # (B, OUT)
    manual = torch.mm(net.weight, x.t()) + net.bias.view(3, 1)
    exact(repeated["manual"], manual)
    assert torch.tensor(repeated["manual"]).shape == (3, 3)  # (OUT, B)
    assert repeated["match"] is True


def test_negative_numbers_with_equals(state):
    net = build(state, 2, 2, seed=3)
    data = run_json("forward", "--x=-0.5,2", state=state)
    x = torch.tensor([[-0.5, 2.0]])
    exact(data["x"], x)
    exact(data["linear"], net(x))
    again = run_json("forward", "--x=-0.5,-2;-1e-3,4", state=state)
    x = torch.tensor([[-0.5, -2.0], [-1e-3, 4.0]])
    exact(again["linear"], net(x))


def test_no_bias_forward(state):
    run_json("inspect", "2", "2", "--seed", "6", "--no-bias", state=state)
    torch.manual_seed(6)
    net = torch.nn.Linear(2, 2, bias=False)
    data = run_json("forward", "--x", "1,2", state=state)
    x = torch.tensor([[1.0, 2.0]])
    y = net(x)
    exact(data["linear"], y)
    exact(data["manual"], torch.mm(net.weight, x.t()))
    assert data["grad_fn"] == type(y.grad_fn).__name__  # MmBackward0 without a bias
    assert data["bias_trap"] is None


# --------------------------------------------------------------------------
# the bias trap


@pytest.mark.parametrize("n_out", [2, 3, 4])
def test_bias_trap_for_one_sample(state, n_out):
    net = build(state, 2, n_out, seed=n_out)
    data = run_json("forward", "--x", "1,1", state=state)
    x = torch.tensor([[1.0, 1.0]])
    wrong = torch.mm(net.weight, x.t()) + net.bias  # what the tutorial warns about
    assert wrong.shape == (n_out, n_out)
    trap = data["bias_trap"]
    assert trap is not None
    assert tuple(trap["shape"]) == (n_out, n_out)
    exact(trap["values"], wrong)
    # the wrong numbers really are wrong
    right = torch.mm(net.weight, x.t()) + net.bias.view(n_out, 1)
    assert not torch.allclose(wrong, right.expand_as(wrong))


def test_no_bias_trap_for_one_output(state):
    net = build(state, 3, 1, seed=1)
    data = run_json("forward", "--x", "1,2,3", "--x", "4,5,6", state=state)
    assert data["bias_trap"] is None
    x = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    # for OUT=1 plain broadcasting happens to give the right numbers
    assert torch.equal(torch.mm(net.weight, x.t()) + net.bias, torch.mm(net.weight, x.t()) + net.bias.view(1, 1))
    result = run("forward", "--x", "1,2,3", state=state)
    assert "bias trap" not in result.stdout


def test_bias_trap_same_shape_wrong_numbers(state):
    """B == OUT: the shape comes out right but the numbers are wrong."""
    net = build(state, 2, 2, seed=12)
    data = run_json("forward", "--x", "1,1;0.5,-1", state=state)
    x = torch.tensor([[1.0, 1.0], [0.5, -1.0]])
    wrong = torch.mm(net.weight, x.t()) + net.bias
    trap = data["bias_trap"]
    assert tuple(trap["shape"]) == tuple(wrong.shape) == (2, 2)
    exact(trap["values"], wrong)


def test_bias_trap_that_torch_refuses(state):
    """OUT=3 with B=2: torch itself raises on the broadcast."""
    net = build(state, 2, 3, seed=13)
    x = torch.tensor([[1.0, 1.0], [0.5, -1.0]])
    with pytest.raises(RuntimeError):
        torch.mm(net.weight, x.t()) + net.bias
    data = run_json("forward", "--x", "1,1;0.5,-1", state=state)
    trap = data["bias_trap"]
    assert trap is not None and trap["shape"] is None and trap["values"] is None
    exact(data["linear"], net(x))  # the real forward still works


def test_bias_trap_in_view(state):
    build(state, 2, 3, seed=2)
    out = run("forward", "--x", "1,1", state=state).stdout
    assert "(3, 3)" in out
    assert ".view(3, 1)" in out


# --------------------------------------------------------------------------
# activations


ACTIVATIONS = {"none": lambda y: y, "sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_applied(state, activation):
    """The output is fn(net(x)) bit for bit, and no other activation gives it."""
    fn = ACTIVATIONS[activation]
    net = build(state, 2, 3, 14, "--activation", activation)
    data = run_json("forward", "--x", "1,-1;0.3,2", state=state)
    x = torch.tensor([[1.0, -1.0], [0.3, 2.0]])
    y = net(x)
    out = fn(y)
    exact(data["linear"], y)
    exact(data["output"], out)
    assert (y < 0).any() and (y > 0).any()  # relu and none differ here
    for other, other_fn in ACTIVATIONS.items():
        if other != activation:
            assert not torch.equal(torch.tensor(data["output"]), other_fn(y).detach()), other
    assert data["grad_fn"] == "AddmmBackward0"
    if activation == "none":
        assert data["output_grad_fn"] is None
        return
    assert data["output_grad_fn"] == type(out.grad_fn).__name__
    view = run("forward", "--x", "1,-1", state=state).stdout
    assert f"{activation}(" in view


def test_sigmoid_as_in_the_tutorial(state):
    net = build(state, 2, 1, 0, "--activation", "sigmoid")
    data = run_json("forward", "--x", "1,1", state=state)
    x = torch.tensor([[1.0, 1.0]])
    o = torch.nn.Sigmoid()(net(x))
    exact(data["output"], o)
    assert 0 < data["output"][0][0] < 1


# --------------------------------------------------------------------------
# building on first use, and leaving the weights alone


def test_forward_builds_a_network_when_none(state):
    assert not state.exists()
    result = run("forward", "--x", "1,2,3", "--json", state=state)
    assert result.exit_code == 0, result.stderr
    assert state.exists()
    assert "nn.Linear(3, 1)" in result.stderr
    assert str(state) in result.stderr
    data = result.json()
    net = stored_net(state)
    assert (net.in_features, net.out_features) == (3, 1)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    exact(data["linear"], net(x))
    assert torch.tensor(data["linear"]).shape == (1, 1)
    bound = 1 / 3**0.5
    assert net.weight.detach().abs().max() <= bound + 1e-7
    # the second call uses it and says nothing more
    second = run("forward", "--x", "1,2,3", "--json", state=state)
    assert second.exit_code == 0
    assert second.stderr == ""
    assert second.json()["linear"] == data["linear"]


def test_forward_does_not_change_the_weights(state):
    net = build(state, 3, 2, seed=4)
    before = state.read_bytes()
    for args in (["--x", "1,1,1"], ["--x", "1,2,3;4,5,6", "--json"], ["--x=-1,0,1"]):
        assert run("forward", *args, state=state).exit_code == 0
    assert state.read_bytes() == before
    after = stored_net(state)
    assert torch.equal(after.weight, net.weight)
    assert torch.equal(after.bias, net.bias)
    data = saved(state)
    assert all(g is None for g in data["grads"].values())
    assert data["step"] == 0


@pytest.mark.parametrize("x", ["1,1", "1,1,1,1", "1;2"])
def test_wrong_length_is_usage_error_naming_in_features(state, x):
    build(state, 3, 2, seed=1)
    before = state.read_bytes()
    result = run("forward", "--x", x, state=state)
    assert result.exit_code == 2
    assert "in_features=3" in result.stderr
    assert "--x" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert state.read_bytes() == before


def test_missing_x_is_usage_error(state):
    build(state, 2, 1)
    result = run("forward", state=state)
    assert result.exit_code == 2
    assert "--x" in result.stderr


# --------------------------------------------------------------------------
# the rich view


def test_view_writes_each_output_out(state):
    run_json("inspect", "3", "2", "--weight", "0.25,-0.5,1.5;2,0.125,-1", "--bias", "0.5,-0.75", state=state)
    net = stored_net(state)
    result = run("forward", "--x", "1,2,-3", state=state)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    x = torch.tensor([[1.0, 2.0, -3.0]])
    y = net(x).detach()
    for j in range(2):
        line = re.search(rf"^y\[{j}\] = (.+) = (-?[0-9.]+(?:e[-+]?[0-9]+)?)\s*$", out, re.MULTILINE)
        assert line is not None, out
        terms = line.group(1)
        assert terms.count("*") == 3  # one product per input, then the bias
        # the view prints 4 decimals: the text is plain torch's value written so
        assert line.group(2) == fmt(y[0, j].item())
        # the written expression adds up to the stated value, with the real weights and inputs
        assert re.fullmatch(r"[-0-9.*+ ()]+", terms), terms
        assert eval(terms) == pytest.approx(float(y[0, j]), abs=1e-3)
        for w, v in zip(net.weight[j].tolist(), x[0].tolist(), strict=True):
            assert f"{abs(w):.4f}*{v if v >= 0 else f'({v})'}" in terms
    assert "AddmmBackward0" in out
    assert "shape (1, 3)" in out  # x (B, IN)
    assert "shape (1, 2)" in out  # net(x) (B, OUT)
    assert "shape (2, 1)" in out  # by hand (OUT, B)
    assert "view(2, 1)" in out
    assert "MISMATCH" not in out


def test_written_out_line_values(state):
    """The numbers in 'y[0] = w*x + ... + b = value' add up to torch's result."""
    run_json("inspect", "2", "1", "--weight", "0.3,-0.7", "--bias", "0.25", state=state)
    out = run("forward", "--x", "2,1", state=state).stdout
    line = re.search(r"^y\[0\] = (.+) = (-?[0-9.]+(?:e[-+]?[0-9]+)?)\s*$", out, re.MULTILINE)
    assert line is not None, out
    # evaluate the written expression: it must give the stated value
    expression = line.group(1)  # printed to 4 decimals, so it adds up to that precision
    assert re.fullmatch(r"[-0-9.*+ ]+", expression)
    assert eval(expression) == pytest.approx(float(line.group(2)), abs=1e-3)
    x = torch.tensor([[2.0, 1.0]])
    expected = torch.mm(torch.tensor([[0.3, -0.7]]), x.t()) + torch.tensor([0.25]).view(1, 1)
    assert line.group(2) == fmt(expected.item())


def test_view_for_several_samples_names_each(state):
    build(state, 2, 2, seed=1)
    out = run("forward", "--x", "1,1;2,2", state=state).stdout
    assert "y[0,0]" in out and "y[1,1]" in out


def test_large_layer_has_no_written_out_lines(state):
    build(state, 20, 12, seed=1)
    result = run("forward", "--x", ",".join(["1"] * 20), state=state)
    assert result.exit_code == 0
    assert "y[0] =" not in result.stdout
    assert len(result.stdout.splitlines()) < 150


def test_large_forward_summarised_and_correct(state):
    run_json("inspect", "512", "300", "--seed", "3", state=state)
    torch.manual_seed(3)
    net = torch.nn.Linear(512, 300)
    x = torch.linspace(-1, 1, 512)
    text = ",".join(f"{v:.6f}" for v in x.tolist())
    x = torch.tensor([[float(v) for v in text.split(",")]])
    result = run("forward", "--x", text, state=state)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) < 150
    data = run_json("forward", "--x", text, state=state)
    exact(data["linear"], net(x))
    assert data["match"] is True
    exact(data["manual"], torch.mm(net.weight, x.t()) + net.bias.view(300, 1))
    assert data["bias_trap"]["shape"] == [300, 300]


# --------------------------------------------------------------------------
# any typed numbers: the same as torch


finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=32)


@given(rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=4))
def test_forward_equals_torch_for_any_input(state, rows):
    if not state.exists():
        run_json("inspect", "3", "2", "--seed", "17", state=state)
    net = stored_net(state)
    text = ";".join(",".join(repr(v) for v in row) for row in rows)
    data = run_json("forward", f"--x={text}", state=state)
    x = torch.tensor(rows)
    exact(data["x"], x)
    exact(data["linear"], net(x))
    exact(data["manual"], torch.mm(net.weight, x.t()) + net.bias.view(2, 1))
    assert data["match"] is True  # net(x) beside the hand version: within float tolerance
