"""Optimizer settings between invocations, checked against plain torch run here.

- a setting changed after the optimizer has state does what
  `opt.param_groups[0][key] = value` does in a Python loop, or, where torch
  itself fails (KeyError), is refused with a pointer to --reset-optimizer;
- non-finite settings are refused;
- the fast step equals `optimizer.step()` bit for bit, gives way to the real
  step for hooks, LINCTL_PLAIN_STEP=1 and untested torch versions, and leaves
  torch as it found it.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch
import torch.optim.optimizer as torch_optimizer

from conftest import f32, rows, run, saved, vec
from linctl.optim import torch_step as optimizers

# IN=3, OUT=2, 4 samples
W = [[0.5, -0.3, 0.8], [-0.6, 0.2, 0.4]]
B = [0.1, -0.25]
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7], [0.2, 0.2, 0.2]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6], [1.0, -1.0]]
DATA = (f"--x={rows(X)}", f"--t={rows(T)}")

CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def build(state):
    out = run("inspect", "3", "2", f"--weight={rows(W)}", f"--bias={vec(B)}", "--json", state=state)
    assert out.exit_code == 0, out.stderr


def torch_net(dtype=torch.float32, device="cpu") -> torch.nn.Linear:
    net = torch.nn.Linear(3, 2).to(device=device, dtype=dtype)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(W, dtype=dtype))
        net.bias.copy_(torch.tensor(B, dtype=dtype))
    return net


def torch_iteration(net, opt):
    """The loop body `train-step` must equal."""
    opt.zero_grad()
    torch.nn.functional.mse_loss(net(f32(X)), f32(T)).backward()
    opt.step()


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


def train_step(state, *args, env=None):
    out = run("train-step", *DATA, *args, "--json", state=state, env=env)
    assert out.exit_code == 0, out.stderr
    return out


def assert_same_as(result: dict, net: torch.nn.Linear, where: str = ""):
    assert torch.equal(f32(result["weight"]), net.weight.detach()), f"weight {where}"
    assert torch.equal(f32(result["bias"]), net.bias.detach()), f"bias {where}"


# --------------------------------------------------------------------------
# settings changed after the optimizer has state: what the Python loop does

# (optimizer, settings of the first two steps, change before the third, change before the fourth)
ACCEPTED = [
    ("adam", {"lr": 0.05, "amsgrad": True}, {"amsgrad": False}, {}),
    ("adam", {"lr": 0.05, "amsgrad": True}, {"amsgrad": False}, {"amsgrad": True}),  # the old buffer carries on
    ("adamw", {"lr": 0.05, "amsgrad": True}, {"amsgrad": False}, {"amsgrad": True}),
    ("adam", {"lr": 0.05}, {"betas": (0.5, 0.9), "eps": 0.1, "weight_decay": 0.1}, {"lr": 0.2}),
    ("rmsprop", {"lr": 0.01, "centered": True}, {"centered": False}, {"centered": True}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.5}, {"momentum": 0.9}, {}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.5}, {"momentum": 0.0}, {"momentum": 0.5}),
    ("rmsprop", {"lr": 0.01}, {"alpha": 0.5, "eps": 0.1, "weight_decay": 0.1}, {}),
    ("sgd", {"lr": 0.05}, {"momentum": 0.9}, {"nesterov": True}),  # torch starts the buffer from the gradient
    ("sgd", {"lr": 0.05, "momentum": 0.9}, {"momentum": 0.0}, {"momentum": 0.5, "dampening": 0.3}),
]


@pytest.mark.parametrize("name, first, third, fourth", ACCEPTED, ids=[f"{a[0]}-{i}" for i, a in enumerate(ACCEPTED)])
def test_a_setting_torch_accepts_midway_equals_the_loop(state, name, first, third, fourth):
    build(state)
    net = torch_net()
    opt = CLASSES[name](net.parameters(), **first)
    for i, change in enumerate([first, {}, third, fourth]):
        if i > 0:
            for group in opt.param_groups:
                group.update(change)
        torch_iteration(net, opt)
        extra = ["--optimizer", name] if i == 0 else []
        out = train_step(state, *extra, *cli_args(change))
        assert "reset" not in out.stderr.lower()
        assert_same_as(out.json(), net, f"after step {i + 1}")
    stored = saved(state)["optimizer"]["state"]["state"]
    for index, param in enumerate(net.parameters()):
        assert set(stored[index]) == set(opt.state[param])
        for key, value in opt.state[param].items():
            assert torch.equal(stored[index][key], value), key


# (optimizer, settings of the first two steps, the change torch cannot make, the option named)
REFUSED = [
    ("adam", {"lr": 0.05}, {"amsgrad": True}, "--amsgrad"),
    ("adamw", {"lr": 0.05}, {"amsgrad": True}, "--amsgrad"),
    ("rmsprop", {"lr": 0.01}, {"centered": True}, "--centered"),
    ("rmsprop", {"lr": 0.01}, {"momentum": 0.5}, "--momentum"),
    ("rmsprop", {"lr": 0.01, "momentum": 0.0}, {"momentum": 0.5, "centered": True}, "--centered"),
]


@pytest.mark.parametrize("command", ["step", "train-step", "train"])
@pytest.mark.parametrize("name, first, change, option", REFUSED, ids=[f"{r[0]}-{r[3]}" for r in REFUSED])
def test_a_setting_torch_cannot_turn_on_midway_is_refused(state, command, name, first, change, option):
    build(state)
    net = torch_net()
    opt = CLASSES[name](net.parameters(), **first)
    for i in range(2):
        torch_iteration(net, opt)
        train_step(state, *(["--optimizer", name, *cli_args(first)] if i == 0 else []))
    # plain torch: the same change makes the next step fail
    for group in opt.param_groups:
        group.update(change)
    with pytest.raises(KeyError):
        torch_iteration(net, opt)

    if command == "step":
        assert run("backward", *DATA, state=state).exit_code == 0
    before = state.read_bytes()
    args = {"step": [], "train-step": list(DATA), "train": [*DATA, "--steps", "2", "--no-shuffle"]}[command]
    out = run(command, *args, *cli_args(change), "--json", state=state)
    assert out.exit_code == 2, out.stderr
    assert out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message
    assert message.startswith(f"linctl: {option}")
    assert "--reset-optimizer" in message and "Traceback" not in out.stderr
    assert state.read_bytes() == before


@pytest.mark.parametrize("command", ["step", "train-step", "train"])
@pytest.mark.parametrize("name, first, change, option", REFUSED, ids=[f"{r[0]}-{r[3]}" for r in REFUSED])
def test_reset_optimizer_then_equals_a_fresh_optimizer(state, command, name, first, change, option):
    build(state)
    net = torch_net()
    opt = CLASSES[name](net.parameters(), **first)
    for i in range(2):
        torch_iteration(net, opt)
        train_step(state, *(["--optimizer", name, *cli_args(first)] if i == 0 else []))

    fresh = CLASSES[name](net.parameters(), **{**first, **change})  # the stored settings, plus the change
    if command == "step":
        assert run("backward", *DATA, state=state).exit_code == 0
        torch.nn.functional.mse_loss(net(f32(X)), f32(T)).backward()  # on top of the kept gradients
        fresh.step()
        args = []
    elif command == "train-step":
        torch_iteration(net, fresh)
        args = list(DATA)
    else:
        for _ in range(3):
            torch_iteration(net, fresh)
        args = [*DATA, "--steps", "3", "--no-shuffle"]
    out = run(command, *args, *cli_args(change), "--reset-optimizer", "--json", state=state)
    assert out.exit_code == 0, out.stderr
    assert "--reset-optimizer" in out.stderr and "dropped" in out.stderr
    assert_same_as(out.json(), net)
    stored = saved(state)["optimizer"]
    assert stored["settings"] == {**stored["settings"], **change}
    assert float(stored["state"]["state"][0]["step"]) == (3 if command == "train" else 1)

    # and the optimizer carries on from there, settings kept
    torch_iteration(net, fresh)
    assert_same_as(train_step(state).json(), net, "one step later")


def test_reset_optimizer_keeps_the_settings_and_drops_momentum(state):
    build(state)
    net = torch_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for i in range(3):
        torch_iteration(net, opt)
        train_step(state, *(["--lr", "0.05", "--momentum", "0.9"] if i == 0 else []))
    fresh = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    torch_iteration(net, fresh)
    out = train_step(state, "--reset-optimizer")
    assert_same_as(out.json(), net)
    # ... which differs from carrying the momentum on
    carried = torch_net()
    carried_opt = torch.optim.SGD(carried.parameters(), lr=0.05, momentum=0.9)
    for _ in range(4):
        torch_iteration(carried, carried_opt)
    assert not torch.equal(carried.weight.detach(), net.weight.detach())


def test_reset_optimizer_without_stored_state_says_so(state):
    build(state)
    out = train_step(state, "--lr", "0.1", "--reset-optimizer")
    assert "no stored optimizer state" in out.stderr
    net = torch_net()
    torch_iteration(net, torch.optim.SGD(net.parameters(), lr=0.1))
    assert_same_as(out.json(), net)


# --------------------------------------------------------------------------
# non-finite settings

NON_FINITE = [
    ("sgd", "--lr", "{v}"),
    ("sgd", "--momentum", "{v}"),
    ("sgd", "--dampening", "{v}"),
    ("sgd", "--weight-decay", "{v}"),
    ("adam", "--lr", "{v}"),
    ("adam", "--betas", "{v},0.999"),
    ("adam", "--betas", "0.9,{v}"),
    ("adam", "--eps", "{v}"),
    ("adam", "--weight-decay", "{v}"),
    ("adamw", "--betas", "{v},{v}"),
    ("adamw", "--eps", "{v}"),
    ("adamw", "--weight-decay", "{v}"),
    ("rmsprop", "--lr", "{v}"),
    ("rmsprop", "--alpha", "{v}"),
    ("rmsprop", "--eps", "{v}"),
    ("rmsprop", "--weight-decay", "{v}"),
    ("rmsprop", "--momentum", "{v}"),
]


def refused_without_change(state, *args):
    before = state.read_bytes()
    out = run(*args, "--json", state=state)
    assert out.exit_code == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert state.read_bytes() == before
    return message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("name, option, template", NON_FINITE, ids=[f"{n[0]}{n[1]}:{n[2]}" for n in NON_FINITE])
def test_non_finite_settings_are_exit_2(state, name, option, template, value):
    build(state)
    lr = [] if option == "--lr" else ["--lr", "0.1"]
    message = refused_without_change(
        state, "train-step", *DATA, "--optimizer", name, *lr, f"{option}={template.format(v=value)}"
    )
    assert message.startswith(f"linctl: {option}:")
    assert "finite" in message


@pytest.mark.parametrize("command", ["step", "train"])
@pytest.mark.parametrize("name, option, template", NON_FINITE, ids=[f"{n[0]}{n[1]}:{n[2]}" for n in NON_FINITE])
def test_non_finite_settings_are_refused_by_every_stepping_command(state, command, name, option, template):
    build(state)
    assert run("backward", *DATA, state=state).exit_code == 0
    lr = [] if option == "--lr" else ["--lr", "0.1"]
    args = [] if command == "step" else [*DATA, "--steps", "2"]
    message = refused_without_change(
        state, command, *args, "--optimizer", name, *lr, f"{option}={template.format(v='inf')}"
    )
    assert message.startswith(f"linctl: {option}:") and "finite" in message


def test_a_non_finite_setting_after_good_steps_keeps_the_optimizer(state):
    build(state)
    train_step(state, "--optimizer", "adam", "--lr", "0.1")
    message = refused_without_change(state, "train-step", "--weight-decay=inf")
    assert "--weight-decay" in message


# --------------------------------------------------------------------------
# the fast step: bit for bit what optimizer.step() does

GRID = {
    "sgd": {"momentum": [0.0, 0.9], "dampening": [0.0, 0.3], "weight_decay": [0.0, 0.1], "nesterov": [False, True]},
    "adam": {
        "betas": [(0.9, 0.999), (0.5, 0.9)],
        "eps": [1e-8, 0.1],
        "weight_decay": [0.0, 0.1],
        "amsgrad": [False, True],
    },
    "adamw": {
        "betas": [(0.9, 0.999), (0.5, 0.9)],
        "eps": [1e-8, 0.1],
        "weight_decay": [0.01, 0.3],
        "amsgrad": [False, True],
    },
    "rmsprop": {
        "alpha": [0.99, 0.5],
        "eps": [1e-8, 0.1],
        "weight_decay": [0.0, 0.1],
        "momentum": [0.0, 0.5],
        "centered": [False, True],
    },
}


def combinations():
    for name, grid in GRID.items():
        for values in itertools.product(*grid.values()):
            settings = {"lr": 0.05, **dict(zip(grid, values, strict=True))}
            if settings.get("nesterov") and (settings["momentum"] == 0 or settings["dampening"] != 0):
                continue  # torch refuses it
            yield name, settings


COMBINATIONS = list(combinations())


def gradient_steps(net, opt, step, n=4):
    """n iterations with a changing gradient, calling `step(opt)` for the update."""
    x = torch.tensor(X, dtype=net.weight.dtype, device=net.weight.device)
    t = torch.tensor(T, dtype=net.weight.dtype, device=net.weight.device)
    for _ in range(n):
        opt.zero_grad()
        torch.nn.functional.mse_loss(torch.tanh(net(x)), t).backward()
        step(opt)


def assert_same_state_dict(a: dict, b: dict):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index, entry in a["state"].items():
        assert entry.keys() == b["state"][index].keys()
        for key, value in entry.items():
            assert torch.equal(value, b["state"][index][key]), (index, key)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, settings", COMBINATIONS, ids=[f"{c[0]}-{i}" for i, c in enumerate(COMBINATIONS)])
def test_fast_step_equals_optimizer_step_bit_for_bit(name, settings, dtype, device):
    plain_net, fast_net = torch_net(dtype, device), torch_net(dtype, device)
    plain = CLASSES[name](plain_net.parameters(), **settings)
    fast = optimizers._new_optimizer(CLASSES[name], fast_net.parameters(), settings)
    gradient_steps(plain_net, plain, lambda opt: opt.step())
    gradient_steps(fast_net, fast, optimizers._fast_step)
    for a, b in zip(plain_net.parameters(), fast_net.parameters(), strict=True):
        assert torch.equal(a, b)
        assert set(plain.state[a]) == set(fast.state[b])
        for key in plain.state[a]:
            assert torch.equal(plain.state[a][key], fast.state[b][key]), key
    # the state dict and loading it back, as linctl stores it between invocations
    saved = optimizers._state_dict(fast)
    assert_same_state_dict(saved, plain.state_dict())
    again_net = torch_net(dtype, device)
    with torch.no_grad():
        for p, q in zip(again_net.parameters(), fast_net.parameters(), strict=True):
            p.copy_(q)
    again = optimizers._new_optimizer(CLASSES[name], again_net.parameters(), settings)
    optimizers._load_state(again, saved)
    gradient_steps(plain_net, plain, lambda opt: opt.step(), n=2)
    gradient_steps(again_net, again, optimizers._fast_step, n=2)
    for a, b in zip(plain_net.parameters(), again_net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_installed_torch_takes_the_fast_step_when_listed():
    net = torch_net()
    opt = optimizers._new_optimizer(torch.optim.Adam, net.parameters(), {"lr": 0.1})
    listed = torch.__version__.startswith(optimizers.FAST_STEP_TORCH)
    assert (optimizers._fast_step_body(opt) is not None) is listed


# --------------------------------------------------------------------------
# when the real optimizer.step() runs instead


@pytest.fixture
def fast_calls(monkeypatch):
    """Counts the fast steps taken."""
    calls = []
    original = optimizers._fast_step

    def spy(optimizer, *body):
        calls.append(optimizer)
        original(optimizer, *body)

    monkeypatch.setattr(optimizers, "_fast_step", spy)
    return calls


def one_torch_step(opt_name="adam"):
    net = torch_net()
    opt = CLASSES[opt_name](net.parameters(), lr=0.1)
    torch_iteration(net, opt)
    return net


@pytest.mark.parametrize("kind", ["global-pre", "global-post", "instance-pre", "instance-post"])
def test_a_hook_makes_run_step_call_the_real_step(kind, fast_calls):
    net = torch_net()
    opt = optimizers._new_optimizer(torch.optim.Adam, net.parameters(), {"lr": 0.1})
    seen = []

    def hook(optimizer, args, kwargs):
        seen.append(optimizer)

    register = {
        "global-pre": torch_optimizer.register_optimizer_step_pre_hook,
        "global-post": torch_optimizer.register_optimizer_step_post_hook,
        "instance-pre": opt.register_step_pre_hook,
        "instance-post": opt.register_step_post_hook,
    }[kind]
    handle = register(hook)
    try:
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(f32(X)), f32(T)).backward()
        optimizers.run_step(opt)
    finally:
        handle.remove()
    assert seen == [opt]
    assert fast_calls == []
    assert torch.equal(net.weight.detach(), one_torch_step().weight.detach())


def test_a_running_profiler_gets_the_real_step_and_its_label(fast_calls):
    net = torch_net()
    opt = optimizers._new_optimizer(torch.optim.Adam, net.parameters(), {"lr": 0.1})
    opt.zero_grad()
    torch.nn.functional.mse_loss(net(f32(X)), f32(T)).backward()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        optimizers.run_step(opt)
    assert fast_calls == []
    assert "Optimizer.step#Adam.step" in {event.name for event in profiler.events()}
    assert torch.equal(net.weight.detach(), one_torch_step().weight.detach())


def test_global_hooks_run_on_linctls_optimizer(state, fast_calls):
    build(state)
    seen = []
    pre = torch_optimizer.register_optimizer_step_pre_hook(lambda o, a, k: seen.append(("pre", type(o))))
    post = torch_optimizer.register_optimizer_step_post_hook(lambda o, a, k: seen.append(("post", type(o))))
    try:
        out = train_step(state, "--optimizer", "adam", "--lr", "0.1")
    finally:
        pre.remove()
        post.remove()
    assert seen == [("pre", torch.optim.Adam), ("post", torch.optim.Adam)]
    assert fast_calls == []
    assert_same_as(out.json(), one_torch_step())
    train_step(state)  # hooks gone: the fast step again
    assert len(fast_calls) == 1


@pytest.mark.parametrize("command", ["train-step", "train"])
def test_plain_step_env_uses_the_real_step(state, monkeypatch, command, fast_calls):
    undecorated = []
    original = optimizers._undecorated
    monkeypatch.setattr(optimizers, "_undecorated", lambda f: undecorated.append(f) or original(f))
    build(state)
    args = [*DATA, "--steps", "1"] if command == "train" else list(DATA)
    out = run(
        command, *args, "--optimizer", "adam", "--lr", "0.1", "--json", state=state, env={"LINCTL_PLAIN_STEP": "1"}
    )
    assert out.exit_code == 0, out.stderr
    assert fast_calls == [] and undecorated == []
    assert_same_as(out.json(), one_torch_step())
    # and without it, the fast calls (proving the spies see them)
    for value in ("0", ""):
        out = run(command, *args, "--json", state=state, env={"LINCTL_PLAIN_STEP": value})
        assert out.exit_code == 0, out.stderr
    assert len(fast_calls) == 2 and undecorated


@pytest.mark.parametrize("value", ["yes", "true", "2", " 1", "on"])
def test_a_bad_plain_step_env_is_exit_2(state, value):
    build(state)
    for command, args in (("train-step", list(DATA)), ("train", [*DATA, "--steps", "1"])):
        before = state.read_bytes()
        out = run(command, *args, "--lr", "0.1", "--json", state=state, env={"LINCTL_PLAIN_STEP": value})
        assert out.exit_code == 2
        assert out.stdout == ""
        message = out.stderr.strip()
        assert "\n" not in message and "Traceback" not in message
        assert "LINCTL_PLAIN_STEP" in message and "expected 1" in message and repr(value) in message
        assert state.read_bytes() == before


def test_an_untested_torch_version_gets_the_real_step(state, monkeypatch, fast_calls):
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    build(state)
    out = train_step(state, "--optimizer", "rmsprop", "--lr", "0.1")
    assert fast_calls == []
    assert_same_as(out.json(), one_torch_step("rmsprop"))


# --------------------------------------------------------------------------
# torch is left as it was found

FIND_MARKS = """
import sys, types
import torch

