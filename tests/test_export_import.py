"""export and import: linctl's network in and out of plain PyTorch, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import f32, program_state, run, run_json, saved


def _plain(sizes: list[int], acts: list[torch.nn.Module]) -> torch.nn.Module:
    if len(sizes) == 2:
        return torch.nn.Linear(sizes[0], sizes[1])
    modules: list[torch.nn.Module] = []
    for k in range(len(sizes) - 1):
        modules.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(acts):
            modules.append(acts[k])
    return torch.nn.Sequential(*modules)


@pytest.mark.parametrize(
    ("args", "sizes", "acts"),
    [
        (["3", "2", "--seed", "0"], [3, 2], []),
        (["2", "3", "1", "--seed", "2", "--activation", "tanh", "--activation", "sigmoid"], [2, 3, 1], "ts"),
    ],
)
def test_export_pt_and_safetensors_load_into_plain_modules_with_the_same_outputs(tmp_path, state, args, sizes, acts):
    run_json("inspect", *args, state=state)
    x = ",".join(["1"] * sizes[0])
    run_json("train-step", "--x", x, "--t", ",".join(["0.5"] * sizes[-1]), "--lr", "0.1", state=state)
    run_json("export", str(tmp_path / "m.pt"), state=state)
    run_json("export", str(tmp_path / "m.safetensors"), state=state)
    modules = [torch.nn.Tanh(), torch.nn.Sigmoid()] if acts else []
    a, b = _plain(sizes, modules), _plain(sizes, [torch.nn.Tanh(), torch.nn.Sigmoid()] if acts else [])
    a.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    b.load_state_dict(load_file(tmp_path / "m.safetensors"))
    params = saved(state)["params"]
    for name, value in a.state_dict().items():
        assert torch.equal(value, params[name])
    inputs = f32([[0.5] * sizes[0], [-1.0] * sizes[0]])
    out = run_json("forward", "--x", ";".join(",".join(repr(v) for v in row) for row in inputs.tolist()), state=state)
    with torch.no_grad():
        assert torch.equal(a(inputs), f32(out["output"]))
        assert torch.equal(b(inputs), f32(out["output"]))


def test_export_json_and_the_optimizer(tmp_path, state):
    run_json("inspect", "3", "2", "--seed", "0", state=state)
    run_json("train-step", "--x", "1,2,3", "--t", "1,0", "--lr", "0.1", "--momentum", "0.9", state=state)
    run_json("export", str(tmp_path / "m.json"), state=state)
    data = saved(state)
    written = json.loads((tmp_path / "m.json").read_text())
    assert set(written) == {"weight", "bias"}
    assert torch.equal(f32(written["weight"]), data["params"]["weight"])
    out = run_json("export", str(tmp_path / "m.pt"), "--with-optimizer", state=state)
    assert out["files"] == [str(tmp_path / "m.pt"), str(tmp_path / "m.optimizer.pt")]
    net = torch.nn.Linear(3, 2)
    net.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt.load_state_dict(torch.load(tmp_path / "m.optimizer.pt", weights_only=True))
    assert torch.equal(
        opt.state_dict()["state"][0]["momentum_buffer"], data["optimizer"]["state"]["state"][0]["momentum_buffer"]
    )


def test_export_refuses_other_kinds(tmp_path, state):
    run_json("inspect", "3", "2", state=state)
    assert run("export", str(tmp_path / "m.txt"), state=state).exit_code == 2
    assert run("export", str(tmp_path / "m.json"), "--with-optimizer", state=state).exit_code == 2


def _conv_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    )


def test_import_lists_the_linear_pairs_only(tmp_path, state):
    model = _conv_model()
    torch.save(model.state_dict(), tmp_path / "conv.pt")
    out = run_json("import", str(tmp_path / "conv.pt"), state=state)
    assert [(p["key"], p["in_features"], p["out_features"]) for p in out["linears"]] == [("2", 8, 5), ("4", 5, 3)]
    assert not state.exists()


@pytest.mark.parametrize("kind", [".pt", ".safetensors"])
def test_import_by_key_builds_the_stack_that_computes_as_the_model_s_layers(tmp_path, state, kind):
    model = _conv_model()
    source = tmp_path / f"conv{kind}"
    if kind == ".pt":
        torch.save(model.state_dict(), source)
    else:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, source)
    run_json("inspect", "2", "1", "--seed", "0", state=state)
    before = saved(state)
    out = run_json(
        "import", str(source), "--key", "2", "--key", "4", "--activation", "relu", "--activation", "none", state=state
    )
    assert out["sizes"] == [8, 5, 3]
    x = torch.linspace(-1, 1, 16).reshape(2, 8)
    with torch.no_grad():
        expected = model[4](model[3](model[2](x)))
    got = run_json("forward", "--x", ";".join(",".join(repr(v) for v in row) for row in x.tolist()), state=state)
    assert torch.equal(f32(got["output"]), expected)
    run_json("undo", state=state)  # the previous network comes back
    assert torch.equal(saved(state)["params"]["weight"], before["params"]["weight"])


def test_import_one_layer_and_refusals(tmp_path, state):
    model = _conv_model()
    torch.save(model.state_dict(), tmp_path / "conv.pt")
    out = run_json("import", str(tmp_path / "conv.pt"), "--key", "4", state=state)
    assert out["structure"] == "Linear(in_features=5, out_features=3, bias=True)"
    assert torch.equal(saved(state)["params"]["weight"], model[4].weight.detach())
    # sizes that do not chain, an unknown key, a whole pickled module
    assert run("import", str(tmp_path / "conv.pt"), "--key", "4", "--key", "2", state=state).exit_code == 2
    assert run("import", str(tmp_path / "conv.pt"), "--key", "0", state=state).exit_code == 2
    torch.save(model, tmp_path / "whole.pt")
    result = run("import", str(tmp_path / "whole.pt"), state=state)
    assert result.exit_code == 1 and "state_dict" in result.stderr and "Traceback" not in result.stderr


def test_export_then_import_round_trips_exactly(tmp_path, state):
    run_json("inspect", "2", "3", "1", "--seed", "4", "--activation", "tanh", state=state)
    run_json("export", str(tmp_path / "m.safetensors"), state=state)
    other = tmp_path / "other.safetensors"
    run_json("import", str(tmp_path / "m.safetensors"), "--key", "0", "--key", "2", "--activation", "tanh", state=other)
    a, b = saved(state)["params"], saved(other)["params"]
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert isinstance(Path(other), Path)


def test_the_python_export_of_a_mixed_session_equals_linctl_exactly(tmp_path, state):
    data = Path(__file__).resolve().parent.parent / "examples" / "line.csv"
    run_json("inspect", "3", "1", "--seed", "0", state=state)
    run_json("backward", "--x", "1,2,3", "--t", "1", state=state)
    run_json("backward", "--x", "0.5,-1,2", "--t", "0", state=state)
    run_json("step", "--lr", "0.05", "--momentum", "0.9", state=state)
    run_json(
        "train", "--data", str(data), "--epochs", "3", "--batch-size", "8", "--lr", "0.05", "--seed", "0", state=state
    )
    run_json("set", "weight[0,1]=0.5", state=state)
    run_json("undo", state=state)  # the set is undone: not replayed
    run_json("step", "--optimizer", "adam", "--lr", "0.01", state=state)
    out = run_json("export", "--python", str(tmp_path / "session.py"), state=state)
    text = (tmp_path / "session.py").read_text()
    assert "torch.manual_seed(0)" in text and "# linctl train --data" in text and "weight[0,1]" not in text
    assert "import linctl" not in text and "from linctl" not in text
    result = program_state(Path(out["program"]), fresh=True)  # a fresh interpreter: plain torch alone
    params = saved(state)["params"]
    assert set(result) == set(params)
    for name, value in params.items():
        assert torch.equal(f32(result[name]), value), name


def test_the_python_export_of_an_imported_stack_starts_from_its_weights(tmp_path, state):
    model = _conv_model()
    torch.save(model.state_dict(), tmp_path / "conv.pt")
    run_json(
        "import",
        str(tmp_path / "conv.pt"),
        "--key",
        "2",
        "--key",
        "4",
        "--activation",
        "relu",
        "--activation",
        "none",
        state=state,
    )
    run_json(
        "train-step", "--x", ",".join(["0.5"] * 8), "--t", "1,0,0", "--lr", "0.1", "--momentum", "0.5", state=state
    )
    run_json("train-step", "--t", "0,1,0", state=state)
    run_json(
        "train",
        "--x",
        ",".join(["1"] * 8),
        "--t",
        "0,0,1",
        "--steps",
        "3",
        "--optimizer",
        "rmsprop",
        "--lr",
        "0.01",
        state=state,
    )
    out = run_json("export", "--python", str(tmp_path / "s.py"), state=state)
    assert (tmp_path / "s.safetensors").exists()
    result = program_state(Path(out["program"]))
    params = saved(state)["params"]
    for name, value in params.items():
        assert torch.equal(f32(result[name]), value), name


def test_a_change_that_cannot_be_replayed_is_loaded_from_its_snapshot(tmp_path, state):
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    run_json(
        "train", "--x", "1,2;3,4;5,6", "--t", "1,0;0,1;1,1", "--steps", "4", "--lr", "0.1", state=state
    )  # no --seed
    run_json("train-step", "--lr", "0.05", "--momentum", "0.9", state=state)
    out = run_json("export", "--python", str(tmp_path / "s.py"), state=state)
    text = (tmp_path / "s.py").read_text()
    assert "# not replayed: train shuffled without --seed" in text
    result = program_state(Path(out["program"]))
    params = saved(state)["params"]
    for name, value in params.items():
        assert torch.equal(f32(result[name]), value), name
