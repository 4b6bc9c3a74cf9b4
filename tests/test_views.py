"""Views that fit the screen: tensors show whole numbers in as many columns as the width holds,
a gradient by hand is not printed twice, and a command line naming one command builds that one alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, run, run_json, run_script, vec
from linctl.render.cells import fitting, fmt
from linctl.render.widgets import matrix, vector


def drawn(renderable, width: int) -> list[str]:
    from rich.console import Console

    console = Console(width=width, no_color=True, color_system=None, highlight=False, markup=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get().splitlines()


def cells_of(lines: list[str], prefix: str) -> dict[int, str]:
    """{column index: cell text} of the table's first data row, read off the header's labels."""
    header = next(line for line in lines if f"{prefix}[" in line)
    labels = re.findall(rf"{prefix}\[(\d+)\]|(…)", header)
    row = lines[lines.index(header) + 2].split()
    if row and re.fullmatch(r"\w+\[\d+\]", row[0]) and len(row) > len(labels):
        row = row[1:]  # the row's own label
    assert len(row) == len(labels), (header, row)
    return {int(index): cell for (index, gap), cell in zip(labels, row, strict=True) if not gap}


@pytest.mark.parametrize("width", [30, 45, 60, 80, 100, 140])
def test_a_vector_shows_whole_numbers_in_the_columns_that_fit(width):
    values = torch.randn(10, generator=torch.Generator().manual_seed(width)) * 3
    lines = drawn(vector("v", values), width)
    assert all(len(line.rstrip()) <= width for line in lines), lines
    shown = cells_of(lines, "out")
    assert 0 in shown and 9 in shown  # the first and last are always there
    for index, cell in shown.items():
        assert cell == fmt(values[index].item())  # never cut to "-0.…"
    if width >= 100:
        assert sorted(shown) == list(range(10))  # nothing left out when it fits
    else:
        assert len(shown) < 10


@pytest.mark.parametrize("width", [40, 80, 120])
def test_a_big_matrix_keeps_its_row_labels_and_whole_numbers(width):
    values = torch.randn(12, 15, generator=torch.Generator().manual_seed(1))
    lines = drawn(matrix("w", values, heat=False), width)
    assert all(len(line.rstrip()) <= width for line in lines)
    shown = cells_of(lines, "in")
    assert 0 in shown and 14 in shown
    for index, cell in shown.items():
        assert cell == fmt(values[0, index].item())
    assert any(line.split()[:1] == ["out[11]"] for line in lines)


def test_fitting_matches_what_rich_draws():
    """The width `fitting` counts is the width rich draws, to the character."""
    from rich.console import Console
    from rich.measure import Measurement

    from linctl.render.cells import labelled_grid

    console = Console(width=500)
    for n in (3, 7, 10):
        tensor = torch.arange(n * 2, dtype=torch.float32).reshape(2, n) * 1000.5
        grid = labelled_grid(tensor, "out", "in")
        for room in range(20, 140, 7):
            kept = fitting(
                [max(len(f"in[{i}]"), *(len(row[i]) for row in grid.cells)) for i in range(n)],
                None,
                room,
                len("out[1]") + 3,
            )
            table = grid.build(room)
            assert len(table.columns) == len(kept) + 1
            width = Measurement.get(console, console.options, table).maximum
            assert width <= room or len(kept) == 3, (n, room, kept, width)


def test_backward_on_a_wide_stack_prints_a_big_gradient_once(state):
    """A gradient too big to show whole whose corners read as autograd's is one line, not a second table;
    small ones are shown in full beside autograd's."""
    torch.manual_seed(0)
    x = torch.rand(1, 12)
    t = torch.rand(1, 2)
    assert run("inspect", "12", "3", "2", "--seed", "0", state=state).exit_code == 0
    result = run("backward", f"--x={vec(x[0])}", f"--t={vec(t[0])}", state=state)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # (0): 3x12 is summarised in its columns; its corners by hand read exactly as autograd's
    assert "dL/d0.weight by hand  shape (3, 12): every number shown is as in 0.weight.grad above" in out
    assert "compares all 36" in out
    # (1): 2x3 and the biases are small: shown as tables
    assert "dL/d1.weight by hand  shape (2, 3)\n" in out
    assert "dL/d0.bias by hand  shape (3,)\n" in out
    # the numbers behind the line: plain torch's gradient, formatted, is what the table above shows
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 3), torch.nn.Linear(3, 2))
    torch.nn.functional.mse_loss(net(x), t).backward()
    grad = net[0].weight.grad
    table = out[out.index("0.weight.grad now") :].splitlines()
    assert cells_of(table, "in") == {c: fmt(grad[0, c].item()) for c in cells_of(table, "in")}
    # and linctl's by hand reads the same in those cells
    again = state.parent / "again.pt"
    assert run("inspect", "12", "3", "2", "--seed", "0", state=again).exit_code == 0
    hand = torch.tensor(
        run_json("backward", f"--x={vec(x[0])}", f"--t={vec(t[0])}", state=again)["layers"][0]["manual_weight_grad"]
    )
    assert all(fmt(hand[r, c].item()) == fmt(grad[r, c].item()) for r in (0, 1, 2) for c in (0, 1, 2, 9, 10, 11))


