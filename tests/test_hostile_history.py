"""The history folder is input too: an index or a snapshot that linctl did not write is one line, never a
traceback or a hang, and the state file and the history are left as they were."""

from __future__ import annotations

import builtins
import json
import os
import pathlib
from pathlib import Path

import pytest
from fresh import digests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run, run_fast
from hostile import (
    HISTORY_READERS,
    TRAIN_STEP,
    deadline,
    entries,
    entry_point,
    files,
    folder_of,
    in_a_process,
    index_of,
    one_line,
    working_copy,
    write_entries,
)

READ_ONLY = [c for c in HISTORY_READERS if c[0] != "undo"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A 2 -> 1 network with three history entries (built, then two train-steps), each with its snapshot."""
    state = tmp_path_factory.mktemp("built") / "net.safetensors"
    for command in (("inspect", "2", "1", "--seed", "1"), TRAIN_STEP, TRAIN_STEP):
        assert run(*command, state=state).exit_code == 0
    assert [e["id"] for e in entries(state)] == [1, 2, 3]
    return state


@pytest.fixture
def state(built, tmp_path, monkeypatch) -> Path:
    """A copy of it; the commands run in a folder of their own (export --python writes there)."""
    return working_copy(built, tmp_path, monkeypatch)


def refused_everywhere(state: Path, code: int, *words: str, train_step_says: tuple[str, ...]) -> None:
    """Every command that reads the history: one line with `words` (train-step: its own), no file changed."""
    before = files(state)
    for command in (*HISTORY_READERS, ("undo", "100000000"), TRAIN_STEP):
        said = train_step_says if command == TRAIN_STEP else words
        one_line(entry_point(*command, state=state), code, *said)
        assert files(state) == before, command


# --------------------------------------------------------------------------
# the index is not a file linctl can read


def test_an_index_that_is_a_folder_is_one_line_everywhere(state):
    index_of(state).unlink()
    index_of(state).mkdir()
    refused_everywhere(
        state,
        1,
        str(index_of(state)),
        "not a regular file",
        "move it away",
        train_step_says=("cannot write the history", str(index_of(state))),
    )


def _denied(monkeypatch, target: Path, modes: str) -> None:
    """open() of `target` in linctl's history store fails as a file without that permission does."""
    real = builtins.open

    def guarded(file, mode="r", *args, **kwargs):
        if Path(file) == target and any(m in mode for m in modes):
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, mode, *args, **kwargs)

    from linctl.store import history, index

    for module in (history, index):  # index reads the index, history appends to it
        monkeypatch.setattr(module, "open", guarded, raising=False)


def test_an_unreadable_index_is_one_line_everywhere(state, monkeypatch):
    _denied(monkeypatch, index_of(state), "ra")
    refused_everywhere(
        state,
        1,
        str(index_of(state)),
        "Permission denied",
        "permissions",
        train_step_says=("cannot write the history", str(index_of(state))),
    )


def test_an_unwritable_index_refuses_train_step_and_undo_and_keeps_the_state(state, monkeypatch):
    """The decision: a change history cannot record is not made (undo and export --python rely on every one)."""
    _denied(monkeypatch, index_of(state), "a")
    before = files(state)
    for command in (TRAIN_STEP, ("undo",)):
        one_line(
            entry_point(*command, state=state), 1, f"cannot write the history {index_of(state)}", "nothing was changed"
        )
        assert files(state) == before
    for command in READ_ONLY:  # reading still works
        assert entry_point(*command, state=state).exit_code == 0, command


