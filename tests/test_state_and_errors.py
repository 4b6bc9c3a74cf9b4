"""Bad input, bad state files, and the process-level contract (exit codes, stderr, --version)."""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import linctl
from conftest import ROOT, Result, run, run_json, run_process
from conftest import saved as saved_state
from linctl.app import app
from linctl.store.state import FORMAT


def safetensors_bytes(data: dict) -> bytes:
    """A state as the bytes of a safetensors file, written by the library from linctl's encoding."""
    from safetensors.numpy import save

    from linctl.store import codec

    tensors, metadata = codec.encode(data)
    return save(tensors, metadata=metadata)


def assert_clean_failure(result, code: int) -> str:
    """Exit `code`, exactly one line on stderr, no traceback, nothing on stdout."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "internal error" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def saved(state: Path) -> Path:
    """A valid 2 -> 2 network in the state file."""
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    return state


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


# --------------------------------------------------------------------------
# malformed values: exit 2, one line, the state file untouched


BAD_USAGE = [
    # non-numbers
    (["inspect", "2", "2", "--weight", "1,x;3,4"], "--weight"),
    (["inspect", "2", "2", "--bias", "a,1"], "--bias"),
    (["forward", "--x", "1,abc"], "--x"),
    (["forward", "--x", "0x10,1"], "--x"),
    (["forward", "--x", "1_000,1"], "--x"),
    (["inspect", "abc", "2"], "IN"),
    (["inspect", "2", "1.5"], "OUT"),
    # empty values
    (["forward", "--x", "1,,2"], "--x"),
    (["forward", "--x", "1,"], "--x"),
    (["forward", "--x", ""], "--x"),
    (["forward", "--x", "1,1;"], "--x"),
    (["inspect", "2", "2", "--weight", "1,,;3,4"], "--weight"),
    (["inspect", "2", "2", "--bias", ""], "--bias"),
    # ragged rows
    (["forward", "--x", "1,2;3"], "--x"),
    (["forward", "--x", "1,2", "--x", "3"], "--x"),
    (["inspect", "2", "2", "--weight", "1,2;3"], "--weight"),
    # wrong lengths and shapes
    (["forward", "--x", "1,2,3"], "in_features=2"),
    (["forward", "--x", "1"], "in_features=2"),
    (["inspect", "2", "2", "--weight", "1,2,3;4,5,6"], "--weight"),
    (["inspect", "2", "2", "--bias", "1,2,3"], "--bias"),
    # zero and negative sizes
    (["inspect", "0", "2"], "IN"),
    (["inspect", "2", "0"], "OUT"),
    (["inspect", "-1", "2"], "-1"),
    # sizes too large to allocate: refused before allocating
    (["inspect", "1000000", "1000000"], "1000000"),
    (["inspect", "2000000", "1"], "2000000"),
    (["inspect", "1", "99999999999"], "99999999999"),
    # other bad options
    (["inspect", "2", "2", "--activation", "sparsemax"], "--activation"),
    (["inspect", "2", "2", "--dtype", "float16"], "--dtype"),
    (["inspect", "2", "2", "--bias", "1,2", "--no-bias"], "--no-bias"),
    (["forward"], "--x"),
    (["forward", "--x", "1,1", "--device", "tpu"], "--device"),
    (["nonsense-command"], "nonsense-command"),
]


@pytest.mark.parametrize("args,names", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_is_exit_2_and_leaves_state_alone(saved, args, names):
    before = saved.read_bytes()
    result = run(*args, state=saved)
    line = assert_clean_failure(result, 2)
    assert names in line
    assert saved.read_bytes() == before
    assert not backup_of(saved).exists()


def test_negative_size_after_double_dash(saved):
    before = saved.read_bytes()
    result = run("inspect", "--state", str(saved), "--", "-3", "2")
    line = assert_clean_failure(result, 2)
    assert "IN" in line and "-3" in line
    assert saved.read_bytes() == before


def test_huge_layer_refused_before_allocating(state):
    """Would need terabytes: refused with a message, not a MemoryError or an OOM kill."""
    result = run_process("inspect", "1000000", "1000000", state=state, timeout=60)
    line = assert_clean_failure(result, 2)
    assert "GiB" in line or "too large" in line
    assert not state.exists()


def test_bad_usage_without_state_creates_nothing(state):
    result = run("inspect", "2", "2", "--weight", "1,2", state=state)
    assert_clean_failure(result, 2)
    assert not state.exists()
    assert list(state.parent.iterdir()) == []


# --------------------------------------------------------------------------
# NaN and inf: allowed, warned


@pytest.mark.parametrize("x", ["nan,1", "inf,1", "1,-inf", "NaN,Infinity"])
def test_non_finite_inputs_are_warned(saved, x):
    before = saved.read_bytes()
    result = run("forward", f"--x={x}", "--json", state=saved)
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr.lower()
    assert "nan" in result.stderr.lower() or "inf" in result.stderr.lower()
    data = result.json()  # stdout still holds exactly the JSON
    # strict JSON has no NaN/inf: they may come out as null
    values = [v for row in data["x"] for v in row]
    assert any(v is None or v != v or v in (float("inf"), float("-inf")) for v in values)
    assert saved.read_bytes() == before


def test_finite_inputs_are_not_warned(saved):
    result = run("forward", "--x", "1e30,-1e-30", state=saved)
    assert result.exit_code == 0
    assert result.stderr == ""


@pytest.mark.parametrize("option,value", [("--weight", "nan,1;1,1"), ("--weight", "1,inf;1,1"), ("--bias", "1,-inf")])
def test_non_finite_parameters_are_warned(state, option, value):
    result = run("inspect", "2", "2", option, value, "--json", state=state)
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr.lower()
    assert option in result.stderr
    data = saved_state(state)
    params = torch.cat([data["params"]["weight"].flatten(), data["params"]["bias"]])
    assert not torch.isfinite(params).all()


# --------------------------------------------------------------------------
# state files linctl cannot use: exit 1, one line naming the path, file untouched


def make_truncated(path: Path) -> None:
    run_json("inspect", "3", "2", "--seed", "1", state=path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_empty(path: Path) -> None:
    path.write_bytes(b"")


def make_text(path: Path) -> None:
    path.write_text("this is not a network\n")


def make_foreign_dict(path: Path) -> None:
    torch.save({"weight": torch.zeros(2, 2), "bias": torch.zeros(2)}, path)


def make_state_dict(path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)


def make_tensor(path: Path) -> None:
    torch.save(torch.ones(3), path)


def make_plain_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"app": "linctl", "format": 1}))


def make_bad_shapes(path: Path) -> None:
    run_json("inspect", "3", "2", state=path)
    data = saved_state(path)
    data["params"]["weight"] = torch.zeros(5, 5)
    torch.save(data, path)


BROKEN = {
    "truncated": make_truncated,
    "empty": make_empty,
    "text": make_text,
    "foreign-dict": make_foreign_dict,
    "state-dict": make_state_dict,
    "tensor": make_tensor,
    "plain-pickle": make_plain_pickle,
    "bad-shapes": make_bad_shapes,
}

COMMANDS = [["inspect"], ["inspect", "--json"], ["forward", "--x", "1,1"], ["inspect", "2", "2"]]


@pytest.mark.parametrize("kind", list(BROKEN))
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_unreadable_state_is_exit_1_and_never_overwritten(state, kind, command):
    BROKEN[kind](state)
    before = state.read_bytes()
    result = run(*command, state=state)
    line = assert_clean_failure(result, 1)
    assert str(state) in line
    assert state.read_bytes() == before
    assert not backup_of(state).exists()


def test_newer_format_is_refused(saved):
    data = saved_state(saved)
    data["format"] = 999
    saved.write_bytes(safetensors_bytes(data))
    before = saved.read_bytes()
    for command in COMMANDS:
        result = run(*command, state=saved)
        line = assert_clean_failure(result, 1)
        assert str(saved) in line
        assert "newer" in line and "999" in line
        assert saved.read_bytes() == before


def test_newer_format_minimal_dict(state):
    torch.save({"app": "linctl", "format": 999}, state)
    line = assert_clean_failure(run("inspect", state=state), 1)
    assert "newer" in line


def test_state_path_is_a_directory(tmp_path):
    folder = tmp_path / "somewhere"
    folder.mkdir()
    for command in COMMANDS:
        result = run(*command, state=folder)
        line = assert_clean_failure(result, 1)
        assert "directory" in line
        assert str(folder) in line
        assert folder.is_dir() and list(folder.iterdir()) == []


def test_missing_state_is_exit_1_with_a_hint(state):
    line = assert_clean_failure(run("inspect", state=state), 1)
    assert str(state) in line
    assert "linctl inspect IN OUT" in line
    assert not state.exists()


def test_debug_shows_the_traceback(state):
    make_text(state)
    result = run_process("inspect", state=state, env={"LINCTL_DEBUG": "1"})
    assert result.exit_code != 0
    assert "Traceback" in result.stderr


# --------------------------------------------------------------------------
# a malicious state file must never run


class WriteMarker:
    """Unpickling this calls open(marker, 'w'): a file appears if it runs."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class SystemMarker:
    """Unpickling this runs a shell command that creates the marker."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("payload", [WriteMarker, SystemMarker])
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "inside-a-linctl-dict"])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload, wrapped):
    state = tmp_path / "net.pt"
    marker = tmp_path / "pwned"
    evil = payload(marker)
    obj = {"app": "linctl", "format": 1, "layers": [evil], "params": {}, "grads": {}, "step": 0} if wrapped else evil
    torch.save(obj, state)
    before = state.read_bytes()
    for command in COMMANDS:
        result = run(*command, state=state)
        line = assert_clean_failure(result, 1)
        assert str(state) in line
        assert not marker.exists(), f"{command} ran code from the state file"
        assert state.read_bytes() == before
    # the payload is live: an unsafe load does run it (so the test above could fail)
    torch.load(state, weights_only=False)
    assert marker.exists()


# --------------------------------------------------------------------------
# where the state lives


def test_linctl_state_env_var(tmp_path):
    path = tmp_path / "from-env.pt"
    env = {"LINCTL_STATE": str(path)}
    result = run("inspect", "2", "1", "--seed", "3", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.json()["state"] == str(path)
    assert path.exists()
    torch.manual_seed(3)
    net = torch.nn.Linear(2, 1)
    assert torch.equal(saved_state(path)["params"]["weight"], net.weight.detach())
    shown = run("inspect", "--json", env=env)
    assert shown.exit_code == 0
    assert shown.json()["weight"] == result.json()["weight"]
    forward = run("forward", "--x", "1,1", "--json", env=env)
    assert forward.exit_code == 0 and forward.stderr == ""  # used the env file, built nothing
    # --state wins over the environment
    other = tmp_path / "explicit.pt"
    result = run("inspect", "3", "3", env=env, state=other)
    assert result.exit_code == 0
    assert other.exists()
    assert saved_state(path)["layers"][0]["in_features"] == 2


def test_default_state_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINCTL_STATE", raising=False)
    result = run("inspect", "2", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".linctl" / "net.safetensors").exists()
    assert Path(result.json()["state"]) == Path(".linctl") / "net.safetensors"


def test_atomic_write_leaves_no_temp_files(state):
    run_json("inspect", "2", "2", state=state)
    run_json("inspect", "3", "2", state=state)
    leftovers = [p.name for p in state.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# --------------------------------------------------------------------------
# the process: import cost, --version, exit codes in a real subprocess


def test_importing_cli_does_not_import_torch():
    code = "import sys, linctl.app; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys\n"
        "from linctl.app import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--version'])\n"
        "h = CliRunner().invoke(app, ['inspect', '--help'])\n"
        "print(r.exit_code, h.exit_code, 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-3:] == ["0", "0", "False"]


def test_python_m_linctl_version():
    result = run_process("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"linctl {linctl.__version__}"
    assert result.stderr == ""


def test_console_script_version():
    script = Path(sys.executable).with_name("linctl")
    if not script.exists():
        pytest.skip("the linctl console script is not installed beside this python")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"linctl {linctl.__version__}"


@pytest.mark.slow
def test_real_process_round_trip(tmp_path, monkeypatch):
    """A real process: exit codes, JSON on stdout, one-line errors on stderr, the default path."""
    monkeypatch.delenv("LINCTL_STATE", raising=False)
    built = run_process("inspect", "2", "1", "--seed", "0", "--json", cwd=tmp_path)
    assert built.exit_code == 0, built.stderr
    state = tmp_path / ".linctl" / "net.safetensors"
    assert state.exists()
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    forward = run_process("forward", "--x=-0.5,2", "--json", cwd=tmp_path)
    assert forward.exit_code == 0, forward.stderr
    torch.testing.assert_close(torch.tensor(forward.json()["linear"]), net(torch.tensor([[-0.5, 2.0]])).detach())
    bad = run_process("forward", "--x", "1,2,3", cwd=tmp_path)
    assert_clean_failure(bad, 2)
    state.write_text("garbage")
    broken = run_process("inspect", cwd=tmp_path)
    assert_clean_failure(broken, 1)
    assert state.read_text() == "garbage"


# --------------------------------------------------------------------------
# every field of a state file is checked: a crafted or damaged one is refused
# by every command, with one line naming the problem, and never changed


@functools.cache
def _click_command():
    import typer

    return typer.main.get_command(app)


def run_cached(*args: str, state: Path) -> Result:
    """conftest.run, with the click command built once: typer builds it anew per run (~40 ms), this is run
    ~1300 times below."""
    from conftest import run_fast

    return run_fast(*args, "--state", str(state))


ALL_COMMANDS = [
    ["inspect"],
    ["inspect", "--json"],
    ["forward", "--x", "1,1"],
    ["backward", "--x", "1,1", "--t", "1,1"],
    ["step", "--lr", "0.1"],
    ["train-step"],
    ["train", "--steps", "2"],
    ["zero-grad"],
    ["set", "weight[0,0]=1"],
    ["history"],
    ["diff"],
    ["undo"],
    ["inspect", "2", "2"],
]


@pytest.fixture(scope="module")
def full_state(tmp_path_factory) -> Path:
    """A 2 -> 2 network using every field: gradients, Adam state, last samples, three history entries."""
    state = tmp_path_factory.mktemp("full") / "net.pt"
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    run_json("train-step", "--optimizer", "adam", "--lr", "0.1", "--x", "1,-1", "--t", "0.5,1", state=state)
    run_json("backward", "--x", "1,-1", "--t", "0.5,1", state=state)
    data = saved_state(state)
    assert data["grads"]["weight"] is not None and data["optimizer"]["state"]["state"][0]["exp_avg"] is not None
    assert data["last_x"] is not None and data["history"]["last_id"] == 3
    return state


def copy_state(source: Path, folder: Path) -> Path:
    """The state and its history in a new folder (copies, not links)."""
    import shutil

    target = folder / source.name
    shutil.copyfile(source, target)
    shutil.copytree(source.with_name(source.name + ".history"), target.with_name(target.name + ".history"))
    return target


def files_beside(state: Path) -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in state.parent.iterdir() if p.is_file() and not p.name.endswith(".lock")}
    history = state.with_name(state.name + ".history")
    return found | {f"history/{p.name}": p.read_bytes() for p in history.iterdir()}


def rewrite(path: Path, data: dict) -> None:
    """torch.save over `path` as a new file (the old one may be a snapshot's hard link)."""
    path.unlink()
    torch.save(data, path)


def put(*keys_and_value):
    """A change that sets data[k1][k2]... = value."""
    *keys, value = keys_and_value

    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value(target[keys[-1]]) if callable(value) else value

    return change


def drop(*keys):
    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def adam(*keys_and_value):
    return put("optimizer", *keys_and_value)


def adam_state(*keys_and_value):
    return put("optimizer", "state", *keys_and_value)


def transposed(t):
    return torch.arange(float(t.numel()), dtype=t.dtype).view(t.shape[1], t.shape[0]).t()


def stride_0(t):
    return torch.zeros(1, dtype=t.dtype).expand(t.shape)


# (what is wrong, the change, a word the message must hold)
CRAFTED = [
    ("format-str", put("format", "1"), "format"),
    ("format-bool", put("format", True), "format"),
    ("format-0", put("format", 0), "format"),
    ("dtype-float16", put("dtype", "float16"), "float16"),
    ("dtype-int", put("dtype", 32), "dtype"),
    ("dtype-none", put("dtype", None), "dtype"),
    ("layers-two", lambda d: d["layers"].append(dict(d["layers"][0])), "layer"),
    ("layers-dict", put("layers", {"type": "linear"}), "layer"),
    ("layer-type", put("layers", 0, "type", "conv2d"), "conv2d"),
    ("in-features-str", put("layers", 0, "in_features", "2"), "layer's sizes"),
    ("in-features-bool", put("layers", 0, "in_features", True), "layer's sizes"),
    ("out-features-0", put("layers", 0, "out_features", 0), "layer's sizes"),
    ("out-features-negative", put("layers", 0, "out_features", -2), "layer's sizes"),
    ("out-features-wrong", put("layers", 0, "out_features", 3), "shape"),
    ("bias-flag-int", put("layers", 0, "bias", 1), "bias flag"),
    ("bias-flag-missing", drop("layers", 0, "bias"), "bias flag"),
    ("bias-flag-off-but-bias-kept", put("layers", 0, "bias", False), "'bias'"),
    ("activation-unknown", put("layers", 0, "activation", "sparsemax"), "sparsemax"),
    ("activation-int", put("layers", 0, "activation", 3), "activation"),
    ("bias-missing", drop("params", "bias"), "bias is missing"),
    ("params-list", put("params", lambda p: list(p.values())), "params"),
    ("params-extra", put("params", "1.weight", torch.zeros(2, 2)), "1.weight"),
    ("weight-float16", put("params", "weight", lambda t: t.half()), "float16"),
    ("weight-float64", put("params", "weight", lambda t: t.double()), "float64"),
    ("weight-int64", put("params", "weight", lambda t: t.long()), "int64"),
    ("weight-complex", put("params", "weight", lambda t: t.to(torch.complex64)), "complex64"),
    ("weight-bool", put("params", "weight", lambda t: t > 0), "bool"),
    ("weight-shape", put("params", "weight", torch.zeros(2, 3)), "shape"),
    ("weight-list", put("params", "weight", lambda t: t.tolist()), "not a tensor"),
    ("weight-none", put("params", "weight", None), "not a tensor"),
    ("weight-transposed", put("params", "weight", transposed), "strided view"),
    ("weight-stride-0", put("params", "weight", stride_0), "strided view"),
    ("weight-sparse", put("params", "weight", lambda t: t.to_sparse()), "sparse"),
    ("weight-meta", put("params", "weight", torch.empty(2, 2, device="meta")), "meta"),
    ("weight-parameter", put("params", "weight", torch.nn.Parameter), "requires grad"),
    ("bias-stride-0", put("params", "bias", stride_0), "strided view"),
    ("grads-list", put("grads", []), "grads"),
    ("grads-extra", put("grads", "2.bias", torch.zeros(2)), "2.bias"),
    ("grad-shape", put("grads", "weight", torch.zeros(3, 2)), "gradient of weight"),
    ("grad-float64", put("grads", "weight", lambda t: t.double()), "float64"),
    ("grad-int32", put("grads", "bias", lambda t: t.int()), "int32"),
    ("grad-stride-0", put("grads", "weight", stride_0), "strided view"),
    ("grad-str", put("grads", "bias", "0,0"), "not a tensor"),
    ("optimizer-str", put("optimizer", "adam"), "optimizer"),
    ("optimizer-extra-key", adam("momentum", 0.9), "optimizer entry"),
    ("optimizer-unknown", adam("name", "lbfgs"), "lbfgs"),
    ("optimizer-name-int", adam("name", 5), "optimizer 5"),
    ("optimizer-no-name", adam("name", None), "no optimizer name"),
    ("optimizer-settings-list", adam("settings", []), "settings"),
    ("optimizer-setting-unknown", adam("settings", "nesterov", True), "nesterov"),
    ("optimizer-lr-str", adam("settings", "lr", "0.1"), "lr"),
    ("optimizer-lr-nan", adam("settings", "lr", float("nan")), "lr"),
    ("optimizer-lr-negative", adam("settings", "lr", -1.0), "learning rate"),
    ("optimizer-betas-short", adam("settings", "betas", (0.9,)), "betas"),
    ("optimizer-betas-range", adam("settings", "betas", (0.9, 1.5)), "beta"),
    ("optimizer-amsgrad-str", adam("settings", "amsgrad", "yes"), "amsgrad"),
    ("optimizer-state-str", adam("state", "garbage"), "state_dict"),
    ("optimizer-state-no-groups", adam("state", "param_groups", []), "parameter group"),
    ("optimizer-group-params", adam_state("param_groups", 0, "params", [0, 5]), "parameters"),
    ("optimizer-group-params-tensor", adam_state("param_groups", 0, "params", torch.tensor([0, 1])), "parameters"),
    ("optimizer-group-maximize", adam_state("param_groups", 0, "maximize", True), "maximize"),
    ("optimizer-group-decoupled", adam_state("param_groups", 0, "decoupled_weight_decay", True), "decoupled"),
    ("optimizer-group-lr-differs", adam_state("param_groups", 0, "lr", 99.0), "unlike its settings"),
    ("optimizer-group-foreach-str", adam_state("param_groups", 0, "foreach", "x"), "foreach"),
    ("optimizer-group-value-tensor", adam_state("param_groups", 0, "novel", torch.zeros(3)), "novel"),
    ("optimizer-buffer-unknown", adam_state("state", 0, "bogus", torch.zeros(2, 2)), "bogus"),
    ("optimizer-buffer-missing", drop("optimizer", "state", "state", 0, "exp_avg_sq"), "exp_avg_sq"),
    ("optimizer-buffer-shape", adam_state("state", 0, "exp_avg", torch.zeros(3)), "exp_avg"),
    ("optimizer-buffer-float64", adam_state("state", 1, "exp_avg", lambda t: t.double()), "float64"),
    ("optimizer-buffer-stride-0", adam_state("state", 0, "exp_avg_sq", stride_0), "strided view"),
    ("optimizer-buffer-none", adam_state("state", 0, "exp_avg", None), "not a tensor"),
    ("optimizer-step-negative", adam_state("state", 0, "step", torch.tensor(-1.0)), "step"),
    ("optimizer-step-str", adam_state("state", 0, "step", "3"), "step"),
    ("optimizer-step-int-tensor", adam_state("state", 0, "step", torch.tensor(3)), "int64"),
    ("optimizer-step-vector", adam_state("state", 0, "step", torch.ones(2)), "step"),
    ("optimizer-state-index", adam_state("state", 7, {}), "parameter 7"),
    ("optimizer-state-index-str", adam_state("state", lambda s: {str(k): v for k, v in s.items()}), "parameter '0'"),
    (
        "optimizer-garbage",
        adam("state", {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"params": [0, 1]}]}),
        "adam",
    ),
    ("step-negative", put("step", -1), "step"),
    ("step-float", put("step", 1.5), "step"),
    ("step-str", put("step", "3"), "step"),
    ("step-bool", put("step", True), "step"),
    ("step-missing", drop("step"), "step"),
    ("seed-str", put("seed", "x"), "seed"),
    ("seed-float", put("seed", 1.5), "seed"),
    ("seed-huge", put("seed", 2**70), "seed"),
    ("last-x-1d", put("last_x", torch.zeros(2)), "last_x"),
    ("last-x-columns", put("last_x", torch.zeros(1, 3)), "last_x"),
    ("last-x-no-rows", put("last_x", torch.zeros(0, 2)), "last_x"),
    ("last-x-int", put("last_x", lambda t: t.long()), "int64"),
    ("last-x-list", put("last_x", lambda t: t.tolist()), "last_x"),
    ("last-x-stride-0", put("last_x", torch.zeros(1).expand(10**6, 2)), "strided view"),
    ("last-t-columns", put("last_t", torch.zeros(1, 5)), "last_t"),
    ("history-str", put("history", "x"), "history"),
    ("history-missing-key", put("history", {"last_id": 1}), "history"),
    ("history-head-ahead", put("history", "head", 9), "history"),
    ("history-oldest-0", put("history", "oldest", 0), "history"),
    ("history-last-id-str", put("history", "last_id", "3"), "history"),
    ("history-negative", put("history", "head", -1), "history"),
]


