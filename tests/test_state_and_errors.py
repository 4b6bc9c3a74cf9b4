"""Bad input, bad state files, and the process-level contract (exit codes, stderr, --version)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import linctl
from conftest import ROOT, run, run_json, run_process


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
    (["inspect", "2", "2", "--activation", "softmax"], "--activation"),
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
    data = torch.load(state, weights_only=True)
    params = torch.cat([data["params"]["0.weight"].flatten(), data["params"]["0.bias"]])
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
    data = torch.load(path, weights_only=True)
    data["params"]["0.weight"] = torch.zeros(5, 5)
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
    data = torch.load(saved, weights_only=True)
    data["format"] = 999
    torch.save(data, saved)
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
    assert torch.equal(torch.load(path, weights_only=True)["params"]["0.weight"], net.weight.detach())
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
    assert torch.load(path, weights_only=True)["layers"][0]["in_features"] == 2


def test_default_state_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINCTL_STATE", raising=False)
    result = run("inspect", "2", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".linctl" / "net.pt").exists()
    assert Path(result.json()["state"]) == Path(".linctl") / "net.pt"


def test_atomic_write_leaves_no_temp_files(state):
    run_json("inspect", "2", "2", state=state)
    run_json("inspect", "3", "2", state=state)
    leftovers = [p.name for p in state.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# --------------------------------------------------------------------------
# the process: import cost, --version, exit codes in a real subprocess


def test_importing_cli_does_not_import_torch():
    code = "import sys, linctl.cli; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys\n"
        "from linctl.cli import app\n"
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


def test_real_process_round_trip(tmp_path, monkeypatch):
    """A real process: exit codes, JSON on stdout, one-line errors on stderr, the default path."""
    monkeypatch.delenv("LINCTL_STATE", raising=False)
    built = run_process("inspect", "2", "1", "--seed", "0", "--json", cwd=tmp_path)
    assert built.exit_code == 0, built.stderr
    state = tmp_path / ".linctl" / "net.pt"
    assert state.exists()
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    forward = run_process("forward", "--x=-0.5,2", "--json", cwd=tmp_path)
    assert forward.exit_code == 0, forward.stderr
    torch.testing.assert_close(
        torch.tensor(forward.json()["linear"]), net(torch.tensor([[-0.5, 2.0]])).detach()
    )
    bad = run_process("forward", "--x", "1,2,3", cwd=tmp_path)
    assert_clean_failure(bad, 2)
    state.write_text("garbage")
    broken = run_process("inspect", cwd=tmp_path)
    assert_clean_failure(broken, 1)
    assert state.read_text() == "garbage"
