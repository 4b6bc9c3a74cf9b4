"""The eight performance figures, each beside a plain reference run in the same session.

    python bench/figures.py            # full run (several minutes)
    python bench/figures.py --quick    # smaller data, fewer repeats
    python bench/figures.py --only 6,7,8
    python bench/figures.py --out results.json

Every figure is a ratio against a reference measured here and now, so the
numbers mean the same on a slow or a fast machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
RSS_WRAPPER = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.returncode)
"""


def linctl(*args: str) -> list[str]:
    return [PY, "-m", "linctl", *args]


def wall(cmd: list[str], repeat: int, env: dict | None = None, stdin: str | None = None) -> float:
    """Median wall time of a command, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(
            cmd,
            input=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:6])} failed: {proc.stderr.strip()[-300:]}")
    return statistics.median(times)


def paired(
    ours: list[str],
    ref: list[str],
    repeat: int,
    before: Callable[[], None] | None = None,
    env: dict | None = None,
) -> tuple[float, float, float]:
    """Two commands run turn about, after one unmeasured run of each: the median
    wall time of each, and the median of the pairs' ratios (ours / ref).

    A pair runs back to back, so whatever else the machine is doing falls on
    both alike, and the ratio of each pair keeps that out of the figure; which
    of the two goes first alternates. `before` (not timed) runs ahead of every
    linctl run, to start it from the same state each time.
    """
    ours_times, ref_times = [], []
    for run in range(repeat + 1):
        if before is not None:
            before()
        if run % 2:
            ref_time = wall(ref, 1, env=env)
            ours_time = wall(ours, 1, env=env)
        else:
            ours_time = wall(ours, 1, env=env)
            ref_time = wall(ref, 1, env=env)
        if run:  # the first pair warms the file cache and the bytecode
            ours_times.append(ours_time)
            ref_times.append(ref_time)
    ratio = statistics.median(o / r for o, r in zip(ours_times, ref_times, strict=True))
    return statistics.median(ours_times), statistics.median(ref_times), ratio


def peak_rss_mb(cmd: list[str]) -> float:
    out = subprocess.run([PY, "-c", RSS_WRAPPER, *cmd], capture_output=True, text=True, check=True).stdout.split()
    if out[1] != "0":
        raise RuntimeError(f"{' '.join(cmd[:6])} failed")
    return int(out[0]) / 1024


class Report:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        figure: str,
        what: str,
        ours: float,
        reference: float,
        ratio: float,
        target: str,
        ok: bool,
        unit: str = "s",
    ) -> None:
        row = {
            "figure": figure,
            "what": what,
            "linctl": ours,
            "reference": reference,
            "ratio": ratio,
            "target": target,
            "pass": ok,
            "unit": unit,
        }
        self.rows.append(row)
        print(
            f"  {what:<52} linctl {ours:9.3f} {unit:<4} reference {reference:9.3f} {unit:<4} "
            f"ratio {ratio:6.2f}  target {target:<8} {'PASS' if ok else 'FAIL'}",
            flush=True,
        )

    def failed(self, figure: str, what: str, error: Exception) -> None:
        self.rows.append({"figure": figure, "what": what, "error": str(error), "pass": False})
        print(f"  {what:<52} not measured: {error}", flush=True)


def figure_1(report: Report, repeat: int) -> None:
    """`--version` against `import typer`. `--help` was measured here too until the stack issue turned typer's
    rich help on (its module alone costs a minimal app 2x `import typer`): figure 8 measures it now."""
    print("1. start-up without torch (--help: see figure 8)")
    typer_time = wall([PY, "-c", "import typer"], repeat)
    ours = wall(linctl("--version"), repeat)
    report.add(
        "1",
        "linctl --version vs python -c 'import typer'",
        ours,
        typer_time,
        ours / typer_time,
        "<= 2",
        ours / typer_time <= 2,
    )


def figure_2(report: Report, repeat: int, work: Path) -> None:
    print("2. a small layer")
    state = str(work / "small.pt")
    ours = wall(linctl("inspect", "3", "2", "--state", state), repeat)
    ref = wall(
        [PY, "-c", "import torch; net = torch.nn.Linear(3, 2); print(net); print(net.weight); print(net.bias)"], repeat
    )
    report.add("2", "linctl inspect 3 2 vs plain torch script", ours, ref, ours / ref, "<= 1.15", ours / ref <= 1.15)
    ours = wall(linctl("forward", "--x", "1,1,1", "--state", state), repeat)
    ref = wall(
        [
            PY,
            "-c",
            "import torch; net = torch.nn.Linear(3, 2); x = torch.ones(1, 3); print(net(x)); "
            "print(torch.mm(net.weight, x.t()) + net.bias.view(2, 1))",
        ],
        repeat,
    )
    report.add(
        "2", "linctl forward --x 1,1,1 vs plain torch script", ours, ref, ours / ref, "<= 1.15", ours / ref <= 1.15
    )


def figure_3(report: Report, repeat: int, work: Path) -> None:
    print("3. a 4096 x 4096 layer")
    state = str(work / "big.pt")
    x = "--x=" + ",".join(["1"] * 4096)
    inspect_cmd = linctl("inspect", "4096", "4096", "--state", state)
    forward_cmd = linctl("forward", x, "--state", state)
    ref_inspect = [
        PY,
        "-c",
        "import torch; net = torch.nn.Linear(4096, 4096); print(net); print(net.weight); print(net.bias)",
    ]
    ref_forward = [
        PY,
        "-c",
        "import torch; net = torch.nn.Linear(4096, 4096); x = torch.ones(1, 4096); y = net(x); "
        "m = torch.mm(net.weight, x.t()) + net.bias.view(4096, 1); print(y); print(m); "
        "print((m.t() - y).abs().max())",
    ]
    for name, ours_cmd, ref_cmd in (
        ("inspect 4096 4096", inspect_cmd, ref_inspect),
        ("forward on it", forward_cmd, ref_forward),
    ):
        ours = wall(ours_cmd, repeat)
        ref = wall(ref_cmd, repeat)
        report.add("3", f"linctl {name} vs plain torch script", ours, ref, ours / ref, "<= 1.3", ours / ref <= 1.3)
    interpreter = peak_rss_mb([PY, "-c", "import torch"])
    params_mb = (4096 * 4096 + 4096) * 4 / 2**20
    limit = interpreter + 3 * params_mb
    for name, cmd in (("inspect 4096 4096", inspect_cmd), ("forward on it", forward_cmd)):
        peak = peak_rss_mb(cmd)
        report.add(
            "3",
            f"peak memory of {name} vs import torch + 3x params",
            peak,
            limit,
            peak / limit,
            "<= 1",
            peak <= limit,
            unit="MiB",
        )


REFERENCE_LOOP = """
import json, sys, time
import numpy as np, pandas as pd, torch
data = torch.from_numpy(pd.read_csv(sys.argv[1], dtype=np.float64).to_numpy(copy=True)).to(torch.float32)
x, t = data[:, :16].contiguous(), data[:, 16:].contiguous()
torch.manual_seed(0)
net = torch.nn.Linear(16, 4)
opt = torch.optim.SGD(net.parameters(), lr=0.01)
losses = []
start = time.perf_counter()
for i in range(0, len(x), 1024):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x[i:i + 1024]), t[i:i + 1024])
    loss.backward()
    opt.step()
    losses.append(loss.detach())
