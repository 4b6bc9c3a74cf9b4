"""Issue 3: `linctl step` and `zero-grad` against torch.optim run in a plain loop here."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from conftest import f32, rows, run, run_json, saved, vec

STEP_KEYS = {"weight_before", "bias_before", "weight", "bias", "weight_grad", "bias_grad", "lr", "optimizer", "step"}

# IN=3, OUT=2, 4 samples
W = [[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]]
B = [0.1, -0.25]
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7], [0.2, 0.2, 0.2]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6], [1.0, -1.0]]


def build(state, weight=W, bias=B, activation="none"):
    out = run(
        "inspect",
        str(len(weight[0])),
        str(len(weight)),
        f"--weight={rows(weight)}",
        f"--bias={vec(bias)}",
        "--activation",
        activation,
        "--json",  # the view is not read: built quicker
        state=state,
    )
    assert out.exit_code == 0, out.stderr


def torch_net(weight=W, bias=B) -> torch.nn.Linear:
    net = torch.nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        net.weight.copy_(f32(weight))
        net.bias.copy_(f32(bias))
    return net


def torch_backward(net, x=X, t=T):
    loss = torch.nn.functional.mse_loss(net(f32(x)), f32(t))
    loss.backward()
    return loss.item()


def backward(state, x=X, t=T):
    return run_json("backward", f"--x={rows(x)}", f"--t={rows(t)}", state=state)


def on_disk(state) -> dict:
    return saved(state)


def assert_equal(shown, expected, what: str = ""):
    """linctl's numbers (JSON floats, float32's shortest repr) equal torch's bit for bit."""
    actual = shown if isinstance(shown, torch.Tensor) else f32(shown)
    assert torch.equal(actual, expected.detach()), f"{what}: {actual} != {expected}"


# --------------------------------------------------------------------------
# plain SGD


def test_plain_sgd_is_w_minus_lr_grad(state):
    build(state)
    backward(state)
    out = run_json("step", "--lr", "0.1", state=state)

    net = torch_net()
    torch_backward(net)
    grad_w, grad_b = net.weight.grad.clone(), net.bias.grad.clone()
    hand_w = f32(W) - 0.1 * grad_w
    hand_b = f32(B) - 0.1 * grad_b

    assert set(out) >= STEP_KEYS
    assert out["optimizer"] == "sgd"
    assert out["lr"] == 0.1
    assert out["step"] == 1
    assert_equal(out["weight_before"], f32(W))
    assert_equal(out["bias_before"], f32(B))
    assert_equal(out["weight_grad"], grad_w)
    assert_equal(out["bias_grad"], grad_b)
    # by hand, W - lr·grad rounds lr·grad to float32 before subtracting, while
    # torch's param.add_(grad, alpha=-lr) may not: the last bit can differ
    assert_close(f32(out["weight"]), hand_w)
    assert_close(f32(out["bias"]), hand_b)
    # torch's own SGD: exactly
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    assert_equal(out["weight"], net.weight)
    assert_equal(out["bias"], net.bias)
    saved = on_disk(state)
    assert_equal(saved["params"]["weight"], net.weight)
    assert_equal(saved["params"]["bias"], net.bias)
    assert saved["step"] == 1


def test_step_keeps_the_gradients(state):
    build(state)
    back = backward(state)
    out = run_json("step", "--lr", "0.1", state=state)
    assert_equal(out["weight_grad"], f32(back["weight_grad"]))
    shown = run_json("inspect", state=state)
    assert_equal(shown["weight_grad"], f32(back["weight_grad"]))
    assert_equal(shown["bias_grad"], f32(back["bias_grad"]))
    grads = on_disk(state)["grads"]
    net = torch_net()
    torch_backward(net)
    assert_equal(grads["weight"], net.weight.grad)
    assert_equal(grads["bias"], net.bias.grad)


def test_step_view_says_gradients_kept_and_checks_by_hand(state):
    build(state)
    backward(state)
    out = run("step", "--lr", "0.1", state=state)
    assert out.exit_code == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "kept" in text
    assert "W - lr·grad" in text
    assert "match" in text and "MISMATCH" not in text
    assert "weight before" in text and "weight after" in text


