"""`linctl train`: the same numbers as the plain torch loop, progress, summary, Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, run, run_json, saved

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


# --------------------------------------------------------------------------
# the loop the issue names, written in plain torch


def plain_net(weight, bias) -> torch.nn.Linear:
    weight = torch.as_tensor(weight, dtype=torch.float32)
    net = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        net.weight.copy_(weight)
        if bias is not None:
            net.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return net


def plain_loop(net, opt, x, t, *, steps=None, epochs=None, batch_size=None, shuffle=False, seed=0):
    """The loop `train` must equal; returns (losses, epochs run)."""
    n = x.shape[0]
    batch = min(batch_size or n, n)
    total = steps if steps is not None else math.ceil(n / batch) * (epochs or 1)
    g = torch.Generator()
    g.manual_seed(seed)
    losses, done, epoch = [], 0, 0
    while done < total:
        order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
        epoch += 1
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            o = net(x[idx])
            loss = F.mse_loss(o, t[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            done += 1
            if done == total:
                break
    return losses, epoch


def write_csv(path: Path, x, t, header: str | None = None) -> Path:
    lines = [header] if header else []
    for xr, tr in zip(x.tolist(), t.tolist(), strict=True):
        lines.append(",".join(repr(v) for v in xr + tr))
    path.write_text("\n".join(lines) + "\n")
    return path


def as_csv_values(values) -> torch.Tensor:
    """What the CLI does with CSV numbers: float64, then the network dtype."""
    return torch.tensor(values, dtype=torch.float64).to(torch.float32)


def close(actual, expected):
    """Bit for bit: train runs the plain loop's own torch operations, and JSON holds each float32's shortest repr."""
    torch.testing.assert_close(
        torch.as_tensor(actual, dtype=torch.float32), torch.as_tensor(expected, dtype=torch.float32), rtol=0, atol=0
    )


def load_state(path: Path) -> dict:
    return saved(path)


@pytest.fixture
def data10(tmp_path):
    """10 samples, 3 inputs, 2 targets, written to a CSV with many digits."""
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    t = torch.randn(10, 2, generator=gen, dtype=torch.float64)
    path = write_csv(tmp_path / "data.csv", x, t)
    return path, as_csv_values(x.tolist()), as_csv_values(t.tolist())


# --------------------------------------------------------------------------
# results equal the plain loop


CASES = [
    # optimizer, options, steps, epochs, batch, shuffle
    ("sgd", {}, None, None, None, False),
    ("sgd", {}, None, 4, 3, True),
    ("sgd", {}, 7, None, 4, False),
    ("sgd", {"momentum": 0.9}, 7, None, 4, True),
    ("adam", {}, None, 2, 2, True),
    ("adam", {"betas": (0.8, 0.99)}, 5, None, 5, False),
    ("adam", {}, 13, None, 1, True),
]


@pytest.mark.parametrize("name,options,steps,epochs,batch,shuffle", CASES)
def test_train_equals_plain_torch_loop(state, data10, name, options, steps, epochs, batch, shuffle):
    path, x, t = data10
    run("inspect", "3", "2", "--seed", "3", state=state)
    torch.manual_seed(3)
    ref = torch.nn.Linear(3, 2)
    w0, b0 = ref.weight.detach().clone(), ref.bias.detach().clone()

    args = [
        "train",
        "--data",
        str(path),
        "--optimizer",
        name,
        "--lr",
        "0.05",
        "--seed",
        "5",
        "--shuffle" if shuffle else "--no-shuffle",
    ]
    if steps is not None:
        args += ["--steps", str(steps)]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if batch is not None:
        args += ["--batch-size", str(batch)]
    for key, value in options.items():
        args += [f"--{key}", ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    out = run_json(*args, state=state)

    opt = OPTIMIZERS[name](ref.parameters(), lr=0.05, **options)
    losses, epochs_run = plain_loop(
        ref, opt, x, t, steps=steps, epochs=epochs, batch_size=batch, shuffle=shuffle, seed=5
    )

    assert {
        "steps",
        "epochs",
        "losses",
        "loss_first",
        "loss_last",
        "weight_before",
        "bias_before",
        "weight",
        "bias",
        "step",
    } <= set(out)
    assert out["steps"] == len(losses) == len(out["losses"])
    assert out["epochs"] == epochs_run
    assert out["step"] == len(losses)
    close(out["losses"], losses)
    assert out["loss_first"] == losses[0]
    assert out["loss_last"] == losses[-1]
    close(out["weight_before"], w0)
    close(out["bias_before"], b0)
    close(out["weight"], ref.weight.detach())
    close(out["bias"], ref.bias.detach())
    saved = load_state(state)
    close(saved["params"]["weight"], ref.weight.detach())
    close(saved["params"]["bias"], ref.bias.detach())
    assert saved["step"] == len(losses)


def test_shuffle_changes_the_batches_and_the_seed_fixes_them(state, data10):
    """With batches smaller than the data, shuffled and in-order runs differ; the same seed repeats."""
    path, _, _ = data10
    base = ["train", "--data", str(path), "--lr", "0.1", "--batch-size", "3", "--epochs", "2"]
    runs = {}
    for label, extra in {
        "a": ["--seed", "1"],
        "b": ["--seed", "1"],
        "c": ["--seed", "2"],
        "ordered": ["--no-shuffle"],
    }.items():
        run("inspect", "3", "2", "--weight", "0.1,0.2,0.3;-0.1,0,0.5", "--bias", "0,0.2", state=state)
        runs[label] = run_json(*base, *extra, state=state)["losses"]
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]
    assert runs["a"] != runs["ordered"]


def test_train_on_x_and_t_options(state):
    run("inspect", "2", "1", "--weight", "0.5,-0.25", "--bias", "0.1", state=state)
    out = run_json(
        "train",
        "--x",
        "1,2;0.5,-1",
        "--x",
        "3,0.25",
        "--t",
        "1;0",
        "--t",
        "2",
        "--lr",
        "0.05",
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--no-shuffle",
        state=state,
    )
    ref = plain_net([[0.5, -0.25]], [0.1])
    x = torch.tensor([[1, 2], [0.5, -1], [3, 0.25]], dtype=torch.float32)
    t = torch.tensor([[1], [0], [2]], dtype=torch.float32)
    losses, _ = plain_loop(ref, torch.optim.SGD(ref.parameters(), lr=0.05), x, t, epochs=3, batch_size=2)
    assert out["steps"] == 6
    close(out["losses"], losses)
    close(out["weight"], ref.weight.detach())
    close(out["bias"], ref.bias.detach())


def test_optimizer_state_and_lr_carry_over_between_runs(state, data10):
    """Two `train` runs with Adam equal one optimizer living through both loops; --lr falls back."""
    path, x, t = data10
    run("inspect", "3", "2", "--weight", "0.1,0.2,0.3;-0.1,0,0.5", "--bias", "0,0.2", state=state)
    first = run_json(
        "train",
        "--data",
        str(path),
        "--optimizer",
        "adam",
        "--lr",
        "0.02",
        "--batch-size",
        "4",
        "--epochs",
        "2",
        "--seed",
        "9",
        state=state,
    )
    second = run_json("train", "--data", str(path), "--batch-size", "4", "--epochs", "2", "--seed", "9", state=state)

    ref = plain_net([[0.1, 0.2, 0.3], [-0.1, 0, 0.5]], [0, 0.2])
    opt = torch.optim.Adam(ref.parameters(), lr=0.02)
    losses1, _ = plain_loop(ref, opt, x, t, epochs=2, batch_size=4, shuffle=True, seed=9)
    losses2, _ = plain_loop(ref, opt, x, t, epochs=2, batch_size=4, shuffle=True, seed=9)
    close(first["losses"], losses1)
    close(second["losses"], losses2)
    close(second["weight"], ref.weight.detach())
    close(second["bias"], ref.bias.detach())
    assert second["step"] == len(losses1) + len(losses2)
    saved = load_state(state)
    assert saved["optimizer"]["name"] == "adam"
    assert saved["optimizer"]["settings"]["lr"] == 0.02
    # the moments equal those of the plain optimizer
    plain_state = opt.state_dict()["state"]
    for key in plain_state:
        close(saved["optimizer"]["state"]["state"][key]["exp_avg"], plain_state[key]["exp_avg"])
        close(saved["optimizer"]["state"]["state"][key]["exp_avg_sq"], plain_state[key]["exp_avg_sq"])


def test_example_csv_trains_to_its_rule(tmp_path):
    """examples/line.csv: y = 2·x1 - x2 + 0.5·x3 + 0.3 plus small noise, 40 rows with a header."""
    example = ROOT / "examples" / "line.csv"
    lines = example.read_text().splitlines()
    assert lines[0].split(",") == ["x1", "x2", "x3", "y"]
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    assert len(rows) >= 30 and all(len(r) == 4 for r in rows)
    x = as_csv_values([r[:3] for r in rows])
    t = as_csv_values([r[3:] for r in rows])

    state = tmp_path / "net.pt"
    run("inspect", "3", "1", "--seed", "0", state=state)
    out = run_json("train", "--data", str(example), "--lr", "0.1", "--epochs", "300", "--no-shuffle", state=state)
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 1)
    losses, _ = plain_loop(ref, torch.optim.SGD(ref.parameters(), lr=0.1), x, t, epochs=300)
    close(out["losses"], losses)
    close(out["weight"], ref.weight.detach())
    # the file holds the rule it is documented with: least squares recovers it
    design = torch.cat([x.double(), torch.ones(len(rows), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(design, t.double()).solution.flatten()
    torch.testing.assert_close(solution, torch.tensor([2.0, -1.0, 0.5, 0.3], dtype=torch.float64), atol=0.02, rtol=0)
    # and training gets close to it
    torch.testing.assert_close(torch.tensor(out["weight"][0]), torch.tensor([2.0, -1.0, 0.5]), atol=0.05, rtol=0)
    assert out["loss_last"] < out["loss_first"] / 100


# --------------------------------------------------------------------------
# the view


def test_view_shows_summary_and_loss_curve_without_progress_bar(state, data10):
    path, x, t = data10
    run("inspect", "3", "2", "--weight", "0.1,0.2,0.3;-0.1,0,0.5", "--bias", "0,0.2", state=state)
    result = run("train", "--data", str(path), "--lr", "0.05", "--epochs", "20", "--no-shuffle", state=state)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    ref = plain_net([[0.1, 0.2, 0.3], [-0.1, 0, 0.5]], [0, 0.2])
    losses, _ = plain_loop(ref, torch.optim.SGD(ref.parameters(), lr=0.05), x, t, epochs=20)
    assert "first loss" in out and "last loss" in out
    assert f"{losses[0]:.4f}"[:5] in out  # the first loss, to the digits shown
    assert re.search(r"\bsteps\s+20\b", out)
    assert "weight before" in out and "weight after" in out
    assert "loss per step" in out
    assert any(0x2801 <= ord(c) <= 0x28FF for c in out), "no braille curve drawn"
    # stdout is not a terminal: no progress bar, no escape codes
    assert "training" not in out
    assert "\x1b[" not in out


def _run_in_pty(args: list[str], timeout: float = 90) -> tuple[int, bytes, str]:
    """linctl ARGS with stdout on a pseudo-terminal; returns (exit code, terminal bytes, stderr)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "LINES": "30", "TERM": "xterm-256color", "LINCTL_DEBUG": ""}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "linctl", *args], stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        stderr = proc.communicate(timeout=max(1, deadline - time.monotonic()))[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, b"".join(chunks), stderr


@pytest.fixture
def long_csv(tmp_path):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)  # 600 steps: 15 epochs, batches of 1
    t = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    return write_csv(tmp_path / "long.csv", x, t, header="a,b,c,y")