def test_an_unreadable_history_folder_is_one_line_everywhere(state, monkeypatch):
    real = pathlib.Path.exists

    def exists(self, *args, **kwargs):
        if self.parent == folder_of(state):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "exists", exists)
    for command in (*HISTORY_READERS, TRAIN_STEP):
        before = files(state)
        one_line(entry_point(*command, state=state), 1, str(folder_of(state)), "Permission denied")
        assert files(state) == before, command


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_index_and_folder_by_mode(state):
    index_of(state).chmod(0o444)
    before = files(state)
    one_line(entry_point(*TRAIN_STEP, state=state), 1, "cannot write the history", "Permission denied")
    assert files(state) == before
    index_of(state).chmod(0o200)
    one_line(entry_point("history", state=state), 1, str(index_of(state)), "Permission denied")
    index_of(state).chmod(0o644)
    folder_of(state).chmod(0o000)
    try:
        one_line(entry_point("history", state=state), 1, "Permission denied")
    finally:
        folder_of(state).chmod(0o755)


# --------------------------------------------------------------------------
# lines that are not entries


def test_a_line_that_is_not_utf8_is_skipped_with_one_note(state):
    raw = index_of(state).read_bytes()
    lines = raw.splitlines(keepends=True)
    index_of(state).write_bytes(lines[0] + b'{"id": 9, "command": "\xff\xfe"}\n' + b"".join(lines[1:]))
    before = files(state)
    for command in (("history",), ("history", "--json"), ("history", "--csv"), ("history", "--plot")):
        result = entry_point(*command, state=state)
        one_line(result, 0, f"skipped line 2 of {index_of(state)}", "delete those lines")
        assert files(state) == before
    shown = entry_point("history", "--json", state=state).json()
    assert [e["id"] for e in shown["entries"]] == [1, 2, 3]
    for command in (("diff",), ("diff", "1", "2"), ("export", "--python", "program.py")):
        assert entry_point(*command, state=state).exit_code == 0, command
    assert entry_point(*TRAIN_STEP, state=state).exit_code == 0
    assert index_of(state).read_bytes().startswith(before[f"{folder_of(state).name}/index.jsonl"])  # appended only


@pytest.mark.parametrize(
    "field, value",
    [("id", 10**30), ("step", 10**30), ("parent", 2**64), ("loss", 10**400), ("weight_norm", -(10**400))],
)
def test_numbers_too_large_for_64_bits_or_a_float_are_skipped_lines(state, field, value):
    rows = entries(state)
    rows.insert(1, {**rows[1], "id": 7, field: value})
    write_entries(state, rows)
    before = files(state)
    for command in (("history",), ("history", "--json"), ("history", "--csv"), ("history", "--plot")):
        one_line(entry_point(*command, state=state), 0, f"skipped line 2 of {index_of(state)}")
        assert files(state) == before
    assert [e["id"] for e in entry_point("history", "--json", state=state).json()["entries"]] == [1, 2, 3]
    for command in (("undo", "100000000"),):
        one_line(entry_point(*command, state=state), 1, "goes back only 2 change(s)")
    assert files(state) == before


def test_a_line_nested_deeper_than_linctl_writes_is_skipped(state):
    rows = entries(state)
    rows[1]["replay"] = "DEEP"
    write_entries(state, rows)
    index_of(state).write_text(index_of(state).read_text().replace('"DEEP"', "[" * 900 + "]" * 900))
    one_line(entry_point("history", "--json", state=state), 0, f"skipped line 2 of {index_of(state)}")


# --------------------------------------------------------------------------
# parent pointers that go round


@pytest.mark.parametrize("cycle", ["self", *(pytest.param(c, marks=pytest.mark.slow) for c in ("pair", "restores"))])
def test_a_cycle_of_parents_is_one_line_and_never_a_hang(state, cycle):
    rows = entries(state)
    if cycle == "self":
        rows[2]["parent"] = 3
    elif cycle == "pair":
        rows[1]["parent"] = 3
    else:
        rows[1]["restores"] = 3
    write_entries(state, rows)
    before = files(state)
    commands = (("undo", "100000000"), ("export", "--python", "program.py"))
    for command, (result, after) in zip(commands, in_a_process(commands, state), strict=True):
        one_line(result, 1, str(index_of(state)), "circle", "move it away")
        assert after == digests(before), command
    for command in (("history", "--json"), ("diff", "1", "2")):  # what walks no line still works
        assert entry_point(*command, state=state).exit_code == 0


# --------------------------------------------------------------------------
# replay records export --python did not write


