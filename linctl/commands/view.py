"""view: the network live in a browser, following every change to the state file; or exported as static files."""

from __future__ import annotations

from typing import Annotated

import typer

from linctl import session
from linctl.errors import LinctlError, UsageError
from linctl.options import DATA, OUTPUT, JsonOpt, StateOpt, TargetsOpt, number_parser

NEEDS_EXTRA = "linctl view needs its web server: install linctl with the view extra, pip install 'linctl[view]'"
OPEN_TO_ALL = ("0.0.0.0", "::", "")


PortOpt = Annotated[
    int,
    typer.Option(
        "--port",
        parser=number_parser("--port", whole=True, least=0),
        metavar="N",
        rich_help_panel=OUTPUT,
        help="Port to serve on (default: a free one).",
    ),
]
HostOpt = Annotated[
    str,
    typer.Option(
        "--host", metavar="ADDRESS", rich_help_panel=OUTPUT, help="Address to listen on (default: 127.0.0.1 only)."
    ),
]
OpenOpt = Annotated[bool, typer.Option("--open", help="Open the page in the default browser.", rich_help_panel=OUTPUT)]
ExportOpt = Annotated[
    str | None,
    typer.Option(
        "--export",
        metavar="DIR",
        rich_help_panel=OUTPUT,
        help="Write the page as static files (network and history baked in) into DIR, for file:// use; no server.",
    ),
]
DataOpt = Annotated[
    str | None,
    typer.Option("--data", metavar="FILE", rich_help_panel=DATA, help="CSV of samples to draw on the surface."),
]


def view(
    port: PortOpt = 0,
    host: HostOpt = "127.0.0.1",
    open_browser: OpenOpt = False,
    export: ExportOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The network in a browser, drawn as TensorFlow Playground draws it, updated live as commands change it."""
    from linctl.render.widgets import note, print_json

    path = session.path_of(state)
    if port > 65535:
        raise LinctlError(f"--port: expected a port from 0 to 65535, got {port}")
    if export is not None:
        if not export.strip():
            raise UsageError("--export: the folder name is empty; give a folder like --export page")
        from linctl.view.export import export_page

        files = export_page(path, export, data, targets)
        if as_json:
            print_json({"export": export, "files": files, "state": str(path)})
        else:
            print(f"wrote the page for {path} into {export}: open {files[0]} in a browser")
        return
    try:
        from linctl.view import server
    except ImportError:
        raise LinctlError(NEEDS_EXTRA) from None
    if host in OPEN_TO_ALL:
        note(
            f"warning: --host {host or '(empty)'} serves the page to every network this machine is on; the token is all that guards it"
        )
    sock = server.bind(host, port)
    viewer = server.Viewer(path=path, samples=data, targets=targets, host=host, port=sock.getsockname()[1])
    if as_json:
        print_json({"url": viewer.url, "host": host, "port": viewer.port, "state": str(path)})
    else:
        print(f"linctl view: {path} at {viewer.url}  (Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(viewer.url)
    server.serve(viewer, sock)
