"""`linctl inspect IN OUT` and `linctl inspect`: numbers checked against plain torch."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from conftest import exact, run, run_json, saved
from linctl.render.cells import fmt

INSPECT_KEYS = {
    "structure",
    "in_features",
    "out_features",
    "bias_enabled",
    "activation",
    "weight",
    "bias",
    "weight_grad",
    "bias_grad",
    "step",
    "state",
}


def load_state(path: Path) -> dict:
    """The state file as it is on disk, loaded the safe way."""
    return saved(path)


def stored(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    data = load_state(path)
    return data["params"]["weight"], data["params"].get("bias")


def seeded(seed: int, n_in: int, n_out: int, **kwargs) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(n_in, n_out, **kwargs)


# --------------------------------------------------------------------------
# building


@pytest.mark.parametrize("n_in,n_out,seed", [(2, 1, 0), (2, 2, 1), (2, 3, 7), (3, 2, 42)])
def test_seed_gives_torchs_numbers(state, n_in, n_out, seed):
    data = run_json("inspect", str(n_in), str(n_out), "--seed", str(seed), state=state)
    net = seeded(seed, n_in, n_out)
    exact(data["weight"], net.weight)
    exact(data["bias"], net.bias)
    assert data["in_features"] == n_in and data["out_features"] == n_out
    assert data["structure"] == str(net)
    # and on disk, bit for bit
    weight, bias = stored(state)
    assert weight.dtype == torch.float32
    assert torch.equal(weight, net.weight.detach())
    assert torch.equal(bias, net.bias.detach())


def test_different_seeds_differ(state, tmp_path):
    a = run_json("inspect", "3", "2", "--seed", "1", state=state)
    b = run_json("inspect", "3", "2", "--seed", "2", state=tmp_path / "other.pt")
    assert a["weight"] != b["weight"]


def test_default_init_is_torchs_uniform_bound(state):
    data = run_json("inspect", "16", "8", state=state)
    bound = 1 / math.sqrt(16)
    weight, bias = torch.tensor(data["weight"]), torch.tensor(data["bias"])
    assert weight.shape == (8, 16) and bias.shape == (8,)
    assert weight.abs().max() <= bound + 1e-7
    assert bias.abs().max() <= bound + 1e-7
    assert weight.std() > 0.05  # not zeros, not a constant
    on_disk_w, on_disk_b = stored(state)
    exact(data["weight"], on_disk_w)
    exact(data["bias"], on_disk_b)


def test_json_keys_and_values_on_build(state):
    data = run_json("inspect", "3", "2", "--seed", "3", state=state)
    assert set(data) >= INSPECT_KEYS
    net = seeded(3, 3, 2)
    assert data["structure"] == str(net) == "Linear(in_features=3, out_features=2, bias=True)"
    assert data["bias_enabled"] is True
    assert data["activation"] == "none"
    assert data["weight_grad"] is None and data["bias_grad"] is None
    assert data["step"] == 0
    assert data["state"] == str(state)


def test_explicit_weight_and_bias(state):
    data = run_json("inspect", "3", "2", "--weight", "0.1,-0.2,0.3;4,5e-1,-6", "--bias", "0.5,-1.5", state=state)
    expected_w = torch.tensor([[0.1, -0.2, 0.3], [4.0, 0.5, -6.0]])
    expected_b = torch.tensor([0.5, -1.5])
    exact(data["weight"], expected_w)
    exact(data["bias"], expected_b)
    weight, bias = stored(state)
    assert torch.equal(weight, expected_w)
    assert torch.equal(bias, expected_b)


def test_weight_alone_sets_the_shape(state):
    """--weight without IN OUT: the shape is read from the rows, (OUT, IN)."""
    data = run_json("inspect", "--weight", "1,2,3;4,5,6", state=state)
    assert data["in_features"] == 3 and data["out_features"] == 2
    exact(data["weight"], torch.tensor([[1.0, 2, 3], [4, 5, 6]]))


def test_weight_with_seed_keeps_seeded_bias(state):
    data = run_json("inspect", "2", "2", "--seed", "5", "--weight", "1,2;3,4", state=state)
    net = seeded(5, 2, 2)
    exact(data["bias"], net.bias)
    exact(data["weight"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["3", "2", "--weight", "1,2;3,4"], "--weight"),  # (2, 2) for (2, 3)
        (["3", "2", "--weight", "1,2,3"], "--weight"),  # one row for OUT=2
        (["2", "3", "--weight", "1,2,3;4,5,6"], "--weight"),  # (IN, OUT) instead of (OUT, IN)
        (["3", "2", "--bias", "1,2,3"], "--bias"),
        (["3", "2", "--bias", "1"], "--bias"),
    ],
)
def test_shape_checks(state, args, fragment):
    result = run("inspect", *args, state=state)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not state.exists()


def test_no_bias(state):
    data = run_json("inspect", "3", "2", "--seed", "4", "--no-bias", state=state)
    net = seeded(4, 3, 2, bias=False)
    assert data["structure"] == str(net) == "Linear(in_features=3, out_features=2, bias=False)"
    assert data["bias_enabled"] is False
    assert data["bias"] is None and data["bias_grad"] is None
    exact(data["weight"], net.weight)
    on_disk = load_state(state)
    assert "bias" not in on_disk["params"] or on_disk["params"]["bias"] is None
    assert torch.equal(on_disk["params"]["weight"], net.weight.detach())
    view = run("inspect", state=state)
    assert view.exit_code == 0
    assert str(net) in view.stdout


@pytest.mark.parametrize("activation", ["none", "sigmoid", "relu", "tanh"])
def test_activation_is_stored(state, activation):
    data = run_json("inspect", "2", "1", "--activation", activation, state=state)
    assert data["activation"] == activation
    again = run_json("inspect", state=state)
    assert again["activation"] == activation
    assert load_state(state)["layers"][0]["activation"] == activation


def test_dtype_float64(state):
    data = run_json("inspect", "3", "2", "--seed", "9", "--dtype", "float64", state=state)
    weight, bias = stored(state)
    assert weight.dtype == torch.float64 and bias.dtype == torch.float64
    exact(data["weight"], weight)
    assert weight.abs().max() <= 1 / math.sqrt(3)
    # a float64 network really computes in float64
    x = torch.tensor([[1.0, 1e-9, 1.0]], dtype=torch.float64)
    out = run_json("forward", "--x", "1,1e-9,1", state=state)
    exact(out["linear"], torch.nn.functional.linear(x, weight, bias))  # what nn.Linear runs, bit for bit
    # and not the float32 numbers: 1e-9 survives only in float64
    assert not torch.equal(
        torch.tensor(out["linear"], dtype=torch.float64),
        torch.nn.functional.linear(x.float(), weight.float(), bias.float()).double(),
    )


# --------------------------------------------------------------------------
# inspect without arguments


def test_inspect_shows_saved_network(state):
    run_json("inspect", "4", "3", "--seed", "11", "--activation", "tanh", state=state)
    data = run_json("inspect", state=state)
    net = seeded(11, 4, 3)
    assert set(data) >= INSPECT_KEYS
    assert data["structure"] == str(net)
    assert data["activation"] == "tanh"
    exact(data["weight"], net.weight)
    exact(data["bias"], net.bias)
    assert data["weight_grad"] is None and data["bias_grad"] is None
    assert data["step"] == 0
    assert data["state"] == str(state)


def test_inspect_does_not_change_the_file(state):
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    before = state.read_bytes()
    assert run("inspect", state=state).exit_code == 0
    assert run("inspect", "--json", state=state).exit_code == 0
    assert state.read_bytes() == before


def test_inspect_without_network_is_exit_1_with_hint(state):
    result = run("inspect", state=state)
    assert result.exit_code == 1
    assert str(state) in result.stderr
    assert "linctl inspect IN OUT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not state.exists()


def test_build_options_without_sizes_are_usage_errors(state):
    run_json("inspect", "2", "2", state=state)
    before = state.read_bytes()
    for args in (["--seed", "1"], ["--no-bias"], ["--activation", "relu"], ["--bias", "1,2"]):
        result = run("inspect", *args, state=state)
        assert result.exit_code == 2, args
        assert len(result.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == before


def test_only_in_without_out_is_usage_error(state):
    result = run("inspect", "3", state=state)
    assert result.exit_code == 2
    assert "OUT" in result.stderr
    assert not state.exists()


# --------------------------------------------------------------------------
# the rich view


def test_view_shows_the_facts(state):
    net = seeded(21, 3, 2)
    result = run("inspect", "3", "2", "--seed", "21", state=state)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert str(net) in out  # Linear(in_features=3, out_features=2, bias=True), exactly
    assert "shape (2, 3)" in out  # weight (OUT, IN)
    assert "shape (2,)" in out  # bias (OUT,)
    assert "requires_grad" in out and "True" in out
    assert "weight.grad: None" in out and "bias.grad: None" in out
    # the view prints 4 decimals: its text is compared with plain torch's values written so
    bound = re.search(r"±\s*([0-9.]+)", out)
    assert bound is not None
    assert bound.group(1) == fmt(1 / math.sqrt(3))
    # the actual min and max beside the bound
    shown = re.search(r"min\s+(-?[0-9.]+)\s+max\s+(-?[0-9.]+)", out)
    assert shown is not None
    assert shown.group(1) == fmt(net.weight.detach().min().item())
    assert shown.group(2) == fmt(net.weight.detach().max().item())
    assert "8" in out  # parameter count 2*3 + 2
    assert re.search(r"parameters\s+8\b", out)
    # the weight table: each output row with its numbers
    for j in range(2):
        row = re.search(rf"out\[{j}\]((?:\s+-?[0-9.]+){{3}})", out)
        assert row is not None, out
        assert row.group(1).split() == [fmt(v) for v in net.weight[j].tolist()]
    assert "".join(str(state).split()) in "".join(out.split())  # the state path (maybe wrapped)
    assert re.search(r"step\s+0\b", out)


def test_view_of_saved_network_matches_build_view(state):
    first = run("inspect", "2", "3", "--seed", "2", state=state)
    second = run("inspect", state=state)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout


def test_large_layer_is_summarised(state):
    result = run("inspect", "4096", "4096", state=state)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert len(lines) < 200  # not 4096 rows
    assert len(out) < 50_000
    assert "Linear(in_features=4096, out_features=4096, bias=True)" in out
    assert "shape (4096, 4096)" in out
    assert "out[0]" in out and "out[4095]" in out
    assert "out[2000]" not in out and "in[2000]" not in out
    assert "16,781,312" in out or "16781312" in out  # 4096*4096 + 4096 parameters
    weight, bias = stored(state)
    assert weight.shape == (4096, 4096) and bias.shape == (4096,)
    assert weight.abs().max() <= 1 / 64 + 1e-7
    # the shown corner values are the real ones
    row = re.search(r"out\[0\]\s+(-?[0-9.]+)", out)
    assert row.group(1) == fmt(weight[0, 0].item())


# --------------------------------------------------------------------------
# replacing a network


def test_replacing_keeps_a_backup(state):
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    old_bytes = state.read_bytes()
    result = run("inspect", "3", "1", "--seed", "2", state=state)
    assert result.exit_code == 0, result.stderr
    backup = state.with_name(state.name + ".bak")
    assert backup.exists()
    assert str(backup) in result.stderr
    assert str(backup) not in result.stdout
    # the backup is the old network, loadable, with the old numbers
    old_net, new_net = seeded(1, 2, 2), seeded(2, 3, 1)
    w, b = stored(backup)
    assert torch.equal(w, old_net.weight.detach()) and torch.equal(b, old_net.bias.detach())
    assert backup.read_bytes() == old_bytes
    w, b = stored(state)
    assert torch.equal(w, new_net.weight.detach()) and torch.equal(b, new_net.bias.detach())
    # and linctl itself can read the backup
    data = run_json("inspect", state=backup)
    exact(data["weight"], old_net.weight)


def test_first_build_has_no_backup_and_no_note(state):
    result = run("inspect", "2", "2", state=state)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert not state.with_name(state.name + ".bak").exists()


def test_replacing_in_json_mode_keeps_stdout_clean(state):
    run_json("inspect", "2", "2", "--seed", "1", state=state)
    result = run("inspect", "2", "2", "--seed", "2", "--json", state=state)
    assert result.exit_code == 0
    data = result.json()  # stdout is exactly one JSON object
    assert data["state"] == str(state)
    assert ".bak" in result.stderr


def test_state_file_contents(state):
    run_json("inspect", "3", "2", "--seed", "8", "--activation", "sigmoid", state=state)
    data = load_state(state)
    assert isinstance(data["format"], int) and data["format"] >= 1
    layer = data["layers"][0]
    assert (layer["in_features"], layer["out_features"], layer["bias"], layer["activation"]) == (3, 2, True, "sigmoid")
    assert all(g is None for g in data["grads"].values())
    assert data["step"] == 0
    net = seeded(8, 3, 2)
    assert torch.equal(data["params"]["weight"], net.weight.detach())
    assert torch.equal(data["params"]["bias"], net.bias.detach())
    assert not data["params"]["weight"].requires_grad
