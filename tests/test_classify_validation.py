"""Issue 17: validation samples for train (--val FILE, --val-split F --seed S) and --patience N, which stops when
the validation loss has not improved for N epochs and keeps the best epoch's weights (recorded in history, so undo
and export --python still hold). Every number is the plain loop's, built in the test.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import exact, exported_program_state, rows, run, run_json

X = [[1.0, 2.0], [0.5, -1.0], [-1.0, 0.3], [2.5, -0.2], [0.2, 0.4], [-2.0, -1.5], [1.5, 1.0], [-0.5, 2.0],
     [0.7, -0.3], [-1.2, 1.1]]  # fmt: skip
CLASSES = [2, 0, 1, 1, 0, 2, 0, 1, 2, 1]
T = ";".join(map(str, CLASSES))


def build(state, seed: int = 4) -> nn.Sequential:
    out = run("inspect", "2", "6", "3", "--seed", str(seed), "--activation", "tanh", "--activation", "none",
              state=state)  # fmt: skip
    assert out.exit_code == 0, out.stderr
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3))


def plain(net, x, t, xv, tv, *, epochs, lr, seed, batch, patience=None):
    """The plain loop with a validation loss after each epoch; with patience, stop and keep the best weights."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    val_losses, best, best_epoch, kept = [], None, None, None
    for epoch in range(1, epochs + 1):
        order = torch.randperm(x.shape[0], generator=g)
        for start in range(0, x.shape[0], batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), t[idx]).backward()
            opt.step()
        with torch.no_grad():
            val_losses.append(F.cross_entropy(net(xv), tv).item())
        if best is None or val_losses[-1] < best:
            best, best_epoch = val_losses[-1], epoch
            kept = [p.detach().clone() for p in net.parameters()]
        if patience is not None and epoch - best_epoch >= patience:
            break
    if patience is not None:
        with torch.no_grad():
            for p, k in zip(net.parameters(), kept, strict=True):
                p.copy_(k)
    return val_losses, best_epoch


def split(n: int, fraction: float, seed: int):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held = round(fraction * n)
    return order[held:].sort().values, order[:held].sort().values


def test_val_split_is_reproducible_by_seed_and_equals_the_plain_loop(tmp_path):
    x, t = torch.tensor(X), torch.tensor(CLASSES)
    args = ("train", "--x", rows(X), "--t", T, "--loss", "cross_entropy", "--lr", "0.5", "--epochs", "6",
            "--batch-size", "3", "--seed", "7", "--val-split", "0.3")  # fmt: skip
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    net = build(first)
    build(second)
    a, b = run_json(*args, state=first), run_json(*args, state=second)
    assert a["val_losses"] == b["val_losses"] and len(a["val_losses"]) == 6
    train, val = split(len(X), 0.3, 7)
    val_losses, best_epoch = plain(net, x[train], t[train], x[val], t[val], epochs=6, lr=0.5, seed=7, batch=3)
    assert a["val_losses"] == val_losses
    assert a["best_epoch"] == best_epoch and a["samples"] == len(train)
    o = net(x[val])
    assert a["val_metrics"][-1] == (o.argmax(dim=1) == t[val]).sum().item() / len(val)
    for layer, linear in zip(run_json("inspect", state=first)["layers"], [net[0], net[2]], strict=True):
        exact(layer["weight"], linear.weight)


def test_patience_stops_and_keeps_the_best_epoch_and_history_holds_it(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state)
    before = run_json("inspect", state=state)
    x, t = torch.tensor(X), torch.tensor(CLASSES)
    val = tmp_path / "val.csv"
    xv, tv = [[0.9, 1.9], [-1.8, -1.2], [0.1, 0.5]], [2, 2, 1]
    val.write_text("".join(f"{a},{b},{k}\n" for (a, b), k in zip(xv, tv, strict=True)))
    result = run("train", "--x", rows(X), "--t", T, "--loss", "cross_entropy", "--lr", "2", "--epochs", "40",
                 "--batch-size", "2", "--seed", "1", "--val", str(val), "--patience", "2", "--json", state=state)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.json()
    val_losses, best_epoch = plain(net, x, t, torch.tensor(xv), torch.tensor(tv), epochs=40, lr=2.0, seed=1,
                                   batch=2, patience=2)  # fmt: skip
    assert out["val_losses"] == val_losses and out["best_epoch"] == best_epoch
    assert len(val_losses) < 40  # it stopped early
    assert f"kept the weights of epoch {best_epoch}" in result.stderr
    after = run_json("inspect", state=state)
    for layer, linear in zip(after["layers"], [net[0], net[2]], strict=True):
        exact(layer["weight"], linear.weight)
        exact(layer["bias"], linear.bias)

    program = tmp_path / "session.py"
    replayed = exported_program_state(state, program)
    for name, value in net.state_dict().items():
        exact(replayed[name], value)

    assert run("undo", state=state).exit_code == 0
    assert run_json("inspect", state=state)["layers"] == before["layers"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--val-split", "0.3"], "--val-split: needs --seed S"),
        (["--val-split", "1.5", "--seed", "1"], "--val-split: expected a fraction between 0 and 1"),
        (["--val-split", "0.01", "--seed", "1"], "--val-split 0.01: holds out 0 of 10 samples"),
        (["--patience", "2"], "--patience: needs validation samples to watch"),
        (["--val", "v.csv", "--val-split", "0.2", "--seed", "1"], "give --val FILE or --val-split F, not both"),
        (["--val", "missing.csv"], "--val missing.csv: no such file"),
        (["--val", "v.csv", "--seed", "1"], "--val v.csv line 1 column 3: class 5 is out of range"),
    ],
)
def test_bad_validation_options_are_one_line_exit_2_and_change_nothing(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.csv").write_text("1,2,5\n")
    state = tmp_path / "net.safetensors"
    build(state)
    before = state.read_bytes()
    result = run("train", "--x", rows(X), "--t", T, "--loss", "cross_entropy", "--lr", "0.1", *args, state=state)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert expected in line, line
    assert state.read_bytes() == before