losses = torch.stack(losses).tolist()
print(json.dumps({"seconds": time.perf_counter() - start, "steps": len(losses)}))
"""

LOADER = """
import sys, time
import numpy as np
from linctl import data
start = time.perf_counter(); data.read(sys.argv[1]); ours = time.perf_counter() - start
start = time.perf_counter(); np.loadtxt(sys.argv[1], delimiter=",", skiprows=1); ref = time.perf_counter() - start
print(ours, ref)
"""


def figure_4(report: Report, rows: int, work: Path) -> None:
    import numpy as np

    print(f"4. train over {rows:,} samples (16 inputs, 4 outputs, batch 1024, one epoch, SGD)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 16), dtype=np.float32)
    w = rng.standard_normal((16, 4), dtype=np.float32)
    t = x @ w + 0.1 * rng.standard_normal((rows, 4), dtype=np.float32)
    csv = work / "train.csv"
    header = ",".join([f"x{i}" for i in range(16)] + [f"t{i}" for i in range(4)])
    np.savetxt(csv, np.hstack([x, t]), delimiter=",", fmt="%.6f", header=header, comments="")
    state = str(work / "train.pt")
    subprocess.run(linctl("inspect", "16", "4", "--seed", "0", "--state", state), check=True, capture_output=True)
    ours_runs, ref_runs = [], []
    for run in range(2):  # alternate the two, keep the best of each
        if run:  # start again from the same weights
            subprocess.run(linctl("undo", "--state", state), check=True, capture_output=True)
        out = subprocess.run(
            linctl(
                "train",
                "--data",
                str(csv),
                "--batch-size",
                "1024",
                "--epochs",
                "1",
                "--no-shuffle",
                "--lr",
                "0.01",
                "--json",
                "--quiet",
                "--state",
                state,
            ),
            capture_output=True,
            text=True,
            check=True,
        )
        ours_runs.append(json.loads(out.stdout))
        out = subprocess.run([PY, "-c", REFERENCE_LOOP, str(csv)], capture_output=True, text=True, check=True)
        ref_runs.append(json.loads(out.stdout))
    ours = min(r["seconds"] / r["steps"] for r in ours_runs)
    ref = min(r["seconds"] / r["steps"] for r in ref_runs)
    report.add(
        "4",
        "training loop: steps/s, linctl vs plain torch loop",
        1 / ours,
        1 / ref,
        ref / ours,
        ">= 0.9",
        ref / ours >= 0.9,
        unit="st/s",
    )
    ours_load, ref_load = map(
        float, subprocess.run([PY, "-c", LOADER, str(csv)], capture_output=True, text=True, check=True).stdout.split()
    )
    report.add(
        "4",
        "CSV load: linctl (pandas) vs numpy.loadtxt, speed-up",
        ours_load,
        ref_load,
        ref_load / ours_load,
        ">= 3",
        ref_load / ours_load >= 3,
    )


def figure_5(report: Report, count: int, work: Path) -> None:
    print(f"5. {count} train-steps: one linctl shell vs {count} separate invocations")
    shell_state, loose_state = str(work / "shell.pt"), str(work / "loose.pt")
    for state in (shell_state, loose_state):
        subprocess.run(linctl("inspect", "2", "1", "--seed", "0", "--state", state), check=True, capture_output=True)
    script = "train-step --lr 0.05\n" * count
    ours = wall(linctl("shell", "--state", shell_state), 1, stdin=script)
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(linctl("train-step", "--lr", "0.05", "--state", loose_state), check=True, capture_output=True)
    ref = time.perf_counter() - start
    report.add(
        "5", f"{count} train-steps, shell vs separate, speed-up", ours, ref, ref / ours, ">= 20", ref / ours >= 20
    )


# figures 6 and 7: the 784-256-10 stack that `inspect 784 256 10 --activation relu --activation none` builds
STACK = ["784", "256", "10", "--seed", "0", "--activation", "relu", "--activation", "none"]
TORCH_STACK = """
import sys, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
"""
REFERENCE_FORWARD = (
    TORCH_STACK
    + """
