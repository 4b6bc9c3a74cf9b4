"""`--nproc N`: the same command line run as N processes on this machine, with the variables torchrun sets,
watched until the last one ends. No torch here: each worker imports its own.

A worker that dies (killed, out of memory) stops the others; the one line printed names it. Rank 0 alone
holds the state file, and saves only after the last step, so a failed run leaves the file as it was.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

# once one worker has failed, the others have this long to end by themselves before they are killed
GRACE_SECONDS = 5.0
# the line a worker prints when its collective failed because another one went away
CONSEQUENCE = "another process stopped or died"


@dataclass
class Worker:
    rank: int
    process: subprocess.Popen
    err: list[bytes] = field(default_factory=list)
    ended: float | None = None
    reader: threading.Thread | None = None
    relay: threading.Thread | None = None  # rank 0's stdout copied on, where this process's is not a terminal

    def lines(self) -> list[str]:
        return b"".join(self.err).decode("utf-8", "replace").splitlines()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_environment(rank: int, nproc: int, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(nproc),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(nproc),
        GROUP_RANK="0",
    )
    # as torchrun does: one thread per process unless told otherwise, so N processes do not fight over the cores
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _read(worker: Worker) -> None:
    stream = worker.process.stderr
    assert stream is not None
    for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
        worker.err.append(chunk)


def _relay(worker: Worker) -> None:
    stream = worker.process.stdout
    assert stream is not None
    out = getattr(sys.stdout, "buffer", None)
    for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
        if out is not None:
            out.write(chunk)
            out.flush()
        else:
            sys.stdout.write(chunk.decode("utf-8", "replace"))


def _own_stdout() -> bool:
    """Rank 0 writes straight to this process's stdout where it is a real file (a terminal: the progress bar)."""
    try:
        return sys.stdout.isatty() and sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False


def start(nproc: int, argv: list[str]) -> list[Worker]:
    port = free_port()
    workers = []
    direct = _own_stdout()
    for rank in range(nproc):
        process = subprocess.Popen(
            [sys.executable, "-m", "linctl", *argv],
            env=worker_environment(rank, nproc, port),
            stdin=subprocess.DEVNULL if rank else None,
            stdout=subprocess.DEVNULL if rank else (None if direct else subprocess.PIPE),
            stderr=subprocess.PIPE,
        )
        worker = Worker(rank=rank, process=process)
        worker.reader = threading.Thread(target=_read, args=(worker,), daemon=True)
        worker.reader.start()
        if rank == 0 and not direct:
            worker.relay = threading.Thread(target=_relay, args=(worker,), daemon=True)
            worker.relay.start()
        workers.append(worker)
    return workers


def watch(workers: list[Worker]) -> None:
    """Until every worker has ended; once one fails, the rest get GRACE_SECONDS, then are killed."""
    failed_at: float | None = None
    while any(w.ended is None for w in workers):
        now = time.monotonic()
        for w in workers:
            if w.ended is None and w.process.poll() is not None:
                w.ended = now
                if w.process.returncode != 0 and failed_at is None:
                    failed_at = now
        if failed_at is not None and now - failed_at > GRACE_SECONDS:
            stop(workers)
        time.sleep(0.02)
    for w in workers:
        for thread in (w.reader, w.relay):
            if thread is not None:
                thread.join(timeout=5)


def stop(workers: list[Worker]) -> None:
    for w in workers:
        if w.process.poll() is None:
            w.process.kill()


def died(code: int) -> bool:
    """Ended by a signal or a crash, not by linctl's own exit codes."""
    return code not in (0, 1, 2, 130)


def how_it_died(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def outcome(workers: list[Worker]) -> tuple[int, list[str]]:
    """(exit code, the lines to print): rank 0's output when all went well, else one line about the first failure."""
    lead = workers[0]
    codes = [w.process.returncode for w in workers]
    if all(code == 0 for code in codes) or lead.process.returncode == 130:
        return lead.process.returncode, lead.lines()
    if lead.process.returncode == 0:  # rank 0 saved the run; another ended badly afterwards
        late = [w for w in workers if w.process.returncode != 0]
        return 0, lead.lines() + [
            f"warning: rank {w.rank} {how_it_died(w.process.returncode)} after rank 0 had saved the run" for w in late
        ]
    order = sorted((w for w in workers if w.process.returncode != 0), key=lambda w: (w.ended or 0.0, w.rank))
    for w in order:
        if died(w.process.returncode):
            return 1, [
                f"linctl: rank {w.rank} of {len(workers)} {how_it_died(w.process.returncode)}; the other processes "
                "were stopped and the state file is as it was before this command"
            ]
    own = [w for w in order if own_line(w) is not None]
    causes = [w for w in own if CONSEQUENCE not in (own_line(w) or "")] or own
    if causes:
        first = min(causes, key=lambda w: (w.rank != 0, w.ended or 0.0))
        return first.process.returncode, [own_line(first) or ""]
    w = order[0]
    return w.process.returncode, [
        f"linctl: rank {w.rank} of {len(workers)} failed without a message (exit {w.process.returncode})"
    ]


def own_line(worker: Worker) -> str | None:
    """The worker's one-line linctl error, if it printed one."""
    lines = [line for line in worker.lines() if line.startswith("linctl")]
    return lines[-1] if lines else None


def launch(nproc: int, argv: list[str]) -> int:
    """Run the command line as `nproc` workers; their exit as this process's exit code."""
    workers = start(nproc, argv)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the workers; rank 0 saves and says so

    def terminated(signum, frame):
        stop(workers)
        raise SystemExit(143)

    previous_term = signal.signal(signal.SIGTERM, terminated)
    try:
        watch(workers)
    finally:
        stop(workers)
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    code, lines = outcome(workers)
    for line in lines:
        print(line, file=sys.stderr)
    return code
