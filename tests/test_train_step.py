"""Issue 3: `linctl train-step` against the same loop written in plain torch here."""

from __future__ import annotations

import pytest
import torch

from conftest import f32, rows, run, run_entry, run_json, run_script, saved, vec

TRAIN_STEP_KEYS = {
    "x",
    "t",
    "output",
    "loss",
    "weight_before",
    "bias_before",
    "weight_grad",
    "bias_grad",
    "weight",
    "bias",
    "lr",
    "optimizer",
    "step",
}

# IN=3, OUT=2, 4 samples
W = [[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]]
B = [0.1, -0.25]
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7], [0.2, 0.2, 0.2]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6], [1.0, -1.0]]


def inspect_args(weight=W, bias=B, activation="none"):
    return (
        "inspect",
        str(len(weight[0])),
        str(len(weight)),
        f"--weight={rows(weight)}",
        f"--bias={vec(bias)}",
        "--activation",
        activation,
    )


def build(state, weight=W, bias=B, activation="none"):
    out = run(*inspect_args(weight, bias, activation), state=state)
    assert out.exit_code == 0, out.stderr


def torch_net(weight=W, bias=B) -> torch.nn.Linear:
    net = torch.nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        net.weight.copy_(f32(weight))
        net.bias.copy_(f32(bias))
    return net


def torch_iteration(net, opt, x, t, activation=lambda y: y):
    """The loop body: zero_grad, forward, loss, backward, step."""
    opt.zero_grad()
    o = activation(net(f32(x)))
    loss = torch.nn.functional.mse_loss(o, f32(t))
    loss.backward()
    opt.step()
    return o.detach(), loss.item()


def on_disk(state) -> dict:
    return saved(state)


def assert_equal(shown, expected, what: str = ""):
    """linctl's numbers (JSON floats, float32's shortest repr) equal torch's bit for bit."""
    actual = shown if isinstance(shown, torch.Tensor) else f32(shown)
    assert torch.equal(actual, expected.detach()), f"{what}: {actual} != {expected}"


def test_right_after_inspect_uses_ones(state):
    assert run("inspect", "2", "1", "--seed", "0", state=state).exit_code == 0
    out = run("train-step", "--lr", "0.05", "--json", state=state)
    assert out.exit_code == 0, out.stderr
    result = out.json()

    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    weight_before = net.weight.detach().clone()
    bias_before = net.bias.detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    o, loss = torch_iteration(net, opt, [[1.0, 1.0]], [[1.0]])

    assert set(result) >= TRAIN_STEP_KEYS
    assert result["x"] == [[1.0, 1.0]]
    assert result["t"] == [[1.0]]
    assert "x = 1,1" in out.stderr and "t = 1" in out.stderr
    assert_equal(result["weight_before"], weight_before)
    assert_equal(result["bias_before"], bias_before)
    assert_equal(result["output"], o)
    assert result["loss"] == loss
    assert_equal(result["weight_grad"], net.weight.grad)
    assert_equal(result["bias_grad"], net.bias.grad)
    assert_equal(result["weight"], net.weight)
    assert_equal(result["bias"], net.bias)
    assert result["optimizer"] == "sgd"
    assert result["lr"] == 0.05
    assert result["step"] == 1


def test_step_count_goes_up_by_one(state):
    build(state)
    for expected in (1, 2, 3):
        out = run_json("train-step", "--lr", "0.01", state=state)
        assert out["step"] == expected
        assert on_disk(state)["step"] == expected
    assert run_json("inspect", state=state)["step"] == 3


LOOPS = [
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.2, "weight_decay": 0.05}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.05}),
    ("adam", {"lr": 0.05, "betas": (0.8, 0.9), "eps": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"lr": 0.05}),
    ("adamw", {"lr": 0.05, "betas": (0.7, 0.95), "eps": 0.05, "weight_decay": 0.2, "amsgrad": True}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.8, "eps": 0.05, "weight_decay": 0.1, "momentum": 0.5, "centered": True}),
]
TORCH_CLASSES = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}


