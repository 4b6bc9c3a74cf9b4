"""Samples from a CSV file: input columns, then target columns.

The fast path is pandas' C parser (about 10x numpy.loadtxt on a million
rows). When it refuses a file, a plain scan with the csv module finds the
first bad line and names it, so every error carries a line number.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from typing import Any

from linctl.errors import UsageError
from linctl.parsing import number_problem, shown_int


@dataclass
class Table:
    values: Any  # numpy array (rows, columns), float64
    header: list[str] | None
    source: str
    path: str | None = None  # the file read, to find a sample's line again
    raw: bytes | None = None  # what stdin held, for the same

    @property
    def rows(self) -> int:
        return self.values.shape[0]

    @property
    def columns(self) -> int:
        return self.values.shape[1]


def _is_number(text: str) -> bool:
    """Number-like, Unicode digits included: a first line of them is data (and refused there), not a header."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def read(source: str) -> Table:
    """Read `source` (a path, or '-' for stdin) into a float table."""
    name = "stdin" if source == "-" else source
    if source == "-":
        raw = sys.stdin.buffer.read()
        first = raw[: raw.find(b"\n")] if b"\n" in raw else raw
        where: object = raw
    else:
        first = _first_line(source, name)
        where = source
    if not first.strip():
        raw = _read_bytes(source, name) if source != "-" else raw
        if not raw.strip():
            raise UsageError(f"--data {name}: the file is empty; give one sample per line, like 1,0.5,1")
    first_text = first.decode("utf-8", "replace").strip()
    cells = [c.strip() for c in first_text.split(",")]
    # a header has no numbers at all; a first line with some is data (and a bad value there is an error)
    has_header = bool(first_text) and not any(_is_number(c) for c in cells if c)
    header = cells if has_header else None
    values = _fast(where, has_header)
    if values is None:
        values = _scan(where if isinstance(where, bytes) else _read_bytes(source, name), has_header, name)
    if values.shape[0] == 0:
        if any(sep in first_text for sep in ";\t"):
            raise UsageError(f"--data {name} line 1: no commas; linctl reads comma-separated values, like 1,0.5,1")
        raise UsageError(f"--data {name}: a header but no samples; add one sample per line below it")
    if source == "-":
        return Table(values=values, header=header, source=name, raw=raw)
    return Table(values=values, header=header, source=name, path=source)


def _first_line(source: str, name: str) -> bytes:
    try:
        with open(source, "rb") as handle:
            return handle.readline()
    except FileNotFoundError:
        raise UsageError(f"--data {name}: no such file; give a CSV path, or - for stdin") from None
    except IsADirectoryError:
        raise UsageError(f"--data {name}: is a directory; give a CSV file") from None
    except OSError as exc:
        raise UsageError(f"--data {name}: cannot read it ({exc.strerror})") from None


def _read_bytes(source: str, name: str) -> bytes:
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"--data {name}: cannot read it ({exc.strerror})") from None


def _fast(where, has_header: bool):
    """pandas' C parser straight from the file; None when any column is not all numbers."""
    import numpy as np
    import pandas as pd

    source = io.BytesIO(where) if isinstance(where, bytes) else where
    try:
        frame = pd.read_csv(source, header=0 if has_header else None, na_filter=False, engine="c")
    except Exception:  # the scan explains what is wrong, with a line number
        return None
    if not all(kind.kind in "fiu" for kind in frame.dtypes):
        return None  # text, empty cells or nan/inf spelled out: the scan decides
    return frame.to_numpy(dtype=np.float64)


def _scan(raw: bytes, has_header: bool, name: str):
    import numpy as np

    text = raw.decode("utf-8", "replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    width = None
    for line_no, record in enumerate(_records(reader, name), start=1):
        if has_header and line_no == 1:
            width = len(record)
            continue
        if not record or all(not c.strip() for c in record):
            continue
        if width is None:
            width = len(record)
        if len(record) != width:
            raise UsageError(
                f"--data {name} line {line_no}: {len(record)} columns, but the file has {width}; every line needs {width}"
            )
        row = []
        for col, cell in enumerate(record, start=1):
            cell = cell.strip(" \t\r\n\f\v")
            if not cell:
                raise UsageError(f"--data {name} line {line_no} column {col}: empty value; fill it in or drop the line")
            problem = number_problem(cell)
            if problem:
                raise UsageError(f"--data {name} line {line_no} column {col}: {problem}")
            row.append(float(cell))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), width or 0)


def _records(reader, name: str):
    """The csv reader's rows, its own errors turned into a message with the line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UsageError(
                f"--data {name} line {reader.line_num}: {exc}; write plain comma-separated numbers"
            ) from None


def line_of(table: Table, row: int) -> int:
    """The file line that holds sample `row` (0-based), counted as the reader counts them."""
    raw = table.raw if table.raw is not None else _read_bytes(table.path or table.source, table.source)
    reader = csv.reader(io.StringIO(raw.decode("utf-8", "replace"), newline=""))
    seen = -1
    try:
        for line_no, record in enumerate(reader, start=1):
            if table.header is not None and line_no == 1:
                continue
            if not record or all(not c.strip() for c in record):
                continue
            seen += 1
            if seen == row:
                return line_no
    except csv.Error:  # pandas read what the csv module cannot: count plainly
        pass
    return row + 1 + (table.header is not None)


def split(table: Table, in_features: int, targets: int | None, out_features: int):
    """(x, t) as float64 numpy arrays; the columns must add up to IN + targets."""
    k = out_features if targets is None else targets
    if k != out_features:
        raise UsageError(
            f"--targets {shown_int(k)}: the network has out_features={out_features}, so each sample needs {out_features} target columns"
        )
    if table.columns != in_features + k:
        raise UsageError(
            f"--data {table.source}: {table.columns} columns, but the network needs in_features={in_features} "
            f"input columns then {k} target columns ({in_features + k} in all)"
        )
    return table.values[:, :in_features], table.values[:, in_features:]


def non_finite(table: Table) -> int:
    import numpy as np

    return int((~np.isfinite(table.values)).sum())
