"""Issue 3: `linctl backward` against the same forward/loss/backward done in plain torch here.

linctl runs the same torch operations on CPU as the plain code in these tests, so its numbers are
compared bit for bit (`exact`). Only the chain rule written out by hand uses other operations, in
another order, so it alone is compared within float tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from conftest import exact, f32, rows, run, run_json, saved, vec

BACKWARD_KEYS = {
    "x",
    "t",
    "output",
    "loss",
    "weight_grad",
    "bias_grad",
    "weight_grad_before",
    "bias_grad_before",
    "manual_weight_grad",
    "manual_bias_grad",
    "max_abs_diff",
    "match",
    "weight",
    "bias",
}

# IN=3, OUT=2, 3 samples; pre-activations of both signs (none is exactly 0, so relu is unambiguous)
MIXED = {
    "W": [[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]],
    "b": [0.1, -0.25],
    "X": [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7]],
    "T": [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6]],
}
# every pre-activation in (0.3, 0.6): inside (0, 1) whatever the activation, so bce is defined
IN_RANGE = {
    "W": [[0.1, 0.2, 0.05], [0.15, -0.1, 0.2]],
    "b": [0.2, 0.3],
    "X": [[1.0, 0.5, 0.2], [0.3, 1.0, 0.6], [0.5, 0.2, 1.0]],
    "T": [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6]],
}

ACTIVATIONS = {
    "none": lambda y: y,
    "sigmoid": torch.nn.Sigmoid(),
    "relu": torch.nn.ReLU(),
    "tanh": torch.nn.Tanh(),
}
LOSSES = {
    "mse": torch.nn.MSELoss(),
    "l1": torch.nn.L1Loss(),
    "bce": torch.nn.BCELoss(),
    "diff": lambda o, t: (t - o).mean(),
}


def build(state, data, activation="none"):
    out = run(
        "inspect",
        str(len(data["W"][0])),
        str(len(data["W"])),
        f"--weight={rows(data['W'])}",
        f"--bias={vec(data['b'])}",
        "--activation",
        activation,
        "--json",  # the view is not read: built quicker
        state=state,
    )
    assert out.exit_code == 0, out.stderr


def torch_net(data) -> torch.nn.Linear:
    net = torch.nn.Linear(len(data["W"][0]), len(data["W"]))
    with torch.no_grad():
        net.weight.copy_(f32(data["W"]))
        net.bias.copy_(f32(data["b"]))
    return net


def torch_backward(net, X, T, loss, activation):
    o = ACTIVATIONS[activation](net(f32(X)))
    value = LOSSES[loss](o, f32(T))
    value.backward()
    return o.detach(), value.item()


def backward_args(data, loss, *extra):
    return ("backward", f"--x={rows(data['X'])}", f"--t={rows(data['T'])}", "--loss", loss, *extra)


@pytest.mark.parametrize("activation", ["none", "sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("loss", ["mse", "l1", "bce", "diff"])
def test_backward_matches_plain_torch(state, loss, activation):
    data = IN_RANGE if loss == "bce" and activation != "sigmoid" else MIXED
    build(state, data, activation)
    out = run_json(*backward_args(data, loss), state=state)

    net = torch_net(data)
    assert net.weight.grad is None
    o, value = torch_backward(net, data["X"], data["T"], loss, activation)

    assert set(out) >= BACKWARD_KEYS
    exact(out["x"], f32(data["X"]))
    exact(out["t"], f32(data["T"]))
    exact(out["output"], o)
    assert out["loss"] == value
    assert out["weight_grad_before"] is None and out["bias_grad_before"] is None
    exact(out["weight_grad"], net.weight.grad)
    exact(out["bias_grad"], net.bias.grad)
    # the chain rule by hand, checked against torch's autograd done here: other operations in
    # another order (dL/do · do/dy, then a matrix product), so equal only within float tolerance
    assert_close(f32(out["manual_weight_grad"]), net.weight.grad)
    assert_close(f32(out["manual_bias_grad"]), net.bias.grad)
    assert out["match"] is True
    assert 0 <= out["max_abs_diff"] < 1e-5
    # backward never moves the weights
    exact(out["weight"], f32(data["W"]))
    exact(out["bias"], f32(data["b"]))


def torch_results(data, loss, activation):
    """(output, loss, weight.grad, bias.grad) of one plain-torch backward."""
    net = torch_net(data)
    o, value = torch_backward(net, data["X"], data["T"], loss, activation)
    return o, value, net.weight.grad, net.bias.grad


def differs(out, other) -> bool:
    """linctl's result is not the one another choice gives."""
    o, value, w_grad, b_grad = other
    return not (
        torch.equal(f32(out["output"]), o)
        and out["loss"] == value
        and torch.equal(f32(out["weight_grad"]), w_grad)
        and torch.equal(f32(out["bias_grad"]), b_grad)
    )


