"""View and JSON for `train`: a summary, the weights before and after, the loss curve."""

from __future__ import annotations

from linctl.render.cells import fmt
from linctl.render.layers import layer_entry, titled, with_layers
from linctl.render.parallel import parallel_facts, parallel_json
from linctl.render.step import settings_json
from linctl.render.widgets import changed_matrix, heading, kv, matrix, settings_text, show, tensor_view

TRAIN_KEYS = ("weight_before", "bias_before", "weight", "bias")
LAYER_TRAIN_KEYS = (*TRAIN_KEYS, "weight_grad", "bias_grad")
CURVE_POINTS = 2000  # a longer run is drawn from evenly spaced steps


def train_json(r) -> dict:
    top = {
        "steps": r.steps,
        "epochs": r.epochs,
        "planned_steps": r.planned_steps,
        "batch_size": r.batch_size,
        "samples": r.samples,
        "shuffle": r.shuffle,
        "losses": r.losses,
        "loss_first": r.loss_first,
        "loss_last": r.loss_last,
        "optimizer": r.optimizer,
        "settings": settings_json(r.settings),
        "loss_name": r.loss_name,
        "activations": r.activations,
        "seconds": r.seconds,
        "interrupted": r.interrupted,
        "step": r.step,
        "metric": r.metric,
        "metrics": r.metrics,
        "confusion": r.confusion,
        "val_losses": r.val_losses,
        "val_metrics": r.val_metrics,
        "best_epoch": r.best_epoch,
        **parallel_json(r),
    }
    layers = [layer_entry(layer, LAYER_TRAIN_KEYS) for layer in r.layers]
    return with_layers(top, layers, ("activation", *TRAIN_KEYS))


def loss_curve(
    losses: list[float],
    width: int = 70,
    height: int = 14,
    log: bool = False,
    steps: list[int] | None = None,
    title: str = "loss per step",
    beside: tuple[list[int], list[float]] | None = None,
):
    """The loss per step (or at the given steps), drawn in the terminal by plotext; `log`: a log-scale loss axis."""
    import math

    import plotext as plt
    from rich.text import Text

    xs = steps if steps is not None else list(range(1, len(losses) + 1))
    points = [(s, v) for s, v in zip(xs, losses, strict=True) if math.isfinite(v) and (v > 0 or not log)]
    if len(points) < 2:
        return None
    stride = max(1, len(points) // CURVE_POINTS)
    points = points[::stride]
    plt.clear_figure()
    label = "train" if beside else None
    plt.plot([p[0] for p in points], [p[1] for p in points], marker="braille", label=label)
    if beside:
        shown = [(s, v) for s, v in zip(*beside, strict=True) if math.isfinite(v) and (v > 0 or not log)]
        plt.plot([p[0] for p in shown], [p[1] for p in shown], marker="dot", label="validation (each epoch)")
    if log:
        plt.yscale("log")
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.title(title + ("  (log scale)" if log else ""))
    plt.xlabel("step")
    return Text.from_ansi(plt.build())


def train_view(r, log: bool = False, picture=None) -> None:
    facts = [
        (
            "steps",
            f"{r.steps}"
            + (f" of {r.planned_steps} (interrupted)" if r.interrupted else "")
            + f"  ({r.epochs} epoch(s) of {r.samples} samples, batch {r.batch_size}, "
            + ("shuffled" if r.shuffle else "in order")
            + ")",
        ),
        ("optimizer", settings_text(r.optimizer, r.settings)),
        ("loss", f"{r.loss_name}, activation {', '.join(r.activations)}"),
        ("first loss", fmt(r.loss_first)),
        ("last loss", fmt(r.loss_last)),
        *metric_facts(r),
        ("time", f"{r.seconds:.3f} s  ({r.steps / r.seconds:,.0f} steps/s)" if r.seconds > 0 else "0 s"),
        ("step count", str(r.step)),
        *parallel_facts(r),
    ]
    parts = [heading("train"), kv(facts)]
    for layer in r.layers:
        parts += titled(layer, len(r.layers))
        for record in layer.params.values():
            parts += [
                tensor_view(f"{record.name} before", record.before),
                changed_matrix(f"{record.name} after (↑ went up, ↓ went down)", record.value, record.change),
            ]
    parts.append(loss_curve(r.losses, log=log, beside=validation_points(r)))
    if r.confusion is not None:
        parts.append(confusion_view(r.confusion, r.classes))
    if picture is not None:
        from linctl.render.plot import plot_parts

        parts += plot_parts(picture)
    show(*parts)


def metric_facts(r) -> list[tuple[str, str]]:
    """The metric of each epoch beside the loss: accuracy as a percentage, R² as a number."""
    shown = [m for m in r.metrics if m is not None]
    if not shown:
        return []

    def text_of(value: float) -> str:
        return f"{100 * value:.1f}%" if r.metric == "accuracy" else f"{value:.4f}"

    label = "accuracy" if r.metric == "accuracy" else "R²"
    facts = [(f"{label} per epoch", last_few(shown, text_of))]
    if r.val_losses:
        facts.append(("val loss per epoch", last_few(r.val_losses, fmt)))
        facts.append((f"val {label}", last_few([m for m in r.val_metrics if m is not None], text_of)))
        facts.append(("best epoch", f"{r.best_epoch} (lowest validation loss, {fmt(min(r.val_losses))})"))
    return facts


def last_few(values: list, text_of, count: int = 8) -> str:
    more = f"(last {count} of {len(values)}) " if len(values) > count else ""
    return more + "  ".join(text_of(v) for v in values[-count:])


def validation_points(r) -> tuple[list[int], list[float]] | None:
    """The validation loss at the step that ended each epoch."""
    if not r.val_losses:
        return None
    per_epoch = -(-r.samples // r.batch_size)
    return [min(per_epoch * (k + 1), r.steps) for k in range(len(r.val_losses))], list(r.val_losses)


def confusion_view(counts: list[list[int]], classes: list[str] | None):
    """The confusion matrix as a heatmap: rows the true class, columns the predicted one."""
    import numpy as np

    names = classes if classes and len(classes) == len(counts) else [str(k) for k in range(len(counts))]
    title = "confusion matrix (rows: true class, columns: predicted)  " + ", ".join(
        f"{k} = {name}" for k, name in enumerate(names)
    )
    return matrix(title, np.asarray(counts, dtype=np.float64), row_name="true", col_name="predicted")
