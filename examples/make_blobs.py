"""Writes blobs.csv and blobs-test.csv beside this script: three classes of points in the plane, for the
classification tour (docs/classification.md).

Each class is a cloud of normally distributed points around its centre (standard deviation 1), drawn by Python's
own random module from a fixed seed, so the files come out the same on every machine: 50 training and 20 test
samples per class, rows shuffled, numbers rounded to 3 decimals. Columns: x1, x2, then the class label.

    python examples/make_blobs.py
"""

from __future__ import annotations

import random
from pathlib import Path

CENTRES = {"left": (-2.0, 0.0), "right": (2.0, 0.0), "top": (0.0, 2.5)}
SEED = 17
HERE = Path(__file__).resolve().parent


def samples(rng: random.Random, count: int) -> list[tuple[float, float, str]]:
    rows = [
        (round(rng.gauss(cx, 1.0), 3), round(rng.gauss(cy, 1.0), 3), label)
        for label, (cx, cy) in CENTRES.items()
        for _ in range(count)
    ]
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list[tuple[float, float, str]]) -> None:
    lines = ["x1,x2,label", *(f"{a},{b},{label}" for a, b, label in rows)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    write(HERE / "blobs.csv", samples(rng, 50))
    write(HERE / "blobs-test.csv", samples(rng, 20))


if __name__ == "__main__":
    main()