@pytest.mark.parametrize("setup", ["fresh", "after_zero_grad"])
def test_step_without_gradients_is_exit_1_with_hint(state, setup):
    build(state)
    if setup == "after_zero_grad":
        backward(state)
        assert run("zero-grad", state=state).exit_code == 0
    before = on_disk(state)
    out = run("step", "--lr", "0.1", "--json", state=state)
    assert out.exit_code == 1
    assert out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "gradient" in message and "backward" in message
    after = on_disk(state)
    assert torch.equal(after["params"]["weight"], before["params"]["weight"])
    assert after["step"] == before["step"]


# --------------------------------------------------------------------------
# N separate invocations == N iterations of one loop

CONFIGS = [
    ("sgd", ["--momentum", "0.9"], {"momentum": 0.9}),
    ("sgd", ["--momentum", "0.9", "--nesterov"], {"momentum": 0.9, "nesterov": True}),
    ("sgd", ["--weight-decay", "0.1"], {"weight_decay": 0.1}),
    (
        "sgd",
        ["--momentum", "0.8", "--dampening", "0.3", "--weight-decay", "0.05"],
        {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
    ),
    ("adam", [], {}),
    (
        "adam",
        ["--betas", "0.8,0.99", "--eps", "1e-6", "--weight-decay", "0.1", "--amsgrad"],
        {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True},
    ),
    ("adamw", [], {}),
    ("adamw", ["--weight-decay", "0.2", "--betas", "0.85,0.995"], {"weight_decay": 0.2, "betas": (0.85, 0.995)}),
    ("rmsprop", [], {}),
    (
        "rmsprop",
        ["--alpha", "0.9", "--momentum", "0.5", "--centered"],
        {"alpha": 0.9, "momentum": 0.5, "centered": True},
    ),
]
TORCH_CLASSES = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}


@pytest.mark.parametrize("repeat_options", [True, False], ids=["options-every-time", "options-once"])
@pytest.mark.parametrize("name, args, kwargs", CONFIGS, ids=[f"{c[0]}{i}" for i, c in enumerate(CONFIGS)])
def test_n_steps_equal_a_torch_loop(state, name, args, kwargs, repeat_options):
    lr = 0.05
    n = 4
    build(state)
    net = torch_net()
    opt = TORCH_CLASSES[name](net.parameters(), lr=lr, **kwargs)
    for i in range(n):
        if i > 0:
            assert run("zero-grad", state=state).exit_code == 0
        backward(state)
        options = ["--optimizer", name, "--lr", str(lr), *args] if (i == 0 or repeat_options) else []
        out = run_json("step", *options, state=state)

        opt.zero_grad()
        torch_backward(net)
        opt.step()

        assert out["optimizer"] == name
        assert out["lr"] == lr
        assert out["step"] == i + 1
        assert_equal(out["weight_grad"], net.weight.grad, f"weight.grad at step {i + 1}")
        assert_equal(out["weight"], net.weight, f"weight after step {i + 1}")
        assert_equal(out["bias"], net.bias, f"bias after step {i + 1}")
    saved = on_disk(state)
    assert_equal(saved["params"]["weight"], net.weight)
    assert_equal(saved["params"]["bias"], net.bias)
    assert saved["step"] == n
    for index, param in enumerate(net.parameters()):
        stored = saved["optimizer"]["state"]["state"].get(index, {})
        assert set(stored) == set(opt.state[param])
        for key, value in opt.state[param].items():
            assert torch.equal(stored[key], value), key


