"""--device and --dtype: computation where asked, state files that load anywhere."""

from __future__ import annotations

import pytest
import torch

from conftest import run, run_json, saved

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def test_cuda_asked_and_absent_is_a_clear_error(state, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run("inspect", "2", "1", "--seed", "0", state=state)
    before = state.read_bytes()
    result = run("forward", "--x", "1,1", "--device", "cuda", state=state)
    assert result.exit_code == 1
    assert "no CUDA GPU" in result.stderr and "--device cpu" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == before


def test_auto_falls_back_to_cpu(state, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run("inspect", "2", "1", "--seed", "0", state=state)
    out = run_json("forward", "--x", "1,1", "--device", "auto", state=state)
    assert out["device"] == "cpu"


def test_device_from_environment(state, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run("inspect", "2", "1", "--seed", "0", state=state)
    result = run("forward", "--x", "1,1", state=state, env={"LINCTL_DEVICE": "cuda"})
    assert result.exit_code == 1 and "no CUDA GPU" in result.stderr


def test_bad_device_name_is_usage_error(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    result = run("forward", "--x", "1,1", "--device", "tpu", state=state)
    assert result.exit_code == 2 and "--device" in result.stderr


def test_float64_network_matches_torch_float64(state):
    run("inspect", "3", "2", "--seed", "7", "--dtype", "float64", state=state)
    torch.manual_seed(7)
    net = torch.nn.Linear(3, 2, dtype=torch.float64)
    shown = run_json("inspect", state=state)
    assert shown["dtype"] == "float64"
    torch.testing.assert_close(torch.tensor(shown["weight"], dtype=torch.float64), net.weight.detach(), rtol=0, atol=0)
    x = torch.tensor([[0.1, 0.2, 0.3], [1.5, -2.0, 0.25]], dtype=torch.float64)
    out = run_json("forward", "--x", "0.1,0.2,0.3", "--x", "1.5,-2,0.25", state=state)
    torch.testing.assert_close(torch.tensor(out["linear"], dtype=torch.float64), net(x).detach(), rtol=0, atol=0)
    assert out["dtype"] == "float64"
    view = run("forward", "--x", "1,1,1", state=state)
    assert "float64" in view.stdout


def test_float64_backward_and_step_match_torch(state):
    run("inspect", "2", "2", "--seed", "3", "--dtype", "float64", "--activation", "tanh", state=state)
    torch.manual_seed(3)
    net = torch.nn.Linear(2, 2, dtype=torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    for _ in range(3):
        out = run_json(
            "train-step", "--x", "1,2;0.5,-1", "--t", "0,1;1,0", "--lr", "0.1", "--momentum", "0.9", state=state
        )
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(torch.tanh(net(x)), t)
        loss.backward()
        opt.step()
        assert out["loss"] == loss.item()  # the same float64 operations: the same bits
    assert torch.equal(torch.tensor(out["weight"], dtype=torch.float64), net.weight.detach())
    assert out["grad_match"] is True


def test_state_file_holds_cpu_tensors(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    run("backward", "--x", "1,1", "--t", "1", state=state)
    data = saved(state)
    assert data["params"]["weight"].device.type == "cpu"
    assert data["grads"]["weight"].device.type == "cpu"


@cuda
def test_cuda_forward_backward_step_match_cpu(tmp_path):
    cpu_state, gpu_state = tmp_path / "cpu.pt", tmp_path / "gpu.pt"
    for path in (cpu_state, gpu_state):
        run("inspect", "4", "3", "--seed", "1", "--activation", "sigmoid", state=path)
    args = ["train-step", "--x", "1,2,3,4;0,1,0,1", "--t", "1,0,1;0,1,0", "--lr", "0.1", "--optimizer", "adam"]
    for _ in range(3):
        a = run_json(*args, "--device", "cpu", state=cpu_state)
        b = run_json(*args, "--device", "cuda", state=gpu_state)
    torch.testing.assert_close(torch.tensor(b["weight"]), torch.tensor(a["weight"]), rtol=1e-5, atol=1e-6)
    data = saved(gpu_state)
    assert data["params"]["weight"].device.type == "cpu"  # loads anywhere


@cuda
def test_cuda_train_matches_cpu(tmp_path):
    cpu_state, gpu_state = tmp_path / "cpu.pt", tmp_path / "gpu.pt"
    for path in (cpu_state, gpu_state):
        run("inspect", "2", "1", "--seed", "0", state=path)
    args = [
        "train",
        "--x",
        "1,1;0,1;1,0;2,2",
        "--t",
        "1;0;0;1",
        "--lr",
        "0.05",
        "--steps",
        "20",
        "--batch-size",
        "2",
        "--seed",
        "0",
    ]
    a = run_json(*args, "--device", "cpu", state=cpu_state)
    b = run_json(*args, "--device", "cuda", state=gpu_state)
    assert b["losses"] == pytest.approx(a["losses"], rel=1e-4, abs=1e-6)