def cli_args(settings: dict) -> list[str]:
    """Optimizer keyword arguments as linctl's options."""
    args = []
    for key, value in settings.items():
        option = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(option if value else f"--no-{key}")
        elif isinstance(value, tuple):
            args.append(f"{option}={','.join(repr(v) for v in value)}")
        else:
            args.append(f"{option}={value!r}")
    return args


@pytest.mark.parametrize("name, settings", LOOPS, ids=[f"{c[0]}{i}" for i, c in enumerate(LOOPS)])
def test_n_train_steps_equal_an_n_iteration_loop(state, name, settings):
    n = 6
    build(state, activation="tanh")
    net = torch_net()
    opt = TORCH_CLASSES[name](net.parameters(), **settings)
    losses = []
    for i in range(n):
        options = ["--optimizer", name, *cli_args(settings)] if i == 0 else []  # then the stored ones
        out = run_json("train-step", f"--x={rows(X)}", f"--t={rows(T)}", *options, state=state)
        o, loss = torch_iteration(net, opt, X, T, torch.tanh)
        losses.append(loss)
        assert out["step"] == i + 1
        assert out["loss"] == loss
        assert_equal(out["output"], o, f"output at iteration {i + 1}")
        assert_equal(out["weight_grad"], net.weight.grad, f"weight.grad at iteration {i + 1}")
        assert_equal(out["bias_grad"], net.bias.grad, f"bias.grad at iteration {i + 1}")
        assert_equal(out["weight"], net.weight, f"weight after iteration {i + 1}")
        assert_equal(out["bias"], net.bias, f"bias after iteration {i + 1}")
    assert losses[-1] < losses[0]  # the data really was trained on
    saved = on_disk(state)
    assert_equal(saved["params"]["weight"], net.weight)
    assert_equal(saved["params"]["bias"], net.bias)
    assert saved["step"] == n
    for index, param in enumerate(net.parameters()):
        stored = saved["optimizer"]["state"]["state"][index]
        assert set(stored) == set(opt.state[param])
        for key, value in opt.state[param].items():
            assert torch.equal(stored[key], value), key


def test_the_settings_make_a_difference_in_the_loop_above():
    """Each configured loop ends elsewhere than torch's defaults (same lr) would."""

    def final(name, settings):
        net = torch_net()
        opt = TORCH_CLASSES[name](net.parameters(), **settings)
        for _ in range(6):
            torch_iteration(net, opt, X, T, torch.tanh)
        return net.weight.detach()

    for name, settings in LOOPS:
        if len(settings) > 1:
            assert not torch.equal(final(name, settings), final(name, {"lr": settings["lr"]})), (name, settings)


def test_reuses_the_last_x_and_t(state):
    build(state)
    net = torch_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    first = run_json("train-step", f"--x={rows(X)}", f"--t={rows(T)}", "--lr", "0.1", state=state)
    torch_iteration(net, opt, X, T)
    assert_equal(first["weight"], net.weight)

    out = run("train-step", "--json", state=state)  # no --x/--t, no --lr: the last ones
    assert out.exit_code == 0, out.stderr
    again = out.json()
    torch_iteration(net, opt, X, T)
    assert "last" in out.stderr
    assert_equal(again["x"], f32(X))
    assert_equal(again["t"], f32(T))
    assert again["lr"] == 0.1
    assert_equal(again["weight"], net.weight)
    assert_equal(again["bias"], net.bias)


def test_uses_the_x_and_t_of_the_last_backward(state):
    x, t = [[2.0, -1.0, 0.5]], [[0.3, 0.7]]
    build(state)
    run_json("backward", f"--x={rows(x)}", f"--t={rows(t)}", state=state)
    out = run("train-step", "--lr", "0.1", "--json", state=state)
    assert out.exit_code == 0, out.stderr
    result = out.json()
    net = torch_net()
    torch_iteration(net, torch.optim.SGD(net.parameters(), lr=0.1), x, t)
    assert_equal(result["x"], f32(x))
    assert_equal(result["t"], f32(t))
    # the gradients of that backward were cleared first: this is one clean iteration
    assert_equal(result["weight_grad"], net.weight.grad)
    assert_equal(result["weight"], net.weight)


