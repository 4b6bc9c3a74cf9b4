"""Text on the command line -> validated numbers and shapes.

Nothing here imports torch: values come back as plain lists of floats, and
every problem is a UsageError that names the option and what was expected.
"""

from __future__ import annotations

import math
import re

from linctl.errors import UsageError

# A layer this large is refused before anything is allocated.
MAX_FEATURES = 1 << 20


_ASCII_SPACE = " \t\r\n\f\v"
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_INT = re.compile(r"[+-]?[0-9]+")
SHOW_CHARS = 40  # a bad value longer than this is shown cut short


def shown(item: str) -> str:
    """A value for a message: quoted, escaped, and cut short when long."""
    if len(item) > SHOW_CHARS:
        return repr(item[:SHOW_CHARS]) + f"… ({len(item)} characters)"
    return repr(item)


def shown_int(value: int) -> str:
    """A whole number for a message: a huge one is cut short, not written out in thousands of digits."""
    digits = str(value)
    return digits if len(digits) <= 24 else f"{digits[:12]}… ({len(digits.lstrip('-'))} digits)"


def number_problem(text: str, whole: bool = False) -> str | None:
    """Why `text` is not an ASCII number (a whole one if `whole`); None when it is one.

    Python's float() and int() also take Arabic-Indic, full-width and other
    Unicode digits and spaces; linctl reads only ASCII numbers, so what a user
    sees is what the network gets.
    """
    import unicodedata

    item = text.strip(_ASCII_SPACE)
    if (_INT if whole else _FLOAT).fullmatch(item):
        return None
    example = "1, 2 or -3" if whole else "1, -0.5 or 2e-3"
    for char in item:
        if char.isascii():
            continue
        code = f"U+{ord(char):04X}"
        name = unicodedata.name(char, code)
        if unicodedata.category(char) == "Pd" or "MINUS" in name:
            return (
                f"{shown(item)} has {name} ({code}) as a minus sign; use '-' (ASCII), like {'-3' if whole else '-0.5'}"
            )
        if unicodedata.category(char) in ("Nd", "No", "Nl"):
            return f"{shown(item)} has the digit {char!r} ({name}, {code}); write the digits 0-9 (ASCII)"
        if char.isspace() or unicodedata.category(char) in ("Zs", "Cf"):
            return f"{shown(item)} has an invisible or non-ASCII space ({name}, {code}); remove it"
        return f"{shown(item)} has the character {char!r} ({name}, {code}); write numbers in ASCII, like {example}"
    if whole:
        return f"{shown(item)} is not a whole number; write one like {example}"
    return f"{shown(item)} is not a number; write numbers like {example}"


def parse_number(text: str, where: str) -> float:
    """One number; `where` names the option and position for the message."""
    item = text.strip(_ASCII_SPACE)
    if not item:
        raise UsageError(f"{where}: empty value; write numbers separated by commas, like 1,0.5,-2")
    problem = number_problem(item)
    if problem:
        raise UsageError(f"{where}: {problem}")
    return float(item)


def parse_vector(text: str, option: str, row: int | None = None) -> list[float]:
    """'1,0.5,-2' -> [1.0, 0.5, -2.0]."""
    text = text.strip(_ASCII_SPACE)
    label = option if row is None else f"{option} row {row}"
    if not text:
        raise UsageError(f"{label}: no values; write numbers separated by commas, like {option} 1,0.5")
    parts = text.split(",")
    return [parse_number(p, f"{label} value {i + 1}") for i, p in enumerate(parts)]


def parse_rows(values: list[str] | str, option: str) -> list[list[float]]:
    """Several samples: the option repeated, or rows separated by ';'."""
    if isinstance(values, str):
        values = [values]
    texts = [row for value in values for row in value.split(";")]
    if not texts:
        raise UsageError(f"{option}: no values given")
    rows = [parse_vector(t, option, row=i + 1 if len(texts) > 1 else None) for i, t in enumerate(texts)]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise UsageError(
                f"{option}: row {i + 1} has {len(row)} values but row 1 has {width}; "
                "every row needs the same number of values"
            )
    return rows


def non_finite_warning(rows: list[list[float]], option: str) -> str | None:
    """A note when values contain NaN or inf: allowed, but worth a warning."""
    bad = sum(1 for row in rows for v in row if not math.isfinite(v))
    if bad:
        return f"warning: {option} has {bad} NaN/inf value(s); results will not be finite"
    return None


def check_sizes(in_features: int, out_features: int, element_size: int, available: int | None) -> None:
    """Refuse zero, negative and unallocatable sizes before allocating."""
    for name, value in (("IN", in_features), ("OUT", out_features)):
        if value < 1:
            raise UsageError(f"{name} must be a positive whole number, got {shown_int(value)}")
        if value > MAX_FEATURES:
            raise UsageError(f"{name}={shown_int(value)} is too large; linctl allows at most {MAX_FEATURES} features")
    needed = (in_features * out_features + out_features) * element_size * 3
    if available is not None and needed > available:
        raise UsageError(
            f"Linear({in_features}, {out_features}) needs about {needed / 2**30:.1f} GiB "
            f"(weights, gradients and a copy) but only {available / 2**30:.1f} GiB is free; use smaller IN/OUT"
        )


_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\s*\[\s*([^\]]*)\]\s*=\s*(.+?)\s*$", re.ASCII | re.DOTALL)


def parse_assignment(text: str) -> tuple[str, tuple[int, ...], float]:
    """'weight[0,1]=0.5' -> ('weight', (0, 1), 0.5); '2.weight[0,1]=0.5' names a stack's parameter."""
    match = _ASSIGN.match(text)
    if not match:
        raise UsageError(
            f"cannot read {shown(text)}; write 'NAME[ROW,COL]=VALUE' with a parameter name as state_dict() lists it, "
            "like 'weight[0,1]=0.5', 'bias[1]=0' or, in a stack, '2.weight[0,1]=0.5'"
        )
    name, index_text, value_text = match.groups()
    parts = index_text.split(",")
    if any(number_problem(i, whole=True) for i in parts):
        raise UsageError(f"{shown(text)}: the index must be whole numbers (ASCII digits), like {name}[0,1]")
    try:
        index = tuple(int(i) for i in parts)
    except ValueError:  # more digits than Python converts
        raise UsageError(f"{shown(text)}: the index has too many digits; use an index within the shape") from None
    return name, index, parse_number(value_text, shown(text))


def parse_betas(text: str) -> tuple[float, float]:
    values = parse_vector(text, "--betas")
    if len(values) != 2:
        raise UsageError(f"--betas: expected two numbers like 0.9,0.999, got {len(values)}")
    return values[0], values[1]


def check_seed(seed: int | None) -> None:
    """torch takes seeds that fit in 64 bits."""
    if seed is not None and not -(2**63) <= seed < 2**64:
        raise UsageError(f"--seed: {shown_int(seed)} does not fit in 64 bits; use a seed between 0 and {2**64 - 1}")