@pytest.mark.slow
def test_progress_bar_on_a_terminal(state, long_csv):
    run("inspect", "3", "1", "--seed", "0", state=state)
    code, screen, stderr = _run_in_pty(
        [
            "train",
            "--data",
            str(long_csv),
            "--lr",
            "0.001",
            "--batch-size",
            "1",
            "--epochs",
            "15",
            "--state",
            str(state),
        ]
    )
    assert code == 0, stderr
    text = screen.decode("utf-8", "replace")
    assert "training" in text, "no progress bar on a terminal"
    assert re.search(r"\b\d+/600\b", text), "the progress bar shows no step count"
    assert "loss per step" in text  # the summary still follows
    assert load_state(state)["step"] == 600


@pytest.mark.slow  # a second process on a terminal; the bar itself is checked by the test above
def test_json_on_a_terminal_has_no_progress_bar(state, long_csv):
    run("inspect", "3", "1", "--seed", "0", state=state)
    code, screen, stderr = _run_in_pty(
        [
            "train",
            "--data",
            str(long_csv),
            "--lr",
            "0.001",
            "--batch-size",
            "1",
            "--epochs",
            "15",
            "--json",
            "--state",
            str(state),
        ]
    )
    assert code == 0, stderr
    text = screen.decode("utf-8").replace("\r\n", "\n")
    assert "training" not in text and "\x1b" not in text
    assert text.count("\n") == 1
    out = json.loads(text)
    assert out["steps"] == 600 and len(out["losses"]) == 600


