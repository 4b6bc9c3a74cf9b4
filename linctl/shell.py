"""`linctl shell`: many commands in one process, without paying the import each time.

On a terminal it is a prompt with line editing, history and tab completion
(the standard library's readline); with stdin from a pipe or file it runs one
command per line and prints no prompt, so its stdout stays as clean as the
commands' own. Each line goes through the same code as a separate
invocation, with the same state file and the same lock.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from linctl.render import note

EXIT_WORDS = {"exit", "quit", "q"}


def split(line: str) -> list[str] | None:
    """A line -> arguments; None for blank lines and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    tokens = shlex.split(line)
    if tokens and tokens[0] == "linctl":
        tokens = tokens[1:]
    return tokens or None


def run_lines(lines: TextIO, run: Callable[[list[str]], int]) -> int:
    """Run every command from a non-interactive stream; the exit code of the last failure, else 0."""
    worst = 0
    for number, line in enumerate(lines, start=1):
        try:
            tokens = split(line)
        except ValueError as exc:
            note(f"linctl shell: line {number}: {exc}; check the quotes")
            worst = 2
            continue
        if tokens is None:
            continue
        if tokens[0] in EXIT_WORDS:
            break
        if tokens[0] == "help":
            tokens = ["--help"] if len(tokens) == 1 else [tokens[1], "--help"]
        code = run(tokens)
        if code == 130:
            return 130
        if code:
            worst = code
    return worst


def interactive(run: Callable[[list[str]], int], options: dict[str, list[str]], history_file: Path) -> int:
    """A prompt with readline editing, persistent history and completion."""
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        readline = None
    if readline is not None:
        try:
            readline.read_history_file(history_file)
        except OSError:
            pass
        readline.set_completer(completer(options))
        readline.set_completer_delims(" \t")
        readline.parse_and_bind("tab: complete")
    note("linctl shell: type a command without 'linctl' (e.g. 'train-step --lr 0.05'), 'help', or 'exit'")
    last = 0
    while True:
        try:
            line = input("linctl> ")
        except EOFError:
            print(file=sys.stderr)
            break
        except KeyboardInterrupt:
            print(file=sys.stderr)
            continue
        try:
            tokens = split(line)
        except ValueError as exc:
            note(f"linctl shell: {exc}; check the quotes")
            continue
        if tokens is None:
            continue
        if tokens[0] in EXIT_WORDS:
            break
        if tokens[0] == "help":
            tokens = ["--help"] if len(tokens) == 1 else [tokens[1], "--help"]
        last = run(tokens)
    if readline is not None:
        try:
            history_file.parent.mkdir(parents=True, exist_ok=True)
            readline.set_history_length(1000)
            readline.write_history_file(history_file)
        except OSError:
            pass
    return last


def completer(options: dict[str, list[str]]):
    """Complete command names first, then that command's options."""

    def complete(text: str, state: int):
        import readline

        words = readline.get_line_buffer().split()
        if not words or (len(words) == 1 and not readline.get_line_buffer().endswith(" ")):
            pool = sorted(options) + sorted(EXIT_WORDS | {"help"})
        else:
            pool = options.get(words[0], [])
        matches = [w for w in pool if w.startswith(text)]
        return matches[state] if state < len(matches) else None

    return complete


def use_state(path: str | None) -> None:
    """Every command in this shell uses this state file unless it names another."""
    if path:
        os.environ["LINCTL_STATE"] = path