@pytest.mark.parametrize("loss", list(LOSSES))
def test_each_loss_matters(state, loss):
    """--loss L equals torch with L bit for bit, and no other loss gives those numbers."""
    build(state, MIXED, "sigmoid")  # outputs in (0, 1): every loss is defined
    out = run_json(*backward_args(MIXED, loss), state=state)
    _, value, w_grad, b_grad = torch_results(MIXED, loss, "sigmoid")
    assert out["loss"] == value
    exact(out["weight_grad"], w_grad)
    exact(out["bias_grad"], b_grad)
    for other in LOSSES:
        if other != loss:
            assert differs(out, torch_results(MIXED, other, "sigmoid")), f"--loss {loss} gives {other}'s numbers"


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_each_activation_matters(state, activation):
    """--activation A equals torch with A bit for bit, and no other activation gives those numbers."""
    build(state, MIXED, activation)  # pre-activations of both signs: relu differs from none
    out = run_json(*backward_args(MIXED, "mse"), state=state)
    o, value, w_grad, b_grad = torch_results(MIXED, "mse", activation)
    exact(out["output"], o)
    assert out["loss"] == value
    exact(out["weight_grad"], w_grad)
    exact(out["bias_grad"], b_grad)
    for other in ACTIVATIONS:
        if other != activation:
            assert differs(out, torch_results(MIXED, "mse", other)), f"{activation} gives {other}'s numbers"


def test_grads_are_none_before_backward(state):
    build(state, MIXED)
    shown = run_json("inspect", state=state)
    assert shown["weight_grad"] is None and shown["bias_grad"] is None
    on_disk = saved(state)
    assert on_disk["grads"]["weight"] is None and on_disk["grads"]["bias"] is None


def test_backward_twice_accumulates(state):
    build(state, MIXED, "sigmoid")
    first = run_json(*backward_args(MIXED, "mse"), state=state)
    second = run_json(*backward_args(MIXED, "mse"), state=state)

    net = torch_net(MIXED)
    torch_backward(net, MIXED["X"], MIXED["T"], "mse", "sigmoid")
    single_w, single_b = net.weight.grad.clone(), net.bias.grad.clone()
    torch_backward(net, MIXED["X"], MIXED["T"], "mse", "sigmoid")  # no zero_grad: adds up

    exact(first["weight_grad"], single_w)
    exact(second["weight_grad_before"], f32(first["weight_grad"]))
    exact(second["bias_grad_before"], f32(first["bias_grad"]))
    exact(second["weight_grad"], 2 * single_w)  # g + g is exactly 2g
    exact(second["bias_grad"], 2 * single_b)
    exact(second["weight_grad"], net.weight.grad)
    exact(second["bias_grad"], net.bias.grad)
    # the hand check is about this backward alone, and still agrees (by hand: float tolerance)
    assert_close(f32(second["manual_weight_grad"]), single_w)
    assert second["match"] is True
    exact(second["weight"], f32(MIXED["W"]))


