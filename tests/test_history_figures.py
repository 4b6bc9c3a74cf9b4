"""A history entry's figures per parameter (`changes`) beside the global ones, each as plain torch computes it."""

from __future__ import annotations

import math

import torch

from conftest import run, run_json


def test_each_parameter_has_its_own_change_and_the_totals_are_over_all_layers(tmp_path):
    state = tmp_path / "net.safetensors"
    assert (
        run(
            "inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state
        ).exit_code
        == 0
    )
    assert run("train-step", "--x", "1,-1", "--t", "0.5", "--lr", "0.1", state=state).exit_code == 0
    entries = run_json("history", state=state)["entries"]
    assert entries[0]["changes"] is None  # a new network moved from nothing

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    torch.nn.functional.mse_loss(net(torch.tensor([[1.0, -1.0]])), torch.tensor([[0.5]])).backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    moved = {name: float((p.detach() - before[name]).norm()) for name, p in net.named_parameters()}
    changes = entries[1]["changes"]
    assert changes == moved
    weights = [moved[n] for n in moved if n.endswith("weight")]
    assert math.isclose(entries[1]["weight_change"], math.sqrt(sum(w * w for w in weights)), rel_tol=1e-15)


def test_a_run_with_held_out_samples_records_their_loss_and_metric(tmp_path):
    import shutil

    from conftest import ROOT

    shutil.copy(ROOT / "examples" / "blobs.csv", tmp_path / "blobs.csv")
    state = tmp_path / "net.safetensors"
    assert (
        run(
            "inspect", "2", "4", "3", "--seed", "0", "--activation", "tanh", "--activation", "none", state=state
        ).exit_code
        == 0
    )
    trained = run_json(
        "train",
        "--data",
        str(tmp_path / "blobs.csv"),
        "--val-split",
        "0.25",
        "--seed",
        "3",
        "--loss",
        "cross_entropy",
        "--epochs",
        "3",
        "--lr",
        "0.1",
        state=state,
    )
    entry = run_json("history", state=state)["entries"][-1]
    assert entry["val_loss"] == trained["val_losses"][-1]
    assert entry["val_metric"] == trained["val_metrics"][-1]
    assert entry["metric"] == trained["metrics"][-1]
    shown = run("history", state=state).stdout
    assert "val m" in shown and "the loss and metric on the held-out samples" in " ".join(shown.split())
    csv_text = run("history", "--csv", state=state).stdout
    header, *rows = csv_text.strip().splitlines()
    assert "val_loss" in header.split(",") and repr(trained["val_losses"][-1]) in rows[-1]
