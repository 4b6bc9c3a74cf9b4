"""Shared helpers: run linctl through Typer's CliRunner or a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from linctl.app import app

ROOT = Path(__file__).resolve().parent.parent

# In CI the property tests replay the same examples every run (a new random
# failure is found locally, then pinned with @example); elsewhere they explore.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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


def run(*args: str, state: Path | None = None, input: str | None = None, env: dict | None = None) -> Result:
    """linctl ARGS in-process; --state is added when given. Fixed width, no colour."""
    argv = list(args)
    if state is not None:
        argv += ["--state", str(state)]
    runner = CliRunner()
    environment = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "LINCTL_DEBUG": "", **(env or {})}
    result = runner.invoke(app, argv, input=input, env=environment, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


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
    environment = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "LINCTL_DEBUG": "", **(env or {})}
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

    if not _GROUP:
        _GROUP.append(typer.main.get_command(app))
    runner = CliRunner()
    environment = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "LINCTL_DEBUG": "", **(env or {})}
    with runner.isolation(input=input, env=environment) as streams:
        code = _GROUP[0].main(args=list(argv), prog_name="linctl", standalone_mode=False)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