def test_backward_accumulates_different_batches(state):
    build(state, MIXED, "tanh")
    other_x = [[0.2, -0.4, 1.5]]
    other_t = [[0.3, -0.2]]
    run_json(*backward_args(MIXED, "l1"), state=state)
    out = run_json("backward", f"--x={rows(other_x)}", f"--t={rows(other_t)}", "--loss", "l1", state=state)

    net = torch_net(MIXED)
    torch_backward(net, MIXED["X"], MIXED["T"], "l1", "tanh")
    before_w = net.weight.grad.clone()
    torch_backward(net, other_x, other_t, "l1", "tanh")
    exact(out["weight_grad_before"], before_w)
    exact(out["weight_grad"], net.weight.grad)
    exact(out["bias_grad"], net.bias.grad)


def test_view_says_gradients_accumulate(state):
    build(state, MIXED)
    first = run(*backward_args(MIXED, "mse"), state=state)
    assert first.exit_code == 0, first.stderr
    assert "None" in first.stdout  # .grad before the first backward
    assert "did not change" in first.stdout
    second = run(*backward_args(MIXED, "mse"), state=state)
    assert second.exit_code == 0, second.stderr
    text = " ".join(second.stdout.split())
    assert "accumulate" in text.lower()
    assert "before" in text and "added" in text
    assert "zero-grad" in text
    assert "did not change" in text


def test_weights_unchanged_on_disk_and_grads_saved(state):
    build(state, MIXED, "relu")
    before = saved(state)
    run_json(*backward_args(MIXED, "mse"), state=state)
    after = saved(state)

    net = torch_net(MIXED)
    torch_backward(net, MIXED["X"], MIXED["T"], "mse", "relu")
    assert torch.equal(after["params"]["weight"], before["params"]["weight"])
    assert torch.equal(after["params"]["bias"], before["params"]["bias"])
    assert torch.equal(after["grads"]["weight"], net.weight.grad)
    assert torch.equal(after["grads"]["bias"], net.bias.grad)
    assert after["step"] == 0
    shown = run_json("inspect", state=state)
    exact(shown["weight_grad"], net.weight.grad)
    exact(shown["bias_grad"], net.bias.grad)


def test_bce_without_sigmoid_out_of_range_is_exit_2(state):
    build(state, MIXED, "none")  # outputs like -0.8 and 2.4
    out = run(*backward_args(MIXED, "bce"), "--json", state=state)
    assert out.exit_code == 2
    assert out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "bce" in message and "[0, 1]" in message
    assert "sigmoid" in message  # says how to fix it
    # nothing was stored
    assert saved(state)["grads"]["weight"] is None


def test_bce_with_sigmoid_override_works(state):
    build(state, MIXED, "none")
    out = run_json(*backward_args(MIXED, "bce", "--activation", "sigmoid"), state=state)
    net = torch_net(MIXED)
    _, value = torch_backward(net, MIXED["X"], MIXED["T"], "bce", "sigmoid")
    assert out["loss"] == value
    exact(out["weight_grad"], net.weight.grad)


def test_activation_override_is_for_one_run_only(state):
    build(state, MIXED, "sigmoid")
    once = run_json(*backward_args(MIXED, "mse", "--activation", "tanh"), state=state)
    tanh_net = torch_net(MIXED)
    torch_backward(tanh_net, MIXED["X"], MIXED["T"], "mse", "tanh")
    exact(once["weight_grad"], tanh_net.weight.grad)
    exact(once["bias_grad"], tanh_net.bias.grad)

    assert run_json("inspect", state=state)["activation"] == "sigmoid"
    assert saved(state)["layers"][0]["activation"] == "sigmoid"

    assert run("zero-grad", state=state).exit_code == 0
    again = run_json(*backward_args(MIXED, "mse"), state=state)
    sigmoid_net = torch_net(MIXED)
    o, _ = torch_backward(sigmoid_net, MIXED["X"], MIXED["T"], "mse", "sigmoid")
    exact(again["output"], o)
    exact(again["weight_grad"], sigmoid_net.weight.grad)
    assert again["weight_grad_before"] is None


