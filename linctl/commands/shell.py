"""`linctl shell`: many commands in one process, without paying the import each time.

On a terminal it is a prompt with line editing, history and tab completion
(the standard library's readline); with stdin from a pipe or file it runs one
command per line and prints no prompt, so its stdout stays as clean as the
commands' own. Each line goes through the same code as a separate
invocation, with the same state file and the same lock.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import typer

from linctl.options import StateOpt
from linctl.render.widgets import note
from linctl.session import path_of

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


def command(line: str) -> list[str] | None:
    """A line -> the arguments to run: None for blank lines and comments, [] to leave the shell,
    `help [CMD]` as `[CMD] --help`. ValueError for unbalanced quotes."""
    tokens = split(line)
    if tokens is None:
        return None
    if tokens[0] in EXIT_WORDS:
        return []
    if tokens[0] == "help":
        return ["--help"] if len(tokens) == 1 else [tokens[1], "--help"]
    return tokens


def run_lines(lines: TextIO, run: Callable[[list[str]], int]) -> int:
    """Run every command from a non-interactive stream; the exit code of the last failure, else 0."""
    worst = 0
    for number, line in enumerate(lines, start=1):
        try:
            tokens = command(line)
        except ValueError as exc:
            note(f"linctl shell: line {number}: {exc}; check the quotes")
            worst = 2
            continue
        if tokens is None:
            continue
        if not tokens:
            break
        code = run(tokens)
        if code == 130:
            return 130
        if code:
            worst = code
    return worst


def interactive(run: Callable[[list[str]], int], options: dict[str, list[str]], history_file: Path) -> int:
    """A prompt with readline editing, persistent history and completion."""
    try:
        import readline as readline_module
    except ImportError:  # pragma: no cover - platforms without readline
        readline_module = None  # type: ignore[assignment]
    readline = readline_module
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
            tokens = command(line)
        except ValueError as exc:
            note(f"linctl shell: {exc}; check the quotes")
            continue
        if tokens is None:
            continue
        if not tokens:
            break
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


def with_state(tokens: list[str], path: str | None) -> list[str]:
    """The command line with the shell's --state, unless it names its own (the process environment is left alone)."""
    if not path or not tokens or any(t == "--state" or t.startswith("--state=") for t in tokens):
        return tokens
    return [*tokens, "--state", path]


def shell(ctx: typer.Context, state: StateOpt = None) -> None:
    """Run commands in one process: a prompt on a terminal, one command per line from a pipe."""
    group = ctx.find_root().command

    def run(tokens: list[str]) -> int:
        if tokens and tokens[0] == "shell":
            note("linctl shell: already in the shell")
            return 2
        return group.main(args=with_state(tokens, state), prog_name="linctl", standalone_mode=False)

    if sys.stdin.isatty():
        commands = getattr(group, "commands", {})
        options = {
            name: sorted(opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("-"))
            for name, command in commands.items()
        }
        history_file = path_of(state).with_name("shell_history")
        code = interactive(run, options, history_file)
    else:
        code = run_lines(sys.stdin, run)
    if code:
        raise typer.Exit(code)
