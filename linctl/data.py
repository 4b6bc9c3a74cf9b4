"""Samples from a CSV file: input columns, then target columns.

The target column may hold class labels (`setosa`): text in the last column
is read as one label per sample, mapped to class indices in sorted order
(or by the network's stored class names) when the samples are split.

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
    values: Any  # numpy array (rows, columns), float64; without the label column when there is one
    header: list[str] | None
    source: str
    path: str | None = None  # the file read, to find a sample's line again
    raw: bytes | None = None  # what stdin held, for the same
    labels: list[str] | None = None  # the last column's text, one class label per sample

    @property
    def rows(self) -> int:
        return self.values.shape[0]

    @property
    def columns(self) -> int:
        return self.values.shape[1] + (self.labels is not None)


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
    values, labels = _fast(where, has_header)
    if values is None:
        values, labels = _scan(where if isinstance(where, bytes) else _read_bytes(source, name), has_header, name)
    if values.shape[0] == 0:
        if any(sep in first_text for sep in ";\t"):
            raise UsageError(f"--data {name} line 1: no commas; linctl reads comma-separated values, like 1,0.5,1")
        raise UsageError(f"--data {name}: a header but no samples; add one sample per line below it")
    if source == "-":
        return Table(values=values, header=header, source=name, raw=raw, labels=labels)
    return Table(values=values, header=header, source=name, path=source, labels=labels)


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
    """pandas' C parser straight from the file: (numbers, labels of a text last column or None); (None, None)
    when a column is not all numbers (other than a last column of labels with none empty)."""
    import numpy as np
    import pandas as pd

    source = io.BytesIO(where) if isinstance(where, bytes) else where
    try:
        frame = pd.read_csv(source, header=0 if has_header else None, na_filter=False, engine="c")
    except Exception:  # the scan explains what is wrong, with a line number
        return None, None
    kinds = [kind.kind for kind in frame.dtypes]
    if all(kind in "fiu" for kind in kinds):
        return frame.to_numpy(dtype=np.float64), None
    if len(kinds) > 1 and all(kind in "fiu" for kind in kinds[:-1]):
        labels = [str(v).strip() for v in frame.iloc[:, -1]]
        if all(labels) and not any(_is_number(label) for label in labels):  # nan, inf: the scan decides
            return np.ascontiguousarray(frame.iloc[:, :-1].to_numpy(dtype=np.float64)), labels
    return None, None  # text, empty cells or nan/inf spelled out: the scan decides


def _scan(raw: bytes, has_header: bool, name: str):
    """The file line by line: (numbers, labels); the first bad line is named. A last column with any text in it
    is a column of class labels."""
    import numpy as np

    text = raw.decode("utf-8", "replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
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
        records.append((line_no, [c.strip(" \t\r\n\f\v") for c in record]))
    labelled = bool(width and width > 1) and any(cells[-1] and not _is_number(cells[-1]) for _, cells in records)
    rows, labels = [], []
    for line_no, cells in records:
        if labelled:
            labels.append(cells[-1])
            cells = cells[:-1]
        row = []
        for col, cell in enumerate(cells, start=1):
            if not cell:
                raise UsageError(f"--data {name} line {line_no} column {col}: empty value; fill it in or drop the line")
            problem = number_problem(cell)
            if problem:
                raise UsageError(f"--data {name} line {line_no} column {col}: {problem}")
            row.append(float(cell))
        if labelled and not labels[-1]:
            raise UsageError(
                f"--data {name} line {line_no} column {width}: empty class label; fill it in or drop the line"
            )
        rows.append(row)
    columns = (width or 0) - labelled
    return np.array(rows, dtype=np.float64).reshape(len(rows), columns), labels if labelled else None


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


def class_names(table: Table, stored: list[str] | None, out_features: int) -> list[str] | None:
    """The class names a label column maps to: the network's stored ones, else the file's labels in sorted order.

    A label the network has no output for is refused, naming the file, the line and the label.
    """
    if table.labels is None:
        return stored
    names = list(stored) if stored else sorted(set(table.labels))
    index = {label: k for k, label in enumerate(names)}
    for row, label in enumerate(table.labels):
        k = index.get(label)
        if k is None:
            raise UsageError(
                f"--data {table.source} line {line_of(table, row)}: label {label!r} is not one of the network's "
                f"classes ({', '.join(names)}); use those labels, or build a new network for these"
            )
        if k >= out_features:
            raise UsageError(
                f"--data {table.source} line {line_of(table, row)}: label {label!r} is class {k} of {len(names)} "
                f"(labels in sorted order), but the network has out_features={out_features} outputs; "
                f"build one with {len(names)} outputs"
            )
    return names


def split(
    table: Table,
    in_features: int,
    targets: int | None,
    out_features: int,
    widths: tuple[int, ...] | None = None,
    classes: list[str] | None = None,
    classify: bool = False,
):
    """(x, t) as float64 numpy arrays; the columns must add up to IN + targets.

    `widths` are the target widths the loss takes (one per output; or one class index, or a probability row);
    a label column becomes class indices by `classes` (see class_names), where the targets are classes (`classify`).
    """
    import numpy as np

    widths = widths or (out_features,)
    if targets is not None:
        k = targets
    else:
        fits = [w for w in widths if table.columns == in_features + w]
        k = fits[0] if fits else widths[0]
    if k not in widths:
        raise UsageError(
            f"--targets {shown_int(k)}: the network has out_features={out_features}, so each sample needs {widths[0]} "
            f"target column{'s' if widths[0] != 1 else ''}"
            + (f" (a class index; or {widths[1]} class probabilities)" if len(widths) > 1 else "")
        )
    if table.labels is not None and not classify:
        raise UsageError(
            f"--data {table.source}: the last column holds class labels ({table.labels[0]!r}, ...); "
            "train a classifier with --loss cross_entropy or --loss nll"
        )
    if table.columns != in_features + k:
        raise UsageError(
            f"--data {table.source}: {table.columns} columns, but the network needs in_features={in_features} "
            f"input columns then {k} target column{'s' if k != 1 else ''} ({in_features + k} in all)"
        )
    if table.labels is None:  # row-major copies, as torch.tensor(rows) and JSON want them
        return np.ascontiguousarray(table.values[:, :in_features]), np.ascontiguousarray(table.values[:, in_features:])
    index = {label: k for k, label in enumerate(classes or sorted(set(table.labels)))}
    t = np.array([[float(index[label])] for label in table.labels], dtype=np.float64).reshape(table.rows, 1)
    return np.ascontiguousarray(table.values[:, :in_features]), t


def non_finite(table: Table) -> int:
    import numpy as np

    return int((~np.isfinite(table.values)).sum())
