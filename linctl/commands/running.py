"""How a train run is shown and stopped: the progress bar (with the samples per second over all processes) and
Ctrl-C deferred to the end of the current step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class deferred_sigint:
    """Ctrl-C only sets a flag until the block ends: training stops after the
    current step, and the state file is saved whole before the exit."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now, keep the state file as it was
            raise KeyboardInterrupt
        self.requested = True
        from linctl.render.widgets import note

        note("stopping after the current step (Ctrl-C again to quit without saving)")

    def __enter__(self):
        import signal

        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C keeps its default meaning
            self.previous = None
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        transient=True,
    )


def progress_updater(progress, per_step: int | None = None):
    """`per_step`: the samples of one step over all processes, for the samples per second of a parallel run."""
    import time

    task = progress.add_task("train", total=None, loss="…", rate="")
    last = [0.0]
    began = time.monotonic()

    def update(done, total, value):
        now = time.monotonic()
        if now - last[0] > 0.1 or done == total:
            last[0] = now
            rate = f"{done * per_step / max(now - began, 1e-9):,.0f} samples/s" if per_step else ""
            progress.update(task, completed=done, total=total, loss=f"{value.item():.4g}", rate=rate)

    return update


def with_progress(show: bool, per_step: int | None, go: Callable[[Any], Any]) -> Any:
    """`go(update)`: with a progress bar's updater where one is shown, else with None."""
    if not show:
        return go(None)
    with progress_bar() as progress:
        return go(progress_updater(progress, per_step=per_step))
