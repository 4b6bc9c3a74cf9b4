"""Issue: `linctl inspect IN H... OUT` builds an nn.Sequential stack, and every command works layer by layer.

Every number is checked against the same stack built here in plain torch, never against linctl's own
numbers. linctl runs the same torch ops on CPU in float32, and writes float32 values in their shortest
form, so forward outputs, autograd gradients, optimizer steps and training loops compare exactly
(`torch.equal`). Only the by-hand backprop gets a tolerance (see `close_by_hand`).
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from conftest import ROOT, f32, rows, run, run_json, vec

MODULES = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}
LOSSES = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy,
    "diff": lambda o, t: (t - o).mean(),
}
# top-level keys that belong to one bare nn.Linear only; a stack carries them per layer in `layers`
SINGLE_LAYER_KEYS = {
    "weight",
    "bias",
    "weight_grad",
    "bias_grad",
    "weight_grad_before",
    "bias_grad_before",
    "weight_before",
    "bias_before",
    "manual_weight_grad",
    "manual_bias_grad",
    "linear",
    "manual",
}
LAYER_KEYS = {"name", "in_features", "out_features", "activation", "weight", "bias", "weight_grad", "bias_grad"}
BACKWARD_LAYER_KEYS = LAYER_KEYS | {
    "weight_grad_before",
    "bias_grad_before",
    "manual_weight_grad",
    "manual_bias_grad",
    "weight_before",
    "bias_before",
}

# explicit weights, (out, in) as nn.Linear stores them; 3 samples of 3 inputs, targets in [0, 1] (bce needs that)
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6]]
FIRST = ([[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4], [0.3, 0.7, -0.5], [-0.2, -0.4, 0.6]], [0.1, -0.25, 0.05, 0.2])
TWO_LAYERS = [FIRST, ([[0.4, -0.7, 0.3, 0.5], [-0.5, 0.6, 0.2, -0.3]], [0.1, -0.1])]  # 3-4-2
THREE_LAYERS = [  # 3-4-3-2
    FIRST,
    ([[0.4, -0.7, 0.3, 0.5], [-0.5, 0.6, 0.2, -0.3], [0.3, 0.2, -0.6, 0.4]], [0.1, -0.1, 0.05]),
    ([[0.6, -0.4, 0.5], [-0.3, 0.7, 0.2]], [0.05, -0.15]),
]


# --------------------------------------------------------------------------
# plain torch, built in the test


def plain_stack(sizes, activations, *, seed=None, layers=None, bias=True) -> nn.Sequential:
    """nn.Sequential(nn.Linear, activation module, ...) built in order (none adds no module)."""
    if seed is not None:
        torch.manual_seed(seed)
    modules: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(nn.Linear(n_in, n_out, bias=bias))
        if activations[k] != "none":
            modules.append(MODULES[activations[k]]())
    net = nn.Sequential(*modules)
    if layers is not None:
        with torch.no_grad():
            for (_, linear), (weight, b) in zip(linears(net), layers, strict=True):
                linear.weight.copy_(f32(weight))
                linear.bias.copy_(f32(b))
    return net


def sizes_of(layers) -> list[int]:
    return [len(layers[0][0][0])] + [len(weight) for weight, _ in layers]


def linears(net: nn.Sequential) -> list[tuple[str, nn.Linear]]:
    """(prefix in the state_dict, module) for each Linear, in order."""
    return [(str(i), m) for i, m in enumerate(net) if isinstance(m, nn.Linear)]


def per_layer(net: nn.Sequential, x):
    """Each Linear's pre-activation z_k and output h_k (after its activation module, if any)."""
    modules = list(net)
    zs, hs, h, i = [], [], x, 0
    while i < len(modules):
        z = modules[i](h)
        h = z
        i += 1
        if i < len(modules) and not isinstance(modules[i], nn.Linear):
            h = modules[i](z)
            i += 1
        zs.append(z.detach())
        hs.append(h.detach())
    return zs, hs


def activation_args(activations) -> list[str]:
    return [a for name in activations for a in ("--activation", name)]


def build(state, layers, activations) -> None:
    args = ["inspect", *map(str, sizes_of(layers))]
    args += [f"--weight={rows(weight)}" for weight, _ in layers]
    args += [f"--bias={vec(b)}" for _, b in layers]
    out = run(*args, *activation_args(activations), "--json", state=state)  # the view is not read
    assert out.exit_code == 0, out.stderr


