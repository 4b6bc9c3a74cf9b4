"""The page's local server: Starlette routes served by uvicorn, guarded by a token and by Host and
Origin checks, with the state file's changes pushed to every open page as server-sent events.

The state file is watched with watchfiles (inotify and its kin): a change wakes the watcher, which
compares the file's stat (inode, size, mtime) and reads it only when that moved; nothing reads the
file in a loop. The step buttons run linctl itself in a subprocess, one at a time, so they take the
command line's own path: the lock, the checked save, the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from linctl.errors import LinctlError
from linctl.view import pagedata
from linctl.view.export import STATIC, page_html, static_text
from linctl.view.steps import run_linctl, step_command

KEEPALIVE_S = 15.0
WAKE_S = 0.25  # how often an open event stream looks whether the server is stopping


@dataclass
class Viewer:
    path: Path
    samples: str | None = None
    targets: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    current: bytes = b""
    signature: Any = None
    error: str | None = None
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    running: asyncio.Lock = field(default_factory=asyncio.Lock)
    stopping: bool = False

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/?token={self.token}"

    # ---------------------------------------------------------------- the state file

    def stat(self) -> Any:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def reload(self) -> None:
        """Read the state file again; a new error goes to the terminal too, as the page shows it."""
        self.signature = self.stat()
        data = pagedata.page_data(self.path, self.samples, self.targets)
        if data["error"] is not None and data["error"] != self.error:
            print(data["error"], file=sys.stderr, flush=True)
        self.error = data["error"]
        self.current = pagedata.encode(data)

    async def refresh(self) -> None:
        if self.stat() == self.signature:
            return
        await asyncio.to_thread(self.reload)
        for queue in list(self.subscribers):
            queue.put_nowait(self.current)

    async def watch(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        name = os.path.abspath(self.path)
        folder = os.path.dirname(name)
        while not stop.is_set():
            if not os.path.isdir(folder):  # gone with its folder: wait for the folder to come back
                await asyncio.sleep(0.25)
                await self.refresh()
                continue
            with contextlib.suppress(FileNotFoundError, RuntimeError, OSError):
                async for _ in awatch(
                    folder,
                    watch_filter=lambda _change, where: where == name,
                    recursive=False,
                    debounce=40,
                    step=10,
                    rust_timeout=1000,
                    yield_on_timeout=True,
                    stop_event=stop,
                ):
                    await self.refresh()
                    if not os.path.isdir(folder):
                        break

    # ---------------------------------------------------------------- the guard

    def refusal(self, request: Request) -> str | None:
        """Why a request is refused (403), or None: a foreign Host, a cross-site Origin, no token."""
        host = request.headers.get("host", "")
        if not self.host_allowed(host):
            return f"refused: Host {host!r} is not this server's"
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return f"refused: cross-site Origin {origin!r}"
        given = request.query_params.get("token") or request.headers.get("x-linctl-token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "refused: this page needs the token of the URL that 'linctl view' printed"
        return None

    def host_allowed(self, host: str) -> bool:
        name, _, port = host.rpartition(":")
        if port != str(self.port):
            return False
        name = name.strip("[]")
        if name in ("localhost", self.host):
            return True
        try:  # an address, never a name that DNS could point here (rebinding)
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return self.host not in ("127.0.0.1", "::1", "localhost") or ipaddress.ip_address(name).is_loopback


def events(viewer: Viewer) -> Any:
    """The live route: the page data now, then again at each change of the state file (server-sent events)."""

    async def stream_events(request: Request) -> Response:
        queue: asyncio.Queue = asyncio.Queue()
        viewer.subscribers.add(queue)

        async def stream():
            try:
                yield b"event: state\ndata: " + viewer.current + b"\n\n"
                quiet = 0.0
                while not viewer.stopping:  # a stream that ends by itself lets the server stop at once
                    try:
                        message = await asyncio.wait_for(queue.get(), WAKE_S)
                    except asyncio.TimeoutError:
                        quiet += WAKE_S
                        if quiet >= KEEPALIVE_S:
                            quiet = 0.0
                            yield b": keepalive\n\n"
                        continue
                    yield b"event: state\ndata: " + message + b"\n\n"
            finally:
                viewer.subscribers.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return stream_events


def routes(viewer: Viewer) -> list[Route]:
    async def index(request: Request) -> Response:
        head = f'<script>window.LINCTL_TOKEN = "{viewer.token}";</script>'
        return Response(page_html(f"?token={viewer.token}", head), media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:  # its own files only, by name: no path ever reaches the disk
            return PlainTextResponse("not found\n", status_code=404)
        return Response(static_text(name), media_type=STATIC[name] + "; charset=utf-8")

    async def state(request: Request) -> Response:
        return Response(viewer.current, media_type="application/json")

    async def snapshot(request: Request) -> Response:
        try:
            data = await asyncio.to_thread(pagedata.snapshot_data, viewer.path, int(request.path_params["entry"]))
        except LinctlError as exc:
            return JSONResponse({"error": "linctl: " + " ".join(str(exc).split())}, status_code=404)
        return Response(pagedata.encode(data), media_type="application/json")

    async def run(request: Request) -> Response:
        try:
            body = await request.json()
            argv = step_command(body, viewer)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        async with viewer.running:
            done = await asyncio.to_thread(run_linctl, argv)
        await viewer.refresh()
        return JSONResponse(done)

    return [
        Route("/", index),
        Route("/static/{name:str}", static),
        Route("/api/state", state),
        Route("/api/snapshot/{entry:int}", snapshot),
        Route("/api/events", events(viewer)),
        Route("/api/run", run, methods=["POST"]),
    ]


def app(viewer: Viewer) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        stop = asyncio.Event()
        task = asyncio.create_task(viewer.watch(stop))
        try:
            yield
        finally:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return Starlette(routes=routes(viewer), lifespan=lifespan, middleware=[Middleware(Guard, viewer=viewer)])


class Guard:
    """Every request passes the token, Host and Origin checks, or gets 403 and one line; answers are never cached."""

    def __init__(self, app: Any, viewer: Viewer) -> None:
        self.app = app
        self.viewer = viewer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = self.viewer.refusal(Request(scope))
        if reason is not None:
            await PlainTextResponse(reason + "\n", status_code=403)(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = "no-store"
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, sending)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is served: a port in use is one line, exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise LinctlError(
                f"--port {port}: {host}:{port} is already in use; pass another --port, or leave it out for a free one"
            ) from None
        raise LinctlError(f"--host {host}: cannot listen there ({exc.strerror or exc}); pass another --host") from None
    sock.listen(64)
    sock.set_inheritable(False)
    return sock


def serve(viewer: Viewer, sock: socket.socket) -> None:
    """Serve until Ctrl-C; open pages are let go within a second."""
    import uvicorn

    viewer.port = sock.getsockname()[1]
    viewer.reload()
    config = uvicorn.Config(
        app(viewer), log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            viewer.stopping = True  # the open event streams end, then uvicorn stops
            super().handle_exit(sig, frame)

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again once stopped: the usual way to end
        Server(config).run(sockets=[sock])
