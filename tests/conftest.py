"""Shared helpers: run linctl in-process as its console script does, or in a real subprocess.

Every test runs without the user's LINCTL_* variables (an autouse fixture), and the property tests
are sized by a Hypothesis profile: HYPOTHESIS_PROFILE=thorough for many more examples.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent

# The property tests take their number of examples from here, not from their own decorators.
# "ci" (under CI) replays the same examples every run: a new random failure is found locally (the
# "dev" profile explores, and keeps failures in its database), then pinned with @example.
# "thorough" explores ten times as far, for a run that has the time.
_QUIET = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=20, derandomize=True, database=None, **_QUIET)
settings.register_profile("dev", max_examples=20, **_QUIET)
settings.register_profile("thorough", max_examples=200, **_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def no_user_variables() -> Iterator[None]:
    """Each test runs without the user's LINCTL_* variables (a state path, a device, lock or history
    limits), and whatever a test sets (`shell --state` sets LINCTL_STATE in its own process) is gone after it."""
    users = {key: value for key, value in os.environ.items() if key.startswith("LINCTL_")}
    for key in users:
        del os.environ[key]
    yield
    for key in [key for key in os.environ if key.startswith("LINCTL_")]:
        del os.environ[key]
    os.environ.update(users)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state file path in a fresh folder."""
    return tmp_path / "net.pt"


# what every run sees: a fixed width, no colour, no traceback (in-process, a dumb terminal too)
PLAIN = {"COLUMNS": "100", "NO_COLOR": "1", "LINCTL_DEBUG": ""}
TERMINAL = {**PLAIN, "TERM": "dumb"}


def run(*args: str, state: Path | None = None, input: str | None = None, env: dict | None = None) -> Result:
    """linctl ARGS in-process, assembled as the console script assembles it; --state is added when given."""
    argv = list(args)
    if state is not None:
        argv += ["--state", str(state)]
    return run_entry(*argv, input=input, env=env)


def run_entry(*args: str, input: str | None = None, env: dict | None = None) -> Result:
    """`linctl ARGS` in this process exactly as the console script runs it: sys.argv set, then
    `linctl.app.main()`, which builds the app for that command line, until its SystemExit."""
    from linctl import app

    environment = {**TERMINAL, **(env or {})}
    saved_argv = sys.argv
    sys.argv = ["linctl", *args]
    try:
        with CliRunner().isolation(input=input, env=environment) as streams:
            try:
                app.main()
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc.code)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    finally:
        sys.argv = saved_argv
    return Result(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def _exit_code(code: object) -> int:
    """The process exit status for SystemExit(code), as Python gives it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_json(*args: str, state: Path | None = None, input: str | None = None) -> dict:
    result = run(*args, "--json", state=state, input=input)
    assert result.exit_code == 0, result.stderr
    return result.json()


def run_process(
    *args: str,
    state: Path | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    env: dict | None = None,
    timeout: float = 120,
) -> Result:
    """linctl ARGS in a real subprocess (python -m linctl)."""
    argv = [sys.executable, "-m", "linctl", *args]
    if state is not None:
        argv += ["--state", str(state)]
    return _subprocess(argv, input=input, cwd=cwd, env=env, timeout=timeout)


def run_script(
    *args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None, timeout: float = 120
) -> Result:
    """linctl ARGS through the installed `linctl` console script in a real subprocess (`python -m linctl`,
    which calls the same `linctl.app.main`, where no script is installed beside this Python)."""
    script = Path(sys.executable).with_name("linctl")
    found = str(script) if script.exists() else shutil.which("linctl")
    argv = [found, *args] if found else [sys.executable, "-m", "linctl", *args]
    return _subprocess(argv, input=input, cwd=cwd, env=env, timeout=timeout)


def _subprocess(argv: list[str], *, input: str | None, cwd: Path | None, env: dict | None, timeout: float) -> Result:
    environment = {**os.environ, **PLAIN, **(env or {})}
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def f32(value):
    """A float32 tensor, the dtype linctl uses by default."""
    import torch

    return torch.tensor(value, dtype=torch.float32)


def exact(actual, expected) -> None:
    """JSON numbers against a tensor, bit for bit (shapes too): JSON holds each float's shortest repr,
    so read back in the tensor's dtype it is the very value."""
    import torch
    from torch.testing import assert_close

    assert_close(torch.as_tensor(actual, dtype=expected.dtype), expected.detach(), rtol=0, atol=0)


def rows(values) -> str:
    """Rows as typed on the command line: '1.0,2.0;3.0,4.0'."""
    return ";".join(",".join(repr(float(v)) for v in row) for row in values)


def vec(values) -> str:
    return ",".join(repr(float(v)) for v in values)


def saved(path: Path) -> dict:
    """The state file as linctl wrote it, as a dict of torch tensors (format 3: safetensors; older: torch.save)."""
    import torch

    from linctl.store import codec, state

    if codec.is_torch_zip(path):
        return torch.load(path, weights_only=True)
    # copies, not views of the file: a test may write over it in place
    return _copied(state.load(path, framework="pt"))


def _copied(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


_GROUP: list = []


def run_fast(*argv: str, input: str | None = None, env: dict | None = None) -> Result:
    """conftest.run on the command group built once (Typer builds it anew per run, ~40 ms), for tests that run
    linctl thousands of times. Same isolation, same exit-code mapping."""
    import typer

    from linctl.app import app

    if not _GROUP:
        _GROUP.append(typer.main.get_command(app))
    runner = CliRunner()
    environment = {**TERMINAL, **(env or {})}
    with runner.isolation(input=input, env=environment) as streams:
        code = _GROUP[0].main(args=list(argv), prog_name="linctl", standalone_mode=False)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def exported_program_state(state: Path, program: Path, *, fresh: bool = False) -> dict:
    """`linctl export --python PROGRAM` of the state's session, then the program run: the state_dict it prints."""
    assert run("export", "--python", str(program), state=state).exit_code == 0
    return program_state(program, fresh=fresh)


def program_state(program: Path, *, fresh: bool = False) -> dict:
    """The state_dict an exported program prints on its last line, as `python PROGRAM` in its folder prints it:
    in a fresh interpreter, or (fresh=False, the start-up of Python and torch saved) here as __main__ in a
    namespace of its own, torch's random state given back after it. Either way it imports no linctl."""
    import contextlib
    import io
    import runpy

    import torch

    text = program.read_text()
    assert "import linctl" not in text and "from linctl" not in text, "the program needs linctl"
    if fresh:
        ran = subprocess.run(
            [sys.executable, program.name], capture_output=True, text=True, timeout=120, cwd=program.parent
        )
        assert ran.returncode == 0, ran.stderr
        return json.loads(ran.stdout.strip().splitlines()[-1])
    assert torch.get_default_dtype() == torch.float32  # what a fresh interpreter starts with
    printed, where = io.StringIO(), os.getcwd()
    try:
        os.chdir(program.parent)
        with torch.random.fork_rng(), contextlib.redirect_stdout(printed):
            runpy.run_path(str(program), run_name="__main__")
    finally:
        os.chdir(where)
    return json.loads(printed.getvalue().strip().splitlines()[-1])