x = torch.tensor([[float(v) for v in sys.argv[1].split(",")]])
print(net(x))
"""
)
REFERENCE_BACKWARD = (
    TORCH_STACK
    + """
x = torch.tensor([[float(v) for v in sys.argv[1].split(",")]])
t = torch.tensor([[float(v) for v in sys.argv[2].split(",")]])
loss = torch.nn.functional.mse_loss(net(x), t)
loss.backward()
print(loss.item())
for name, p in net.named_parameters():
    print(name, p.grad.norm().item())
"""
)


def stack_state(work: Path, name: str) -> tuple[Path, Callable[[], None]]:
    """A fresh 784-256-10 state in its own folder, and a function that puts it back as built."""
    base, live = work / f"{name}-built", work / name
    base.mkdir()
    subprocess.run(linctl("inspect", *STACK, "--state", str(base / "net.pt")), check=True, capture_output=True)

    def reset() -> None:
        shutil.rmtree(live, ignore_errors=True)
        shutil.copytree(base, live)

    reset()
    return live / "net.pt", reset


def figure_6(report: Report, repeat: int, work: Path) -> None:
    import numpy as np

    print("6. forward and backward, one sample, on a 784-256-10 stack (relu between)")
    rng = np.random.default_rng(0)
    x = ",".join(f"{v:.4f}" for v in rng.random(784))
    t = ",".join(f"{v:.4f}" for v in rng.random(10))
    state, reset = stack_state(work, "stack6")
    ours, ref, ratio = paired(
        linctl("forward", f"--x={x}", "--state", str(state)), [PY, "-c", REFERENCE_FORWARD, x], repeat
    )
    report.add("6", "linctl forward (784-256-10) vs plain torch script", ours, ref, ratio, "<= 1.15", ratio <= 1.15)
    # every backward starts from the state as inspect left it: no gradients yet, one history entry
    ours, ref, ratio = paired(
        linctl("backward", f"--x={x}", f"--t={t}", "--state", str(state)),
        [PY, "-c", REFERENCE_BACKWARD, x, t],
        repeat,
        before=reset,
    )
    report.add("6", "linctl backward (784-256-10) vs plain torch script", ours, ref, ratio, "<= 1.15", ratio <= 1.15)


REFERENCE_STACK_LOOP = """
import copy, json, sys, time
import numpy as np, pandas as pd, torch
data = torch.from_numpy(pd.read_csv(sys.argv[1], dtype=np.float64).to_numpy(copy=True)).to(torch.float32)
x, t = data[:, :784].contiguous(), data[:, 784:].contiguous()
batch = int(sys.argv[2])
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
# one step on a copy first: torch's first matmul and first backward() set themselves up (~0.05 s), which
# linctl has behind it when its clock starts; `net` itself is left as built
spare = copy.deepcopy(net)
torch.nn.functional.mse_loss(spare(x[:batch]), t[:batch]).backward()
torch.optim.SGD(spare.parameters(), lr=0.01).step()
opt = torch.optim.SGD(net.parameters(), lr=0.01)
losses = []
start = time.perf_counter()
for i in range(0, len(x), batch):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x[i:i + batch]), t[i:i + batch])
    loss.backward()
    opt.step()
    losses.append(loss.detach())
