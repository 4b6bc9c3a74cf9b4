"""history, undo, diff, set: every change recorded, listed, compared and undone."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import run, run_json, saved

X = "1,2,-1"
T = "0.5,-0.5"
W0 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
B0 = [0.05, -0.1]
W0_TEXT = "0.1,-0.2,0.3;0.4,0.5,-0.6"
B0_TEXT = "0.05,-0.1"


def load(path: Path) -> dict:
    return saved(path)


def index(state: Path) -> list[dict]:
    path = Path(str(state) + ".history") / "index.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def snapshots(state: Path) -> list[Path]:
    return sorted(Path(str(state) + ".history").glob("*.pt"))


def build(state: Path) -> None:
    result = run("inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT, "--json", state=state)
    assert result.exit_code == 0, result.stderr


def ok(*args, state):
    result = run(*args, state=state)
    assert result.exit_code == 0, result.stderr
    return result


def equal_states(a: dict, b: dict) -> None:
    """Parameters, gradients, optimizer state and step count bit for bit."""
    assert a["step"] == b["step"]
    for group in ("params", "grads"):
        assert a[group].keys() == b[group].keys()
        for key in a[group]:
            if a[group][key] is None or b[group][key] is None:
                assert a[group][key] is None and b[group][key] is None, (group, key)
            else:
                assert torch.equal(a[group][key], b[group][key]), (group, key)
    assert _plain(a["optimizer"]) == _plain(b["optimizer"])


def _plain(obj):
    """Nested optimizer state with tensors turned into lists, for ==."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", obj.dtype, obj.tolist())
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def plain_net(weight, bias):
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(weight))
        net.bias.copy_(torch.as_tensor(bias))
    return net


def snapshot(net) -> dict:
    """Copies of a plain torch.nn.Linear's weight, bias and their gradients."""

    def copy(t):
        return None if t is None else t.detach().clone()

    return {"weight": copy(net.weight), "bias": copy(net.bias), "weight_grad": copy(net.weight.grad)}


def figures(after: dict, before: dict | None) -> dict:
    """The figures of one history entry, computed here from plain torch tensors (float32, as linctl keeps them)."""
    return {
        "weight_change": None if before is None else float((after["weight"] - before["weight"]).norm()),
        "bias_change": None if before is None else float((after["bias"] - before["bias"]).norm()),
        "weight_norm": float(torch.linalg.norm(after["weight"])),
        "bias_norm": float(torch.linalg.norm(after["bias"])),
        "weight_grad_norm": None if after["weight_grad"] is None else float(torch.linalg.norm(after["weight_grad"])),
    }


# --------------------------------------------------------------------------
# history


