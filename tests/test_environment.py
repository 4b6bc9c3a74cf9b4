"""Environment variables are input: a bad value is one line naming the variable, exit 2, nothing changed.

Each variable is read when a command needs it, never at import, so --version
and --help work whatever the environment holds, and a command that does not
use a variable does not trip over it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

import linctl
from conftest import run, run_entry, run_json, run_process, saved

X, T = "1,-2", "0.5,1.5"

BAD_VALUES = {
    "LINCTL_LOCK_TIMEOUT": ["abc", "-5", "-0.5", "nan", "inf", "-inf", "1e999", "1_000", "0x10", "\uff11", "5s"],
    "LINCTL_HISTORY_KEEP": ["abc", "-1", "0", "2.5", "nan", "inf", "1_000", "\uff13"],
    "LINCTL_HISTORY_BYTES": ["abc", "-5", "1.5", "nan", "inf", "1e999", "512M"],
}
# every one together, for the commands that must not read them
ALL_BAD = {name: values[0] for name, values in BAD_VALUES.items()} | {"LINCTL_DEVICE": "tpu"}

# the commands that take the lock and record a change: they use all three
CHANGING = [
    ["backward", "--x", X, "--t", T],
    ["step", "--lr", "0.1"],
    ["zero-grad"],
    ["train-step", "--x", X, "--t", T, "--lr", "0.1"],
    ["train", "--x", X, "--t", T, "--steps", "2", "--lr", "0.1"],
    ["set", "weight[0,0]=1"],
    ["undo"],
    ["inspect", "2", "2", "--seed", "3"],
]
# the commands that only read: none of the three
READING = [["inspect"], ["forward", "--x", X], ["diff"]]


@pytest.fixture
def trained(state: Path) -> Path:
    """A 2 -> 2 network with gradients and two history entries (so undo and diff have work)."""
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    run_json("backward", "--x", X, "--t", T, state=state)
    return state


def files(state: Path) -> dict[str, bytes]:
    """Every file linctl keeps for this state: the state, its backup, its history."""
    found = {p.name: p.read_bytes() for p in state.parent.iterdir() if p.is_file() and not p.name.endswith(".lock")}
    history = state.with_name(state.name + ".history")
    found |= {f"history/{p.name}": p.read_bytes() for p in history.iterdir()} if history.exists() else {}
    return found


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# --------------------------------------------------------------------------
# --version and --help never read them: a real process, as a user runs it


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["train-step", "--help"]], ids=" ".join)
def test_version_and_help_work_with_every_variable_bad(tmp_path, args):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = run_process(*args, env={**ALL_BAD, "LINCTL_STATE": str(folder)}, timeout=60)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    if args == ["--version"]:
        assert result.stdout.strip() == f"linctl {linctl.__version__}"
    else:
        assert "Usage" in result.stdout


@pytest.mark.parametrize(
    "linctl", [run_entry, pytest.param(run_process, marks=pytest.mark.slow)], ids=["entry-point", "process"]
)
def test_a_bad_value_as_the_console_script_runs_it_is_one_line(trained, linctl):
    before = files(trained)
    result = linctl("train-step", "--lr", "0.1", "--state", str(trained), env={"LINCTL_LOCK_TIMEOUT": "abc"})
    line = one_line(result, 2)
    assert "LINCTL_LOCK_TIMEOUT" in line and "'abc'" in line
    assert files(trained) == before


# --------------------------------------------------------------------------
# each bad value of each variable, on a command that uses it


@pytest.mark.parametrize(
    "name,value", [(n, v) for n, values in BAD_VALUES.items() for v in values], ids=lambda v: ascii(v).strip("'")
)
def test_each_bad_value_is_exit_2_naming_the_variable(trained, name, value):
    before = files(trained)
    result = run("train-step", "--x", X, "--t", T, "--lr", "0.1", state=trained, env={name: value})
    line = one_line(result, 2)
    assert line.startswith(f"linctl: {name}=")
    assert "expected" in line and "or more" in line  # what it takes
    assert files(trained) == before


@pytest.mark.parametrize("name", list(BAD_VALUES))
@pytest.mark.parametrize("command", CHANGING, ids=lambda c: c[0] + ("-replace" if c[0] == "inspect" else ""))
def test_every_changing_command_checks_them_before_any_change(trained, name, command):
    before = files(trained)
    result = run(*command, state=trained, env={name: BAD_VALUES[name][0]})
    line = one_line(result, 2)
    assert name in line
    assert files(trained) == before  # no state, no backup, no history entry, no snapshot


@pytest.mark.parametrize("command", READING, ids=lambda c: c[0])
def test_reading_commands_do_not_need_them(trained, command):
    run_json("step", "--lr", "0.1", state=trained)  # a third entry, so diff has two to compare
    before = files(trained)
    bad = {name: values[0] for name, values in BAD_VALUES.items()}
    result = run(*command, state=trained, env=bad)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert files(trained) == before


def test_history_reads_only_the_snapshot_count(trained):
    line = one_line(run("history", state=trained, env={"LINCTL_HISTORY_KEEP": "zero"}), 2)
    assert "LINCTL_HISTORY_KEEP" in line
    shown = run("history", "--json", state=trained, env={"LINCTL_HISTORY_BYTES": "abc", "LINCTL_LOCK_TIMEOUT": "abc"})
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["snapshots_kept_at_most"] == 50


def test_building_through_forward_uses_them(state):
    """forward on a missing state builds one: that takes the lock and records it."""
    line = one_line(run("forward", "--x", X, state=state, env={"LINCTL_HISTORY_BYTES": "-5"}), 2)
    assert "LINCTL_HISTORY_BYTES" in line
    assert not state.exists()


# --------------------------------------------------------------------------
# good values: each one does what it says


def test_lock_timeout_is_how_long_a_held_lock_is_waited_for(trained):
    from filelock import FileLock

    before = files(trained)
    with FileLock(str(trained) + ".lock"):
        for value, most in (("0", 5.0), ("0.5", 5.0)):
            started = time.monotonic()
            result = run("zero-grad", state=trained, env={"LINCTL_LOCK_TIMEOUT": value})
            waited = time.monotonic() - started
            line = one_line(result, 1)
            assert "locked" in line and f"over {float(value):g}s" in line and "LINCTL_LOCK_TIMEOUT" in line
            assert float(value) <= waited < most
    assert files(trained) == before
    # the lock released: the same command goes through
    assert run("zero-grad", state=trained, env={"LINCTL_LOCK_TIMEOUT": "0"}).exit_code == 0


def _train_steps(state: Path, env: dict, count: int = 4) -> list[dict]:
    for _ in range(count):
        result = run("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state, env=env)
        assert result.exit_code == 0, result.stderr
    history = run("history", "--json", state=state, env=env)
    assert history.exit_code == 0, history.stderr
    return history.json()["entries"]


@pytest.mark.parametrize(
    "env,kept",
    [
        ({}, 6),  # the defaults: 50 snapshots, 512 MiB
        ({"LINCTL_HISTORY_KEEP": ""}, 6),  # empty is unset
        ({"LINCTL_HISTORY_KEEP": "2"}, 2),
        ({"LINCTL_HISTORY_KEEP": " 3 "}, 3),
        ({"LINCTL_HISTORY_KEEP": "1e0"}, 1),
        ({"LINCTL_HISTORY_BYTES": "0"}, 1),  # below one snapshot: only the current one, which costs nothing
        ({"LINCTL_HISTORY_BYTES": "1e9"}, 6),
        ({"LINCTL_HISTORY_KEEP": "4", "LINCTL_HISTORY_BYTES": "1e9"}, 4),
    ],
    ids=lambda v: (
        ",".join(f"{k.removeprefix('LINCTL_HISTORY_')}={x!r}" for k, x in v.items()) if isinstance(v, dict) else str(v)
    ),
)
def test_history_limits_bound_the_snapshots_kept(trained, env, kept):
    entries = _train_steps(trained, env)
    assert len(entries) == 6  # every change keeps its figures
    assert [e["snapshot"] for e in entries] == [False] * (6 - kept) + [True] * kept
    assert len(list(trained.with_name(trained.name + ".history").glob("[0-9]*"))) == kept


def test_history_bytes_counts_snapshot_sizes(trained):
    """A budget of two snapshots' bytes keeps two (sized once the optimizer's settings are in the file)."""
    _train_steps(trained, {}, count=1)
    size = trained.stat().st_size
    entries = _train_steps(trained, {"LINCTL_HISTORY_BYTES": str(2 * size + size // 2)})
    assert [e["snapshot"] for e in entries] == [False] * 5 + [True] * 2


def test_undo_past_the_kept_snapshots_names_the_limit(trained):
    _train_steps(trained, {"LINCTL_HISTORY_KEEP": "2"})
    line = one_line(run("undo", "3", state=trained, env={"LINCTL_HISTORY_KEEP": "2"}), 1)
    assert "newest 2 at most" in line and "snapshot" in line


# --------------------------------------------------------------------------
# LINCTL_STATE and LINCTL_DEVICE (read by click as the --state and --device defaults)


def test_empty_linctl_state_means_the_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("inspect", "2", "1", "--json", env={"LINCTL_STATE": ""})
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".linctl" / "net.safetensors").exists()


def test_empty_state_option_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line(run("inspect", "2", "1", "--state", ""), 2)
    assert "--state" in line and "empty" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["inspect"], ["inspect", "2", "2"], ["train-step", "--lr", "0.1"]], ids=" ".join)
def test_linctl_state_naming_a_directory(tmp_path, command):
    folder = tmp_path / "states"
    folder.mkdir()
    line = one_line(run(*command, env={"LINCTL_STATE": str(folder)}), 1)
    assert str(folder) in line and "directory" in line and "LINCTL_STATE" in line
    assert list(folder.iterdir()) == []


def test_linctl_device_bad_value_is_exit_2(trained):
    before = files(trained)
    for command in (["forward", "--x", X], ["train-step", "--lr", "0.1"]):
        line = one_line(run(*command, state=trained, env={"LINCTL_DEVICE": "tpu"}), 2)
        assert "'tpu'" in line and "cpu" in line
    assert files(trained) == before
    assert run("forward", "--x", X, state=trained, env={"LINCTL_DEVICE": ""}).exit_code == 0  # empty is unset


def test_linctl_device_bad_value_names_the_variable(trained):
    line = one_line(run("forward", "--x", X, state=trained, env={"LINCTL_DEVICE": "tpu"}), 2)
    assert "LINCTL_DEVICE" in line


def test_linctl_device_cpu_gives_the_plain_torch_numbers(trained):
    weight = saved(trained)["params"]["weight"]
    out = run("forward", "--x", X, "--json", state=trained, env={"LINCTL_DEVICE": "CPU"})
    assert out.exit_code == 0, out.stderr
    bias = saved(trained)["params"]["bias"]
    expected = torch.nn.functional.linear(torch.tensor([[1.0, -2.0]]), weight, bias)
    assert torch.equal(torch.tensor(out.json()["linear"], dtype=torch.float32), expected)
