"""linctl shell: many commands in one process, same state file and lock."""

from __future__ import annotations

import json

import torch

from conftest import run, run_json, run_process
from linctl.commands import shell


def plain_sgd_steps(n: int, lr: float = 0.05):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    x, t = torch.ones(1, 2), torch.ones(1, 1)
    for _ in range(n):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), t).backward()
        opt.step()
    return net


def test_piped_train_steps_equal_a_plain_loop(state):
    """A real process reading a real pipe (the other shell tests run it in-process, as the console script would)."""
    run("inspect", "2", "1", "--seed", "0", state=state)
    script = "train-step --lr 0.05\n" * 12
    result = run_process("shell", state=state, input=script)
    assert result.exit_code == 0, result.stderr
    assert "linctl>" not in result.stdout  # no prompt when stdin is a pipe
    shown = run_json("inspect", state=state)
    net = plain_sgd_steps(12)
    assert shown["step"] == 12
    torch.testing.assert_close(torch.tensor(shown["weight"]), net.weight.detach())
    torch.testing.assert_close(torch.tensor(shown["bias"]), net.bias.detach())


def test_shell_mixes_with_separate_invocations(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    run("train-step", "--lr", "0.05", state=state)
    result = run("shell", state=state, input="train-step --lr 0.05\ntrain-step\n")
    assert result.exit_code == 0, result.stderr
    run("train-step", state=state)
    shown = run_json("inspect", state=state)
    assert shown["step"] == 4
    torch.testing.assert_close(torch.tensor(shown["weight"]), plain_sgd_steps(4).weight.detach())


def test_json_lines_comments_and_blank_lines(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    script = "# a comment\n\nforward --x 1,2 --json\nlinctl forward --x 3,4 --json\n"
    result = run("shell", state=state, input=script)
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    assert [line["x"] for line in lines] == [[[1.0, 2.0]], [[3.0, 4.0]]]
    expected = net(torch.tensor([[1.0, 2.0]])).item()
    assert abs(lines[0]["linear"][0][0] - expected) < 1e-6


def test_a_failing_line_does_not_stop_the_shell_and_sets_the_exit_code(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    script = "forward --x 1\nbogus\ntrain-step --lr 0.05\n"
    result = run("shell", state=state, input=script)
    assert result.exit_code == 2
    assert "in_features=2" in result.stderr and "No such command" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_json("inspect", state=state)["step"] == 1


def test_exit_stops_reading(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    result = run("shell", state=state, input="train-step --lr 0.1\nexit\ntrain-step --lr 0.1\n")
    assert result.exit_code == 0
    assert run_json("inspect", state=state)["step"] == 1


def test_bad_quotes_name_the_line(state):
    run("inspect", "2", "1", "--seed", "0", state=state)
    result = run("shell", state=state, input="forward --x '1,2\n")
    assert result.exit_code == 2
    assert "line 1" in result.stderr and "quote" in result.stderr


def test_split_and_completion():
    assert shell.split("  ") is None
    assert shell.split("# note") is None
    assert shell.split("linctl forward --x 1,1") == ["forward", "--x", "1,1"]
    assert shell.split("set 'weight[0,1]=0.5'") == ["set", "weight[0,1]=0.5"]