@pytest.mark.parametrize(
    "replay",
    [5, "train-step", {"command": "train-step", "last_x": 3}, {"command": "set", "changes": [{"name": "w"}]}],
)
def test_a_replay_record_of_the_wrong_shape_loads_the_snapshot_instead(state, replay):
    rows = entries(state)
    rows[2]["replay"] = replay
    write_entries(state, rows)
    before = files(state)
    result = entry_point("export", "--python", "program.py", state=state)
    one_line(result, 0, f"entry 3 of {index_of(state)}", "replay record", "snapshot instead")
    program = Path("program.py").read_text()
    assert 'load_state("entry3")' in program
    compile(program, "program.py", "exec")
    (folder_of(state) / "3.safetensors").unlink()  # without the snapshot: one line, no program
    Path("program.py").unlink()
    before.pop(f"{folder_of(state).name}/3.safetensors")
    one_line(entry_point("export", "--python", "program.py", state=state), 1, "entry 3", "no longer kept")
    assert files(state) == before


def test_a_command_text_with_newlines_stays_a_comment_in_the_program(state):
    rows = entries(state)
    rows[2]["command"] = "linctl step\nimport os; os.remove('x')\r\x00"
    write_entries(state, rows)
    assert entry_point("export", "--python", "program.py", state=state).exit_code == 0
    program = Path("program.py").read_text()
    compile(program, "program.py", "exec")
    assert not any(line.startswith("import os;") for line in program.splitlines())
    assert "# linctl step\\nimport os; os.remove('x')\\r\\x00" in program


# --------------------------------------------------------------------------
# a snapshot that is a FIFO


def test_a_snapshot_that_is_a_fifo_is_one_line_and_never_blocks(state):
    snapshot = folder_of(state) / "2.safetensors"
    snapshot.unlink()
    os.mkfifo(snapshot)
    before = files(state)
    refusing = (("undo",), ("diff",), ("diff", "1", "2"))
    # export --python replays entry 2 from its record and never opens that snapshot; history only looks at it
    working = (("export", "--python", "program.py"), ("history", "--json"))
    outcomes = in_a_process((*refusing, *working), state)
    for command, (result, after) in zip(refusing, outcomes[: len(refusing)], strict=True):
        one_line(result, 1, str(snapshot), "not a regular file", "delete it")
        assert after == digests(before), command
    for command, (result, _) in zip(working, outcomes[len(refusing) :], strict=True):
        assert result.exit_code == 0, (command, result.stderr)
    assert files(state) == before


# --------------------------------------------------------------------------
# fuzz: whatever the index holds, the read-only commands end with at most one line


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
SMALL = st.none() | st.integers(min_value=-2, max_value=5) | st.sampled_from([10**30, 2**63, 1.5, True, "3"])
ENTRY = st.fixed_dictionaries(
    {"id": SMALL, "parent": SMALL, "restores": SMALL, "step": SMALL},
    optional={"loss": SMALL | st.floats(), "command": st.text(max_size=10) | SMALL, "replay": JSON},
)
LINE = st.binary(max_size=60) | JSON.map(lambda v: json.dumps(v).encode()) | ENTRY.map(lambda v: json.dumps(v).encode())
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(lines=st.lists(LINE, max_size=6))
def test_fuzz_the_index_never_an_internal_error_or_a_hang(state, lines):
    original = index_of(state).read_bytes()
    index_of(state).write_bytes(original + b"\n".join(lines))
    before = files(state)
    try:
        for command in (*READ_ONLY, ("undo", "100000000")):
            argv = [*command, "--state", str(state)]
            with deadline(30):
                result = run_fast(*argv)
            assert result.exit_code in (0, 1, 2), (command, result.stderr)
            assert len(result.stderr.strip().splitlines()) <= 1, (command, result.stderr)
            assert "internal error" not in result.stderr and "Traceback" not in result.stderr, command
            assert files(state) == before, command
    finally:
        index_of(state).write_bytes(original)
        Path("program.py").unlink(missing_ok=True)
