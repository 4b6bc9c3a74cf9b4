"""train's held-out samples: --val FILE or --val-split F --seed S, and --patience N (optim/validation.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from linctl.errors import UsageError
from linctl.options import DATA, number_parser, whole

ValOpt = Annotated[
    str | None,
    typer.Option(
        "--val", metavar="FILE", rich_help_panel=DATA, help="CSV of validation samples, held out from training."
    ),
]
ValSplitOpt = Annotated[
    float | None,
    typer.Option(
        "--val-split",
        metavar="F",
        parser=number_parser("--val-split"),
        rich_help_panel=DATA,
        help="Hold out this fraction of the samples for validation (drawn by --seed S).",
    ),
]
PatienceOpt = Annotated[
    int | None,
    whole("--patience", "Stop when the validation loss has not improved for N epochs; keep the best.", least=1),
]


@dataclass(frozen=True)
class Holdout:
    """The samples `train` holds out for validation, and when it stops early."""

    val: str | None
    val_split: float | None
    patience: int | None

    @classmethod
    def checked(cls, val: str | None, val_split: float | None, patience: int | None, seed: int | None) -> Holdout:
        holdout = cls(val=val, val_split=val_split, patience=patience)
        refuse_holdout(holdout, seed)
        return holdout


def refuse_holdout(holdout: Holdout, seed: int | None) -> None:
    """Validation options that contradict each other, or lack what they need: one line each."""
    if holdout.val is not None and holdout.val_split is not None:
        raise UsageError("train: give --val FILE or --val-split F, not both")
    if holdout.val_split is not None:
        if not 0 < holdout.val_split < 1:
            raise UsageError(f"--val-split: expected a fraction between 0 and 1, like 0.2, got {holdout.val_split:g}")
        if seed is None:
            raise UsageError("--val-split: needs --seed S, so that the same samples are held out again")
    if holdout.patience is not None and holdout.val is None and holdout.val_split is None:
        raise UsageError("--patience: needs validation samples to watch; give --val FILE or --val-split F --seed S")


def held_out(net, xs, ts, holdout: Holdout, targets, loss: str, acts: list[str], seed, notes: list[str]):
    """(training x, t, the validation Watch or None): samples split off by --val-split, or read from --val."""
    import torch

    from linctl.commands.stepping import read_table
    from linctl.model import samples
    from linctl.optim.loop import prepare_samples
    from linctl.optim.validation import Watch, split

    if holdout.val_split is not None:
        xs, ts, xv, tv = split(xs, ts, holdout.val_split, seed)
    elif holdout.val is not None:
        try:  # the data file's messages, named by the option that gave it
            table = read_table(holdout.val)
            xv, tv = (torch.from_numpy(a) for a in samples.table_samples(net, table, targets, loss, notes))
            xv, tv = prepare_samples(net, xv, tv, loss=loss, table=table, notes=notes)
        except UsageError as exc:
            raise UsageError(str(exc).replace(f"--data {holdout.val}", f"--val {holdout.val}", 1)) from None
    else:
        return xs, ts, None
    return xs, ts, Watch(net, loss, acts, xv, tv, holdout.patience)
