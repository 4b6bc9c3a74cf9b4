"""history, undo, diff, set: every change recorded, listed, compared and undone."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import run, run_json

X = "1,2,-1"
T = "0.5,-0.5"
W0 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
B0 = [0.05, -0.1]
W0_TEXT = "0.1,-0.2,0.3;0.4,0.5,-0.6"
B0_TEXT = "0.05,-0.1"


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def index(state: Path) -> list[dict]:
    path = Path(str(state) + ".history") / "index.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def snapshots(state: Path) -> list[Path]:
    return sorted(Path(str(state) + ".history").glob("*.pt"))


def build(state: Path) -> None:
    result = run("inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT, state=state)
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


def norm_or_none(after, before):
    if after is None or before is None:
        return None
    return float((after - before).norm())


def plain_net(weight, bias):
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(weight))
        net.bias.copy_(torch.as_tensor(bias))
    return net


# --------------------------------------------------------------------------
# history


def test_history_figures_equal_norms_of_the_snapshots(state):
    """A run of every changing command; each entry's figures equal what the test computes."""
    commands = [
        ["inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT],
        ["backward", "--x", X, "--t", T],
        ["step", "--lr", "0.1"],
        ["train-step", "--x", X, "--t", T, "--lr", "0.05"],
        ["zero-grad"],
        ["set", "weight[1,2]=2.5"],
        ["train", "--x", "1,2,-1;0,1,0", "--t", "0.5,-0.5;1,1", "--steps", "3", "--lr", "0.2"],
        ["undo"],
    ]
    states = []
    for args in commands:
        ok(*args, state=state)
        states.append(load(state))

    # plain torch for the losses: backward and train-step on the weights before them
    x = torch.tensor([[1.0, 2, -1]])
    t = torch.tensor([[0.5, -0.5]])
    net = plain_net(W0, B0)
    loss_backward = F.mse_loss(net(x), t).item()
    net.weight.grad = None
    F.mse_loss(net(x), t).backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    loss_train_step = F.mse_loss(net(x), t).item()
    net = plain_net(states[5]["params"]["0.weight"], states[5]["params"]["0.bias"])
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    xs, ts = torch.tensor([[1.0, 2, -1], [0, 1, 0]]), torch.tensor([[0.5, -0.5], [1, 1]])
    for _ in range(3):
        opt.zero_grad()
        loss_train = F.mse_loss(net(xs), ts)
        loss_train.backward()
        opt.step()
    torch.testing.assert_close(states[6]["params"]["0.weight"], net.weight.detach())

    entries = run_json("history", state=state)["entries"]
    assert [e["id"] for e in entries] == list(range(1, 9))
    assert [e["command"].split()[1] for e in entries] == [c[0] for c in commands]
    expected_loss = [None, loss_backward, None, loss_train_step, None, None, loss_train.item(), None]
    expected_lr = [None, None, 0.1, 0.05, None, None, 0.2, None]
    for i, entry in enumerate(entries):
        assert {"id", "step", "command", "loss", "lr", "weight_change", "bias_change", "weight_norm",
                "weight_grad_norm"} <= set(entry), entry
        new = states[i]
        old = states[i - 1] if i else None
        assert entry["step"] == new["step"]
        if expected_loss[i] is None:
            assert entry["loss"] is None
        else:
            assert entry["loss"] == pytest.approx(expected_loss[i], rel=1e-6), entry
        assert entry["lr"] == expected_lr[i]
        for label, key in (("weight", "0.weight"), ("bias", "0.bias")):
            want = norm_or_none(new["params"][key], old["params"][key] if old else None)
            if want is None:
                assert entry[f"{label}_change"] is None
            else:
                assert entry[f"{label}_change"] == pytest.approx(want, rel=1e-6, abs=1e-12), (i, label)
        assert entry["weight_norm"] == pytest.approx(float(new["params"]["0.weight"].norm()), rel=1e-6)
        grad = new["grads"]["0.weight"]
        assert entry["weight_grad_norm"] == (None if grad is None else pytest.approx(float(grad.norm()), rel=1e-6))
    # the step and set moved the weights, backward and zero-grad did not
    assert entries[1]["weight_change"] == 0 and entries[4]["weight_change"] == 0
    assert entries[2]["weight_change"] > 0 and entries[5]["weight_change"] == pytest.approx(abs(2.5 - float(states[4]["params"]["0.weight"][1, 2])), rel=1e-6)

    # --csv: parseable, the same figures
    result = ok("history", "--csv", state=state)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 8
    for row, entry in zip(rows, entries):
        assert int(row["id"]) == entry["id"] and int(row["step"]) == entry["step"]
        for key in ("loss", "lr", "weight_change", "bias_change", "weight_grad_norm"):
            if entry[key] is None:
                assert row[key] == ""
            else:
                assert float(row[key]) == pytest.approx(entry[key], rel=1e-9)

    # the table
    table = ok("history", state=state).stdout
    for word in ("train-step", "zero-grad", "backward", "undo", "set"):
        assert word in table
    assert f"{loss_backward:.3g}" in table
    assert "--last" not in table
    assert len(run_json("history", "--last", "3", state=state)["entries"]) == 3


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
    assert before["grads"]["0.weight"] is not None and before["optimizer"]["state"]["state"]
    ok("train-step", "--x", X, "--t", T, "--lr", "0.3", state=state)
    after_first = load(state)

    out = run_json("undo", state=state)
    restored = load(state)
    equal_states(restored, before)
    assert out["step"] == before["step"]
    torch.testing.assert_close(torch.tensor(out["weight"]), before["params"]["0.weight"])
    torch.testing.assert_close(torch.tensor(out["weight_grad"]), before["grads"]["0.weight"])

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
    torch.testing.assert_close(saved["params"]["0.weight"], net.weight.detach())
    torch.testing.assert_close(saved["grads"]["0.weight"], net.weight.grad)
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
    assert not torch.equal(load(state)["params"]["0.weight"], stepped["params"]["0.weight"])


DRIVER = r"""
import json, sys
from typer.testing import CliRunner
from linctl import history
from linctl.cli import app
runs = []
for argv in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, argv, env={"COLUMNS": "100", "NO_COLOR": "1"})
    runs.append([r.exit_code, r.stdout, r.stderr])
print(json.dumps({"keep": history.KEEP_SNAPSHOTS, "runs": runs}))
"""


def test_bounded_history_keeps_only_the_newest_snapshots(tmp_path):
    """LINCTL_HISTORY_KEEP=3, read when linctl is imported: a fresh process with that environment."""
    state = tmp_path / "net.pt"
    s = str(state)
    step = ["train-step", "--x", X, "--t", T, "--lr", "0.1", "--state", s]
    argv = [["inspect", "3", "2", "--weight", W0_TEXT, "--bias", B0_TEXT, "--state", s]] + [step] * 5
    argv += [["history", "--json", "--state", s], ["undo", "4", "--state", s], ["undo", "2", "--state", s]]
    env = {**os.environ, "LINCTL_HISTORY_KEEP": "3", "LINCTL_DEBUG": ""}
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argv)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["keep"] == 3
    codes = [r[0] for r in out["runs"]]
    assert codes[:7] == [0] * 7, out["runs"]

    # after 6 changes, the history listed all 6 with their figures, 3 of them with a snapshot
    listed = json.loads(out["runs"][6][1])["entries"]
    assert [e["id"] for e in listed] == [1, 2, 3, 4, 5, 6]
    assert [e["snapshot"] for e in listed] == [False, False, False, True, True, True]
    assert all(e["weight_change"] > 0 for e in listed[1:])

    # undo 4 reaches entry 2, whose snapshot is gone: exit 1, one clear line
    code, _, err = out["runs"][7]
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "undo" in err and "snapshot" in err and "history" in err

    # undo 2 reaches entry 4: the network after 3 steps, as plain torch gives it
    assert out["runs"][8][0] == 0, out["runs"][8]
    net = plain_net(W0, B0)
    for _ in range(3):
        net.zero_grad()
        F.mse_loss(net(torch.tensor([[1.0, 2, -1]])), torch.tensor([[0.5, -0.5]])).backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= 0.1 * p.grad
    saved = load(state)
    torch.testing.assert_close(saved["params"]["0.weight"], net.weight.detach())
    assert saved["step"] == 3

    # the undo was itself recorded (7 entries), and still only 3 snapshot files exist
    assert len(index(state)) == 7
    assert [p.name for p in snapshots(state)] == ["5.pt", "6.pt", "7.pt"]
    # older entries keep their figures
    entries = run_json("history", state=state)["entries"]
    assert entries[1]["weight_change"] == pytest.approx(listed[1]["weight_change"])
    result = run("diff", "1", "6", state=state)
    assert result.exit_code == 1 and "snapshot" in result.stderr