def test_the_unchanged_file_works_with_every_command(full_state, tmp_path):
    """The control for the crafted files below: what fails there fails because of the change."""
    state = copy_state(full_state, tmp_path)
    data = saved_state(state)
    rewrite(state, data)
    for command in ALL_COMMANDS:
        result = run_cached(*command, state=state)
        assert result.exit_code == 0, (command, result.stderr)


@pytest.mark.parametrize("name,change,word", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_every_field_is_checked(full_state, tmp_path, name, change, word):
    state = copy_state(full_state, tmp_path)
    data = saved_state(state)
    change(data)
    rewrite(state, data)
    before = files_beside(state)
    for command in ALL_COMMANDS:
        result = run_cached(*command, state=state)
        line = assert_clean_failure(result, 1)
        assert f"{state} is not a usable linctl state file (" in line, (command, line)
        assert word in line, (command, line)
        assert "move it away or pass another --state" in line
        assert files_beside(state) == before, command


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory) -> Path:
    """A 2 -> 3 -> 1 stack (tanh, sigmoid) using every field, as full_state does for one layer."""
    state = tmp_path_factory.mktemp("stack") / "net.pt"
    run_json("inspect", "2", "3", "1", "--activation", "tanh", "--activation", "sigmoid", "--seed", "1", state=state)
    run_json("train-step", "--optimizer", "adam", "--lr", "0.1", "--x", "1,-1", "--t", "0.5", state=state)
    run_json("backward", "--x", "1,-1", "--t", "0.5", state=state)
    data = saved_state(state)
    assert set(data["params"]) == set(data["grads"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert data["grads"]["2.weight"] is not None and data["optimizer"]["state"]["state"][3]["exp_avg"] is not None
    assert data["last_x"] is not None and data["history"]["last_id"] == 3
    return state


def rename(group: str, old: str, new: str):
    def change(data):
        data[group] = {new if name == old else name: value for name, value in data[group].items()}

    return change


# the checks that are per layer, or that depend on the layer count, made on the second layer of a stack
STACK_CRAFTED = [
    ("layers-65", put("layers", lambda layers: layers + [dict(layers[-1], in_features=1)] * 63), "65 layers"),
    ("layer-2-type", put("layers", 1, "type", "conv2d"), "layer 2's type 'conv2d'"),
    ("layer-2-sizes", put("layers", 1, "out_features", 0), "layer 2's sizes"),
    ("layer-2-in-features", put("layers", 1, "in_features", 4), "layer 2 takes 4 inputs but the layer before gives 3"),
    ("layer-2-bias-flag", put("layers", 1, "bias", 1), "layer 2's bias flag"),
    ("layer-2-bias-off", put("layers", 1, "bias", False), "'2.bias'"),
    ("layer-2-activation", put("layers", 1, "activation", "sparsemax"), "layer 2's activation 'sparsemax'"),
    ("activation-moves-layer-2", put("layers", 0, "activation", "none"), "'2.weight'"),
    ("bare-linear-names", rename("params", "0.weight", "weight"), "a Sequential of 2 Linear layers (2 -> 3 -> 1)"),
    ("layer-2-weight-missing", drop("params", "2.weight"), "2.weight is missing"),
    ("layer-2-weight-shape", put("params", "2.weight", torch.zeros(3, 1)), "2.weight has shape (3, 1), not (1, 3)"),
    ("layer-2-weight-stride-0", put("params", "2.weight", stride_0), "strided view"),
    ("layer-2-bias-float64", put("params", "2.bias", lambda t: t.double()), "float64"),
    ("layer-2-grad-shape", put("grads", "2.weight", torch.zeros(3)), "gradient of 2.weight"),
    ("layer-2-grad-extra", put("grads", "1.weight", torch.zeros(1, 3)), "'1.weight'"),
    ("optimizer-group-2-params", adam_state("param_groups", 0, "params", [0, 1]), "the 4 parameters"),
    ("optimizer-buffer-layer-2-shape", adam_state("state", 2, "exp_avg", torch.zeros(3, 1)), "exp_avg of parameter 2"),
    ("optimizer-state-index-4", adam_state("state", 4, {}), "parameter 4"),
    ("last-x-hidden-width", put("last_x", torch.zeros(1, 3)), "last_x"),
    ("last-t-hidden-width", put("last_t", torch.zeros(1, 3)), "last_t"),
]


def test_the_unchanged_stack_works_with_every_command(full_stack, tmp_path):
    state = copy_state(full_stack, tmp_path)
    rewrite(state, saved_state(state))
    for command in ALL_COMMANDS:
        command = ["inspect", "2", "3", "1"] if command == ["inspect", "2", "2"] else command
        command = ["backward", "--x", "1,1", "--t", "1"] if command[0] == "backward" else command
        command = ["set", "2.weight[0,0]=1"] if command[0] == "set" else command
        result = run_cached(*command, state=state)
        assert result.exit_code == 0, (command, result.stderr)


@pytest.mark.parametrize("name,change,word", STACK_CRAFTED, ids=[c[0] for c in STACK_CRAFTED])
def test_every_field_of_a_stack_is_checked(full_stack, tmp_path, name, change, word):
    state = copy_state(full_stack, tmp_path)
    data = saved_state(state)
    change(data)
    rewrite(state, data)
    before = files_beside(state)
    for command in ALL_COMMANDS:
        result = run_cached(*command, state=state)
        line = assert_clean_failure(result, 1)
        assert f"{state} is not a usable linctl state file (" in line, (command, line)
        assert word in line, (command, line)
        assert files_beside(state) == before, command


def as_format_1(data: dict) -> None:
    """The file as the previous release wrote it: format 1, a bare Linear's parameters named '0.weight', '0.bias'."""
    data["format"] = 1
    for group in ("params", "grads"):
        data[group] = {f"0.{name}": value for name, value in data[group].items()}


@pytest.mark.parametrize(
    "name,change,word",
    [
        ("weight-stride-0", put("params", "0.weight", stride_0), "weight of shape (2, 2) is a strided view"),
        ("grad-shape", put("grads", "0.bias", torch.zeros(3)), "gradient of bias has shape (3,)"),
        ("bias-missing", drop("params", "0.bias"), "bias is missing"),
        ("both-names", put("params", "weight", torch.zeros(2, 2)), "params has '0.weight'"),
        ("both-grad-names", put("grads", "bias", torch.zeros(2)), "grads has '0.bias'"),
        ("stack-names", put("params", "2.weight", torch.zeros(2, 2)), "'2.weight'"),
    ],
)
def test_a_format_1_file_is_checked_as_closely(full_state, tmp_path, name, change, word):
    """Upgrading an old file on load renames what it recognises and nothing more: the checks still see everything."""
    state = copy_state(full_state, tmp_path)
    data = saved_state(state)
    as_format_1(data)
    change(data)
    rewrite(state, data)
    before = files_beside(state)
    for command in (["inspect"], ["forward", "--x", "1,1"], ["train-step", "--lr", "0.1"], ["undo"]):
        line = assert_clean_failure(run_cached(*command, state=state), 1)
        assert f"{state} is not a usable linctl state file (" in line and word in line, (command, line)
        assert files_beside(state) == before, command


def test_a_newer_format_is_named_before_the_rest_is_checked(full_state, tmp_path):
    state = copy_state(full_state, tmp_path)
    newer = FORMAT + 1
    torch.save({"app": "linctl", "format": newer, "layers": "whatever comes next"}, state.with_name("next.pt"))
    line = assert_clean_failure(run("inspect", state=state.with_name("next.pt")), 1)
    assert f"newer linctl (format {newer}, this one reads up to {FORMAT})" in line


def test_a_stride_0_layer_is_refused_without_allocating_it(tmp_path):
    """A few KB claiming a 100000 x 100000 layer (40 GB) is refused before any of it is made.

    The process runs with its address space capped at 2 GiB: had linctl copied
    the layer, it would die of a MemoryError, not print the one line checked here.
    """
    n = 100_000
    state = tmp_path / "huge.pt"
    data = {
        "format": 1,
        "app": "linctl",
        "dtype": "float32",
        "layers": [{"type": "linear", "in_features": n, "out_features": n, "bias": True, "activation": "none"}],
        "params": {"0.weight": torch.zeros(1).expand(n, n), "0.bias": torch.zeros(1).expand(n)},
        "grads": {"0.weight": None, "0.bias": None},
        "optimizer": {"name": None, "settings": {}, "state": None},
        "step": 0,
        "seed": None,
        "last_x": None,
        "last_t": None,
    }
    torch.save(data, state)
    size = state.stat().st_size
    assert size < 10_000
    before = state.read_bytes()
    # one capped process runs the three commands in turn, each as the console script runs it
    code = (
        "import io, json, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))\n"
        "from linctl.app import main\n"
        "outcomes = []\n"
        "for command in json.loads(sys.argv[1]):\n"
        "    sys.argv, sys.stderr = ['linctl', *command], io.StringIO()\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        outcomes.append((exc.code, sys.stderr.getvalue()))\n"
        "    finally:\n"
        "        sys.stderr = sys.__stderr__\n"
        "print(json.dumps(outcomes))\n"
    )
    commands = [["inspect"], ["forward", "--x", "1,1"], ["train-step", "--lr", "0.1"]]
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps([[*command, "--state", str(state)] for command in commands])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "LINCTL_DEBUG": ""},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcomes = json.loads(proc.stdout)
    assert len(outcomes) == len(commands), proc.stdout
    for command, (returncode, stderr) in zip(commands, outcomes, strict=True):
        assert returncode == 1, (command, stderr[-2000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (command, stderr[-2000:])
        assert f"claims a layer of {n}x{n}" in lines[0] and f"holds only {size} bytes" in lines[0]
        assert state.read_bytes() == before


def test_a_stride_0_layer_within_the_file_size_is_refused_too(tmp_path):
    """Small enough to pass the size check (100 x 100 in a file bigger than 40 KB): the strides give it away."""
    state = tmp_path / "net.pt"
    run_json("inspect", "100", "100", "--seed", "0", state=state)
    data = saved_state(state)
    data["params"]["weight"] = torch.zeros(1).expand(100, 100)
    data["last_x"] = torch.zeros(200, 100)  # padding: the file now holds more than the layer needs
    rewrite(state, data)
    assert state.stat().st_size > 100 * 100 * 4
    line = assert_clean_failure(run("forward", "--x", ",".join(["1"] * 100), state=state), 1)
    assert "(weight of shape (100, 100) is a strided view (strides (0, 0))" in line


# --------------------------------------------------------------------------
# history snapshots are state files: undo and diff check them the same way


@pytest.mark.parametrize(
    "name,change,word",
    [c for c in CRAFTED if c[0] in ("dtype-float16", "weight-stride-0", "optimizer-garbage", "step-str")],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_bad_snapshot_is_refused_by_undo_and_diff(full_state, tmp_path, name, change, word):
    state = copy_state(full_state, tmp_path)
    snapshot = state.with_name(state.name + ".history") / "2.pt"
    data = saved_state(snapshot)
    change(data)
    rewrite(snapshot, data)
    before = files_beside(state)
    for command in (["undo"], ["diff"], ["diff", "1", "2"], ["diff", "2", "3"]):
        line = assert_clean_failure(run(*command, state=state), 1)
        assert f"{snapshot} is not a usable linctl state file (" in line and word in line, line
        assert "delete it" in line, line
        assert files_beside(state) == before
    # the entries around it are still reachable
    assert run("diff", "1", "3", state=state).exit_code == 0


def test_a_damaged_history_index_line_is_skipped(full_state, tmp_path):
    """Lines that are not entries (cut short, or not shaped like one) are left out, the rest listed."""
    state = copy_state(full_state, tmp_path)
    index = state.with_name(state.name + ".history") / "index.jsonl"
    good = index.read_text().splitlines()
    junk = [
        "5",
        '"text"',
        '{"id": "4"}',
        '{"id": 4, "command": 7}',
        '{"id": 4, "loss": "low"}',
        '{"id": 4, "parent": true}',
        '{"id": 0}',
        '{"id": 4, "step": -1}',
        '{"id": 4, "weight_change": [1]}',
        '{"id": 4, "loss"',
    ]
    index.write_text("\n".join(good[:1] + junk + good[1:]) + "\n")
    shown = run("history", "--json", state=state)
    assert shown.exit_code == 0, shown.stderr
    assert [e["id"] for e in shown.json()["entries"]] == [1, 2, 3]
    assert run("history", state=state).exit_code == 0
    assert run("undo", state=state).exit_code == 0