def backward_args(loss: str, x=X, t=T) -> list[str]:
    return ["backward", f"--x={rows(x)}", f"--t={rows(t)}", "--loss", loss]


def exact(value, tensor, what: str = "") -> None:
    """A JSON value equals a float32 tensor bit for bit."""
    got = f32(value)
    want = tensor.detach().to(torch.float32)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert torch.equal(got, want), f"{what}:\n{got}\n!=\n{want}"


def close_by_hand(value, tensor) -> None:
    # What linctl computes by hand (torch.mm(W, h.t()) + b.view(out, 1); the chain rule written out as
    # δ_kᵀ·h_{k-1}, h·(1-h), 1-h², ...) runs other float32 operations than nn.Linear's addmm and autograd's
    # kernels, in another order, so the last bits may differ: a tolerance here, and only here.
    assert_close(f32(value), tensor.detach().to(torch.float32), rtol=1e-5, atol=1e-6)


def no_single_layer_keys(out: dict) -> None:
    assert not SINGLE_LAYER_KEYS & set(out), SINGLE_LAYER_KEYS & set(out)
    assert not [
        k for k in out if k != "requires_grad" and (k.endswith(("_grad", "_before")) or k.startswith("manual_"))
    ]


def check_layers(out: dict, net: nn.Sequential, activations) -> None:
    """`layers`: one entry per Linear with its name, shape, activation, weight and bias, exactly."""
    pairs = linears(net)
    assert [layer["name"] for layer in out["layers"]] == [name for name, _ in pairs]
    for layer, (name, linear), activation in zip(out["layers"], pairs, activations, strict=True):
        assert set(layer) >= LAYER_KEYS, (name, LAYER_KEYS - set(layer))
        assert layer["in_features"] == linear.in_features
        assert layer["out_features"] == linear.out_features
        assert layer["activation"] == activation
        exact(layer["weight"], linear.weight, f"{name}.weight")
        if linear.bias is None:
            assert layer["bias"] is None
        else:
            exact(layer["bias"], linear.bias, f"{name}.bias")


# --------------------------------------------------------------------------
# inspect: the stack, its seed, its structure