# Every setting, one at a time: (optimizer, the setting, settings it needs beside it).
# Values are chosen so that each changes the numbers within N_STEPS steps (eps 0.1
# is large against these gradients; momentum and betas need a few steps to show).
BASE_LR = 0.05
N_STEPS = 4
EVERY_SETTING = [
    ("sgd", {"lr": 0.3}, {}),
    ("sgd", {"momentum": 0.9}, {}),
    ("sgd", {"dampening": 0.5}, {"momentum": 0.9}),
    ("sgd", {"weight_decay": 0.1}, {}),
    ("sgd", {"nesterov": True}, {"momentum": 0.9}),
    ("adam", {"lr": 0.3}, {}),
    ("adam", {"betas": (0.5, 0.999)}, {}),
    ("adam", {"betas": (0.9, 0.5)}, {}),
    ("adam", {"eps": 0.1}, {}),
    ("adam", {"weight_decay": 0.1}, {}),
    ("adam", {"amsgrad": True}, {"lr": 0.3, "betas": (0.9, 0.5)}),  # the max of v matters once v shrinks
    ("adamw", {"lr": 0.3}, {}),
    ("adamw", {"betas": (0.5, 0.999)}, {}),
    ("adamw", {"betas": (0.9, 0.5)}, {}),
    ("adamw", {"eps": 0.1}, {}),
    ("adamw", {"weight_decay": 0.3}, {}),  # torch's default for AdamW is 0.01
    ("adamw", {"amsgrad": True}, {"lr": 0.3, "betas": (0.9, 0.5)}),
    ("rmsprop", {"lr": 0.3}, {}),
    ("rmsprop", {"alpha": 0.5}, {}),
    ("rmsprop", {"eps": 0.1}, {}),
    ("rmsprop", {"weight_decay": 0.1}, {}),
    ("rmsprop", {"momentum": 0.5}, {}),
    ("rmsprop", {"centered": True}, {}),
]


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


def torch_run(name: str, settings: dict, n: int = N_STEPS) -> list[torch.nn.Linear]:
    """The plain loop: the network after each of n steps."""
    net = torch_net()
    opt = TORCH_CLASSES[name](net.parameters(), **settings)
    after = []
    for _ in range(n):
        opt.zero_grad()
        torch_backward(net)
        opt.step()
        after.append((net.weight.detach().clone(), net.bias.detach().clone()))
    return after


@pytest.mark.parametrize(
    "name, setting, beside", EVERY_SETTING, ids=[f"{e[0]}-{'-'.join(e[1])}{i}" for i, e in enumerate(EVERY_SETTING)]
)
def test_every_setting_is_used_exactly(state, name, setting, beside):
    with_it = {"lr": BASE_LR, **beside, **setting}
    without_it = {"lr": BASE_LR, **beside}
    expected = torch_run(name, with_it)
    build(state)
    for i, (weight, bias) in enumerate(expected):
        if i > 0:
            assert run("zero-grad", state=state).exit_code == 0
        backward(state)
        options = ["--optimizer", name, *cli_args(with_it)] if i == 0 else []  # later steps: the stored settings
        out = run_json("step", *options, state=state)
        assert_equal(out["weight"], weight, f"weight after step {i + 1}")
        assert_equal(out["bias"], bias, f"bias after step {i + 1}")
    # torch without the setting ends elsewhere: a linctl that ignored it would fail above
    weight, bias = torch_run(name, without_it)[-1]
    assert not (torch.equal(weight, expected[-1][0]) and torch.equal(bias, expected[-1][1])), setting


def test_steps_on_accumulating_gradients_equal_a_loop_without_zero_grad(state):
    build(state)
    net = torch_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    for _ in range(3):
        backward(state)
        out = run_json("step", "--lr", "0.02", "--momentum", "0.9", state=state)
        torch_backward(net)  # no zero_grad: the gradients add up
        opt.step()
        assert_equal(out["weight_grad"], net.weight.grad)
        assert_equal(out["weight"], net.weight)
        assert_equal(out["bias"], net.bias)


def test_optimizer_and_lr_persist_between_invocations(state):
    build(state)
    backward(state)
    run_json("step", "--optimizer", "adam", "--lr", "0.01", "--betas", "0.5,0.9", state=state)
    backward(state)
    out = run_json("step", state=state)
    assert out["optimizer"] == "adam"
    assert out["lr"] == 0.01
    assert out["settings"]["betas"] == [0.5, 0.9]
    saved = on_disk(state)["optimizer"]
    assert saved["name"] == "adam"
    assert saved["settings"]["lr"] == 0.01
    assert saved["settings"]["betas"] == (0.5, 0.9)