# --------------------------------------------------------------------------
# diff


def test_diff_shows_both_entries_and_the_change(state):
    build(state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    ok("train-step", "--x", X, "--t", T, "--lr", "0.1", state=state)
    s3 = load(state)
    s1 = load(snapshots(state)[0])

    out = run_json("diff", "1", "3", state=state)
    assert out["a"] == 1 and out["b"] == 3 and out["step_a"] == 0 and out["step_b"] == 2
    torch.testing.assert_close(torch.tensor(out["weight_a"]), torch.tensor(W0))
    torch.testing.assert_close(torch.tensor(out["weight_b"]), s3["params"]["0.weight"])
    torch.testing.assert_close(torch.tensor(out["weight_change"]), s3["params"]["0.weight"] - torch.tensor(W0))
    torch.testing.assert_close(torch.tensor(out["bias_change"]), s3["params"]["0.bias"] - torch.tensor(B0))
    assert out["weight_grad_a"] is None
    torch.testing.assert_close(torch.tensor(out["weight_grad_b"]), s3["grads"]["0.weight"])
    change = (s3["params"]["0.weight"] - s1["params"]["0.weight"]).abs().max()
    change = max(change, (s3["params"]["0.bias"] - s1["params"]["0.bias"]).abs().max())
    assert out["max_abs_change"] == pytest.approx(float(change), rel=1e-6)

    # default: the entry before the current one against the current one
    default = run_json("diff", state=state)
    s2 = load(snapshots(state)[1])
    assert (default["a"], default["b"]) == (2, 3)
    torch.testing.assert_close(torch.tensor(default["weight_change"]), s3["params"]["0.weight"] - s2["params"]["0.weight"])

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

    expected_w = before["params"]["0.weight"].clone()
    expected_w[0, 1] = 0.5
    expected_b = before["params"]["0.bias"].clone()
    expected_b[1] = 0
    assert torch.equal(after["params"]["0.weight"], expected_w)
    assert torch.equal(after["params"]["0.bias"], expected_b)
    assert torch.equal(after["grads"]["0.weight"], before["grads"]["0.weight"])
    assert _plain(after["optimizer"]) == _plain(before["optimizer"])
    assert after["step"] == before["step"]
    assert out["changes"][0]["old"] == pytest.approx(float(before["params"]["0.weight"][0, 1]))
    assert out["changes"][0]["new"] == 0.5 and out["changes"][1]["new"] == 0
    torch.testing.assert_close(torch.tensor(out["weight"]), expected_w, rtol=0, atol=1e-7)

    # negative indices count from the end, as in torch
    ok("set", "weight[-1,-1]=3", state=state)
    assert float(load(state)["params"]["0.weight"][1, 2]) == 3.0


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
    assert float(load(state)["params"]["0.weight"][1, 0]) == -2.0


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
