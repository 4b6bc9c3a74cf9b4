"""Issue 17: `import FILE --all` builds the whole chain of Linear pairs the listing shows, in order (sizes checked
to chain); a layer without a bias in the file says so on stderr; the listing gives each weight's and bias's shape."""

from __future__ import annotations

import torch
from torch import nn

from conftest import exact, rows, run, run_json

X = [[1.0, 2.0, -1.0, 0.5], [0.3, -0.7, 2.0, 1.5]]


def saved_net(tmp_path, net: nn.Module):
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return path


def test_import_all_builds_the_chain_as_torch_runs_it(tmp_path):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3), nn.Softmax(dim=1))
    path = saved_net(tmp_path, net)
    listing = run_json("import", str(path))
    assert [(e["weight_shape"], e["bias_shape"]) for e in listing["linears"]] == [
        ([8, 4], [8]),
        ([6, 8], [6]),
        ([3, 6], [3]),
    ]
    state = tmp_path / "net.safetensors"
    built = run("import", str(path), "--all", "--activation", "relu", "--activation", "relu", "--activation",
                "softmax", "--json", state=state)  # fmt: skip
    assert built.exit_code == 0, built.stderr
    assert built.json()["structure"] == str(net)
    out = run_json("forward", "--x", rows(X), state=state)
    exact(out["output"], net(torch.tensor(X)))


def test_a_layer_without_a_bias_says_so_and_is_built_without_one(tmp_path):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Tanh(), nn.Linear(5, 2))
    path = saved_net(tmp_path, net)
    state = tmp_path / "net.safetensors"
    built = run("import", str(path), "--all", "--activation", "tanh", "--activation", "none", state=state)
    assert built.exit_code == 0, built.stderr
    assert "0: no 0.bias in the file, so it is built without one (bias=False)" in built.stderr
    out = run_json("forward", "--x", rows(X), state=state)
    exact(out["output"], net(torch.tensor(X)))


def test_pairs_that_do_not_chain_or_mixed_options_are_one_line_exit_2(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"a.weight": torch.ones(3, 4), "a.bias": torch.zeros(3), "b.weight": torch.ones(2, 5)}, path)
    state = tmp_path / "net.safetensors"
    for args, expected in (
        (["--all"], "--key: 'b' takes 5 inputs but 'a' gives 3; the keys must chain"),
        (["--all", "--key", "a"], "import: give --key PREFIX or --all, not both"),
    ):
        result = run("import", str(path), *args, state=state)
        assert result.exit_code == 2
        (line,) = result.stderr.strip().splitlines()
        assert expected in line, line
        assert not state.exists()


def test_plot_of_a_classifier_colours_the_plane_by_predicted_class(tmp_path):
    """Not an import: the last of issue 17's pieces, the plane by predicted class, checked against plain torch."""
    state = tmp_path / "net.safetensors"
    data = tmp_path / "d.csv"
    data.write_text("a,b,kind\n1,2,cat\n-1,0.5,dog\n0.3,-2,eel\n2,-1,cat\n")
    assert run("inspect", "2", "5", "3", "--seed", "2", "--activation", "tanh", "--activation", "none",
               state=state).exit_code == 0  # fmt: skip
    run_json("train-step", "--data", str(data), "--loss", "cross_entropy", "--lr", "0.5", state=state)
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0], [2.0, -1.0]])
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    out = run_json("plot", "--data", str(data), state=state)
    points = torch.tensor(out["points"])
    probabilities = torch.softmax(net(points), dim=1)
    assert out["predicted"] == probabilities.argmax(dim=1).tolist()
    exact(out["probability"], probabilities.max(dim=1).values)
    assert out["classes"] == ["cat", "dog", "eel"]
    shown = run("plot", "--data", str(data), state=state).stdout
    assert "predicted class over the input plane" in shown
    assert "0 = cat" in shown and "2 = eel" in shown and "●" in shown
