"""State files written by the previous release (format 1, in tests/data/format1) load, compute the same
numbers as plain torch continuing from them, and are upgraded to format 3 (safetensors) on the next change; their
history keeps working across the switch (undo and diff)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from conftest import f32, run, run_json, saved

FORMAT1 = Path(__file__).parent / "data" / "format1"


@pytest.fixture
def old(tmp_path: Path) -> Path:
    for name in ("adam.pt", "nobias64.pt"):
        shutil.copy(FORMAT1 / name, tmp_path / name)
        shutil.copytree(FORMAT1 / f"{name}.history", tmp_path / f"{name}.history")
    return tmp_path


def exact(value, expected: torch.Tensor) -> None:
    got = torch.tensor(value, dtype=expected.dtype)
    assert got.shape == expected.shape and torch.equal(got, expected), (got, expected)


def test_the_fixtures_are_format_1():
    data = torch.load(FORMAT1 / "adam.pt", weights_only=True)
    assert data["format"] == 1 and "0.weight" in data["params"]


def test_a_format_1_file_shows_its_numbers(old):
    data = torch.load(old / "adam.pt", weights_only=True)
    out = run_json("inspect", state=old / "adam.pt")
    exact(out["weight"], data["params"]["0.weight"])
    exact(out["bias"], data["params"]["0.bias"])
    exact(out["weight_grad"], data["grads"]["0.weight"])
    assert out["layers"][0]["name"] == "" and out["optimizer"]["name"] == "adam"
    assert torch.load(old / "adam.pt", weights_only=True)["format"] == 1, "reading must not rewrite the file"


def test_a_format_1_file_steps_like_plain_torch_continuing_from_it(old):
    data = torch.load(old / "adam.pt", weights_only=True)
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(data["params"]["0.weight"])
        net.bias.copy_(data["params"]["0.bias"])
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    opt.load_state_dict(data["optimizer"]["state"])
    x, t = f32([[2.0, 0.0, -1.0]]), f32([[1.0, 1.0]])
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x), t)
    loss.backward()
    opt.step()

    out = run_json("train-step", "--x", "2,0,-1", "--t", "1,1", state=old / "adam.pt")
    exact(out["weight"], net.weight.detach())
    exact(out["bias"], net.bias.detach())
    assert out["loss"] == loss.item()
    upgraded = saved(old / "adam.pt")
    assert upgraded["format"] == 3
    assert set(upgraded["params"]) == {"weight", "bias"}
    assert torch.equal(upgraded["params"]["weight"], net.weight.detach())
    for a, b in zip(upgraded["optimizer"]["state"]["state"].values(), opt.state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_a_float64_file_without_bias_keeps_its_dtype_and_momentum(old):
    data = torch.load(old / "nobias64.pt", weights_only=True)
    net = torch.nn.Linear(2, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        net.weight.copy_(data["params"]["0.weight"])
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt.load_state_dict(data["optimizer"]["state"])
    x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    t = torch.tensor([[0.0]], dtype=torch.float64)
    opt.zero_grad()
    torch.nn.functional.binary_cross_entropy(torch.sigmoid(net(x)), t).backward()
    opt.step()
    out = run_json("train-step", "--x=1,-1", "--t", "0", "--loss", "bce", state=old / "nobias64.pt")
    exact(out["weight"], net.weight.detach())
    assert out["bias"] is None
    assert saved(old / "nobias64.pt")["dtype"] == "float64"


def test_undo_and_diff_work_across_the_switch(old):
    path = old / "adam.pt"
    before = torch.load(path, weights_only=True)
    assert run("step", "--lr", "0.1", state=path).exit_code == 0  # the first change writes format 3
    changed = run_json("diff", state=path)  # a format-1 snapshot beside a format-2 one
    exact(changed["weight_a"], before["params"]["0.weight"])
    assert changed["layers"][0]["name"] == ""
    out = run_json("undo", state=path)
    exact(out["weight"], before["params"]["0.weight"])
    exact(out["weight_grad"], before["grads"]["0.weight"])
    listed = run_json("history", state=path)
    assert [e["id"] for e in listed["entries"]][:3] == [1, 2, 3]
    first = run_json("undo", "2", state=path)  # back to the very first entry, written by the old release
    old_first = torch.load(FORMAT1 / "adam.pt.history" / "1.pt", weights_only=True)
    exact(first["weight"], old_first["params"]["0.weight"])
