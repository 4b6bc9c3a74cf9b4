"""The page's step buttons: the linctl command line each one runs, and running it.

A button runs linctl itself in a subprocess (`python -m linctl ... --json`), so a step from the page
takes exactly the command line's path: the lock, the checked save, the history; undo works on it
and a writer in another terminal loses nothing. The server runs one at a time.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MOST_STEPS = 100_000


def step_command(body: Any, viewer: Any) -> list[str]:
    """The linctl command line a step button asks for: train-step, or train N steps, with the stored settings."""
    command = body["command"]
    argv = [sys.executable, "-m", "linctl", command, "--state", os.path.abspath(viewer.path), "--json"]
    if command == "train-step":
        return argv
    if command == "train":
        steps = body["steps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MOST_STEPS:
            raise ValueError(f"steps must be a whole number from 1 to {MOST_STEPS}")
        argv += ["--steps", str(steps), "--quiet"]
        if viewer.samples is not None:
            argv += ["--data", os.path.abspath(viewer.samples)]
            if viewer.targets is not None:
                argv += ["--targets", str(viewer.targets)]
        return argv
    raise ValueError(f"command must be train-step or train, got {command!r}")


def run_linctl(argv: list[str]) -> dict:
    import subprocess

    import orjson

    env = {**os.environ, "NO_COLOR": "1", "LINCTL_DEBUG": ""}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    try:
        result = orjson.loads(proc.stdout) if proc.returncode == 0 else None
    except orjson.JSONDecodeError:
        result = None
    error = lines[-1] if proc.returncode != 0 and lines else None
    return {
        "command": " ".join(["linctl", *argv[3:]]),
        "exit_code": proc.returncode,
        "result": result,
        "error": error,
        "notes": lines if error is None else lines[:-1],
    }
