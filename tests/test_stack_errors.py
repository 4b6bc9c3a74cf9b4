"""Issue: stacks refuse bad sizes, weights, activations and parameter names with exit 2, one line, nothing changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run, run_entry, run_process

ORDINALS = {1: "first", 2: "second", 3: "third"}
PARAM_NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]  # of the 2-3-1 stack below, as state_dict() lists them


@pytest.fixture
def stack(state: Path) -> Path:
    """2-3-1: Sequential((0): Linear(2, 3), (1): Tanh(), (2): Linear(3, 1), (3): Sigmoid())."""
    out = run("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=state)
    assert out.exit_code == 0, out.stderr
    return state


def files(state: Path) -> dict[str, bytes]:
    """Every file linctl keeps beside the state (history, backup), byte for byte; lock files aside."""
    return {
        str(p.relative_to(state.parent)): p.read_bytes()
        for p in sorted(state.parent.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def refused(state: Path, *args: str) -> str:
    """Run ARGS --json: exit 2, nothing on stdout, one line on stderr, no file changed. Returns the line."""
    before = files(state)
    assert state.name in before
    out = run(*args, "--json", state=state)
    assert out.exit_code == 2, (out.exit_code, out.stdout, out.stderr)
    assert out.stdout == ""
    message = out.stderr.strip()
    assert message and "\n" not in message, out.stderr
    assert "Traceback" not in message and "internal error" not in message.lower()
    assert files(state) == before
    return message


def names_layer(message: str, n: int) -> bool:
    text = message.lower()
    return (
        bool(re.search(rf"\blayer\s*#?\s*{n}\b", text)) or f"{ORDINALS[n]} layer" in text or f"{ORDINALS[n]} --" in text
    )


# --------------------------------------------------------------------------
# inspect


INSPECT = [
    # (id, args, option the message names, layer it names)
    ("two-weights-for-three-layers", ["2", "3", "3", "1", "--weight=1,2;3,4;5,6", "--weight=1,1,1"], "--weight", None),
    ("one-weight-for-two-layers", ["2", "3", "1", "--weight=1,2;3,4;5,6"], "--weight", None),
    ("layer-2-weight-shape", ["2", "3", "1", "--weight=1,2;3,4;5,6", "--weight=1,1"], "--weight", 2),
    ("layer-1-weight-shape", ["2", "3", "1", "--weight=1,2,3;4,5,6;7,8,9", "--weight=1,1,1"], "--weight", 1),
    ("one-bias-for-two-layers", ["2", "3", "1", "--bias=0,0,0"], "--bias", None),
    ("layer-2-bias-shape", ["2", "3", "1", "--bias=0,0,0", "--bias=1,2"], "--bias", 2),
    ("weights-do-not-chain", ["--weight=1,2;3,4;5,6", "--weight=1,1"], "--weight", None),
    (
        "activation-twice-for-three-layers",
        ["2", "3", "3", "1", "--activation", "tanh", "--activation", "relu"],
        "--activation",
        None,
    ),
    ("unknown-activation", ["2", "3", "1", "--activation", "swish"], "--activation", None),
    (
        "unknown-activation-among-several",
        ["2", "3", "1", "--activation", "tanh", "--activation", "sparsemax"],
        "--activation",
        None,
    ),
    ("one-number", ["3"], None, None),
    ("zero-size", ["2", "0", "1"], None, None),
    ("negative-size", ["2", "-1", "1"], None, None),
]


@pytest.mark.parametrize("args, option, layer", [c[1:] for c in INSPECT], ids=[c[0] for c in INSPECT])
def test_bad_inspect_is_exit_2_and_keeps_the_network(stack, args, option, layer):
    message = refused(stack, "inspect", *args)
    if option is not None:
        assert option in message
    if layer is not None:
        assert names_layer(message, layer), message


# --------------------------------------------------------------------------
# the one-run --activation override


OVERRIDE = {
    "backward": ["backward", "--x=1,1", "--t=1"],
    "train-step": ["train-step", "--x=1,1", "--t=1", "--lr", "0.1"],
    "train": ["train", "--x=1,1", "--t=1", "--steps", "1", "--lr", "0.1"],
}


@pytest.mark.parametrize("command", list(OVERRIDE))
@pytest.mark.parametrize("activations", [["tanh", "tanh", "tanh"], ["swish"]], ids=["three-for-two-layers", "unknown"])
def test_bad_activation_override_is_exit_2(stack, command, activations):
    given = [a for name in activations for a in ("--activation", name)]
    message = refused(stack, *OVERRIDE[command], *given)
    assert "--activation" in message


# --------------------------------------------------------------------------
# set: parameters by their state_dict names


@pytest.mark.parametrize(
    "assignment",
    [
        "foo.weight[0,0]=1",
        "4.weight[0,0]=1",  # 2-3-1 has Linear modules at 0 and 2 only
        "1.weight[0,0]=1",  # (1) is the Tanh: no parameters
        "weight[0,0]=1",  # a bare name belongs to a single nn.Linear
        "2.bias_x[0]=1",
    ],
)
def test_set_unknown_name_lists_the_valid_ones(stack, assignment):
    message = refused(stack, "set", assignment)
    for name in PARAM_NAMES:
        assert name in message, message


def test_set_index_out_of_range(stack):
    message = refused(stack, "set", "2.weight[1,0]=1")  # 2.weight is (1, 3)
    assert "2.weight" in message


def test_set_refuses_all_when_one_assignment_is_bad(stack):
    refused(stack, "set", "0.weight[0,0]=1", "foo.weight[0,0]=1")


# --------------------------------------------------------------------------
# through the console entry point (and, in the slow set, a real process): no traceback reaches the terminal


@pytest.mark.parametrize(
    "linctl", [run_entry, pytest.param(run_process, marks=pytest.mark.slow)], ids=["entry-point", "process"]
)
@pytest.mark.parametrize("args", [["inspect", "2", "0", "1"], ["set", "4.weight[0,0]=1"]], ids=["inspect", "set"])
def test_refusals_as_the_console_script_runs_them(stack, args, linctl):
    before = stack.read_bytes()
    out = linctl(*args, "--state", str(stack))
    assert out.exit_code == 2, (out.stdout, out.stderr)
    message = out.stderr.strip()
    assert message and "\n" not in message, out.stderr
    assert "Traceback" not in message and "internal error" not in message.lower()
    assert stack.read_bytes() == before
