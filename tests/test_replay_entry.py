"""`export --python` replays a session run through the real console script (one command built per command line).

The in-process tests build the whole app, which imports every command module; the console script builds only the
command it is given. Replay must not depend on which modules happen to be imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import program_state


def _script(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """linctl ARGS exactly as a user's shell runs it: the console entry point, in a fresh process."""
    code = "import sys; from linctl.app import main; sys.argv[0] = 'linctl'; main()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINCTL_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("steps", [["train-step", "--x", "1,1", "--t", "1", "--lr", "0.1"]])
def test_a_seeded_session_replays_with_no_file_beside_the_program(tmp_path, steps):
    import torch

    for args in (["inspect", "2", "1", "--seed", "0"], steps, ["export", "--python", "s.py"]):
        done = _script(tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert not (tmp_path / "s.safetensors").exists(), "the program loads a snapshot instead of replaying"
    program = (tmp_path / "s.py").read_text()
    assert "not replayed" not in program
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tmp_path / "s.py", alone / "s.py")
    replayed = program_state(alone / "s.py")  # run in that folder, which holds nothing else

    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    opt.zero_grad()
    torch.nn.functional.mse_loss(net(torch.tensor([[1.0, 1.0]])), torch.tensor([[1.0]])).backward()
    opt.step()
    for name, value in net.state_dict().items():
        assert torch.equal(torch.tensor(replayed[name], dtype=torch.float32), value), name
