"""Issue 17: class labels in data files, the mapping stored with the network, and `--data` on every command that
takes samples (forward, backward, train-step, graph, plot), `forward --data FILE --csv`.

Numbers are plain torch's, built in the test from the same CSV read with the csv module: labels mapped in sorted
order, nn.CrossEntropyLoss on the class indices, the plain loop, bit for bit.
"""

from __future__ import annotations

import csv
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import exact, rows, run, run_json, saved

CSV = """sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor
6.3,3.3,virginica
4.9,3.0,setosa
6.4,3.2,versicolor
5.8,2.7,virginica
5.0,3.6,setosa
"""
NAMES = ["setosa", "versicolor", "virginica"]


def table(text: str = CSV):
    """(x, class indices) from the CSV, labels in sorted order, as the test reads it."""
    records = list(csv.reader(io.StringIO(text)))[1:]
    names = sorted({r[-1] for r in records})
    x = torch.tensor([[float(v) for v in r[:-1]] for r in records])
    return x, torch.tensor([names.index(r[-1]) for r in records])


def plain(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 3))


@pytest.fixture
def iris(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text(CSV)
    state = tmp_path / "net.safetensors"
    out = run("inspect", "2", "4", "3", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state)
    assert out.exit_code == 0, out.stderr
    return path, state


def test_a_label_column_trains_as_sorted_class_indices_and_the_mapping_is_stored_and_printed_once(iris):
    path, state = iris
    args = ("train", "--data", str(path), "--loss", "cross_entropy", "--lr", "0.3", "--epochs", "4", "--no-shuffle")
    first = run(*args, "--json", state=state)
    assert first.exit_code == 0, first.stderr
    assert "classes: 0 = setosa, 1 = versicolor, 2 = virginica" in first.stderr
    assert saved(state)["classes"] == NAMES
    x, t = table()
    net = plain()
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert first.json()["losses"] == losses
    again = run(*args, "--json", state=state)
    assert again.exit_code == 0 and "classes:" not in again.stderr  # printed once, when first stored


def test_the_stored_mapping_reads_a_later_file_with_fewer_labels(iris, tmp_path):
    path, state = iris
    run_json("train-step", "--data", str(path), "--loss", "cross_entropy", "--lr", "0.1", state=state)
    later = tmp_path / "test.csv"
    later.write_text("a,b,species\n6.0,3.0,virginica\n5.0,3.4,versicolor\n")
    back = run_json("backward", "--data", str(later), "--loss", "cross_entropy", state=state)
    assert back["t"] == [[2.0], [1.0]]  # by the stored names, not this file's sorted two
    assert saved(state)["classes"] == NAMES


def test_a_whole_number_class_column_is_class_indices(tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("1.0,2.0,2\n0.5,-1.0,0\n-0.3,0.8,1\n")
    state = tmp_path / "net.safetensors"
    run_json("inspect", "2", "4", "3", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state)
    back = run_json("backward", "--data", str(path), "--loss", "cross_entropy", state=state)
    net = plain()
    value = F.cross_entropy(net(torch.tensor([[1.0, 2.0], [0.5, -1.0], [-0.3, 0.8]])), torch.tensor([2, 0, 1]))
    value.backward()
    exact(back["loss"], value)
    for layer, linear in zip(back["layers"], [net[0], net[2]], strict=True):
        exact(layer["weight_grad"], linear.weight.grad)


@pytest.mark.parametrize(
    "stored, text, loss, expected",
    [
        (True, "a,b,s\n1,2,setosa\n1,1,daisy\n", "cross_entropy", "line 3: label 'daisy' is not one of the network's"),
        (False, "a,b,s\n1,2,a\n1,1,b\n2,2,c\n3,3,d\n", "cross_entropy", "line 5: label 'd' is class 3 of 4"),
        (False, "a,b,s\n1,2,setosa\n", "mse", "the last column holds class labels ('setosa', ...)"),
        (False, "a,b,s\n1,2,setosa\n1,1,\n", "cross_entropy", "line 3 column 3: empty class label"),
        (False, "1,2,2.5\n", "cross_entropy", "line 1 column 3: --loss cross_entropy needs a class index"),
        (True, "1,2,3\n", "nll", "line 1 column 3: class 3 is out of range"),
    ],
)
@pytest.mark.parametrize("command", ["train", "train-step", "backward"])
def test_bad_labels_are_one_line_exit_2_naming_the_file_and_line_and_change_nothing(
    iris, tmp_path, command, stored, text, loss, expected
):
    path, state = iris
    if stored:  # an earlier run stored the three names
        run_json("train-step", "--data", str(path), "--loss", "cross_entropy", "--lr", "0.1", state=state)
    path = tmp_path / "bad.csv"
    path.write_text(text)
    before = state.read_bytes()
    extra = ["--lr", "0.1"] if command != "backward" else []
    result = run(command, "--data", str(path), "--loss", loss, *extra, state=state)
    assert result.exit_code == 2, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert f"--data {path}" in line and expected in line, line
    assert state.read_bytes() == before


@pytest.mark.parametrize("command", ["backward", "train-step", "graph"])
def test_data_on_the_stepping_commands_is_the_same_as_x_and_t(iris, tmp_path, command):
    path, state = iris
    x, t = table()
    twin = tmp_path / "twin.safetensors"
    run_json("inspect", "2", "4", "3", "--seed", "0", "--activation", "tanh", "--activation", "none", state=twin)
    extra = ["--lr", "0.1"] if command == "train-step" else []
    from_file = run_json(command, "--data", str(path), "--loss", "cross_entropy", *extra, state=state)
    typed = run_json(
        command,
        "--x",
        rows(x.tolist()),
        "--t",
        ";".join(map(str, t.tolist())),
        "--loss",
        "cross_entropy",
        *extra,
        state=twin,
    )
    value = F.cross_entropy(plain()(x), t)
    exact(from_file["loss"], value)
    assert from_file == typed


def test_forward_data_csv_writes_one_row_of_outputs_per_sample(iris):
    path, state = iris
    out = run("forward", "--data", str(path), "--csv", state=state)
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "out0,out1,out2"
    got = torch.tensor([[float(v) for v in line.split(",")] for line in lines[1:]])
    x, _ = table()
    exact(got.tolist(), plain()(x))  # shortest float32 text reads back as the very value
    inputs_only = run_json("forward", "--data", "-", state=state, input="5.1,3.5\n7.0,3.2\n")
    exact(inputs_only["output"], plain()(torch.tensor([[5.1, 3.5], [7.0, 3.2]])))


def test_plot_takes_a_labelled_file(iris):
    path, state = iris
    out = run_json("plot", "--data", str(path), state=state)
    _, t = table()
    assert out["data_t"] == [[float(v)] for v in t.tolist()]


@pytest.mark.parametrize("command", ["forward", "backward", "train-step", "graph"])
def test_data_and_x_together_are_refused(iris, command):
    path, state = iris
    before = state.read_bytes()
    result = run(command, "--data", str(path), "--x", "1,2", state=state)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"{command}: give --data or --x/--t, not both" in line
    assert state.read_bytes() == before
