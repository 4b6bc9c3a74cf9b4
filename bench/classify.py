"""The classification figures, each beside a plain torch reference run in the same session.

    python bench/classify.py            # full run
    python bench/classify.py --quick    # fewer rows and repeats
    python bench/classify.py --out classify.json

C1. `train --loss cross_entropy` on a 64-32-10 network (64 inputs, 10 classes: the shape of the 8x8 digits),
    steps per second against the plain loop over the same CSV (target: >= 0.9x), with the same losses.
C2. `forward --data FILE --csv` over 10,000 rows of that network against a plain torch script that reads the
    CSV, runs the network and writes the outputs (target: <= 1.15x wall time, whole processes).

Every figure is a ratio against a reference measured here and now, run turn about with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import PY, Report, linctl, paired

FEATURES, HIDDEN, CLASSES = 64, 32, 10
# one torch thread on both sides (see figure 7 in bench/figures.py)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

REFERENCE_LOOP = """
import copy, json, sys, time
import numpy as np, pandas as pd, torch
frame = pd.read_csv(sys.argv[1])
x = torch.from_numpy(frame.iloc[:, :64].to_numpy(dtype=np.float64).copy()).to(torch.float32).contiguous()
names = sorted(set(frame.iloc[:, 64]))
t = torch.tensor([names.index(v) for v in frame.iloc[:, 64]])
batch, epochs = int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
spare = copy.deepcopy(net)  # torch's first step sets itself up; linctl has that behind it when its clock starts
torch.nn.functional.cross_entropy(spare(x[:batch]), t[:batch]).backward()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
g = torch.Generator().manual_seed(0)
losses = []
start = time.perf_counter()
for _ in range(epochs):
    order = torch.randperm(len(x), generator=g)
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[idx]), t[idx])
        loss.backward()
        opt.step()
        losses.append(loss.detach())
losses = torch.stack(losses).tolist()
print(json.dumps({"seconds": time.perf_counter() - start, "steps": len(losses),
                  "loss_first": losses[0], "loss_last": losses[-1]}))
"""

REFERENCE_FORWARD = """
import sys
import numpy as np, pandas as pd, torch
from safetensors.torch import load_file
x = torch.from_numpy(pd.read_csv(sys.argv[1], header=None).to_numpy(dtype=np.float32))
params = load_file(sys.argv[2])
net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
net.load_state_dict({k.removeprefix("params/"): v for k, v in params.items() if k.startswith("params/")})
with torch.no_grad():
    out = net(x).numpy()
sys.stdout.write("\\n".join(",".join(str(v) for v in row) for row in out) + "\\n")
"""


def write_data(work: Path, rows: int) -> tuple[Path, Path]:
    """A labelled CSV (64 inputs, a digit label) for training and an inputs-only CSV for forward."""
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (CLASSES, FEATURES))
    labels = rng.integers(0, CLASSES, rows)
    x = centres[labels] + rng.normal(0, 1.5, (rows, FEATURES))
    train = work / "digits.csv"
    with train.open("w") as handle:
        handle.write(",".join([f"p{i}" for i in range(FEATURES)] + ["digit"]) + "\n")
        for row, label in zip(x, labels, strict=True):
            handle.write(",".join(f"{v:.3f}" for v in row) + f",d{label}\n")
    inputs = work / "inputs.csv"
    np.savetxt(inputs, x[:10_000], delimiter=",", fmt="%.3f")
    return train, inputs


def build(work: Path) -> Path:
    state = work / "net.safetensors"
    args = ("inspect", "64", "32", "10", "--seed", "0", "--activation", "tanh", "--activation", "none")
    subprocess.run(linctl(*args, "--state", str(state), "--json"), capture_output=True, check=True)
    return state


def figure_c1(report: Report, train_csv: Path, work: Path, repeat: int, epochs: int) -> None:
    batch = 32
    print(f"C1. train --loss cross_entropy, 64-32-10, batch {batch}, {epochs} epochs, SGD lr 0.1, shuffled")
    ours_runs, ref_runs = [], []
    for _ in range(repeat):
        state = build(work)
        args = ("train", "--data", str(train_csv), "--loss", "cross_entropy", "--lr", "0.1", "--batch-size",
                str(batch), "--epochs", str(epochs), "--seed", "0", "--json", "--quiet", "--state", str(state))  # fmt: skip
        out = subprocess.run(linctl(*args), capture_output=True, text=True, check=True, env=ENV)
        ours_runs.append(json.loads(out.stdout))
        ref = [PY, "-c", REFERENCE_LOOP, str(train_csv), str(batch), str(epochs)]
        ref_runs.append(json.loads(subprocess.run(ref, capture_output=True, text=True, check=True, env=ENV).stdout))
    speed = statistics.median(r["steps"] / r["seconds"] for r in ours_runs)
    ref_speed = statistics.median(r["steps"] / r["seconds"] for r in ref_runs)
    ratio = statistics.median(
        (a["steps"] / a["seconds"]) / (b["steps"] / b["seconds"]) for a, b in zip(ours_runs, ref_runs, strict=True)
    )
    same = all(a["losses"][-1] == b["loss_last"] for a, b in zip(ours_runs, ref_runs, strict=True))
    print(f"  (last loss {'the same as' if same else 'DIFFERENT from'} the plain loop's)")
    report.add("C1", "train cross_entropy 64-32-10: steps/s", speed, ref_speed, ratio, ">= 0.9", ratio >= 0.9 and same,
               unit="st/s")  # fmt: skip


def figure_c2(report: Report, inputs: Path, work: Path, repeat: int) -> None:
    print("C2. forward --data over 10,000 rows of a 64-32-10 network, --csv, vs a plain torch script")
    state = build(work)
    ours = linctl("forward", "--data", str(inputs), "--csv", "--state", str(state))
    ref = [PY, "-c", REFERENCE_FORWARD, str(inputs), str(state)]
    a, b = (subprocess.run(c, capture_output=True, text=True, check=True, env=ENV).stdout for c in (ours, ref))
    same = a.splitlines()[1:] == b.splitlines()
    print(f"  (outputs {'the same as' if same else 'DIFFERENT from'} the plain script's)")
    mine, theirs, ratio = paired(ours, ref, repeat, env=ENV)
    report.add(
        "C2", "forward --data 10,000 rows --csv: wall time", mine, theirs, ratio, "<= 1.15", ratio <= 1.15 and same
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    options = parser.parse_args()
    report = Report()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        train_csv, inputs = write_data(work, 10_000)
        figure_c1(report, train_csv, work, repeat=3 if options.quick else 7, epochs=1 if options.quick else 3)
        figure_c2(report, inputs, work, repeat=3 if options.quick else 9)
    if options.out:
        Path(options.out).write_text(json.dumps(report.rows, indent=2))
    return 0 if all(row["pass"] for row in report.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
