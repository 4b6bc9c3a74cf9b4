"""linctl command lines one after another in one new interpreter, each through the console entry point
(`linctl.app.main()` with sys.argv set, as the installed script calls it).

For what needs a process of its own (a hang is caught by the timeout, torch can be stubbed out of the path)
without paying the interpreter's and torch's start-up once per command. After each command it can list the
files beside a state, so a test checks after every command, as it would with one process per command.

Run as a script, this module is that interpreter; it imports nothing heavy at the top, for either side.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

# what every run sees: a fixed width, no colour, no traceback, a dumb terminal (as conftest.run)
TERMINAL = {"COLUMNS": "100", "NO_COLOR": "1", "LINCTL_DEBUG": "", "TERM": "dumb"}


def folder_of(state: Path) -> Path:
    return state.with_name(state.name + ".history")


def files(state: Path) -> dict[str, bytes | str]:
    """Every file's bytes beside the state (the lock aside) and in its history folder; others by kind."""
    found: dict[str, bytes | str] = {}
    for folder in (state.parent, folder_of(state)):
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir()):
            if item.name.endswith(".lock") or item == folder_of(state):
                continue
            key = f"{folder.name}/{item.name}"
            found[key] = item.read_bytes() if item.is_file() else ("folder" if item.is_dir() else "special")
    return found


def digests(listing: dict[str, bytes | str]) -> dict[str, str]:
    """A listing of files() with each file's bytes as their SHA-256 (what the interpreter sends back)."""
    return {k: hashlib.sha256(v).hexdigest() if isinstance(v, bytes) else v for k, v in listing.items()}


def run_fresh(
    commands: list[list[str]],
    *,
    watch: Path | None = None,
    env: dict | None = None,
    timeout: float = 120,
) -> list[tuple]:
    """Each command line, in order, in one new interpreter: (conftest.Result, the files beside `watch` after
    it as digests(files(watch)), or None). `env` replaces the environment the interpreter starts with."""
    from conftest import Result

    request = json.dumps({"commands": commands, "watch": str(watch) if watch else None})
    environment = {**os.environ, **TERMINAL} if env is None else env
    proc = subprocess.run(
        [sys.executable, __file__, request], capture_output=True, text=True, env=environment, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(outcomes) == len(commands), proc.stdout[-3000:]
    return [(Result(o["code"], o["stdout"], o["stderr"]), o["files"]) for o in outcomes]


def _one(argv: list[str]) -> tuple[int, str, str]:
    """`linctl ARGV` as the script runs it, its streams captured (as conftest.run_entry does in the tests)."""
    from typer.testing import CliRunner

    from linctl import app

    sys.argv = ["linctl", *argv]
    with CliRunner().isolation(env=TERMINAL) as streams:
        try:
            app.main()
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")


def _main() -> None:
    request = json.loads(sys.argv[1])
    watch = Path(request["watch"]) if request["watch"] else None
    outcomes = []
    for argv in request["commands"]:
        code, stdout, stderr = _one(argv)
        listing = digests(files(watch)) if watch else None
        outcomes.append({"code": code, "stdout": stdout, "stderr": stderr, "files": listing})
    sys.__stdout__.write("\n" + json.dumps(outcomes) + "\n")


if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the checkout's linctl, as the tests import it
    _main()