def test_a_second_backward_shows_the_by_hand_table_again(state):
    """After accumulation the stored .grad and this backward's by hand differ: both are shown."""
    assert run("inspect", "12", "3", "2", "--seed", "0", state=state).exit_code == 0
    args = ("backward", "--x=" + ",".join(["0.5"] * 12), "--t=1,0")
    assert run(*args, state=state).exit_code == 0
    second = run(*args, state=state)
    assert second.exit_code == 0
    assert "dL/d0.weight by hand  shape (3, 12)\n" in second.stdout
    assert "every number shown is as in" not in second.stdout


def whole_cli(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """linctl ARGV run in a subprocess through the whole CLI (`linctl.app.app`, every command built)."""
    return subprocess.run(
        [sys.executable, "-c", f"from linctl.app import app; app({argv!r}, prog_name='linctl')"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env, "LINCTL_DEBUG": ""},
        timeout=120,
    )


HELP_AND_ERRORS = [
    ["backward", "--help"],
    ["train", "--help"],
    ["backward", "--bogus"],
    ["step", "--lr", "fast"],
    ["inspect", "0"],
]


@pytest.mark.parametrize("argv", HELP_AND_ERRORS, ids=lambda a: " ".join(a))
def test_one_command_built_alone_answers_as_the_whole_cli(argv, tmp_path):
    """`linctl CMD ...` builds only CMD; its help, messages and exit codes are those of the whole app."""
    env = {"COLUMNS": "100", "NO_COLOR": "1", "LINCTL_STATE": str(tmp_path / "net.pt")}
    alone = run_script(*argv, env=env)
    whole = whole_cli(argv, env)
    assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.returncode, whole.stdout, whole.stderr)
    assert alone.stdout or alone.stderr


def test_text_from_the_user_is_shown_as_typed(tmp_path):
    """A path with rich's markup or emoji codes in it is printed as it is, not styled or replaced."""
    state = tmp_path / "[red]net:smile:" / "net.pt"
    result = run("inspect", "2", "1", state=state)
    assert result.exit_code == 0, result.stderr
    assert "[red]net:smile:" in "".join(line.strip() for line in result.stdout.splitlines())


def test_a_state_path_wider_than_the_terminal_is_shown_whole(tmp_path):
    """inspect's facts wrap a long value onto more lines; no part of the path is cut off with an ellipsis."""
    state = tmp_path / ("a-folder-with-a-long-name-" * 5) / "net.pt"
    result = run("inspect", "2", "1", state=state)
    assert result.exit_code == 0, result.stderr
    facts = result.stdout.split("weight (rows")[0]
    assert len(str(state)) > 100 and "…" not in facts
    assert str(state) in "".join(line.strip() for line in facts.splitlines())


def test_the_help_listing_is_the_whole_clis(tmp_path):
    """`linctl --help` lists the commands without building their options; what it prints is the whole CLI's help."""
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    listed = run_script("--help", env=env)
    whole = whole_cli(["--help"], env)
    assert listed.exit_code == whole.returncode == 0
    assert listed.stdout == whole.stdout
    from linctl.app import COMMANDS

    for name in COMMANDS:
        assert f" {name} " in listed.stdout


def test_linctl_alone_prints_the_help_and_no_empty_message():
    result = run_script(env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 2
    assert "Usage: linctl [OPTIONS] COMMAND" in result.stdout
    assert result.stderr == ""
    version = run_script("--version")
    assert version.exit_code == 0 and version.stdout.startswith("linctl ")


def test_the_bias_after_a_step_is_marked_up_and_down_as_plain_torch_moved_it(state):
    """step and train mark each bias entry that went up (↑) or down (↓), as the weight's cells are."""
    assert run("inspect", "3", "4", "--seed", "3", state=state).exit_code == 0
    assert run("backward", "--x=1,-2,0.5", "--t=1,-1,0,2", state=state).exit_code == 0
    out = run("step", "--lr", "0.1", state=state, env={"COLUMNS": "60"}).stdout
    torch.manual_seed(3)
    net = torch.nn.Linear(3, 4)
    torch.nn.functional.mse_loss(
        net(torch.tensor([[1.0, -2.0, 0.5]])), torch.tensor([[1.0, -1.0, 0.0, 2.0]])
    ).backward()
    before = net.bias.detach().clone()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    after = net.bias.detach()
    table = out[out.index("bias after") :].splitlines()
    cells = cells_of(table, "out")
    assert sorted(cells) == [0, 1, 2, 3]
    for c, cell in cells.items():
        arrow = "↑" if after[c] > before[c] else "↓" if after[c] < before[c] else ""
        assert cell == fmt(after[c].item()) + arrow
