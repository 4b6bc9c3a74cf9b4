"""Golden-output tests for the rich views, at a fixed width (100) and without colour.

Regenerate after a deliberate change to a view with

    LINCTL_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

then read the diff of tests/golden/ before committing it: the numbers in the
goldens were checked against plain torch (see the asserts below).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from conftest import run
from linctl.render.cells import fmt

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LINCTL_UPDATE_GOLDEN") == "1"
PLACEHOLDER = "<STATE>"

WEIGHT = "0.1,-0.2,0.3;-0.4,0.5,-0.6"
BIAS = "0.05,-0.15"
W = torch.tensor([[0.1, -0.2, 0.3], [-0.4, 0.5, -0.6]])
B = torch.tensor([0.05, -0.15])


def normalise(text: str, state: Path) -> str:
    """The state path becomes a placeholder; trailing spaces (table padding) are dropped."""
    text = text.replace(str(state), PLACEHOLDER)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        # writing the expectation proves nothing: the run that writes it never passes
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        pytest.skip(f"wrote {path}; read its diff, then rerun without LINCTL_UPDATE_GOLDEN")
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with LINCTL_UPDATE_GOLDEN=1 python -m pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"view differs from {path}; if the change is deliberate, rerun with LINCTL_UPDATE_GOLDEN=1"
    )


@pytest.fixture
def short_state(tmp_path, monkeypatch) -> Path:
    """A short relative state path, so the view's column widths do not depend on tmp_path."""
    monkeypatch.chdir(tmp_path)
    return Path("net.pt")


def build(state: Path):
    return run("inspect", "3", "2", "--weight", WEIGHT, "--bias", BIAS, state=state)


def test_golden_inspect_view(short_state):
    result = build(short_state)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, short_state)
    assert PLACEHOLDER in actual
    # the golden's content is right, not only unchanged
    assert str(torch.nn.Linear(3, 2)) in actual
    for j in range(2):
        row = re.search(rf"out\[{j}\]((?:\s+-?[0-9.]+){{3}})", actual)
        assert row.group(1).split() == [fmt(v) for v in W[j].tolist()]
    check_golden("inspect_3_2.txt", actual)


def test_golden_inspect_view_without_args_is_the_same(short_state):
    build(short_state)
    result = run("inspect", state=short_state)
    assert result.exit_code == 0
    check_golden("inspect_3_2.txt", normalise(result.stdout, short_state))


def test_golden_forward_view(short_state):
    assert build(short_state).exit_code == 0
    result = run("forward", "--x", "1,1,1", state=short_state)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, short_state)
    # the golden's numbers agree with plain torch
    x = torch.tensor([[1.0, 1.0, 1.0]])
    expected = torch.mm(W, x.t()) + B.view(2, 1)
    for j in range(2):
        line = re.search(rf"^y\[{j}\] = .+ = (-?[0-9.]+)$", actual, re.MULTILINE)
        assert line.group(1) == fmt(expected[j, 0].item())
    check_golden("forward_1_1_1.txt", actual)


def test_golden_forward_view_with_sigmoid(short_state):
    result = run(
        "inspect", "2", "1", "--weight", "0.5,-0.25", "--bias", "0.125", "--activation", "sigmoid", state=short_state
    )
    assert result.exit_code == 0
    result = run("forward", "--x", "1,1;2,-1", state=short_state)
    assert result.exit_code == 0, result.stderr
    actual = normalise(result.stdout, short_state)
    y = torch.tensor([[0.5, -0.25]]) @ torch.tensor([[1.0, 1.0], [2.0, -1.0]]).t() + 0.125
    for b in range(2):
        line = re.search(rf"^y\[{b},0\] = .+ = (-?[0-9.]+)\s+sigmoid\(.+\) = ([0-9.]+)$", actual, re.MULTILINE)
        assert line.group(1) == fmt(y[0, b].item())
        assert line.group(2) == fmt(torch.sigmoid(y[0, b]).item())
    check_golden("forward_sigmoid_2_1.txt", actual)