losses = torch.stack(losses).tolist()
print(json.dumps({"seconds": time.perf_counter() - start, "steps": len(losses),
                  "loss_first": losses[0], "loss_last": losses[-1]}))
"""


def figure_7(report: Report, rows: int, repeat: int, work: Path) -> None:
    import numpy as np

    batch = 256
    print(f"7. train a 784-256-10 stack over {rows:,} samples (batch {batch}, one epoch, SGD lr 0.01, no shuffle)")
    rng = np.random.default_rng(0)
    x = rng.random((rows, 784), dtype=np.float32)
    t = rng.random((rows, 10), dtype=np.float32)
    csv = work / "stack.csv"
    header = ",".join([f"x{i}" for i in range(784)] + [f"t{i}" for i in range(10)])
    np.savetxt(csv, np.hstack([x, t]), delimiter=",", fmt="%.4f", header=header, comments="")
    del x, t
    state, reset = stack_state(work, "stack7")
    train = linctl(
        "train",
        "--data",
        str(csv),
        "--batch-size",
        str(batch),
        "--epochs",
        "1",
        "--no-shuffle",
        "--lr",
        "0.01",
        "--json",
        "--quiet",
        "--state",
        str(state),
    )
    # one torch thread on both sides: with two, each step waits for whichever thread the OS has set
    # aside, and on a shared machine the same loop then takes anywhere from 0.2 s to 8 s
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    ours_runs, ref_runs = [], []
    for _ in range(repeat):  # turn about, each linctl run from the weights inspect built
        reset()
        out = subprocess.run(train, capture_output=True, text=True, check=True, env=env)
        ours_runs.append(json.loads(out.stdout))
        out = subprocess.run(
            [PY, "-c", REFERENCE_STACK_LOOP, str(csv), str(batch)], capture_output=True, text=True, check=True, env=env
        )
        ref_runs.append(json.loads(out.stdout))
    ours = statistics.median(r["seconds"] / r["steps"] for r in ours_runs)
    ref = statistics.median(r["seconds"] / r["steps"] for r in ref_runs)
    # linctl's speed over the reference's, pair by pair (each pair ran back to back)
    ratio = statistics.median(
        (b["seconds"] / b["steps"]) / (a["seconds"] / a["steps"]) for a, b in zip(ours_runs, ref_runs, strict=True)
    )
    same = [
        abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(b[k]))
        for a, b in zip(ours_runs, ref_runs, strict=True)
        for k in ("loss_first", "loss_last")
    ]
    print(
        f"  ({ours_runs[0]['steps']} steps a run, one torch thread, median of {repeat}; first and last loss "
        f"{'the same as' if all(same) else 'DIFFERENT from'} the plain loop's)"
    )
    report.add(
        "7",
        "training loop (784-256-10): steps/s, linctl vs torch",
        1 / ours,
        1 / ref,
        ratio,
        ">= 0.9",
        ratio >= 0.9 and all(same),  # a speed over other work would mean nothing
        unit="st/s",
    )


MINIMAL_TYPER_APP = """
import typer

