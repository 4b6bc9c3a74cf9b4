"""The five performance figures, each beside a plain reference run in the same session.

    python bench/figures.py            # full run (a few minutes)
    python bench/figures.py --quick    # smaller data, fewer repeats
    python bench/figures.py --out results.json

Every figure is a ratio against a reference measured here and now, so the
numbers mean the same on a slow or a fast machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
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
    print("1. start-up without torch")
    typer_time = wall([PY, "-c", "import typer"], repeat)
    for flag in ("--help", "--version"):
        ours = wall(linctl(flag), repeat)
        report.add(
            "1",
            f"linctl {flag} vs python -c 'import typer'",
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
data = torch.from_numpy(pd.read_csv(sys.argv[1], dtype=np.float64).to_numpy()).to(torch.float32)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 samples, 20 shell steps, 3 repeats")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    args = parser.parse_args()
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
        ]
        for figure, name, run in steps:
            try:
                run()
            except Exception as exc:  # one figure failing must not lose the others
                report.failed(figure, name, exc)
    passed = sum(1 for r in report.rows if r["pass"])
    print(f"{passed} of {len(report.rows)} figures met")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": report.rows, "quick": args.quick}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
