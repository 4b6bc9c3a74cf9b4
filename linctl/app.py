"""The Typer app, and the one place where outcomes become exit codes.

torch is never imported here at module level, so `linctl --help` and
`linctl --version` start fast; each command imports what it needs.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from linctl import __version__, session
from linctl.errors import LinctlError


class Group(TyperGroup):
    """Turns every failure into one line on stderr and the contract's exit code."""

    def main(  # type: ignore[override]  # same parameters, passed on by keyword
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: Any = True,
        **extra: Any,
    ) -> Any:
        import gc

        # importing torch makes ~1M objects; the default thresholds would walk them
        # all in full collections several times per command (~0.1 s)
        gc.set_threshold(100_000, 50, 100)
        argv = list(sys.argv[1:] if args is None else args)
        session.command_line[:] = argv
        parsed_by_own_parsers(self)
        code = run_guarded(
            lambda: super(Group, self).main(
                args=argv, prog_name=prog_name or "linctl", complete_var=complete_var, standalone_mode=False, **extra
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


def running_command() -> tuple[str, dict] | None:
    """The command being run and its parsed options, for the history entry that `export --python` replays.

    Installed into the session when this module is imported, which the console script always does: however the
    app is assembled for a command line, every change records what replay needs.
    """
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a typer that uses click itself
        from click import get_current_context  # type: ignore[no-redef]

    ctx = get_current_context(silent=True)
    if ctx is None or ctx.command.name is None:
        return None
    return ctx.command.name, dict(ctx.params)


session.running_command = running_command


class Parsed:
    """A parameter's value converted by its own `parser=` alone (strings and flags as click gives them)."""

    def __init__(self, parser: Callable[[Any], Any] | None) -> None:
        self.parser = parser

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        many = getattr(param, "multiple", False) or getattr(param, "nargs", 1) == -1
        if value is None:
            return () if many else None
        one = self.parser or (lambda item: item)
        return [one(item) for item in value] if many else one(value)


def parsed_by_own_parsers(group: Any) -> None:
    """Spare each command typer's conversion of its values through pydantic.

    Every linctl option is a string, a flag, or has its own `parser=`; typer
    would run that parser inside a pydantic validator: an import and a
    validator per parameter, about 0.1 s a command, for nothing pydantic adds.
    Typer builds that validator lazily in each parameter's `_runtime_param`;
    filling the slot of linctl's own parameters with the parser alone skips
    it. On a typer without that slot nothing changes, and
    tests/test_startup.py checks that no command imports pydantic.
    """
    from types import SimpleNamespace

    for command in [group, *getattr(group, "commands", {}).values()]:
        params = list(command.params)
        try:  # --help, which typer makes on first use (and keeps)
            params.append(command.get_help_option(SimpleNamespace(help_option_names=["--help"])))
        except Exception:  # another typer: it keeps its own way
            pass
        for param in params:
            info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
            if info is not None and getattr(param, "_runtime_param", False) is None:
                param._runtime_param = Parsed(getattr(info, "parser", None))


def run_guarded(call: Callable[[], Any]) -> int:
    """Run a command; map every outcome to an exit code and at most one line."""
    debug = os.environ.get("LINCTL_DEBUG") == "1"
    try:
        result = call()
        return result if isinstance(result, int) else 0
    except LinctlError as exc:
        if debug:
            raise
        note("linctl: " + str(exc).replace("\r", "\\r").replace("\n", "\\n"))  # one line, whatever the input held
        return exc.exit_code
    except KeyboardInterrupt:
        note("linctl: interrupted; the state file was left as it was")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except Exception as exc:
        if debug:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `linctl`: the help, already printed, says it all
            return int(getattr(exc, "exit_code", 2))
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):  # typer's usage errors
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "linctl"
            message = " ".join(exc.format_message().split())
            if re.match(r"No such option:? '?-[0-9.]", message):
                message += " A negative number? sizes and N must be positive; values are written --x=-1,2"
            note(f"{where}: {message} (see '{where} --help')")
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            return 130
        note(f"linctl: internal error: {type(exc).__name__}: {exc}; rerun with LINCTL_DEBUG=1 for the traceback")
        return 1


def note(message: str) -> None:
    """One line on stderr (render's own is not imported on the fast path)."""
    print(message, file=sys.stderr)


def version_callback(value: bool) -> None:
    if value:
        print(f"linctl {__version__}")
        raise typer.Exit()


HELP = "Inspect and step PyTorch linear networks from the command line: every number shown and checked."

# every command: its name, and where its function lives in linctl.commands (the order of --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("network", "inspect"),
    "forward": ("network", "forward"),
    "backward": ("stepping", "backward"),
    "step": ("stepping", "step"),
    "zero-grad": ("stepping", "zero_grad"),
    "train-step": ("stepping", "train_step"),
    "train": ("training", "train"),
    "history": ("history", "history"),
    "undo": ("history", "undo"),
    "diff": ("history", "diff"),
    "set": ("network", "set_values"),
    "shell": ("shell", "shell"),
    "export": ("porting", "export"),
    "import": ("porting", "import_"),
    "graph": ("pictures", "graph"),
    "plot": ("pictures", "plot"),
    "view": ("view", "view"),
}


def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Inspect and step PyTorch linear networks from the command line: every number shown and checked."""


def _new_app() -> typer.Typer:
    built = typer.Typer(
        cls=Group,
        add_completion=True,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",  # options grouped in panels: Network, Data, Optimizer, Output
        help=HELP,
    )
    built.callback()(root)
    return built


def _command(name: str) -> Callable[..., Any]:
    from importlib import import_module

    module, function = COMMANDS[name]
    return getattr(import_module(f"linctl.commands.{module}"), function)


def build(names: Iterable[str]) -> typer.Typer:
    """The Typer app with these commands (the whole CLI: all of COMMANDS)."""
    built = _new_app()
    for name in names:
        built.command(name)(_command(name))
    return built


def listing() -> typer.Typer:
    """The CLI as `linctl --help` lists it: every command's name and help, none of their options built.

    Only for the command lines in LISTED, which never run a command; tests/test_views.py checks that
    its help is the whole CLI's, to the character.
    """
    built = _new_app()
    for name in COMMANDS:
        real = _command(name)

        def stand_in() -> None:  # pragma: no cover - never run: LISTED names no command
            raise LinctlError("this command runs through the whole CLI")

        built.command(name, help=inspect.getdoc(real))(stand_in)
    return built


# command lines that only list the commands (help) or print the version
LISTED: tuple[list[str], ...] = ([], ["--help"], ["--version"])


def __getattr__(name: str) -> Any:
    """`app`, the whole CLI, is built on first use."""
    if name == "app":
        whole = build(COMMANDS)
        globals()["app"] = whole
        return whole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The console entry point.

    A command line that names one command (all but `shell`, which runs any
    of them) gets an app with that command alone: Typer then builds one
    command's options instead of all sixteen's, and imports one module.
    `linctl`, `--help` and `--version` get the commands listed without their
    options; everything else (completion, a mistyped name) gets the whole CLI.
    """
    words = sys.argv[1:]
    first = words[0] if words else None
    completing = any(key.endswith("_COMPLETE") for key in os.environ)
    if completing:
        __getattr__("app")()
    elif first in COMMANDS and first != "shell":
        build([first])()
    elif words in LISTED:
        listing()()
    else:
        __getattr__("app")()