def functions():
    seen = set()
    stack = []
    import importlib
    base = importlib.import_module("torch.optim.optimizer")
    for name in ("optimizer", "sgd", "adam", "adamw", "rmsprop"):
        module = importlib.import_module("torch.optim." + name)
        stack += list(vars(module).values())
    for cls in (base.Optimizer, torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop):
        stack += list(vars(cls).values())
    while stack:
        f = stack.pop()
        if id(f) in seen or not callable(f):
            continue
        seen.add(id(f))
        yield f
        if hasattr(f, "__wrapped__"):
            stack.append(f.__wrapped__)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                stack.append(cell.cell_contents)
            except ValueError:
                pass

def marks():
    return {getattr(f, "__qualname__", repr(f)): getattr(f, "__dynamo_disable") for f in functions()
            if hasattr(f, "__dynamo_disable")}
"""


def test_no_marks_left_on_torch_and_no_dynamo_import(tmp_path):
    state = tmp_path / "net.pt"
    commands = [
        ["inspect", "3", "2", "--seed", "0"],
        ["train-step", "--optimizer", "adam", "--lr", "0.1", "--amsgrad"],
        ["train-step", "--optimizer", "sgd", "--momentum", "0.9"],
        ["backward", "--x", "1,1,1", "--t", "1,0"],
        ["step", "--optimizer", "rmsprop", "--centered"],
        ["train", "--x", "1,1,1;0,1,0", "--t", "1,0;0,1", "--steps", "3", "--optimizer", "adamw"],
        ["train-step", "--reset-optimizer"],
    ]
    script = (
        FIND_MARKS
        + f"""
from linctl.app import app
for args in {commands!r}:
    try:
        app(args + ["--state", {str(state)!r}])
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
print("DYNAMO:", "torch._dynamo" in sys.modules)
print("MARKS:", sorted(marks()))
# the search does find a mark where there is one
target = torch.optim.Optimizer.zero_grad.__wrapped__
setattr(target, "__dynamo_disable", target)
print("FOUND:", sorted(marks()))
"""
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-3:] == ["DYNAMO: False", "MARKS: []", "FOUND: ['Optimizer.zero_grad']"]


def test_linctl_changes_no_torch_function_in_this_process(state):
    namespace: dict = {}
    exec(FIND_MARKS, namespace)
    before = namespace["marks"]()
    build(state)
    train_step(state, "--optimizer", "adam", "--lr", "0.1")
    assert (
        run("train", *DATA, "--steps", "2", "--optimizer", "rmsprop", "--momentum", "0.5", state=state).exit_code == 0
    )
    assert namespace["marks"]() == before
