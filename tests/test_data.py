"""`--data FILE`: CSV samples with or without a header, stdin, --targets, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, run, run_json

WEIGHT = [[0.25, -0.5], [0.75, 0.125]]
BIAS = [0.1, -0.2]
# values with more digits than float32 keeps: the CLI reads float64, then uses the network dtype
ROWS = [
    [0.123456789012345, -1.5, 0.3, 0.7],
    [2.0000000001, 3.25e-3, -1.0, 1.0],
    [-0.5, 1e2, 0.5, -0.25],
]
CSV = "\n".join(",".join(repr(v) for v in row) for row in ROWS) + "\n"


@pytest.fixture
def net2x2(state):
    result = run("inspect", "2", "2", "--weight", "0.25,-0.5;0.75,0.125", "--bias", "0.1,-0.2", state=state)
    assert result.exit_code == 0, result.stderr
    return state


def one_sgd_step(rows, lr=0.1):
    """Plain torch: one full-batch SGD step on ROWS (2 inputs, 2 targets)."""
    values = torch.tensor(rows, dtype=torch.float64).to(torch.float32)
    x, t = values[:, :2], values[:, 2:]
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(WEIGHT))
        net.bias.copy_(torch.tensor(BIAS))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss = F.mse_loss(net(x), t)
    loss.backward()
    opt.step()
    return loss.item(), net.weight.detach(), net.bias.detach()


def check_trained_on(out, rows):
    """Bit for bit: the file's numbers reach the network exactly as torch.tensor(rows) would."""
    loss, weight, bias = one_sgd_step(rows)
    assert out["steps"] == 1
    assert out["losses"][0] == loss
    assert torch.equal(torch.tensor(out["weight"]), weight)
    assert torch.equal(torch.tensor(out["bias"]), bias)


def train(state, source, *extra, input=None):
    return run_json("train", "--data", source, "--lr", "0.1", "--no-shuffle", *extra, state=state, input=input)


# --------------------------------------------------------------------------
# reading


def test_csv_without_header(tmp_path, net2x2):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    check_trained_on(train(net2x2, str(path)), ROWS)


def test_csv_with_header(tmp_path, net2x2):
    path = tmp_path / "d.csv"
    path.write_text("x1,x2,t1,t2\n" + CSV)
    check_trained_on(train(net2x2, str(path)), ROWS)


def test_csv_from_stdin(net2x2):
    check_trained_on(train(net2x2, "-", input="in_a,in_b,out_a,out_b\n" + CSV), ROWS)


def test_crlf_spaces_and_blank_lines(tmp_path, net2x2):
    path = tmp_path / "d.csv"
    lines = [", ".join(repr(v) for v in row) for row in ROWS]
    path.write_bytes(("x1, x2, t1, t2\r\n" + "\r\n".join(lines[:2]) + "\r\n\r\n" + lines[2] + "\r\n").encode())
    check_trained_on(train(net2x2, str(path)), ROWS)


def test_reader_returns_the_file_values_exactly(tmp_path):
    from linctl import data

    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d\n" + CSV)
    table = data.read(str(path))
    assert table.header == ["a", "b", "c", "d"]
    assert table.values.dtype == np.float64
    assert np.array_equal(table.values, np.array(ROWS, dtype=np.float64))
    path.write_text(CSV)
    table = data.read(str(path))
    assert table.header is None
    assert np.array_equal(table.values, np.array(ROWS, dtype=np.float64))


def test_targets_option(tmp_path, state):
    """3 inputs then 2 targets: --targets 2 matches out_features; anything else is refused clearly."""
    run("inspect", "3", "2", "--seed", "1", state=state)
    path = tmp_path / "d.csv"
    rows = [[1, 2, 3, 0.5, -0.5], [0, -1, 2, 1, 1], [0.5, 0.5, 0.5, 0, 2]]
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    out = run_json("train", "--data", str(path), "--targets", "2", "--lr", "0", "--no-shuffle", state=state)
    torch.manual_seed(1)
    net = torch.nn.Linear(3, 2)
    values = torch.tensor(rows, dtype=torch.float32)
    assert out["losses"][0] == F.mse_loss(net(values[:, :3]), values[:, 3:]).item()

    before = state.read_bytes()
    result = run("train", "--data", str(path), "--targets", "1", "--lr", "0.1", state=state)
    assert result.exit_code == 2
    assert "--targets" in result.stderr and "out_features=2" in result.stderr
    assert state.read_bytes() == before


# --------------------------------------------------------------------------
# errors: exit 2, one line, the line number, nothing changed


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("1,2,3,4\n5,6\n7,8,9,10\n", 2, ["columns"]),  # a short row
        ("1,2,3,4\n5,6,7,8\n9,10,11,12,13\n", 3, ["columns"]),  # a long row
        ("a,b,c,d\n1,2,3,4\n5,6,7\n", 3, ["columns"]),  # ragged after a header
        ("1,2,3,4\n5,x,7,8\n", 2, ["'x'", "not a number"]),
        ("h1,h2,h3,h4\n1,2,3,4\n1,2,3,4\n1,2,abc,4\n", 4, ["'abc'", "not a number"]),
        ("1,2,3,4\n5,,7,8\n", 2, ["empty"]),
    ],
)
def test_bad_rows_name_the_line(tmp_path, net2x2, text, line, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    before = net2x2.read_bytes()
    result = run("train", "--data", str(path), "--lr", "0.1", state=net2x2)
    assert result.exit_code == 2, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"line {line}" in message
    assert "--data" in message
    for word in words:
        assert word in message
    assert net2x2.read_bytes() == before


def test_bad_rows_on_stdin_name_the_line(net2x2):
    result = run("train", "--data", "-", "--lr", "0.1", state=net2x2, input="1,2,3,4\n1,2,3,4\n1,2,3\n")
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "stdin" in result.stderr


@pytest.mark.parametrize(
    "text,words",
    [
        ("", ["empty"]),
        ("\n  \n", ["empty"]),
        ("x1,x2,t1,t2\n", ["no samples"]),
        ("1,2,3\n4,5,6\n", ["3 columns", "4"]),  # too few columns for 2 inputs + 2 targets
        ("1,2,3,4,5\n", ["5 columns"]),
    ],
)
def test_empty_files_and_wrong_widths_are_refused(tmp_path, net2x2, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    before = net2x2.read_bytes()
    result = run("train", "--data", str(path), "--lr", "0.1", state=net2x2)
    assert result.exit_code == 2, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    for word in words:
        assert word in message
    assert net2x2.read_bytes() == before


def test_missing_file_and_directory(tmp_path, net2x2):
    for source in (str(tmp_path / "nope.csv"), str(tmp_path)):
        result = run("train", "--data", source, "--lr", "0.1", state=net2x2)
        assert result.exit_code == 2
        assert "--data" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_example_csv_is_shipped_and_reads(tmp_path):
    from linctl import data

    table = data.read(str(ROOT / "examples" / "line.csv"))
    assert table.header == ["x1", "x2", "x3", "y"]
    assert table.columns == 4 and 30 <= table.rows <= 100
    assert np.isfinite(table.values).all()
    # the tour's run (docs/tour.md): a 3 -> 1 network trains on it through the CLI
    state = tmp_path / "net.pt"
    run("inspect", "3", "1", "--seed", "0", state=state)
    result = run("train", "--data", str(ROOT / "examples" / "line.csv"), "--lr", "0.1", "--epochs", "50", state=state)
    assert result.exit_code == 0, result.stderr
    assert "loss per step" in result.stdout
