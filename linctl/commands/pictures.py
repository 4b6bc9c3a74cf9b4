"""graph and plot: the autograd graph of the loss, and the network's output over its input plane."""

from __future__ import annotations

from typing import Annotated

import typer

from linctl import session
from linctl.errors import UsageError
from linctl.options import (
    DATA,
    OUTPUT,
    ActOpt,
    DataOpt,
    DeviceOpt,
    HtmlOpt,
    JsonOpt,
    LossOpt,
    StateOpt,
    SvgOpt,
    TargetsOpt,
    TOpt,
    XOpt,
)


def graph(
    x: XOpt = None,
    t: TOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    loss: LossOpt = "mse",
    activation: ActOpt = None,
    saved: Annotated[
        bool,
        typer.Option(
            "--saved",
            help="Also show what each node saved for backward (its _saved_* attributes).",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """The autograd graph of the loss, from loss.grad_fn to the parameters, with the gradients that flow back."""
    from linctl.commands.stepping import data_table, given_samples, samples_given
    from linctl.model.graph import graph_rows
    from linctl.model.spec import activations_for
    from linctl.render.graph import graph_json, graph_view
    from linctl.render.widgets import emit

    x_rows, t_rows = samples_given(x, t)
    table = data_table("graph", data, x_rows, t_rows)
    path = session.path_of(state)
    net = session.read(path, device)
    notes: list[str] = []
    xs, ts, place = given_samples(net, table, targets, x_rows, t_rows, loss, notes, store=False)
    result = graph_rows(net, xs, ts, loss, activations_for(net.specs, activation), place)
    emit(as_json, lambda: graph_json(result), lambda: graph_view(result, saved), notes + result.notes)


def plot(
    data: Annotated[
        str | None,
        typer.Option("--data", metavar="FILE", rich_help_panel=DATA, help="CSV of samples to draw on the plot."),
    ] = None,
    targets: TargetsOpt = None,
    range_: Annotated[
        str | None,
        typer.Option(
            "--range",
            metavar="XMIN,XMAX,YMIN,YMAX",
            rich_help_panel=OUTPUT,
            help="The input plane drawn (default: the data's, with a margin, else -1,1,-1,1).",
        ),
    ] = None,
    activation: ActOpt = None,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """The network's output over its input plane (2 inputs), or the function it computes (1 input)."""
    from linctl.commands.stepping import read_table
    from linctl.model.spec import activations_for
    from linctl.model.surface import parse_range, surface
    from linctl.render.plot import plot_json, plot_view
    from linctl.render.widgets import emit

    bounds = parse_range(range_)
    path = session.path_of(state)
    net = session.read(path, device)
    if net.in_features not in (1, 2):
        raise UsageError(
            f"plot: draws networks with 1 or 2 inputs; this one has {net.in_features} (in_features={net.in_features})"
        )
    table = read_table(data) if data is not None else None
    result = surface(net, activations_for(net.specs, activation), table=table, targets=targets, bounds=bounds)
    emit(as_json, lambda: plot_json(result), lambda: plot_view(result), result.notes)
