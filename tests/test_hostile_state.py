"""The state file's metadata and the numbers a network holds are input too: deep or oversized metadata is one
line, a FIFO never blocks, and plot draws inf and NaN outputs as gaps and refuses a range it cannot grid."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from fresh import digests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run, run_fast
from hostile import TRAIN_STEP, copy_state, deadline, entry_point, files, in_a_process, one_line, working_copy

READERS = (
    ("inspect",),
    ("inspect", "--json"),
    ("history",),
    ("diff",),
    ("export", "exported.safetensors"),
    ("export", "--python", "program.py"),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("built") / "net.safetensors"
    for command in (("inspect", "2", "1", "--seed", "1"), TRAIN_STEP):
        assert run(*command, state=state).exit_code == 0
    return state


@pytest.fixture
def state(built, tmp_path, monkeypatch) -> Path:
    return working_copy(built, tmp_path, monkeypatch)


def rewrite_metadata(state: Path, change) -> None:
    """The state file again with its linctl metadata text replaced by change(structure) (same tensors)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(state), "numpy") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(state))
    metadata["linctl"] = change(json.loads(metadata["linctl"]))
    state.unlink()  # the snapshot is a hard link to it: leave that one as it was
    save_file(tensors, str(state), metadata=metadata)


def refused(state: Path, *words: str) -> None:
    before = files(state)
    for command in (*READERS, TRAIN_STEP):
        one_line(entry_point(*command, state=state), 1, str(state), *words)
        assert files(state) == before, command


def test_metadata_nested_700_levels_is_refused_before_decoding(state):
    rewrite_metadata(state, lambda s: json.dumps({**s, "extra": "DEEP"}).replace('"DEEP"', "[" * 700 + "]" * 700))
    refused(state, "nests deeper than the 32 levels")


@pytest.mark.parametrize("key", ["step", "last_id"])
def test_counts_beyond_64_bits_in_the_metadata_are_refused(state, key):
    def change(s):
        if key == "step":
            s["step"] = 10**30
        else:
            s["history"]["last_id"] = 10**30
        return json.dumps(s)

    rewrite_metadata(state, change)
    refused(state, "not a usable linctl state file", key)


def test_a_state_file_that_is_a_fifo_never_blocks(tmp_path):
    state = tmp_path / "net.safetensors"
    os.mkfifo(state)
    before = files(state)
    commands = (("inspect",), ("history",), TRAIN_STEP)
    for command, (result, after) in zip(commands, in_a_process(commands, state), strict=True):
        one_line(result, 1, str(state), "not a regular file")
        assert after == digests(before), command


# --------------------------------------------------------------------------
# plot


def build(state: Path, *args: str) -> None:
    assert run("inspect", *args, state=state).exit_code == 0


@pytest.mark.parametrize("span", ["-1e308,1e308", "-1e39,1e39", "-1e300,1e300"])
def test_a_range_that_cannot_be_gridded_is_exit_2_naming_range(tmp_path, span):
    state = tmp_path / "net.safetensors"
    build(state, "1", "1", "--seed", "1")
    before = files(state)
    for extra in ((), ("--json",)):
        one_line(entry_point("plot", f"--range={span}", *extra, state=state), 2, "--range", "narrower range")
        assert files(state) == before
    two = tmp_path / "two.safetensors"
    build(two, "2", "1", "--seed", "1")
    one_line(entry_point("plot", f"--range={span},0,1", state=two), 2, "--range")


def test_a_float64_network_grids_a_range_float32_cannot(tmp_path):
    state = tmp_path / "net.safetensors"
    build(state, "1", "1", "--seed", "1", "--dtype", "float64")
    result = entry_point("plot", "--range=-1e39,1e39", "--json", state=state)
    assert result.exit_code == 0, result.stderr
    assert math.isclose(result.json()["points"][0][0], -1e39)


@pytest.mark.parametrize("inputs", [1, 2])
@pytest.mark.parametrize("value", ["3e38", "inf", "nan"])
def test_non_finite_outputs_are_gaps_with_a_note(tmp_path, inputs, value):
    state = tmp_path / "net.safetensors"
    build(state, str(inputs), "1", "--seed", "1")
    assert run("set", f"weight[0,0]={value}", state=state).exit_code == 0
    if value == "3e38":  # finite weights whose outputs overflow float32 over part of the range
        assert run("set", "bias[0]=3e38", state=state).exit_code == 0
    before = files(state)
    shown = entry_point("plot", "--json", state=state)
    assert shown.exit_code == 0, shown.stderr
    data = shown.json()
    points = torch.tensor(data["points"], dtype=torch.float32)
    weight = torch.tensor([[float(value)] + [0.0] * (inputs - 1)])
    from safetensors.torch import load_file

    tensors = load_file(str(state))
    weight[0, 1:] = tensors["params/weight"][0, 1:]
    expected = points @ weight.t() + tensors["params/bias"]  # what the network computes, in plain torch
    finite = torch.isfinite(expected[:, 0])
    gaps = int((~finite).sum())
    assert gaps > 0 and (value != "3e38" or bool(finite.any()))
    assert [v[0] is None for v in data["values"]] == (~finite).tolist()
    one_line(shown, 0, f"at {gaps} of {len(points)} points", "gaps")
    view = entry_point("plot", state=state)
    one_line(view, 0, "gaps")
    assert "net(x)" in view.stdout or "x1 across" in view.stdout
    assert files(state) == before


def test_finite_runs_split_the_curve_at_each_gap():
    from linctl.render.plot import finite_runs

    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    ys = [1.0, math.inf, 2.0, 3.0, math.nan, 4.0]
    assert finite_runs(xs, ys) == [([0.0], [1.0]), ([2.0, 3.0], [2.0, 3.0]), ([5.0], [4.0])]
    assert finite_runs(xs, [math.nan] * 6) == []


# --------------------------------------------------------------------------
# fuzz: whatever the metadata holds, the read-only commands end with at most one line

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)
KEYS = st.sampled_from(["step", "history", "layers", "optimizer", "dtype", "format", "seed", "params", "last_x"])
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=40),
        JSON.map(json.dumps),
        st.tuples(KEYS, JSON).map(lambda kv: {kv[0]: kv[1]}),
    )
)
def test_fuzz_the_metadata_never_an_internal_error_or_a_hang(built, tmp_path_factory, text):
    state = copy_state(built, tmp_path_factory.mktemp("fuzz"))
    rewrite_metadata(state, lambda s: json.dumps({**s, **text}) if isinstance(text, dict) else text)
    before = files(state)
    for command in (("inspect",), ("inspect", "--json"), ("history", "--json"), ("diff",), ("plot", "--json")):
        with deadline(30):
            result = run_fast(*command, "--state", str(state))
        assert result.exit_code in (0, 1, 2), (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) <= 1, (command, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr, command
        assert files(state) == before, command
