"""`train --stream`: a data file read in chunks (pandas' chunked reader) on every rank, each rank keeping only
its rows, so that a file larger than memory trains with a footprint of a chunk and a batch.

The rows go in file order, shared as `DistributedSampler(shuffle=False, drop_last=False)` shares them: rank r
takes rows r, r+N, r+2N, ...; when the file's rows do not divide by the ranks, the first rows are repeated to
even the shares. So a streamed run takes the very batches of `train --no-shuffle` on the same processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from linctl.errors import UsageError

DEFAULT_CHUNK_ROWS = 65536
CHUNK_VARIABLE = "LINCTL_CHUNK_ROWS"  # rows per chunk read


def chunk_rows() -> int:
    import os

    text = os.environ.get(CHUNK_VARIABLE)
    if text is None:
        return DEFAULT_CHUNK_ROWS
    if not text.strip().isdigit() or not 1 <= int(text) <= 10**9:
        raise UsageError(
            f"{CHUNK_VARIABLE}={text!r}: expected a whole number of rows ≥ 1, like 65536; unset it for the default"
        )
    return int(text)


@dataclass(frozen=True)
class Source:
    """The file every rank reads, and how its columns split into inputs and targets."""

    path: str
    in_features: int
    targets: int
    has_header: bool
    chunk_rows: int = DEFAULT_CHUNK_ROWS

    @property
    def columns(self) -> int:
        return self.in_features + self.targets


def source_for(path: str, in_features: int, out_features: int, targets: int | None, widths: tuple[int, ...]) -> Source:
    """The file checked from its first line alone (the rest is read while training): it exists and has as many
    columns as the network needs."""
    from linctl import data

    with _opened(path) as handle:
        first = handle.readline().decode("utf-8", "replace").strip()
    if not first:
        raise UsageError(f"--data {path}: the first line is empty; --stream reads one sample per line from the first")
    cells = [c.strip() for c in first.split(",")]
    header = not any(data._is_number(c) for c in cells if c)
    k = targets if targets is not None else next((w for w in widths if len(cells) == in_features + w), widths[0])
    if k not in widths or len(cells) != in_features + k:
        raise UsageError(
            f"--data {path}: {len(cells)} columns, but the network needs in_features={in_features} input columns "
            f"then {k} target column{'s' if k != 1 else ''} ({in_features + k} in all; out_features={out_features})"
        )
    return Source(path=path, in_features=in_features, targets=k, has_header=header, chunk_rows=chunk_rows())


def _opened(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"--data {path}: no such file; give a CSV path (--stream reads a file, not stdin)") from None
    except OSError as exc:
        raise UsageError(f"--data {path}: cannot read it ({exc.strerror})") from None


def chunks(source: Source) -> Iterator[tuple[int, Any]]:
    """(index of the chunk's first sample, float64 array of its rows) through the whole file."""
    import numpy as np
    import pandas as pd

    start = 0
    try:
        reader = pd.read_csv(
            source.path,
            header=0 if source.has_header else None,
            chunksize=source.chunk_rows,
            dtype=np.float64,
            na_filter=False,
            engine="c",
        )
        for frame in reader:
            values = frame.to_numpy(dtype=np.float64)
            if values.shape[1] != source.columns:
                raise UsageError(
                    f"--data {source.path}: sample {start + 1} on has {values.shape[1]} columns, not {source.columns}"
                )
            yield start, values
            start += values.shape[0]
    except (ValueError, pd.errors.ParserError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--data {source.path}: after sample {start}: {text}; --stream reads plain numbers "
            "(class indices, not labels), comma-separated"
        ) from None
    except OSError as exc:
        raise UsageError(f"--data {source.path}: cannot read it ({exc.strerror})") from None


def rank_rows(source: Source, rank: int, size: int, seen: dict | None = None) -> Iterator[Any]:
    """This rank's rows, chunk by chunk (float64 arrays), the padding rows last; nothing but a chunk held.
    `seen` gets the file's sample count and the padding, once the file is read through."""
    import numpy as np

    first = None
    total = 0
    for start, values in chunks(source):
        if first is None:
            first = values[:size].copy()
        offset = (rank - start) % size
        mine = values[offset::size]
        total = start + values.shape[0]
        if mine.shape[0]:
            yield mine
    if first is None:
        raise UsageError(f"--data {source.path}: no samples; add one sample per line")
    pad = (-total) % size
    if seen is not None:
        seen.update(samples=total, padded=pad)
    extra = [j for j in range(pad) if (total + j) % size == rank]  # DistributedSampler repeats rows 0..pad-1
    if extra:
        if pad > first.shape[0]:  # fewer rows than ranks: the repetition wraps round, as DistributedSampler's does
            first = np.resize(first, (pad, first.shape[1]))
        yield first[extra]


def batches(source: Source, rank: int, size: int, per_rank: int, net, loss: str, seen: dict) -> Iterator[tuple]:
    """This rank's batches of one epoch, as the network's tensors (targets as the loss takes them, checked)."""
    import numpy as np
    import torch

    from linctl.model import registry
    from linctl.model.samples import check_samples

    held: list = []
    count = 0
    entry = registry.loss(loss)

    def made(rows):
        x = torch.from_numpy(np.ascontiguousarray(rows[:, : source.in_features]))
        t = torch.from_numpy(np.ascontiguousarray(rows[:, source.in_features :]))
        x, t = x.to(device=net.device, dtype=net.dtype), t.to(device=net.device, dtype=net.dtype)
        check_samples(loss, x, t, place, net.out_features)
        return x, entry.torch_target(t)

    def place(kind: str, row: int, col: int) -> str:
        column = col + 1 + (source.in_features if kind == "t" else 0)
        return f"--data {source.path} (streamed, rank {rank}) column {column}"

    for rows in rank_rows(source, rank, size, seen):
        held.append(rows)
        count += rows.shape[0]
        while count >= per_rank:
            block = np.concatenate(held) if len(held) > 1 else held[0]
            yield made(block[:per_rank])
            rest = block[per_rank:]
            held, count = ([rest] if rest.shape[0] else []), rest.shape[0]
    if count:
        yield made(np.concatenate(held) if len(held) > 1 else held[0])
