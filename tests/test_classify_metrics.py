"""Issue 17: what learners read beside the loss. forward on a classifier gives the predicted class per sample and
its probabilities; train gives accuracy (argmax; the 0.5 threshold for a sigmoid output with bce) or R² per epoch,
over the batch outputs of the epoch's steps, and the confusion matrix of the trained network.

Every number is plain torch's, from the plain loop built in the test.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from conftest import exact, rows, run, run_json

X = [[1.0, 2.0], [0.5, -1.0], [-1.0, 0.3], [2.5, -0.2], [0.2, 0.4], [-2.0, -1.5], [1.5, 1.0], [-0.5, 2.0]]
CLASSES = [2, 0, 1, 1, 0, 2, 0, 1]
LAST = {"none": None, "softmax": lambda: nn.Softmax(dim=1), "log_softmax": lambda: nn.LogSoftmax(dim=1)}


def build(state, last: str, out: int = 3, seed: int = 4) -> nn.Sequential:
    result = run("inspect", "2", "5", str(out), "--seed", str(seed), "--activation", "tanh", "--activation", last,
                 state=state)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    torch.manual_seed(seed)
    modules = [nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, out)]
    if last == "sigmoid":
        modules.append(nn.Sigmoid())
    elif LAST.get(last):
        modules.append(LAST[last]())
    return nn.Sequential(*modules)


@pytest.mark.parametrize("last", ["softmax", "log_softmax"])
def test_forward_on_a_classifier_gives_the_predicted_class_and_its_probabilities(tmp_path, last):
    state = tmp_path / "net.safetensors"
    net = build(state, last)
    out = run_json("forward", "--x", rows(X), state=state)
    o = net(torch.tensor(X))
    assert out["predicted"] == o.argmax(dim=1).tolist()
    exact(out["probabilities"], o if last == "softmax" else o.exp())
    assert out["probabilities_from_softmax"] is False and out["classes"] is None
    shown = run("forward", "--x", rows(X), state=state).stdout
    assert "predicted class" in shown


def test_forward_on_logits_with_class_names_shows_their_softmax_flagged(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, "none")
    data = tmp_path / "d.csv"
    data.write_text("a,b,kind\n" + "".join(f"{x[0]},{x[1]},{'abc'[k]}\n" for x, k in zip(X, CLASSES, strict=True)))
    run_json("train-step", "--data", str(data), "--loss", "cross_entropy", "--lr", "0.1", state=state)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    F.cross_entropy(net(torch.tensor(X)), torch.tensor(CLASSES)).backward()
    opt.step()
    out = run_json("forward", "--x", rows(X), state=state)
    o = net(torch.tensor(X))
    assert out["classes"] == ["a", "b", "c"]
    assert out["predicted"] == o.argmax(dim=1).tolist()
    exact(out["probabilities"], torch.softmax(o, dim=1))
    assert out["probabilities_from_softmax"] is True
    shown = run("forward", "--x", rows(X), state=state).stdout
    assert f"{o.argmax(dim=1)[0].item()} ({'abc'[o.argmax(dim=1)[0].item()]})" in shown


def plain_train(net, x, t, loss_fn, epochs: int, batch: int, lr: float, seed: int, metric):
    """The plain loop; the metric of each epoch over the batch outputs its steps computed."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    per_epoch = []
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=g)
        outputs, targets = [], []
        for start in range(0, x.shape[0], batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            o = net(x[idx])
            loss_fn(o, t[idx]).backward()
            opt.step()
            outputs.append(o.detach())
            targets.append(t[idx])
        per_epoch.append(metric(torch.cat(outputs), torch.cat(targets)))
    return per_epoch


def test_train_reports_accuracy_per_epoch_and_the_confusion_matrix_as_the_plain_loop_finds_them(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, "none")
    x, t = torch.tensor(X), torch.tensor(CLASSES)
    out = run_json("train", "--x", rows(X), "--t", ";".join(map(str, CLASSES)), "--loss", "cross_entropy",
                   "--lr", "0.5", "--epochs", "5", "--batch-size", "3", "--seed", "2", state=state)  # fmt: skip
    expected = plain_train(net, x, t, F.cross_entropy, 5, 3, 0.5, 2,
                           lambda o, tt: (o.argmax(dim=1) == tt).sum().item() / tt.numel())  # fmt: skip
    assert out["metric"] == "accuracy"
    assert out["metrics"] == expected
    predicted = net(x).argmax(dim=1)
    confusion = [[int(((t == i) & (predicted == j)).sum()) for j in range(3)] for i in range(3)]
    assert out["confusion"] == confusion
    view = run("train", "--x", rows(X), "--t", ";".join(map(str, CLASSES)), "--loss", "cross_entropy",
               "--lr", "0.5", "--epochs", "2", state=state).stdout  # fmt: skip
    assert "accuracy per epoch" in view and "confusion matrix (rows: true class, columns: predicted)" in view


def test_a_sigmoid_output_with_bce_is_read_at_the_half(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, "sigmoid", out=1)
    labels = [[float(k == 1)] for k in CLASSES]
    x, t = torch.tensor(X), torch.tensor(labels)
    out = run_json("train", "--x", rows(X), "--t", rows(labels), "--loss", "bce", "--lr", "0.5", "--epochs", "3",
                   "--no-shuffle", state=state)  # fmt: skip
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    expected = []
    for _ in range(3):
        opt.zero_grad()
        o = net(x)
        F.binary_cross_entropy(o, t).backward()
        opt.step()
        expected.append(((o > 0.5) == (t > 0.5)).sum().item() / t.numel())
    assert out["metrics"] == expected
    predicted = (net(x)[:, 0] > 0.5).long()
    truth = t[:, 0].long()
    assert out["confusion"] == [[int(((truth == i) & (predicted == j)).sum()) for j in range(2)] for i in range(2)]


def test_regression_reports_r2_per_epoch(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, "none", out=2)
    targets = [[a + b, a - 2 * b] for a, b in X]
    x, t = torch.tensor(X), torch.tensor(targets)
    out = run_json("train", "--x", rows(X), "--t", rows(targets), "--lr", "0.05", "--epochs", "4",
                   "--batch-size", "4", "--seed", "1", state=state)  # fmt: skip

    def r2(o, tt):
        o, tt = o.double(), tt.double()
        sse = ((o - tt) ** 2).sum(dim=0)
        sst = ((tt - tt.mean(dim=0)) ** 2).sum(dim=0)
        return float((1 - sse / sst).mean())

    expected = plain_train(net, x, t, F.mse_loss, 4, 4, 0.05, 1, r2)
    assert out["metric"] == "r2" and out["confusion"] is None
    assert_close(torch.tensor(out["metrics"], dtype=torch.float64), torch.tensor(expected, dtype=torch.float64))


def test_history_has_the_metric_column(tmp_path):
    state = tmp_path / "net.safetensors"
    net = build(state, "none")
    out = run_json("train", "--x", rows(X), "--t", ";".join(map(str, CLASSES)), "--loss", "cross_entropy",
                   "--lr", "0.5", "--epochs", "2", "--no-shuffle", state=state)  # fmt: skip
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        o = net(torch.tensor(X))
        F.cross_entropy(o, torch.tensor(CLASSES)).backward()
        opt.step()
    accuracy = (o.argmax(dim=1) == torch.tensor(CLASSES)).sum().item() / len(CLASSES)
    assert out["metrics"][-1] == accuracy
    entry = run_json("history", state=state)["entries"][-1]
    assert entry["metric"] == accuracy and entry["metric_name"] == "accuracy"
    shown = run("history", state=state).stdout
    assert "metric" in shown and f"{100 * accuracy:.1f}%" in shown