def test_changing_the_optimizer_resets_its_state(state):
    build(state)
    net = torch_net()
    sgd = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        run("zero-grad", state=state)
        backward(state)
        run_json("step", "--lr", "0.05", "--momentum", "0.9", state=state)
        sgd.zero_grad()
        torch_backward(net)
        sgd.step()

    adam = torch.optim.Adam(net.parameters(), lr=0.01)  # a fresh optimizer: no momentum buffer, no moments
    for i in range(2):
        run("zero-grad", state=state)
        backward(state)
        args = ["--optimizer", "adam", "--lr", "0.01"] if i == 0 else []
        out = run("step", *args, "--json", state=state)
        assert out.exit_code == 0, out.stderr
        adam.zero_grad()
        torch_backward(net)
        adam.step()
        result = out.json()
        assert result["optimizer"] == "adam"
        assert_equal(result["weight"], net.weight)
        assert_equal(result["bias"], net.bias)
        if i == 0:
            note = out.stderr.lower()
            assert "sgd" in note and "adam" in note and "reset" in note
        else:
            assert "reset" not in out.stderr.lower()
    state_dict = on_disk(state)["optimizer"]["state"]
    assert set(state_dict["state"][0]) >= {"exp_avg", "exp_avg_sq", "step"}
    assert float(state_dict["state"][0]["step"]) == 2


def test_changing_a_setting_keeps_the_state(state):
    build(state)
    net = torch_net()
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for i in range(3):
        lr = 0.1 if i < 2 else 0.02
        run("zero-grad", state=state)
        backward(state)
        out = run("step", "--lr", str(lr), "--momentum", "0.9", "--json", state=state)
        assert out.exit_code == 0, out.stderr
        for group in sgd.param_groups:
            group["lr"] = lr
        sgd.zero_grad()
        torch_backward(net)
        sgd.step()  # the momentum buffer carries on
        result = out.json()
        assert result["lr"] == lr
        assert_equal(result["weight"], net.weight)
        assert_equal(result["bias"], net.bias)
        if i == 2:
            assert "--lr" in out.stderr and "0.1" in out.stderr and "0.02" in out.stderr
            assert "reset" not in out.stderr.lower()
        else:
            assert "changed" not in out.stderr


# --------------------------------------------------------------------------
# bad settings

BAD = [
    (["--lr=-0.1"], "--lr", True),
    (["--lr", "0.1", "--momentum", "1"], "--momentum", True),
    (["--lr", "0.1", "--momentum", "1.5"], "--momentum", True),
    (["--lr", "0.1", "--momentum=-0.1"], "--momentum", True),
    (["--optimizer", "adam", "--lr", "0.1", "--betas", "1.0,0.999"], "--betas", True),
    (["--optimizer", "adam", "--lr", "0.1", "--betas", "0.9,1"], "--betas", True),
    (["--optimizer", "adamw", "--lr", "0.1", "--betas=0.9,-0.1"], "--betas", True),
    (["--optimizer", "adam", "--lr", "0.1", "--betas", "0.9"], "--betas", False),
    (["--lr", "0.1", "--nesterov"], "--nesterov", False),
    (["--lr", "0.1", "--momentum", "0.9", "--dampening", "0.5", "--nesterov"], "--nesterov", False),
    (["--lr", "0.1", "--weight-decay=-0.01"], "--weight-decay", True),
    (["--optimizer", "adam", "--lr", "0.1", "--eps=-1e-8"], "--eps", True),
    (["--optimizer", "rmsprop", "--lr", "0.1", "--eps=-1"], "--eps", True),
    (["--optimizer", "rmsprop", "--lr", "0.1", "--alpha", "1.5"], "--alpha", True),
    (["--lr", "0.1", "--betas", "0.9,0.999"], "--betas", False),  # sgd has no betas
    (["--optimizer", "adam", "--lr", "0.1", "--momentum", "0.9"], "--momentum", False),
    (["--optimizer", "adam", "--lr", "0.1", "--nesterov"], "--nesterov", False),
    (["--optimizer", "rmsprop", "--lr", "0.1", "--amsgrad"], "--amsgrad", False),
    (["--optimizer", "lbfgs", "--lr", "0.1"], "--optimizer", False),
    ([], "--lr", False),  # no learning rate the very first time
    (["--momentum", "0.9"], "--lr", False),
]