app = typer.Typer(rich_markup_mode="rich")


@app.command()
def hello(name: str = typer.Option("world", help="Who to greet, [bold]by name[/bold].")) -> None:
    '''Say hello.'''
    print(f"hello {name}")


@app.command()
def bye() -> None:
    '''Say goodbye.'''
    print("bye")


app()
"""


def figure_8(report: Report, repeat: int, work: Path) -> None:
    print("8. --help against a minimal Typer app with rich help")
    script = work / "minimal_app.py"
    script.write_text(MINIMAL_TYPER_APP)
    ours, ref, ratio = paired(linctl("--help"), [PY, str(script), "--help"], repeat)
    report.add("8", "linctl --help vs a two-command rich Typer app --help", ours, ref, ratio, "<= 1.25", ratio <= 1.25)


def header() -> None:
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"linctl benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__}")


REFERENCE_READ = """
import sys, torch
from safetensors.torch import load_file
for name, value in load_file(sys.argv[1]).items():
    print(name, value)
"""


def figure_9(report: Report, repeat: int, work: Path) -> None:
    """The read-only commands, which open the safetensors state with numpy and never import torch."""
    print("9. read-only commands on the safetensors state (no torch) vs a torch script printing the file")
    small, big = work / "read9" / "small.safetensors", work / "read9" / "big.safetensors"
    small.parent.mkdir()
    subprocess.run(linctl("inspect", "3", "2", "--seed", "0", "--state", str(small)), check=True, capture_output=True)
    subprocess.run(
        linctl("backward", "--x", "1,2,3", "--t", "1,0", "--state", str(small)), check=True, capture_output=True
    )
    subprocess.run(
        linctl("inspect", "4096", "4096", "--seed", "0", "--state", str(big)), check=True, capture_output=True
    )
    help_s = wall(linctl("--help"), repeat)
    for name, cmd, state in (
        ("inspect (3->2)", ["inspect"], small),
        ("history (3->2)", ["history"], small),
        ("diff (3->2)", ["diff"], small),
        ("inspect (4096x4096)", ["inspect"], big),
    ):
        ours, ref, ratio = paired(linctl(*cmd, "--state", str(state)), [PY, "-c", REFERENCE_READ, str(state)], repeat)
        if state is small:
            report.add(
                "9", f"linctl {name} vs torch loading and printing it", ours, ref, ratio, "<= 0.25", ratio <= 0.25
            )
        report.add(
            "9",
            f"linctl {name} vs linctl --help ({help_s:.3f} s)",
            ours,
            help_s,
            ours / help_s,
            "<= 1.5",
            ours / help_s <= 1.5,
        )


REFERENCE_PLOT = """
import sys, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1), torch.nn.Sigmoid())
xs = torch.linspace(-1, 1, 40)
ys = torch.linspace(-1, 1, 20)
grid = torch.cartesian_prod(ys, xs)[:, [1, 0]]
print(net(grid).detach())
"""

REFERENCE_HEATMAP = """
import sys, torch
from safetensors.torch import load_file
torch.set_printoptions(profile="default")
print(load_file(sys.argv[1])["params/weight"])
"""


def figure_10(report: Report, repeat: int, work: Path) -> None:
    """The pictures: the autograd graph, the decision surface, a big heatmap."""
    import numpy as np

    print("10. graph, plot and a 4096x4096 heatmap vs plain torch doing the same work")
    rng = np.random.default_rng(0)
    x = ",".join(f"{v:.4f}" for v in rng.random(784))
    t = ",".join(f"{v:.4f}" for v in rng.random(10))
    state, _reset = stack_state(work, "stack10")
    ours, ref, ratio = paired(
        linctl("graph", f"--x={x}", f"--t={t}", "--state", str(state)), [PY, "-c", REFERENCE_BACKWARD, x, t], repeat
    )
    report.add("10", "linctl graph (784-256-10) vs plain forward+backward", ours, ref, ratio, "<= 1.2", ratio <= 1.2)
    plane = work / "plot10.safetensors"
    subprocess.run(
        linctl(
            "inspect",
            "2",
            "256",
            "1",
            "--seed",
            "0",
            "--activation",
            "tanh",
            "--activation",
            "sigmoid",
            "--state",
            str(plane),
        ),
        check=True,
        capture_output=True,
    )
    ours, ref, ratio = paired(linctl("plot", "--state", str(plane)), [PY, "-c", REFERENCE_PLOT], repeat)
    report.add(
        "10", "linctl plot (2-256-1, 40x20 grid) vs torch evaluating it", ours, ref, ratio, "<= 1.2", ratio <= 1.2
    )
    big = work / "heat10.safetensors"
    subprocess.run(
        linctl("inspect", "4096", "4096", "--seed", "0", "--state", str(big)), check=True, capture_output=True
    )
    ours, ref, ratio = paired(
        linctl("inspect", "--state", str(big)),
        [PY, "-c", REFERENCE_HEATMAP, str(big)],
        repeat,
        env={"FORCE_COLOR": "1", "COLUMNS": "120"},
    )
    report.add(
        "10", "linctl inspect 4096x4096 heatmap (colour) vs torch printing it", ours, ref, ratio, "<= 1.3", ratio <= 1.3
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="200,000 (and 5,000) samples, 20 shell steps, fewer repeats"
    )
    parser.add_argument("--only", metavar="N,N", help="run only these figures, like 6,7,8")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    args = parser.parse_args()
    only = None
    if args.only:
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = only - {str(n) for n in range(1, 11)}
        if unknown:
            parser.error(f"--only: no figure {', '.join(sorted(unknown))}; the figures are 1 to 10")
    repeat = 3 if args.quick else 7
    header()
    report = Report()
    # installed packages come with their bytecode; an editable checkout gets it here
    subprocess.run([PY, "-m", "compileall", "-q", str(Path(__file__).resolve().parent.parent / "linctl")], check=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        steps = [
            ("1", "start-up", lambda: figure_1(report, repeat)),
            ("2", "small layer", lambda: figure_2(report, repeat, work)),
            ("3", "big layer", lambda: figure_3(report, max(3, repeat // 2), work)),
            ("4", "training", lambda: figure_4(report, 200_000 if args.quick else 1_000_000, work)),
            ("5", "shell", lambda: figure_5(report, 20 if args.quick else 100, work)),
            ("6", "forward/backward on a stack", lambda: figure_6(report, 5 if args.quick else 11, work)),
            (
                "7",
                "training a stack",
                lambda: figure_7(report, 5_000 if args.quick else 20_000, 3 if args.quick else 7, work),
            ),
            ("8", "help", lambda: figure_8(report, 7 if args.quick else 21, work)),
            ("9", "read-only commands", lambda: figure_9(report, 5 if args.quick else 11, work)),
            ("10", "pictures", lambda: figure_10(report, 3 if args.quick else 7, work)),
        ]
        for figure, name, run in steps:
            if only is not None and figure not in only:
                continue
            try:
                run()
            except Exception as exc:  # one figure failing must not lose the others
                report.failed(figure, name, exc)
    passed = sum(1 for r in report.rows if r["pass"])
    print(f"{passed} of {len(report.rows)} figures met")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": report.rows, "quick": args.quick, "only": args.only}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
