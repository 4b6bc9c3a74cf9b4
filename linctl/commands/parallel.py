"""`--nproc N` and torchrun for train, backward and train-step: outside a world, start the workers; inside
one, rank 0 runs the command's one transaction (lock, load, work, checked save, history) and hands the
network and samples to the other ranks, which compute beside it and never touch the state file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from linctl import session
from linctl.errors import UsageError
from linctl.options import OUTPUT, whole
from linctl.parallel.world import World

NprocOpt = Annotated[
    int | None,
    whole("--nproc", "Run on N processes with torch.distributed (gloo; nccl with --device cuda).", OUTPUT, least=1),
]


def world_for(nproc: int | None) -> World | None:
    """The world torchrun or the launcher made for this process (None when it runs alone); --nproc must agree."""
    from linctl.parallel.world import check_nproc, from_environment

    world = from_environment()
    check_nproc(nproc, world)
    return world


def launched(nproc: int | None, world: World | None) -> None:
    """`--nproc N` in a plain process: the same command line on N workers; this process exits as they do."""
    if world is None and nproc is not None:
        from linctl.parallel.launch import launch

        raise typer.Exit(launch(nproc, list(session.command_line)))


class Announcer:
    """Rank 0's one broadcast: the work's payload, or, when rank 0 fails first, the exit code the others take."""

    def __init__(self, world: World):
        self.world = world
        self.done = False

    def send(self, payload: dict) -> None:
        from linctl.parallel.world import broadcast

        self.done = True
        broadcast(self.world, payload)


def in_world(
    world: World,
    device: str | None,
    lead: Callable[[World, Announcer], Any],
    follow: Callable[[World, dict], None],
) -> Any:
    """Join the process group; rank 0 leads (and announces), the others follow what it sends. Rank 0's result,
    or None on the other ranks."""
    from linctl.parallel.world import broadcast, joined

    with joined(world, device) as group:
        if group.leader:
            announcer = Announcer(group)
            try:
                return lead(group, announcer)
            except BaseException as exc:
                if not announcer.done and group.size > 1:
                    code = getattr(exc, "exit_code", 1)
                    try:
                        announcer.send({"error": code})
                    except Exception:  # the others are gone already: rank 0's own line says what went wrong
                        pass
                raise
        payload = broadcast(group, None)
        if payload.get("error") is not None:  # rank 0 failed before the work began, and says why
            raise typer.Exit(int(payload["error"]))
        follow(group, payload)
        return None


def network_from(payload: dict, device: str | None):
    from linctl.model.devices import resolve_device
    from linctl.model.network import Network

    return Network(payload["state"], resolve_device(device))


def lead_training(
    group: World, announcer: Announcer, net, plan, xs, ts, loss: str, acts: list[str], run, progress, stop, watch
):
    """Rank 0's train: the network, its optimizer state and the samples to every rank, then its own part."""
    import secrets

    from linctl.parallel.train import Job, Schedule, train_rank

    seed = run.seed if run.seed is not None else secrets.randbelow(2**31)
    schedule = Schedule(steps=run.steps, epochs=run.epochs, batch_size=run.batch_size, shuffle=run.shuffle, seed=seed)
    payload = {"state": net.to_state(), "plan": plan, "x": xs, "t": ts, "loss": loss, "acts": acts, "run": schedule}
    announcer.send(payload)
    job = Job(loss, acts, schedule, progress, lambda: stop.requested, watch)
    result = train_rank(group, net, plan, xs, ts, job)
    assert result is not None  # rank 0 gets the result
    if run.shuffle and run.seed is None:
        result.notes.append(f"DistributedSampler's seed was drawn: {seed}; give --seed {seed} to repeat this run")
    return result


def follow_training(group: World, payload: dict, device: str | None, stop) -> None:
    """Another rank's train: the same loop over its own part of the samples; nothing printed, nothing saved."""
    from linctl.parallel.train import Job, stream_rank, train_rank

    net = network_from(payload, device)
    job = Job(payload["loss"], payload["acts"], payload["run"], should_stop=lambda: stop.requested)
    if payload.get("source") is not None:
        stream_rank(group, net, payload["plan"], payload["source"], job)
    else:
        train_rank(group, net, payload["plan"], payload["x"], payload["t"], job)


def refuse_stream(stream: bool, data: str | None, batch_size: int | None, val_split: float | None) -> None:
    if not stream:
        return
    if data is None or data == "-":
        raise UsageError("--stream: reads a --data FILE in chunks; give one (not stdin)")
    if batch_size is None:
        raise UsageError("--stream: give --batch-size B; a streamed step cannot hold the whole file")
    if val_split is not None:
        raise UsageError("--stream: --val-split needs the samples in memory; give the held-out samples as --val FILE")


def streamed(net, given, acts: list[str], watch, run, show_progress: bool, stop, lead=None):
    """train --stream: the file checked from its first line, then read in chunks on every rank while training."""
    from linctl.commands.running import with_progress
    from linctl.model import registry
    from linctl.parallel import stream
    from linctl.parallel.train import Job, Schedule, stream_rank
    from linctl.parallel.world import SINGLE

    assert given.data is not None
    widths = registry.loss(given.loss).target_widths(net.out_features)
    source = stream.source_for(given.data, net.in_features, net.out_features, given.targets, widths)
    plan = given.choice.plan(net.data.get("optimizer"))
    schedule = Schedule(steps=run.steps, epochs=run.epochs, batch_size=run.batch_size, shuffle=False, seed=None)
    group, announcer = lead if lead is not None else (SINGLE, None)
    if announcer is not None:
        announcer.send(
            {"state": net.to_state(), "plan": plan, "source": source, "loss": given.loss, "acts": acts, "run": schedule}
        )

    def go(update):
        job = Job(given.loss, acts, schedule, update, lambda: stop.requested, watch)
        return stream_rank(group, net, plan, source, job)

    return with_progress(show_progress, run.batch_size, go)


def lead_lesson(group: World, announcer: Announcer, net, rows, loss: str, acts: list[str], keep: bool):
    """Rank 0's backward on several processes: the samples checked and remembered, the network and samples to
    every rank, then its own share."""
    from linctl.model import samples
    from linctl.parallel.lesson import lesson_rank

    x_rows, t_rows, place = rows
    x, t = samples.checked_tensors(net, x_rows, t_rows, loss, place)
    samples.remember_inputs(net.data, x, t)
    announcer.send({"state": net.to_state(), "x": x, "t": t, "loss": loss, "acts": acts, "keep": keep})
    result = lesson_rank(group, net, x, t, loss, acts, keep)
    assert result is not None  # rank 0 gets the result
    result.notes = list(net.notes) + samples.loss_notes(loss, acts[-1])
    return result


def follow_lesson(group: World, payload: dict, device: str | None) -> None:
    from linctl.parallel.lesson import lesson_rank

    net = network_from(payload, device)
    lesson_rank(group, net, payload["x"], payload["t"], payload["loss"], payload["acts"], payload["keep"])


def lead_lesson_step(group: World, announcer: Announcer, net, rows, loss: str, acts: list[str], plan):
    """Rank 0's train-step on several processes: zero_grad, the lesson's backward, then its optimizer step (the
    other ranks would take the same step; only rank 0's is saved)."""
    from linctl.optim.step import step
    from linctl.parallel.lesson import LessonStep

    cleared = net.has_grads()
    lesson = lead_lesson(group, announcer, net, rows, loss, acts, keep=False)
    stepped = step(net, plan)
    return LessonStep(lesson=lesson, step=stepped, grads_cleared=cleared, notes=lesson.notes + list(plan.notes))
