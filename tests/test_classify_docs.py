"""Issue 17: docs/classification.md's numbers are the plain torch loop's with the same settings, and its data
files are what examples/make_blobs.py writes."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch import nn

from conftest import ROOT, run, run_json

PAGE = ROOT / "docs" / "classification.md"


def read(path):
    records = list(csv.reader(path.open()))[1:]
    names = sorted({r[-1] for r in records})
    x = torch.tensor([[float(v) for v in r[:-1]] for r in records])
    return x, torch.tensor([names.index(r[-1]) for r in records]), names


def plain_run():
    """The page's `inspect 2 8 3 --seed 0 ...` and `train ... --optimizer adam --lr 0.05 --epochs 30
    --batch-size 16 --seed 0 --val examples/blobs-test.csv`, in plain torch."""
    x, t, names = read(ROOT / "examples" / "blobs.csv")
    xv, tv, _ = read(ROOT / "examples" / "blobs-test.csv")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    val_losses, val_accuracy = [], []
    for _ in range(30):
        order = torch.randperm(x.shape[0], generator=g)
        for start in range(0, x.shape[0], 16):
            idx = order[start : start + 16]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), t[idx]).backward()
            opt.step()
        with torch.no_grad():
            o = net(xv)
            val_losses.append(F.cross_entropy(o, tv).item())
            val_accuracy.append((o.argmax(dim=1) == tv).sum().item() / len(tv))
    predicted = net(x).argmax(dim=1)
    confusion = [[int(((t == i) & (predicted == j)).sum()) for j in range(3)] for i in range(3)]
    return names, val_losses, val_accuracy, confusion, len(tv)


def test_the_page_shows_the_plain_loops_test_accuracy_and_confusion_matrix(tmp_path):
    names, val_losses, val_accuracy, confusion, count = plain_run()
    text = PAGE.read_text()
    best = val_losses.index(min(val_losses)) + 1
    right = round(val_accuracy[-1] * count)
    assert f"The test accuracy is {100 * val_accuracy[-1]:.1f}% ({right} of {count})" in text
    assert re.search(rf"best epoch +{best} \(lowest validation loss, {min(val_losses):.4f}\)", text)
    assert "  ".join(f"{100 * a:.1f}%" for a in val_accuracy[-8:]) in re.sub(r" {3,}", "  ", text)
    for i, row in enumerate(confusion):
        assert re.search(rf"true\[{i}\] +" + " +".join(f"{v}\\.0000" for v in row), text), row
    assert f"classes: {', '.join(f'{k} = {n}' for k, n in enumerate(names))}" in text

    state = tmp_path / "net.safetensors"
    assert run("inspect", "2", "8", "3", "--seed", "0", "--activation", "tanh", "--activation", "none",
               state=state).exit_code == 0  # fmt: skip
    out = run_json("train", "--data", str(ROOT / "examples" / "blobs.csv"), "--val",
                   str(ROOT / "examples" / "blobs-test.csv"), "--loss", "cross_entropy", "--optimizer", "adam",
                   "--lr", "0.05", "--epochs", "30", "--batch-size", "16", "--seed", "0", state=state)  # fmt: skip
    assert out["val_losses"] == val_losses and out["val_metrics"] == val_accuracy
    assert out["confusion"] == confusion and out["best_epoch"] == best


def test_the_example_files_are_what_the_script_writes(tmp_path):
    script = tmp_path / "make_blobs.py"
    script.write_text((ROOT / "examples" / "make_blobs.py").read_text())
    subprocess.run([sys.executable, str(script)], check=True, timeout=60)
    for name in ("blobs.csv", "blobs-test.csv"):
        assert (tmp_path / name).read_text() == (ROOT / "examples" / name).read_text()