def test_zero_grad_after_train_step(state):
    build(state)
    step = run_json("train-step", "--x", "1,2,3", "--t", "1,0", "--lr", "0.1", state=state)
    assert on_disk(state)["grads"]["weight"] is not None
    cleared = run_json("zero-grad", state=state)
    assert_equal(cleared["weight_grad_before"], f32(step["weight_grad"]))
    assert cleared["weight_grad"] is None and cleared["bias_grad"] is None
    shown = run_json("inspect", state=state)
    assert shown["weight_grad"] is None and shown["bias_grad"] is None
    grads = on_disk(state)["grads"]
    assert grads["weight"] is None and grads["bias"] is None
    # weights stay as train-step left them
    assert_equal(shown["weight"], f32(step["weight"]))


def test_view_tells_the_story_in_order(state):
    build(state, activation="sigmoid")
    out = run("train-step", f"--x={rows(X)}", f"--t={rows(T)}", "--lr", "0.1", state=state)
    assert out.exit_code == 0, out.stderr
    text = " ".join(out.stdout.split())
    phrases = [
        "1. weights",
        "zero_grad()",
        "weight.grad = None",
        "output o = sigmoid(net(x))",
        "target t",
        "loss = mse",
        "loss.backward()",
        "weight.grad",
        "weights are unchanged",
        "optimizer.step()",
        "weight after",
        "step count: 1",
    ]
    positions = []
    start = 0
    for phrase in phrases:
        found = text.find(phrase, start)
        assert found >= 0, f"{phrase!r} missing after position {start} in:\n{text}"
        positions.append(found)
        start = found + len(phrase)
    assert positions == sorted(positions)


def test_bce_without_sigmoid_out_of_range_is_exit_2(state):
    build(state)  # outputs outside (0, 1)
    out = run("train-step", f"--x={rows(X)}", "--t=0,1;1,0;0,1;1,1", "--loss", "bce", "--lr", "0.1", state=state)
    assert out.exit_code == 2
    assert "bce" in out.stderr and "Traceback" not in out.stderr
    assert on_disk(state)["step"] == 0


@pytest.mark.parametrize(
    "linctl", [run_entry, pytest.param(run_script, marks=pytest.mark.slow)], ids=["entry-point", "script"]
)
def test_round_trip_through_separate_invocations(tmp_path, linctl):
    """Each command its own invocation of the console entry point (in this process, or a real one each)."""
    state = tmp_path / "net.pt"
    weight, bias = [[0.4, -0.2], [0.1, 0.3]], [0.05, -0.1]
    x, t = [[1.0, 0.5], [-0.5, 2.0]], [[1.0, 0.0], [0.0, 1.0]]
    where = ("--state", str(state))
    built = linctl("inspect", "2", "2", f"--weight={rows(weight)}", f"--bias={vec(bias)}", *where)
    assert built.exit_code == 0, built.stderr
    back = linctl("backward", f"--x={rows(x)}", f"--t={rows(t)}", "--json", *where)
    assert back.exit_code == 0, back.stderr
    step = linctl("step", "--optimizer", "adam", "--lr", "0.1", "--json", *where)
    assert step.exit_code == 0, step.stderr
    again = linctl("train-step", "--json", *where)  # last x/t, stored adam and lr
    assert again.exit_code == 0, again.stderr

    net = torch_net(weight, bias)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    o = net(f32(x))
    torch.nn.functional.mse_loss(o, f32(t)).backward()
    assert_equal(back.json()["weight_grad"], net.weight.grad)
    opt.step()
    assert_equal(step.json()["weight"], net.weight)
    torch_iteration(net, opt, x, t)

    result = again.json()
    assert result["optimizer"] == "adam" and result["step"] == 2
    assert "last" in again.stderr
    assert_equal(result["weight"], net.weight)
    assert_equal(result["bias"], net.bias)
    saved = on_disk(state)
    assert_equal(saved["params"]["weight"], net.weight)
    assert float(saved["optimizer"]["state"]["state"][0]["step"]) == 2
