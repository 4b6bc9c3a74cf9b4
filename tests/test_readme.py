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
    assert (tmp_path / ".linctl" / "net.pt").exists()