def test_inspect_2_3_1_is_torch_manual_seed_then_the_sequential_expression(state):
    out = run_json(
        "inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=state
    )
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())

    assert out["structure"] == str(net)
    assert out["sizes"] == [2, 3, 1]
    assert [name for name, _ in linears(net)] == ["0", "2"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    check_layers(out, net, ["tanh", "sigmoid"])
    for layer in out["layers"]:
        assert layer["weight_grad"] is None and layer["bias_grad"] is None
    assert out["dtype"] == "float32"
    assert out["step"] == 0
    assert "state" in out
    no_single_layer_keys(out)
    # `inspect` without sizes shows the stored stack, the same numbers
    shown = run_json("inspect", state=state)
    assert shown["structure"] == str(net)
    assert shown["sizes"] == [2, 3, 1]
    check_layers(shown, net, ["tanh", "sigmoid"])


@pytest.mark.parametrize(
    "sizes, activations, given, seed",
    [
        ([2, 3, 1], ["tanh", "sigmoid"], ["tanh", "sigmoid"], 0),
        ([3, 4, 2], ["relu", "relu"], ["relu"], 1),  # given once: after every layer
        ([3, 4, 2], ["sigmoid", "none"], ["sigmoid", "none"], 5),
        ([2, 3, 1], ["none", "none"], ["none"], 2),  # no activation modules: Linear indices 0 and 1
        ([3, 4, 3, 2], ["tanh", "relu", "none"], ["tanh", "relu", "none"], 7),
    ],
)
def test_inspect_stack_equals_plain_sequential(state, sizes, activations, given, seed):
    out = run_json("inspect", *map(str, sizes), "--seed", str(seed), *activation_args(given), state=state)
    net = plain_stack(sizes, activations, seed=seed)
    assert out["structure"] == str(net)
    assert out["sizes"] == sizes
    check_layers(out, net, activations)
    no_single_layer_keys(out)


def test_activation_none_shifts_the_indices(state):
    out = run_json("inspect", "2", "3", "1", "--seed", "3", "--activation", "none", state=state)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    assert out["structure"] == str(net)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [layer["name"] for layer in out["layers"]] == ["0", "1"]
    check_layers(out, net, ["none", "none"])


def test_no_bias_applies_to_every_layer(state):
    out = run_json("inspect", "3", "4", "2", "--seed", "4", "--no-bias", "--activation", "tanh", state=state)
    net = plain_stack([3, 4, 2], ["tanh", "tanh"], seed=4, bias=False)
    assert out["structure"] == str(net)
    assert "bias=False" in out["structure"] and "bias=True" not in out["structure"]
    check_layers(out, net, ["tanh", "tanh"])
    assert all(layer["bias"] is None for layer in out["layers"])


def test_sizes_come_from_the_weights(state):
    out = run_json(
        "inspect",
        "--weight",
        "1,2;3,4;5,6",
        "--weight",
        "1,1,1",
        "--bias",
        "0.1,0.2,0.3",
        "--bias",
        "0.5",
        "--activation",
        "none",
        state=state,
    )
    assert out["sizes"] == [2, 3, 1]
    net = plain_stack(
        [2, 3, 1], ["none", "none"], layers=[([[1, 2], [3, 4], [5, 6]], [0.1, 0.2, 0.3]), ([[1, 1, 1]], [0.5])]
    )
    assert out["structure"] == str(net)
    check_layers(out, net, ["none", "none"])


def test_explicit_weights_per_layer(state):
    build(state, THREE_LAYERS, ["tanh", "relu", "sigmoid"])
    out = run_json("inspect", state=state)
    net = plain_stack(sizes_of(THREE_LAYERS), ["tanh", "relu", "sigmoid"], layers=THREE_LAYERS)
    assert out["sizes"] == [3, 4, 3, 2]
    assert out["structure"] == str(net)
    check_layers(out, net, ["tanh", "relu", "sigmoid"])


def test_a_single_layer_stays_a_bare_linear(state):
    out = run_json("inspect", "3", "2", "--seed", "0", state=state)
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    assert out["structure"] == str(net)
    assert list(net.state_dict()) == ["weight", "bias"]
    assert out["sizes"] == [3, 2]
    # the top-level keys stay as they were, and `layers` has the one layer, named ""
    exact(out["weight"], net.weight)
    exact(out["bias"], net.bias)
    assert len(out["layers"]) == 1
    layer = out["layers"][0]
    assert layer["name"] == ""
    assert (layer["in_features"], layer["out_features"]) == (3, 2)
    exact(layer["weight"], net.weight)
    exact(layer["bias"], net.bias)
    assert layer["weight_grad"] is None and layer["bias_grad"] is None


def test_single_layer_json_keeps_its_top_level_keys_and_one_layer(state):
    run_json(
        "inspect",
        "3",
        "2",
        "--weight=0.5,-0.3,0.8;-0.6,0.2,0.4",
        "--bias=0.1,-0.25",
        "--activation",
        "tanh",
        state=state,
    )
    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(f32([[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]]))
        net.bias.copy_(f32([0.1, -0.25]))
    x = f32(X)
    forward = run_json("forward", f"--x={rows(X)}", state=state)
    exact(forward["linear"], net(x))
    exact(forward["output"], torch.tanh(net(x)))
    assert [layer["name"] for layer in forward["layers"]] == [""]
    exact(forward["layers"][0]["linear"], net(x))

    back = run_json(*backward_args("mse"), state=state)
    F.mse_loss(torch.tanh(net(x)), f32(T)).backward()
    assert {
        "weight",
        "bias",
        "weight_grad",
        "bias_grad",
        "weight_grad_before",
        "bias_grad_before",
        "manual_weight_grad",
        "manual_bias_grad",
    } <= set(back)
    assert len(back["layers"]) == 1 and back["layers"][0]["name"] == ""
    for where in (back, back["layers"][0]):
        exact(where["weight_grad"], net.weight.grad)
        exact(where["bias_grad"], net.bias.grad)
        close_by_hand(where["manual_weight_grad"], net.weight.grad)


# --------------------------------------------------------------------------
# forward


@pytest.mark.parametrize(
    "sizes, activations, given, seed",
    [
        ([2, 3, 1], ["tanh", "sigmoid"], ["tanh", "sigmoid"], 0),
        ([3, 4, 2], ["relu", "relu"], ["relu"], 1),
        ([3, 4, 3, 2], ["none", "tanh", "sigmoid"], ["none", "tanh", "sigmoid"], 2),
    ],
)
def test_forward_equals_plain_torch_layer_by_layer(state, sizes, activations, given, seed):
    run_json("inspect", *map(str, sizes), "--seed", str(seed), *activation_args(given), state=state)
    x_rows = [[(0.5 * i - 0.75 * j + 0.25) for j in range(sizes[0])] for i in range(3)]
    out = run_json("forward", f"--x={rows(x_rows)}", state=state)

    net = plain_stack(sizes, activations, seed=seed)
    x = f32(x_rows)
    zs, hs = per_layer(net, x)
    exact(out["x"], x)
    exact(out["output"], net(x), "output")  # the network's own forward, B×OUT
    assert out["match"] is True
    assert 0 <= out["max_abs_diff"] < 1e-5
    no_single_layer_keys(out)
    assert len(out["layers"]) == len(sizes) - 1
    for k, (layer, (name, _)) in enumerate(zip(out["layers"], linears(net), strict=True)):
        assert layer["name"] == name
        exact(layer["linear"], zs[k], f"layer {name} linear")  # pre-activation, B×out_k
        exact(layer["output"], hs[k], f"layer {name} output")  # after its activation
        close_by_hand(layer["manual"], zs[k].t())  # W·h + b.view(out, 1) by hand, out_k×B
        assert layer["match"] is True
        assert 0 <= layer["max_abs_diff"] < 1e-5
    assert out["max_abs_diff"] == max(layer["max_abs_diff"] for layer in out["layers"])  # the largest over layers
    exact(out["layers"][-1]["output"], net(x))


def test_forward_bias_trap_is_the_first_layers(state):
    run_json("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=state)
    out = run_json("forward", "--x", "1,1", state=state)
    net = plain_stack([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    first = net[0]
    x = torch.tensor([[1.0, 1.0]])
    wrong = torch.mm(first.weight, x.t()) + first.bias  # (3, 1) + (3,) broadcasts to (3, 3)
    trap = out["bias_trap"]
    assert trap is not None
    assert tuple(trap["shape"]) == tuple(wrong.shape) == (3, 3)
    assert_close(f32(trap["values"]), wrong.detach())


# --------------------------------------------------------------------------
# backward


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("activation", ["none", "sigmoid", "relu", "tanh"])
def test_backward_through_the_stack_matches_plain_torch(state, activation, loss, depth):
    layers = TWO_LAYERS if depth == 2 else THREE_LAYERS
    if loss == "bce":  # a sigmoid at the end keeps the output in (0, 1); one activation per layer, in order
        activations = [activation] * (depth - 1) + ["sigmoid"]
        given = activations
    else:  # given once: after every layer
        activations = [activation] * depth
        given = [activation]
    build(state, layers, given)
    net = plain_stack(sizes_of(layers), activations, layers=layers)
    x, t = f32(X), f32(T)
    if activation == "relu":  # the data keeps every pre-activation away from relu's kink at 0
        assert all((z.abs() > 1e-3).all() for z in per_layer(net, x)[0])

    first = run_json(*backward_args(loss), state=state)
    assert all(p.grad is None for p in net.parameters())
    o = net(x)
    value = LOSSES[loss](o, t)
    value.backward()
    once = [(linear.weight.grad.clone(), linear.bias.grad.clone()) for _, linear in linears(net)]

    exact(first["x"], x)
    exact(first["t"], t)
    exact(first["output"], o, "output")
    exact(first["loss"], value, "loss")
    assert first["match"] is True
    assert 0 <= first["max_abs_diff"] < 1e-5
    no_single_layer_keys(first)
    assert [layer["name"] for layer in first["layers"]] == [name for name, _ in linears(net)]
    for layer, (name, linear), (weight, b) in zip(first["layers"], linears(net), layers, strict=True):
        assert set(layer) >= BACKWARD_LAYER_KEYS, (name, BACKWARD_LAYER_KEYS - set(layer))
        assert layer["weight_grad_before"] is None and layer["bias_grad_before"] is None
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad")
        close_by_hand(layer["manual_weight_grad"], linear.weight.grad)
        close_by_hand(layer["manual_bias_grad"], linear.bias.grad)
        # backward never moves the weights
        exact(layer["weight_before"], f32(weight))
        exact(layer["bias_before"], f32(b))
        exact(layer["weight"], f32(weight))
        exact(layer["bias"], f32(b))

    # again, without zero-grad: the gradients add up, as in PyTorch
    second = run_json(*backward_args(loss), state=state)
    value = LOSSES[loss](net(x), t)
    value.backward()
    exact(second["loss"], value)
    assert second["match"] is True
    for layer, before, (name, linear), (single_w, single_b) in zip(
        second["layers"], first["layers"], linears(net), once, strict=True
    ):
        exact(layer["weight_grad_before"], f32(before["weight_grad"]), f"{name}.weight.grad before")
        exact(layer["bias_grad_before"], f32(before["bias_grad"]), f"{name}.bias.grad before")
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad after two backward")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad after two backward")
        # the hand check is about this backward alone
        close_by_hand(layer["manual_weight_grad"], single_w)
        close_by_hand(layer["manual_bias_grad"], single_b)

    shown = run_json("inspect", state=state)
    for layer, (name, linear) in zip(shown["layers"], linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad shown by inspect")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad shown by inspect")


@pytest.mark.parametrize("override", [["relu"], ["none", "sigmoid"]])
def test_activation_override_for_one_backward(state, override):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    out = run_json(*backward_args("mse"), *activation_args(override), state=state)
    activations = override * 2 if len(override) == 1 else override
    net = plain_stack(sizes_of(TWO_LAYERS), activations, layers=TWO_LAYERS)
    value = F.mse_loss(net(f32(X)), f32(T))
    value.backward()
    exact(out["loss"], value)
    for layer, (name, linear) in zip(out["layers"], linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad")
    # stored activations unchanged
    shown = run_json("inspect", state=state)
    assert [layer["activation"] for layer in shown["layers"]] == ["tanh", "sigmoid"]
    assert shown["structure"] == str(plain_stack(sizes_of(TWO_LAYERS), ["tanh", "sigmoid"]))


# --------------------------------------------------------------------------
# step, zero-grad, train-step


def test_step_and_zero_grad_on_every_parameter(state):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    net = plain_stack(sizes_of(TWO_LAYERS), ["tanh", "sigmoid"], layers=TWO_LAYERS)
    run_json(*backward_args("mse"), state=state)
    out = run_json("step", "--lr", "0.1", state=state)

    F.mse_loss(net(f32(X)), f32(T)).backward()
    before = [(linear.weight.detach().clone(), linear.bias.detach().clone()) for _, linear in linears(net)]
    torch.optim.SGD(net.parameters(), lr=0.1).step()

    assert out["optimizer"] == "sgd"
    assert out["step"] == 1
    no_single_layer_keys(out)
    for layer, (name, linear), (w0, b0) in zip(out["layers"], linears(net), before, strict=True):
        assert layer["name"] == name
        assert set(layer) >= LAYER_KEYS | {"weight_before", "bias_before"}
        exact(layer["weight_before"], w0)
        exact(layer["bias_before"], b0)
        exact(layer["weight"], linear.weight, f"{name}.weight after step")
        exact(layer["bias"], linear.bias, f"{name}.bias after step")
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad kept")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad kept")

    cleared = run_json("zero-grad", state=state)
    for layer in cleared["layers"]:
        assert layer["weight_grad"] is None and layer["bias_grad"] is None
    shown = run_json("inspect", state=state)
    for layer in shown["layers"]:
        assert layer["weight_grad"] is None and layer["bias_grad"] is None
    again = run_json(*backward_args("mse"), state=state)
    net.zero_grad()
    F.mse_loss(net(f32(X)), f32(T)).backward()
    for layer, (name, linear) in zip(again["layers"], linears(net), strict=True):
        assert layer["weight_grad_before"] is None and layer["bias_grad_before"] is None
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad after zero-grad")


XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_T = [[0.0], [1.0], [1.0], [0.0]]
OPTIMIZERS = [
    ("sgd", ["--momentum", "0.9"], torch.optim.SGD, {"momentum": 0.9}),
    ("adam", [], torch.optim.Adam, {}),
    ("adamw", [], torch.optim.AdamW, {}),
    ("rmsprop", [], torch.optim.RMSprop, {}),
]


@pytest.mark.parametrize("name, options, cls, kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_three_train_steps_equal_a_torch_loop(state, name, options, cls, kwargs):
    run_json("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=state)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    opt = cls(net.parameters(), lr=0.05, **kwargs)
    x, t = f32(XOR_X), f32(XOR_T)
    for i in range(3):
        settings = ["--optimizer", name, "--lr", "0.05", *options] if i == 0 else []  # kept in the state file
        out = run_json("train-step", f"--x={rows(XOR_X)}", f"--t={rows(XOR_T)}", *settings, state=state)

        before = [(linear.weight.detach().clone(), linear.bias.detach().clone()) for _, linear in linears(net)]
        opt.zero_grad()
        loss = F.mse_loss(net(x), t)
        loss.backward()
        opt.step()

        assert out["optimizer"] == name
        assert out["lr"] == 0.05
        assert out["step"] == i + 1
        exact(out["loss"], loss, f"loss at step {i + 1}")
        assert out["match"] is True
        no_single_layer_keys(out)
        for layer, (pname, linear), (w0, b0) in zip(out["layers"], linears(net), before, strict=True):
            assert layer["name"] == pname
            assert set(layer) >= BACKWARD_LAYER_KEYS, (pname, BACKWARD_LAYER_KEYS - set(layer))
            exact(layer["weight_before"], w0, f"{pname}.weight before step {i + 1}")
            exact(layer["bias_before"], b0, f"{pname}.bias before step {i + 1}")
            exact(layer["weight_grad"], linear.weight.grad, f"{pname}.weight.grad at step {i + 1}")
            exact(layer["bias_grad"], linear.bias.grad, f"{pname}.bias.grad at step {i + 1}")
            close_by_hand(layer["manual_weight_grad"], linear.weight.grad)
            exact(layer["weight"], linear.weight, f"{pname}.weight after step {i + 1}")
            exact(layer["bias"], linear.bias, f"{pname}.bias after step {i + 1}")
    shown = run_json("inspect", state=state)
    check_layers(shown, net, ["tanh", "sigmoid"])


def test_train_step_activation_override(state):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    out = run_json(
        "train-step",
        f"--x={rows(X)}",
        f"--t={rows(T)}",
        "--lr",
        "0.1",
        "--activation",
        "relu",
        "--activation",
        "none",
        state=state,
    )
    net = plain_stack(sizes_of(TWO_LAYERS), ["relu", "none"], layers=TWO_LAYERS)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    opt.zero_grad()
    F.mse_loss(net(f32(X)), f32(T)).backward()
    opt.step()
    for layer, (name, linear) in zip(out["layers"], linears(net), strict=True):
        exact(layer["weight"], linear.weight, f"{name}.weight")
        exact(layer["bias"], linear.bias, f"{name}.bias")
    assert [layer["activation"] for layer in run_json("inspect", state=state)["layers"]] == ["tanh", "sigmoid"]


# --------------------------------------------------------------------------
# train on examples/xor.csv


def test_xor_example_is_the_truth_table():
    lines = (ROOT / "examples" / "xor.csv").read_text().splitlines()
    assert lines[0].split(",") == ["x1", "x2", "t"]
    table = [[float(v) for v in line.split(",")] for line in lines[1:]]
    assert [r[:2] for r in table] == XOR_X
    assert [[float(int(a) ^ int(b))] for a, b in XOR_X] == [r[2:] for r in table] == XOR_T


def test_train_on_xor_equals_the_readme_loop(state):
    run_json("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=state)
    out = run_json(
        "train",
        "--data",
        str(ROOT / "examples" / "xor.csv"),
        "--epochs",
        "50",
        "--lr",
        "0.5",
        "--seed",
        "0",
        "--no-shuffle",
        state=state,
    )

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, t = f32(XOR_X), f32(XOR_T)
    losses = []
    for _ in range(50):  # full batch, in order: one step per epoch
        opt.zero_grad()
        loss = F.mse_loss(net(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    assert out["steps"] == 50 and out["step"] == 50
    assert len(out["losses"]) == 50
    exact(out["losses"], f32(losses), "losses")
    exact(out["loss_first"], f32(losses[0]))
    exact(out["loss_last"], f32(losses[-1]))
    no_single_layer_keys(out)
    check_layers(out, net, ["tanh", "sigmoid"])  # after training
    check_layers(run_json("inspect", state=state), net, ["tanh", "sigmoid"])


def test_train_activation_override(state):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    out = run_json(
        "train",
        f"--x={rows(X)}",
        f"--t={rows(T)}",
        "--steps",
        "3",
        "--lr",
        "0.2",
        "--activation",
        "sigmoid",
        state=state,
    )
    net = plain_stack(sizes_of(TWO_LAYERS), ["sigmoid", "sigmoid"], layers=TWO_LAYERS)
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(net(f32(X)), f32(T)).backward()
        opt.step()
    for layer, (name, linear) in zip(out["layers"], linears(net), strict=True):
        exact(layer["weight"], linear.weight, f"{name}.weight")
        exact(layer["bias"], linear.bias, f"{name}.bias")


# --------------------------------------------------------------------------
# history, undo, diff, set


def test_undo_after_a_step_restores_every_parameter(state):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    run_json(*backward_args("mse"), state=state)
    stepped = run_json("step", "--lr", "0.1", "--momentum", "0.9", state=state)
    assert any(layer["weight"] != layer["weight_before"] for layer in stepped["layers"])

    diff = run_json("diff", state=state)
    assert [layer["name"] for layer in diff["layers"]] == ["0", "2"]
    entries = run_json("history", state=state)["entries"]
    assert entries[-1]["command"].split()[1] == "step"

    run_json("undo", state=state)
    shown = run_json("inspect", state=state)
    net = plain_stack(sizes_of(TWO_LAYERS), ["tanh", "sigmoid"], layers=TWO_LAYERS)
    F.mse_loss(net(f32(X)), f32(T)).backward()
    assert shown["step"] == 0
    check_layers(shown, net, ["tanh", "sigmoid"])  # the weights as built, bit for bit
    for layer, (name, linear) in zip(shown["layers"], linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad, f"{name}.weight.grad after undo")
        exact(layer["bias_grad"], linear.bias.grad, f"{name}.bias.grad after undo")


def test_set_changes_exactly_that_entry(state):
    build(state, TWO_LAYERS, ["tanh", "sigmoid"])
    out = run("set", "2.weight[0,1]=0.5", state=state)
    assert out.exit_code == 0, out.stderr

    weight = [list(row) for row in TWO_LAYERS[1][0]]
    assert weight[0][1] != 0.5
    weight[0][1] = 0.5  # layer "2" (after the Tanh at index 1), row 0, column 1: nothing else
    expected = [TWO_LAYERS[0], (weight, TWO_LAYERS[1][1])]
    net = plain_stack(sizes_of(TWO_LAYERS), ["tanh", "sigmoid"], layers=expected)
    shown = run_json("inspect", state=state)
    check_layers(shown, net, ["tanh", "sigmoid"])

    diff = run_json("diff", state=state)
    assert [layer["name"] for layer in diff["layers"]] == ["0", "2"]
    run_json("undo", state=state)
    check_layers(
        run_json("inspect", state=state),
        plain_stack(sizes_of(TWO_LAYERS), ["tanh", "sigmoid"], layers=TWO_LAYERS),
        ["tanh", "sigmoid"],
    )


@pytest.mark.parametrize("name", ["weight", "0.weight"])
def test_set_on_a_single_layer_takes_both_names(state, name):
    run_json("inspect", "3", "2", "--weight", "0.1,0.2,0.3;0.4,0.5,0.6", "--bias", "0,0", state=state)
    out = run("set", f"{name}[1,2]=-2.5", state=state)
    assert out.exit_code == 0, out.stderr
    shown = run_json("inspect", state=state)
    exact(shown["weight"], f32([[0.1, 0.2, 0.3], [0.4, 0.5, -2.5]]))
    exact(shown["layers"][0]["weight"], f32([[0.1, 0.2, 0.3], [0.4, 0.5, -2.5]]))