@pytest.mark.parametrize("command", ["step", "train-step"])
@pytest.mark.parametrize("args, option, torch_wording", BAD, ids=[" ".join(b[0]) or "no-lr" for b in BAD])
def test_bad_settings_are_exit_2(state, command, args, option, torch_wording):
    build(state)
    backward(state)
    before = on_disk(state)
    out = run(command, *args, "--json", state=state)
    assert out.exit_code == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert option in message
    if torch_wording:
        assert "Invalid" in message
    after = on_disk(state)
    assert torch.equal(after["params"]["weight"], before["params"]["weight"])
    assert after["step"] == 0
    assert after["optimizer"]["name"] is None


def test_bad_setting_after_a_good_one_keeps_the_stored_optimizer(state):
    build(state)
    backward(state)
    run_json("step", "--lr", "0.1", "--momentum", "0.9", state=state)
    stored = on_disk(state)
    out = run("step", "--momentum", "1.0", state=state)
    assert out.exit_code == 2
    assert "--momentum" in out.stderr
    after = on_disk(state)
    assert after["optimizer"]["settings"]["momentum"] == 0.9
    assert torch.equal(after["params"]["weight"], stored["params"]["weight"])
    assert after["step"] == 1


# --------------------------------------------------------------------------
# zero-grad


def test_zero_grad_sets_grads_to_none(state):
    build(state)
    back = backward(state)
    out = run_json("zero-grad", state=state)
    assert out["weight_grad"] is None and out["bias_grad"] is None
    assert_equal(out["weight_grad_before"], f32(back["weight_grad"]))
    shown = run_json("inspect", state=state)
    assert shown["weight_grad"] is None and shown["bias_grad"] is None
    grads = on_disk(state)["grads"]
    assert grads["weight"] is None and grads["bias"] is None
    # the next backward starts from None, as after optimizer.zero_grad()
    again = backward(state)
    assert again["weight_grad_before"] is None
    net = torch_net()
    torch_backward(net)
    assert_equal(again["weight_grad"], net.weight.grad)


# --------------------------------------------------------------------------
# the tutorial, number for number


def test_classic_tutorial_reproduced(state):
    weight, bias = [[0.3643, -0.3121]], [-0.1371]
    built = run(
        "inspect", "2", "1", f"--weight={rows(weight)}", f"--bias={vec(bias)}", "--activation", "sigmoid", state=state
    )
    assert built.exit_code == 0, built.stderr
    shown = run_json("inspect", state=state)
    back = run_json("backward", "--x", "1,1", "--t", "1", "--loss", "diff", state=state)
    stepped = run_json("step", "--lr", "0.05", state=state)

    # the tutorial, in plain torch
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(weight))
        net.bias.copy_(torch.tensor(bias))
    x = torch.tensor([[1.0, 1.0]])
    assert net.weight.grad is None and net.bias.grad is None
    assert shown["weight_grad"] is None and shown["bias_grad"] is None
    o = torch.nn.Sigmoid()(net(x))
    t = torch.tensor([[1.0]])
    loss = t - o
    loss.backward()
    weight_after_backward = net.weight.detach().clone()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    optimizer.step()

    assert_equal(back["output"], o)
    assert back["loss"] == loss.item()  # the tutorial's t - o for one sample; linctl's mean of one value
    assert_equal(back["weight_grad"], net.weight.grad)
    assert_equal(back["bias_grad"], net.bias.grad)
    assert_equal(back["weight"], weight_after_backward)
    assert back["match"] is True
    assert_equal(stepped["weight"], net.weight)
    assert_equal(stepped["bias"], net.bias)
    assert_equal(on_disk(state)["params"]["weight"], net.weight)