def test_history_figures_equal_plain_torch(state):
    """A run of every changing command, repeated in plain torch here; every figure is equal, not close.

    linctl computes each figure as float(tensor.norm()) on the float32 tensors,
    and torch's own SGD step and autograd on the same numbers give the same
    bits, so == is the right comparison.
    """
    x, t = torch.tensor([[1.0, 2, -1]]), torch.tensor([[0.5, -0.5]])
    x2, t2 = torch.tensor([[0.5, -1, 2]]), torch.tensor([[1.0, 0.25]])
    xs, ts = torch.tensor([[1.0, 2, -1], [0, 1, 0]]), torch.tensor([[0.5, -0.5], [1, 1]])
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    expected = []  # (command, step, loss, lr, figures)

    def record(command, step, loss, lr, before):
        after = snapshot(net)
        expected.append((command, step, loss, lr, figures(after, before)))
        return after

    current = record("inspect", 0, None, None, None)
    loss = F.mse_loss(net(x), t)
    loss.backward()
    current = record("backward", 0, loss.item(), None, current)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    opt.step()
    current = record("step", 1, None, 0.1, current)
    loss = F.mse_loss(net(x2), t2)
    loss.backward()  # adds to the gradients already there
    current = record("backward", 1, loss.item(), None, current)
    for group in opt.param_groups:
        group["lr"] = 0.05
    opt.zero_grad()
    loss = F.mse_loss(net(x2), t2)
    loss.backward()
    opt.step()
    current = record("train-step", 2, loss.item(), 0.05, current)
    opt.zero_grad()
    current = record("zero-grad", 2, None, None, current)
    with torch.no_grad():
        net.weight[1, 2] = 2.5
    current = record("set", 2, None, None, current)
    after_set = current
    # train --steps 3 --batch-size 1 --seed 0: the loop of docs/tour.md, in torch
    for group in opt.param_groups:
        group["lr"] = 0.2
    generator = torch.Generator().manual_seed(0)
    done = 0
    while done < 3:
        for i in torch.randperm(2, generator=generator).split(1):
            if done == 3:
                break
            opt.zero_grad()
            loss = F.mse_loss(net(xs[i]), ts[i])
            loss.backward()
            opt.step()
            done += 1
    current = record("train", 5, loss.item(), 0.2, current)
    # undo: back to the state after set, its figures measured from the trained one
    expected.append(("undo", 2, None, None, figures(after_set, current)))
    current = after_set
    # a new network from typed weights: no change measured from the old one
    net = plain_net(W0, B0)
    record("inspect", 0, None, None, None)

    commands = [
        ["inspect", "3", "2", "--seed", "0"],
        ["backward", "--x", X, "--t", T],
        ["step", "--lr", "0.1"],
        ["backward", "--x", "0.5,-1,2", "--t", "1,0.25"],
        ["train-step", "--x", "0.5,-1,2", "--t", "1,0.25", "--lr", "0.05"],
        ["zero-grad"],
        ["set", "weight[1,2]=2.5"],
        [
            "train",
            "--x",
            "1,2,-1;0,1,0",
            "--t",
            "0.5,-0.5;1,1",
            "--steps",
            "3",
            "--batch-size",
            "1",
            "--seed",
            "0",
            "--lr",
            "0.2",
        ],
        ["undo"],
        ["inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT],
    ]
    for args in commands:
        ok(*args, state=state)

    entries = run_json("history", state=state)["entries"]
    assert [e["id"] for e in entries] == list(range(1, len(commands) + 1))
    for entry, (command, step, loss, lr, want) in zip(entries, expected, strict=True):
        assert entry["command"].split()[1] == command
        assert entry["step"] == step, entry
        assert entry["loss"] == loss, (command, entry["loss"], loss)
        assert entry["lr"] == lr
        for key, value in want.items():
            assert entry[key] == value, (entry["id"], command, key, entry[key], value)
    # the figures say what the commands did
    assert entries[1]["weight_change"] == 0.0 and entries[5]["weight_change"] == 0.0  # backward, zero-grad
    assert entries[2]["weight_change"] > 0 and entries[5]["weight_grad_norm"] is None
    assert entries[6]["bias_change"] == 0.0 and entries[6]["weight_change"] > 0  # set weight[1,2]

    # --csv: parseable, the same figures
    result = ok("history", "--csv", state=state)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert int(row["id"]) == entry["id"] and int(row["step"]) == entry["step"]
        for key in ("loss", "lr", "weight_change", "bias_change", "weight_norm", "weight_grad_norm"):
            assert row[key] == ("" if entry[key] is None else repr(entry[key])), (key, row[key], entry[key])

    # the table
    table = ok("history", state=state).stdout
    for word in ("train-step", "zero-grad", "backward", "undo", "set"):
        assert word in table
    assert f"{expected[1][2]:.3g}" in table
    assert "--last" not in table
    assert [e["id"] for e in run_json("history", "--last", "3", state=state)["entries"]] == [8, 9, 10]


def test_history_figures_of_a_large_layer(state):
    """Over 2**20 weights, linctl sums |ΔW|² in float64 a block of rows at a time (no full-size temporary)."""
    n_in, n_out = 1024, 1025
    assert n_in * n_out > 2**20
    ok("inspect", str(n_in), str(n_out), "--seed", "3", state=state)
    x = torch.linspace(-1, 1, n_in).view(1, n_in)
    t = torch.zeros(1, n_out)
    ok(
        "train-step",
        "--x",
        ",".join(repr(v) for v in x[0].tolist()),
        "--t",
        ",".join(["0"] * n_out),
        "--lr",
        "0.5",
        state=state,
    )
    torch.manual_seed(3)
    net = torch.nn.Linear(n_in, n_out)
    before = snapshot(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    F.mse_loss(net(x), t).backward()
    opt.step()
    after = snapshot(net)
    entry = run_json("history", state=state)["entries"][-1]
    # the norms of the whole tensors are float32 norms, as here
    assert entry["weight_norm"] == float(after["weight"].norm())
    assert entry["weight_grad_norm"] == float(after["weight_grad"].norm())
    assert entry["bias_change"] == float((after["bias"] - before["bias"]).norm())
    # the change: the float32 difference, squared and summed in float64 by blocks; the order of the sum differs
    change = (after["weight"] - before["weight"]).double().norm()
    assert change > 0
    assert entry["weight_change"] == pytest.approx(float(change), rel=1e-12)


def test_history_without_a_network_is_exit_1(state):
    result = run("history", state=state)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------
# undo


def test_undo_restores_network_gradients_and_optimizer_exactly(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--optimizer", "adam", "--lr", "0.1", state=state)
    ok("backward", "--x", "0,1,2", "--t", "1,1", state=state)  # gradients that add up
    before = load(state)
    assert before["grads"]["weight"] is not None and before["optimizer"]["state"]["state"]
    ok("train-step", "--x", X, "--t", T, "--lr", "0.3", state=state)
    after_first = load(state)

    out = run_json("undo", state=state)
    restored = load(state)
    equal_states(restored, before)
    assert out["step"] == before["step"]
    torch.testing.assert_close(torch.tensor(out["weight"]), before["params"]["weight"])
    torch.testing.assert_close(torch.tensor(out["weight_grad"]), before["grads"]["weight"])

    # the same step again from the restored state gives the same result: the optimizer state came back
    ok("train-step", "--x", X, "--t", T, "--lr", "0.3", state=state)
    equal_states(load(state), after_first)


def test_undo_matches_plain_torch(state):
    """After two SGD-with-momentum steps and an undo, the weights are those after one step."""
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", "--momentum", "0.9", state=state)
    ok("train-step", "--x", X, "--t", T, state=state)
    ok("undo", state=state)
    net = plain_net(W0, B0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    F.mse_loss(net(torch.tensor([[1.0, 2, -1]])), torch.tensor([[0.5, -0.5]])).backward()
    opt.step()
    saved = load(state)
    torch.testing.assert_close(saved["params"]["weight"], net.weight.detach())
    torch.testing.assert_close(saved["grads"]["weight"], net.weight.grad)
    buf = opt.state_dict()["state"][0]["momentum_buffer"]
    torch.testing.assert_close(saved["optimizer"]["state"]["state"][0]["momentum_buffer"], buf)


def test_undo_twice_and_undo_2_go_back_two_changes(state):
    build(state)
    s = [load(state)]
    for lr in ("0.1", "0.2", "0.3"):
        ok("train-step", "--x", X, "--t", T, "--lr", lr, state=state)
        s.append(load(state))
    ok("undo", state=state)
    equal_states(load(state), s[2])
    ok("undo", state=state)
    equal_states(load(state), s[1])

    other = state.with_name("other.pt")
    build(other)
    o = [load(other)]
    for lr in ("0.1", "0.2", "0.3"):
        ok("train-step", "--x", X, "--t", T, "--lr", lr, state=other)
        o.append(load(other))
    out = run_json("undo", "2", state=other)
    equal_states(load(other), o[1])
    assert out["restored"] == 2 and out["undone"] == [4, 3]
    ok("undo", state=other)
    equal_states(load(other), o[0])


def test_undo_past_the_start_is_exit_1(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    before = state.read_bytes()
    n = len(index(state))
    for count in ("2", "5"):
        result = run("undo", count, state=state)
        assert result.exit_code == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "undo" in result.stderr
        assert state.read_bytes() == before and len(index(state)) == n
    ok("undo", state=state)
    result = run("undo", state=state)
    assert result.exit_code == 1
    result = run("undo", "0", state=state)
    assert result.exit_code == 2


def test_undo_can_itself_be_undone(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    stepped = load(state)
    ok("undo", state=state)
    ok("set", "bias[0]=7", state=state)  # a new change on the rewound line
    ok("undo", state=state)
    equal_states(load(state), load(snapshots(state)[0]))  # entry 1: the network as built
    assert not torch.equal(load(state)["params"]["weight"], stepped["params"]["weight"])


def test_bounded_history_keeps_only_the_newest_snapshots(state):
    """LINCTL_HISTORY_KEEP=3: every entry keeps its figures, only the newest 3 a snapshot."""
    env = {"LINCTL_HISTORY_KEEP": "3"}

    def go(*args):
        return run(*args, state=state, env=env)

    assert go("inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT).exit_code == 0
    net = plain_net(W0, B0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, t = torch.tensor([[1.0, 2, -1]]), torch.tensor([[0.5, -0.5]])
    states = [snapshot(net)]
    for _ in range(5):
        result = go("train-step", "--x", X, "--t", T, "--lr", "0.1")
        assert result.exit_code == 0, result.stderr
        opt.zero_grad()
        F.mse_loss(net(x), t).backward()
        opt.step()
        states.append(snapshot(net))

    # after 6 changes, the history lists all 6 with their figures, 3 of them with a snapshot
    listed = go("history", "--json")
    assert listed.exit_code == 0
    assert listed.json()["snapshots_kept_at_most"] == 3
    listed = listed.json()["entries"]
    assert [e["id"] for e in listed] == [1, 2, 3, 4, 5, 6]
    assert [e["snapshot"] for e in listed] == [False, False, False, True, True, True]
    for entry, before, after in zip(listed[1:], states[:-1], states[1:], strict=True):
        assert entry["weight_change"] == figures(after, before)["weight_change"] > 0

    # undo 4 reaches entry 2, whose snapshot is gone: exit 1, one clear line, nothing changed
    before = state.read_bytes()
    result = go("undo", "4")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "undo" in result.stderr and "snapshot" in result.stderr and "history" in result.stderr
    assert state.read_bytes() == before and len(index(state)) == 6

    # undo 2 reaches entry 4: the network after 3 steps, as plain torch gives it
    result = go("undo", "2")
    assert result.exit_code == 0, result.stderr
    saved = load(state)
    assert torch.equal(saved["params"]["weight"], states[3]["weight"])
    assert torch.equal(saved["params"]["bias"], states[3]["bias"])
    assert saved["step"] == 3

    # the undo was itself recorded (7 entries), and still only 3 snapshot files exist
    entries = run_json("history", state=state)["entries"]
    assert len(entries) == 7
    assert entries[-1]["weight_change"] == figures(states[3], states[5])["weight_change"]
    assert [p.name for p in snapshots(state)] == ["5.pt", "6.pt", "7.pt"]
    # older entries keep their figures
    assert entries[1]["weight_change"] == figures(states[1], states[0])["weight_change"]
    result = go("diff", "1", "6")
    assert result.exit_code == 1 and "snapshot" in result.stderr


# --------------------------------------------------------------------------
# diff


def test_diff_shows_both_entries_and_the_change(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    net = plain_net(W0, B0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    s = [snapshot(net)]
    for _ in range(2):
        opt.zero_grad()
        F.mse_loss(net(torch.tensor([[1.0, 2, -1]])), torch.tensor([[0.5, -0.5]])).backward()
        opt.step()
        s.append(snapshot(net))

    def f32(values):
        return torch.tensor(values, dtype=torch.float32)

    out = run_json("diff", "1", "3", state=state)
    assert out["a"] == 1 and out["b"] == 3 and out["step_a"] == 0 and out["step_b"] == 2
    assert torch.equal(f32(out["weight_a"]), s[0]["weight"])
    assert torch.equal(f32(out["weight_b"]), s[2]["weight"])
    assert torch.equal(f32(out["weight_change"]), s[2]["weight"] - s[0]["weight"])
    assert torch.equal(f32(out["bias_change"]), s[2]["bias"] - s[0]["bias"])
    assert out["weight_grad_a"] is None
    assert torch.equal(f32(out["weight_grad_b"]), s[2]["weight_grad"])
    change = max((s[2]["weight"] - s[0]["weight"]).abs().max(), (s[2]["bias"] - s[0]["bias"]).abs().max())
    assert out["max_abs_change"] == float(change)

    # default: the entry before the current one against the current one
    default = run_json("diff", state=state)
    assert (default["a"], default["b"]) == (2, 3)
    assert torch.equal(f32(default["weight_change"]), s[2]["weight"] - s[1]["weight"])

    view = ok("diff", "1", "3", state=state).stdout
    assert "#1" in view and "#3" in view and "change" in view
    assert f"{W0[1][2]:.4f}" in view or f"{W0[1][2]}" in view


@pytest.mark.parametrize("args", [["1", "9"], ["0", "1"], ["-3", "1"]])
def test_diff_of_unknown_entries_is_refused(state, args):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    result = run("diff", *args, state=state)
    assert result.exit_code in (1, 2)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# --------------------------------------------------------------------------
# set


def test_set_changes_exactly_the_named_values(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--optimizer", "adam", "--lr", "0.1", state=state)
    before = load(state)
    out = run_json("set", "weight[0,1]=0.5", "bias[1]=0", state=state)
    after = load(state)

    expected_w = before["params"]["weight"].clone()
    expected_w[0, 1] = 0.5
    expected_b = before["params"]["bias"].clone()
    expected_b[1] = 0
    assert torch.equal(after["params"]["weight"], expected_w)
    assert torch.equal(after["params"]["bias"], expected_b)
    assert torch.equal(after["grads"]["weight"], before["grads"]["weight"])
    assert _plain(after["optimizer"]) == _plain(before["optimizer"])
    assert after["step"] == before["step"]
    # JSON writes float32 in its shortest form: read back as float32, it is the very value
    assert torch.tensor(out["changes"][0]["old"], dtype=torch.float32) == before["params"]["weight"][0, 1]
    assert out["changes"][0]["new"] == 0.5 and out["changes"][1]["new"] == 0
    assert torch.equal(torch.tensor(out["weight"], dtype=torch.float32), expected_w)

    # negative indices count from the end, as in torch
    ok("set", "weight[-1,-1]=3", state=state)
    assert float(load(state)["params"]["weight"][1, 2]) == 3.0


@pytest.mark.parametrize(
    "assignment",
    [
        "weight[2,0]=1",  # row out of range (2 rows)
        "weight[0,3]=1",  # column out of range (3 columns)
        "weight[0]=1",  # too few indices
        "weight[0,0,0]=1",
        "bias[2]=1",
        "bias[0,0]=1",
        "weight[0,1]",  # no value
        "weight(0,1)=1",
        "weight[a,1]=1",
        "weight[0,1]=abc",
        "weight[0,1]=",
        "gradient[0,0]=1",
        "weight[0.5,1]=1",
        "",
    ],
)
def test_set_refuses_bad_assignments(state, assignment):
    build(state)
    before = state.read_bytes()
    n = len(index(state))
    result = run("set", "weight[0,0]=9", assignment, state=state)  # the good one is not applied either
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert state.read_bytes() == before
    assert len(index(state)) == n


def test_set_bias_on_a_network_without_bias(state):
    ok("inspect", "2", "2", "--no-bias", "--seed", "0", state=state)
    before = state.read_bytes()
    result = run("set", "bias[0]=1", state=state)
    assert result.exit_code == 2
    assert "bias" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == before
    ok("set", "weight[1,0]=-2", state=state)
    assert float(load(state)["params"]["weight"][1, 0]) == -2.0


# --------------------------------------------------------------------------
# every changing command records one entry; the others record none


def test_each_changing_command_records_an_entry(state):
    changing = [
        ["inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT],
        ["backward", "--x", X, "--t", T],
        ["step", "--lr", "0.1"],
        ["zero-grad"],
        ["train-step", "--x", X, "--t", T],
        ["train", "--x", X, "--t", T, "--steps", "2"],
        ["set", "bias[0]=1"],
        ["undo"],
        ["inspect", "3", "2", "--seed", "4"],
    ]
    reading = [["inspect"], ["forward", "--x", X], ["history"], ["diff"]]
    for i, args in enumerate(changing, start=1):
        ok(*args, state=state)
        entries = index(state)
        assert len(entries) == i, args
        last = entries[-1]
        assert last["id"] == i and last["command"].split()[1] == args[0]
        assert last["step"] == load(state)["step"]
        # the snapshot of the new entry is the state file as it now is
        assert (Path(str(state) + ".history") / f"{i}.pt").read_bytes() == state.read_bytes()
        for read in reading if i > 1 else reading[:-1]:  # diff needs two entries
            ok(*read, state=state)
        assert len(index(state)) == i, reading


def test_diff_across_a_replaced_network_names_each_layer_as_its_own_state_does(state):
    """#1 a stack of two layers (0 and 2, a relu between), #2 one bare Linear: the layer only #1 has keeps its
    own names (2.weight, 2.bias), with nothing beside it; where the shapes differ nothing is marked as changed."""
    torch.manual_seed(2)
    stack = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    torch.manual_seed(0)
    lone = torch.nn.Linear(2, 2)
    ok("inspect", "2", "3", "1", "--seed", "2", "--activation", "relu", "--activation", "none", state=state)
    ok("inspect", "2", "2", "--seed", "0", state=state)
    out = run_json("diff", "1", "2", state=state)
    first, second = out["layers"]
    assert torch.equal(torch.tensor(first["weight_a"]), stack[0].weight.detach())
    assert torch.equal(torch.tensor(first["weight_b"]), lone.weight.detach())
    assert first["weight_change"] is None and first["bias_change"] is None
    assert torch.equal(torch.tensor(second["weight_a"]), stack[2].weight.detach())
    assert torch.equal(torch.tensor(second["bias_a"]), stack[2].bias.detach())
    assert second["weight_b"] is None and second["bias_b"] is None and second["weight_change"] is None
    view = ok("diff", "1", "2", state=state).stdout
    assert "2.weight at #1" in view and "2.bias at #1" in view and "2.weight.grad at #1: None" in view
    assert (
        "1.weight" not in view and "1.bias" not in view and "2.weight at #2" not in view and "2.bias at #2" not in view
    )
    assert "weight at #2  shape (2, 2)" in view and "weight at #2 (↑" not in view