def test_single_sample_out_1(state):
    data = {"W": [[0.25, -0.75]], "b": [0.5], "X": [[2.0, 1.0]], "T": [[1.0]]}
    build(state, data, "none")
    out = run_json("backward", "--x", "2,1", "--t", "1", "--loss", "mse", state=state)
    net = torch_net(data)
    _, value = torch_backward(net, data["X"], data["T"], "mse", "none")
    assert out["loss"] == value
    exact(out["weight_grad"], net.weight.grad)
    exact(out["bias_grad"], net.bias.grad)


@pytest.mark.parametrize(
    "args, option",
    [
        (("--x", "1,2,3"), "--t"),  # no targets
        (("--x", "1,2,3", "--t", "1,2,3"), "--t"),  # OUT=2, three target values
        (("--x", "1,2", "--t", "1,2"), "--x"),  # IN=3, two inputs
        (("--x", "1,2,3;4,5,6", "--t", "1,2"), "--t"),  # one target row for two samples
        (("--x", "1,2,3", "--t", "1,2", "--loss", "huber"), "--loss"),
        (("--x", "1,2,3", "--t", "1,2", "--activation", "swish"), "--activation"),
    ],
)
def test_backward_bad_input_is_exit_2(state, args, option):
    build(state, MIXED)
    out = run("backward", *args, state=state)
    assert out.exit_code == 2
    assert option in out.stderr
    assert "Traceback" not in out.stderr
    assert saved(state)["grads"]["weight"] is None


# --------------------------------------------------------------------------
# --loss bce: what torch's binary_cross_entropy refuses is exit 2, named, with the range


@pytest.mark.parametrize(
    "x, t, words",
    [
        ("1,2,-1", "2,0.5", ["--t value 1", "[0, 1]", "got 2"]),
        ("1,2,-1", "0.5,-0.25", ["--t value 2", "[0, 1]", "got -0.25"]),
        ("1,2,-1;0.5,-1.5,2", "0,1;1,1.0001", ["--t row 2 value 2", "[0, 1]"]),
        ("1,2,-1", "nan,0.5", ["--t value 1", "[0, 1]", "nan"]),
        ("1,2,-1", "inf,0.5", ["--t value 1", "[0, 1]", "inf"]),
        ("1,nan,-1", "0,1", ["--x value 2", "NaN"]),
        ("1,2,-1;nan,0,0", "0,1;1,0", ["--x row 2 value 1", "NaN"]),
    ],
)
def test_bce_refuses_targets_outside_0_1_and_nan_inputs(state, x, t, words):
    build(state, MIXED, "sigmoid")
    before = state.read_bytes()
    out = run("backward", f"--x={x}", f"--t={t}", "--loss", "bce", "--json", state=state)
    assert out.exit_code == 2, out.stderr
    assert out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and "internal error" not in errors[0] and "Traceback" not in out.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert state.read_bytes() == before


def test_bce_takes_targets_0_and_1_exactly(state):
    """The edges of [0, 1] are allowed, as torch allows them."""
    build(state, MIXED, "sigmoid")
    out = run_json("backward", f"--x={rows(MIXED['X'][:2])}", "--t=0,1;1,0", "--loss", "bce", state=state)
    net = torch_net(MIXED)
    o = torch.sigmoid(net(f32(MIXED["X"][:2])))
    value = torch.nn.BCELoss()(o, f32([[0, 1], [1, 0]]))
    value.backward()
    assert out["loss"] == value.item()
    exact(out["weight_grad"], net.weight.grad)


def test_bce_with_nan_weights_is_exit_2_naming_the_weights(state):
    build(state, MIXED, "sigmoid")
    assert run("set", "weight[0,0]=nan", state=state).exit_code == 0
    before = state.read_bytes()
    out = run("backward", f"--x={rows(MIXED['X'])}", f"--t={rows(MIXED['T'])}", "--loss", "bce", state=state)
    assert out.exit_code == 2, out.stderr
    message = out.stderr.strip()
    assert len(message.splitlines()) == 1 and "internal error" not in message
    assert "nan" in message and "weights" in message and "[0, 1]" in message
    assert state.read_bytes() == before
