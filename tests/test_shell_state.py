"""`shell --state X`: every command in it uses X unless it names its own, and the process environment is untouched."""

from __future__ import annotations

import json
import os

import torch

from conftest import exact, run


def test_the_shell_state_reaches_each_command_without_touching_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LINCTL_STATE", raising=False)
    monkeypatch.chdir(tmp_path)
    shell_state, own = tmp_path / "shell.safetensors", tmp_path / "own.safetensors"
    lines = f"inspect 2 1 --seed 0\ninspect 3 1 --seed 1 --state {own}\nforward --x 1,1 --json\n"
    result = run("shell", "--state", str(shell_state), input=lines)
    assert result.exit_code == 0, result.stderr
    assert "LINCTL_STATE" not in os.environ
    assert shell_state.exists() and own.exists()
    assert not (tmp_path / ".linctl").exists()  # nothing went to the default path
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    printed = result.stdout.strip().splitlines()[-1]
    exact(json.loads(printed)["output"], net(torch.ones(1, 2)).detach())
