"""history, undo, diff: every change recorded; step back, compare."""

from __future__ import annotations

from typing import Annotated

import typer

from linctl import session
from linctl.errors import LinctlError
from linctl.options import OUTPUT, HtmlOpt, JsonOpt, StateOpt, SvgOpt, number_parser


def history(
    last: Annotated[
        int | None,
        typer.Option(
            "--last",
            parser=number_parser("--last", whole=True, least=1),
            metavar="N",
            rich_help_panel=OUTPUT,
            help="Only the newest N entries.",
        ),
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV on stdout, to plot elsewhere.", rich_help_panel=OUTPUT)
    ] = False,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw the loss of every recorded change, over steps.", rich_help_panel=OUTPUT)
    ] = False,
    log: Annotated[
        bool, typer.Option("--log", help="With --plot: a log-scale loss axis.", rich_help_panel=OUTPUT)
    ] = False,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """List every recorded change: step, command, loss, lr and how far the weights moved."""
    from linctl.render.history import history_csv, history_json, history_view
    from linctl.render.widgets import emit
    from linctl.store import history as record

    path = session.path_of(state)
    if not session.exists(path) and not record.folder_exists(path):
        raise LinctlError(f"no network at {path}; create one with 'linctl inspect IN OUT' or pass --state")
    entries, skipped = record.scan_index(path)
    notes = [record.skipped_note(path, skipped)] if skipped else []
    if last is not None:
        entries = entries[-last:]
    for entry in entries:
        entry["snapshot"] = record.has_snapshot(path, entry["id"])
    current = session.read_head(path)["head"] if session.exists(path) else None
    keep = record.keep_snapshots()
    if as_csv:
        emit(False, dict, lambda: history_csv(entries), notes)
        return
    emit(
        as_json,
        lambda: history_json(entries, current, str(path), keep),
        lambda: history_view(entries, current, str(path), keep, plot=plot, log=log),
        notes,
    )


def undo(
    count: Annotated[
        int,
        typer.Argument(metavar="[N]", parser=number_parser("N", whole=True), help="How many changes to go back."),
    ] = 1,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Restore the network, gradients and optimizer state as they were N changes ago."""
    from linctl.model.describe import describe
    from linctl.render.history import undo_json, undo_view
    from linctl.render.widgets import emit

    path = session.path_of(state)
    target, undone, restored = session.restore(path, count)
    d = describe(restored)
    emit(as_json, lambda: undo_json(target, undone, d, str(path)), lambda: undo_view(target, undone, d, str(path)))


def diff(
    a: Annotated[
        int | None,
        typer.Argument(
            metavar="[A]", parser=number_parser("A", whole=True), help="Entry id (default: the one before the current)."
        ),
    ] = None,
    b: Annotated[
        int | None,
        typer.Argument(
            metavar="[B]", parser=number_parser("B", whole=True), help="Entry id (default: the current one)."
        ),
    ] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Two entries' weights and gradients side by side, layer by layer, the change highlighted."""
    from linctl.model.edit import difference
    from linctl.render.history import diff_json, diff_view
    from linctl.render.widgets import emit
    from linctl.store import history as record

    path = session.path_of(state)
    if b is None:
        b = session.read_head(path)["last_id"]
    if a is None:
        entry = record.entry_or_error(path, b)
        a = entry.get("parent")
        if a is None:
            raise LinctlError(
                f"entry {b} is the first one: nothing before it to compare with; name two entries, like 'linctl diff 1 3'"
            )
    record.entry_or_error(path, a)
    record.entry_or_error(path, b)
    result = difference(record.load_snapshot(path, a, "numpy"), record.load_snapshot(path, b, "numpy"))
    emit(as_json, lambda: diff_json(a, b, result), lambda: diff_view(a, b, result))
