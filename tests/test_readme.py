"""The README's tour runs as written: every `linctl ...` line in its sh blocks."""

from __future__ import annotations

import re
import shlex
import shutil

from conftest import ROOT, run


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("linctl ") and "|" not in line and ">" not in line:
                lines.append(line)
    return lines


def test_the_tour_runs(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    lines = tour_lines()
    assert len(lines) >= 15
    for line in lines:
        result = run(*shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.stderr)
        assert result.stdout.strip(), line
    assert (tmp_path / ".linctl" / "net.safetensors").exists()


def test_the_numbers_the_readme_prints_are_torchs(tmp_path, monkeypatch):
    """The written-out outputs in the tour equal plain torch's, and linctl prints those very lines."""
    import torch

    text = (ROOT / "README.md").read_text()
    printed = re.findall(r"^(y\[(\d)\] = (.+) = (-?[0-9.]+))$", text, re.M)
    assert len(printed) == 2
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    x = torch.ones(1, 3)
    y = net(x).detach()[0]
    monkeypatch.chdir(tmp_path)
    assert run("inspect", "3", "2", "--seed", "0").exit_code == 0
    shown = run("forward", "--x", "1,1,1").stdout
    for line, j, terms, value in printed:
        j = int(j)
        assert float(value) == round(float(y[j]), 4)
        numbers = [float(v) for v in re.findall(r"-?[0-9]+\.[0-9]+", terms.replace("- ", "-").replace("+ ", ""))]
        weights, bias = numbers[0::2][:3], numbers[-1]
        assert weights == [round(float(w), 4) for w in net.weight[j].detach()]
        assert bias == round(float(net.bias[j].detach()), 4)
        assert line in shown
