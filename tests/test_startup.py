"""Start-up cost guards: what each command imports (no timing: the benchmark times)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# pydantic: typer would convert every value through it (~0.1 s a command); linctl's own parsers do that work
HEAVY = ("sympy", "torch._dynamo", "torch._inductor", "pydantic")

COMMANDS = [
    ["inspect", "3", "2", "--seed", "0"],
    ["forward", "--x", "1,1,1;2,2,2"],
    ["backward", "--x", "1,1,1", "--t", "1,0"],
    ["step", "--lr", "0.1"],
    ["train-step", "--optimizer", "adam", "--lr", "0.1"],
    ["train-step", "--optimizer", "rmsprop"],
    ["train", "--x", "1,1,1;0,1,0", "--t", "1,0;0,1", "--steps", "3", "--optimizer", "adamw"],
    ["history"],
    ["diff"],
    ["undo"],
    ["inspect", "2", "3", "1", "--activation", "tanh", "--activation", "sigmoid"],
    ["set", "2.weight[0,1]=0.5"],
    ["zero-grad"],
    ["forward", "--help"],
]


def test_commands_skip_modules_that_cost_seconds(tmp_path):
    """sympy and torch._dynamo each add 0.4-1.7 s to a command, pydantic 0.1 s; none of them needs any."""
    script = f"""
import sys
from linctl.app import app
for args in {COMMANDS!r}:
    try:
        app(args + ["--state", {str(tmp_path / "net.pt")!r}])
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
print("HEAVY:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_torch(flag):
    script = f"""
import sys
from linctl.app import app
try:
    app([{flag!r}])
except SystemExit:
    pass
print("torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"