# --------------------------------------------------------------------------
# Ctrl-C


def _wait_until_locked(lock_path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until the process holds the state's lock, i.e. it is inside the command's work."""
    from filelock import FileLock, Timeout

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if lock_path.exists():
            probe = FileLock(str(lock_path), timeout=0)
            try:
                probe.acquire()
            except Timeout:
                return
            probe.release()
        time.sleep(0.05)
    raise AssertionError("train never took the state's lock")


@pytest.mark.slow
def test_ctrl_c_keeps_every_completed_step(tmp_path, state):
    gen = torch.Generator().manual_seed(4)
    x64 = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    t64 = x64 @ torch.tensor([[0.5], [1.0], [-1.0]], dtype=torch.float64)
    data = write_csv(tmp_path / "big.csv", x64, t64)
    run("inspect", "3", "1", "--weight", "0.2,-0.3,0.1", "--bias", "0.05", state=state)
    before = state.read_bytes()

    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "LINCTL_DEBUG": ""}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linctl",
            "train",
            "--data",
            str(data),
            "--lr",
            "0.001",
            "--batch-size",
            "1",
            "--epochs",
            "2000",
            "--no-shuffle",
            "--json",
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_until_locked(Path(str(state) + ".lock"), proc)
        time.sleep(1.0)
        assert proc.poll() is None, "train ended before Ctrl-C"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    match = re.search(r"(\d+) of (\d+) steps", stderr)
    assert match, stderr
    done, planned = int(match.group(1)), int(match.group(2))
    assert planned == 500 * 2000
    assert 0 < done < planned
    assert "saved" in stderr and str(done) in stderr

    saved = load_state(state)  # loads: the file is whole
    assert state.read_bytes() != before
    assert saved["step"] == done
    out = json.loads(stdout)
    assert out["steps"] == done and out["interrupted"] is True and len(out["losses"]) == done

    ref = plain_net([[0.2, -0.3, 0.1]], [0.05])
    x, t = as_csv_values(x64.tolist()), as_csv_values(t64.tolist())
    losses, _ = plain_loop(ref, torch.optim.SGD(ref.parameters(), lr=0.001), x, t, steps=done, batch_size=1)
    close(saved["params"]["weight"], ref.weight.detach())
    close(saved["params"]["bias"], ref.bias.detach())
    close(out["losses"][-5:], losses[-5:])


# --------------------------------------------------------------------------
# bad options


@pytest.mark.parametrize(
    "args",
    [
        ["--steps", "0"],
        ["--epochs", "-1"],
        ["--batch-size", "0"],
        ["--steps", "2", "--epochs", "2"],
        ["--x", "1,1", "--t", "1"],  # together with --data
        ["--optimizer", "nope"],
        ["--lr", "abc"],
    ],
)
def test_bad_train_options_exit_2_and_change_nothing(state, data10, args):
    path, _, _ = data10
    run("inspect", "3", "2", "--seed", "0", state=state)
    before = state.read_bytes()
    result = run("train", "--data", str(path), "--lr", "0.1", *args, state=state)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert state.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["train", "--steps", "0"], "--steps", "0"),
        (["train", "--epochs", "-1"], "--epochs", "-1"),
        (["train", "--batch-size", "0"], "--batch-size", "0"),
        (["train", "--targets", "0"], "--targets", "0"),
        (["plot", "--targets", "-2"], "--targets", "-2"),
        (["history", "--last", "0"], "--last", "0"),
    ],
)
def test_counts_below_one_are_refused_at_the_option(state, args, option, value):
    """Counts (steps, epochs, batch size, target columns, history entries) must be 1 or more: one line naming it."""
    run("inspect", "2", "1", "--seed", "0", state=state)
    before = state.read_bytes()
    result = run(*args, state=state)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"linctl: {option}: must be 1 or more, got {value}"
    assert state.read_bytes() == before
