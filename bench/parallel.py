"""The data-parallel figures, each beside a reference run in the same session.

    python bench/parallel.py            # full run: 1,000,000 rows; a 320 MB CSV streamed
    python bench/parallel.py --quick    # 200,000 rows; a 96 MB CSV streamed (three times the budget)
    python bench/parallel.py --out parallel.json

P1. `train --nproc 2` against `train --nproc 1` on the same rows (4 inputs, a 4-16-1 tanh stack, batch 1024 over
    all ranks, one epoch): samples per second of the training loop (the JSON's figure), and the ratio.
P2. `train --nproc 2` against a plain two-process DDP script (bench/plain_ddp.py: torch.multiprocessing, each
    rank reads the CSV with pandas, DistributedSampler, the same network and batches): whole-process wall time,
    run turn about (target: at most 1.2x).
P3. `train --stream --nproc 2` over a CSV ten times a rank's data budget of 32 MB (three times with --quick), and
    over one a tenth of that: each rank's peak resident memory above a rank streaming a tiny file (target: within
    the budget, for both), beside the big file trained in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import PY, Report, linctl, paired

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def write_csv(path: Path, rows: int, seed: int = 0) -> Path:
    import numpy as np

    g = np.random.default_rng(seed)
    x = g.uniform(-1, 1, size=(rows, 4))
    t = np.sin(x.sum(axis=1, keepdims=True))
    block = 500_000
    with path.open("w") as handle:
        for start in range(0, rows, block):
            part = np.hstack([x[start : start + block], t[start : start + block]])
            handle.write("\n".join(",".join(f"{v:.6f}" for v in row) for row in part.tolist()) + "\n")
    return path


def built(work: Path, name: str) -> Path:
    state = work / f"{name}.pt"
    for extra in (state.with_name(state.name + ".history"),):
        subprocess.run(["rm", "-rf", str(extra)], check=True)
    subprocess.run(
        linctl("inspect", "4", "16", "1", "--seed", "0", "--activation", "tanh", "--activation", "none",
               "--state", str(state), "--json"),
        capture_output=True, check=True,
    )  # fmt: skip
    return state


def train_json(args: list[str]) -> dict:
    ran = subprocess.run(linctl(*args), capture_output=True, text=True, env=ENV)
    if ran.returncode != 0:
        raise RuntimeError(ran.stderr.strip()[-400:])
    return json.loads(ran.stdout)


def figure_p1(report: Report, data: Path, work: Path, repeat: int) -> None:
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeat):
        for nproc in (2, 1):
            state = built(work, f"p1_{nproc}")
            out = train_json(["train", "--data", str(data), "--nproc", str(nproc), "--batch-size", "1024",
                              "--epochs", "1", "--seed", "0", "--lr", "0.01", "-q", "--json", "--state", str(state)])  # fmt: skip
            rates[nproc].append(out["parallel"]["samples_per_second"])
    two, one = max(rates[2]), max(rates[1])
    report.add("P1", "train --nproc 2 vs --nproc 1 (samples/s)", two, one, two / one, "report", True, "sm/s")


def figure_p2(report: Report, data: Path, work: Path, repeat: int) -> None:
    state = work / "p2.pt"
    ours = linctl("train", "--data", str(data), "--nproc", "2", "--batch-size", "1024", "--epochs", "1",
                  "--seed", "0", "--lr", "0.01", "-q", "--state", str(state))  # fmt: skip
    ref = [PY, str(HERE / "plain_ddp.py"), str(data), "2", "1024", "1"]
    mine, theirs, ratio = paired(ours, ref, repeat, before=lambda: built(work, "p2"), env=ENV)
    report.add("P2", "train --nproc 2 vs plain DDP script (wall)", mine, theirs, ratio, "<= 1.2", ratio <= 1.2)


def peak_per_rank(cmd: list[str]) -> list[float]:
    """Each worker's peak resident memory (VmHWM, MiB), read from /proc while the command runs."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    peaks: dict[int, float] = {}
    while proc.poll() is None:
        found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
        for pid in (int(p) for p in found.split()):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid] = max(peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
            except OSError:
                pass
        time.sleep(0.05)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.read() if proc.stderr else b"").decode()[-400:])
    return sorted(peaks.values())


def figure_p3(report: Report, work: Path, budget_mb: int, times: int) -> None:
    """Streaming a file `times` x the budget, and one a tenth of that: the growth is the same (bounded by the
    chunk, not the file); the big file trained in memory grows with it."""
    tiny = write_csv(work / "tiny.csv", 4096, seed=2)
    probe = write_csv(work / "probe.csv", 100_000, seed=3)
    per_row = probe.stat().st_size / 100_000
    big = write_csv(work / "big.csv", int(times * budget_mb * 2**20 / per_row), seed=3)
    small = write_csv(work / "small.csv", int(times * budget_mb * 2**20 / per_row / 10), seed=4)
    common = ["--nproc", "2", "--batch-size", "4096", "--epochs", "1", "--lr", "0.01", "-q"]

    def peak(data: Path, *extra: str) -> float:
        state = built(work, "p3")
        return max(peak_per_rank(linctl("train", "--data", str(data), *extra, *common, "--state", str(state))))

    base = peak(tiny, "--stream")
    for data in (small, big):
        grown = peak(data, "--stream") - base
        size = data.stat().st_size / 2**20
        report.add("P3", f"--stream of a {size:.0f} MB CSV: growth per rank", grown, float(budget_mb),
                   grown / budget_mb, "<= 1", grown <= budget_mb, "MiB")  # fmt: skip
    memory = peak(big) - base
    report.add("P3", f"that {big.stat().st_size / 2**20:.0f} MB CSV in memory: growth per rank", memory,
               float(budget_mb), memory / budget_mb, "report", True, "MiB")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--only", default="1,2,3")
    options = parser.parse_args()
    rows, repeat, times = (200_000, 3, 3) if options.quick else (1_000_000, 5, 10)
    report = Report()
    only = set(options.only.split(","))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data = write_csv(work / "rows.csv", rows)
        if "1" in only:
            figure_p1(report, data, work, repeat)
        if "2" in only:
            figure_p2(report, data, work, repeat)
        if "3" in only:
            figure_p3(report, work, 32, times)
    if options.out:
        Path(options.out).write_text(json.dumps(report.rows, indent=1))
    return 0 if all(row["pass"] for row in report.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
