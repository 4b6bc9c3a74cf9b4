"""Helpers for the hostile-input tests: linctl through its console entry point, the files beside a state,
and what a clean refusal looks like."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fresh import files as files  # the hostile tests take it from here
from fresh import folder_of, run_fresh
from typer.testing import CliRunner

from conftest import Result

ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "LINCTL_DEBUG": ""}
# every command that reads the history, as the issue lists them
HISTORY_READERS = (
    ("history",),
    ("history", "--json"),
    ("history", "--csv"),
    ("history", "--plot"),
    ("undo",),
    ("diff",),
    ("diff", "1", "2"),
    ("export", "--python", "program.py"),
)
TRAIN_STEP = ("train-step", "--lr", "0.1", "--x", "1,-1", "--t", "0.5")


def entry_point(*argv: str, state: Path, env: dict | None = None) -> Result:
    """linctl ARGS --state STATE as the console script runs it: linctl.app.main() with sys.argv, in-process."""
    from linctl import app

    runner = CliRunner()
    args = ["linctl", *argv, "--state", str(state)]
    with runner.isolation(env={**ENV, **(env or {})}) as streams:
        saved_argv, sys.argv = sys.argv, args
        try:
            app.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = saved_argv
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def in_a_process(commands, state: Path, timeout: float = 120) -> list[tuple[Result, dict]]:
    """Each `linctl COMMAND --state STATE` in turn in one new interpreter, for what could hang (a timeout fails
    the test): its Result and the files beside the state after it (fresh.digests of files)."""
    return run_fresh([[*command, "--state", str(state)] for command in commands], watch=state, timeout=timeout)


def one_line(result: Result, code: int, *words: str) -> str:
    """Exit `code`, exactly one line on stderr holding every word, no traceback, no internal error."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def index_of(state: Path) -> Path:
    return folder_of(state) / "index.jsonl"


def entries(state: Path) -> list[dict]:
    return [json.loads(line) for line in index_of(state).read_text().splitlines() if line.strip()]


def write_entries(state: Path, rows: list[dict]) -> None:
    index_of(state).write_text("".join(json.dumps(row) + "\n" for row in rows))


def copy_state(source: Path, folder: Path) -> Path:
    """The state and its history in a new folder (copies, not links)."""
    target = folder / source.name
    shutil.copyfile(source, target)
    shutil.copytree(folder_of(source), folder_of(target))
    return target


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail, rather than hang, when the body runs past `seconds` (main thread, POSIX)."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def working_copy(built: Path, tmp_path: Path, monkeypatch) -> Path:
    """A copy of the built state in a folder of its own, the commands running in another (export writes there)."""
    (tmp_path / "state").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return copy_state(built, tmp_path / "state")
