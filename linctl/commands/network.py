"""inspect, forward, set: build or show the network, run it, edit it by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from linctl import session
from linctl.errors import UsageError
from linctl.options import (
    DTYPES,
    NETWORK,
    OUTPUT,
    DataOpt,
    DeviceOpt,
    HtmlOpt,
    JsonOpt,
    LayerActOpt,
    Rows,
    StateOpt,
    SvgOpt,
    TargetsOpt,
    XOpt,
    choice_parser,
    merged,
    number_parser,
    rows_parser,
    warn_non_finite,
)

SizesArg = Annotated[
    list[int] | None,
    typer.Argument(
        metavar="SIZES",
        parser=number_parser("IN/OUT", whole=True),
        show_default=False,
        help="IN OUT builds nn.Linear(IN, OUT); IN H... OUT an nn.Sequential stack, like 2 3 1.",
    ),
]
BuildSeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        parser=number_parser("--seed", whole=True),
        metavar="S",
        rich_help_panel=NETWORK,
        help="torch.manual_seed(S) before building.",
    ),
]
WeightOpt = Annotated[
    list[Rows] | None,
    typer.Option(
        "--weight",
        parser=rows_parser("--weight"),
        metavar="ROWS",
        rich_help_panel=NETWORK,
        help="Weight rows 'a,b;c,d', shape (OUT, IN); once per layer, in order.",
    ),
]
BiasOpt = Annotated[
    list[Rows] | None,
    typer.Option(
        "--bias",
        parser=rows_parser("--bias"),
        metavar="VALUES",
        rich_help_panel=NETWORK,
        help="Bias values 'e,f', OUT of them; once per layer, in order.",
    ),
]
NoBiasOpt = Annotated[
    bool, typer.Option("--no-bias", help="Build every layer without a bias.", rich_help_panel=NETWORK)
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        parser=choice_parser("--dtype", DTYPES),
        metavar="DTYPE",
        rich_help_panel=NETWORK,
        help="float32 or float64.",
    ),
]


def inspect(
    sizes: SizesArg = None,
    seed: BuildSeedOpt = None,
    weight: WeightOpt = None,
    bias: BiasOpt = None,
    no_bias: NoBiasOpt = False,
    activation: LayerActOpt = None,
    dtype: DtypeOpt = "float32",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Build nn.Linear(IN, OUT), or a stack for IN H... OUT, and save it; with no sizes, show the current network."""
    from linctl.model.describe import describe
    from linctl.render.network import inspect_json, inspect_view
    from linctl.render.widgets import emit

    path = session.path_of(state)
    if not sizes and not weight:
        if seed is not None or bias or no_bias or activation or dtype != "float32":
            raise UsageError("inspect: --seed/--bias/--no-bias/--activation/--dtype build a network; give IN OUT too")
        d = describe(session.read_data(path))
        emit(as_json, lambda: inspect_json(d, str(path)), lambda: inspect_view(d, str(path)))
        return
    new, notes = build(
        sizes=sizes, seed=seed, weight=weight, bias=bias, no_bias=no_bias, activation=activation, dtype=dtype
    )
    backup = session.replace(path, new, built_by_seed=seed is not None and not weight and not bias)
    d = describe(new)
    if backup:
        notes.append(f"replaced the network in {path}; the old one is kept in {backup} (and 'linctl undo' restores it)")
    emit(
        as_json,
        lambda: inspect_json(d, str(path), str(backup) if backup else None),
        lambda: inspect_view(d, str(path)),
        notes,
    )


def build(*, sizes, seed, weight, bias, no_bias, activation, dtype) -> tuple[dict, list[str]]:
    """The new network's state data, and notes about the values given."""
    from linctl import parsing
    from linctl.model import spec
    from linctl.model.devices import available_memory
    from linctl.model.network import element_size, new_state

    parsing.check_seed(seed)
    weights = [w.rows for w in weight] if weight else None
    for rows in weights or []:
        warn_non_finite(rows, "--weight")
    biases = [b.rows for b in bias] if bias else None
    for rows in biases or []:
        warn_non_finite(rows, "--bias")
    if sizes and len(sizes) > 2:
        for i, n in enumerate(sizes):
            if n < 1:
                raise UsageError(f"inspect: every size must be a positive whole number; size {i + 1} is {n}")
    specs = spec.plan(sizes, weights, biases, activation, not no_bias)
    if len(specs) > spec.MAX_LAYERS:
        raise UsageError(f"inspect: {len(specs)} layers; linctl builds at most {spec.MAX_LAYERS}")
    for layer in specs:
        parsing.check_sizes(layer.in_features, layer.out_features, element_size(dtype), available_memory())
    notes: list[str] = []
    new = new_state(
        specs, dtype=dtype, seed=seed, weights=weights, biases=[b[0] for b in biases] if biases else None, notes=notes
    )
    return new, notes


def forward(
    x: XOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="Write the outputs as CSV, one row per sample.", rich_help_panel=OUTPUT)
    ] = False,
    device: DeviceOpt = "cpu",
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Run net(x) beside torch.mm(W, x.t()) + b.view(OUT, 1), layer by layer, written out by hand."""
    from linctl.commands.stepping import data_table
    from linctl.model import spec
    from linctl.model.forward import forward_rows
    from linctl.model.network import new_state
    from linctl.model.samples import shown_samples
    from linctl.render.classify import forward_csv
    from linctl.render.forward import forward_json, forward_view
    from linctl.render.widgets import emit, note

    rows = merged(x)
    table = data_table("forward", data, rows, None)
    if rows is None and table is None:
        raise UsageError(
            "forward: --x is required, like --x 1,1 (repeat it, or use ';', for several samples), or --data FILE"
        )
    if rows is not None:
        warn_non_finite(rows, "--x")
    path = session.path_of(state)
    if not session.exists(path):
        width = len(rows[0]) if rows is not None else table.columns
        session.replace(path, new_state([spec.LayerSpec(width, 1)]))
        note(f"no network at {path} yet: built nn.Linear({width}, 1) and saved it there")
    net = session.read(path, device)
    if table is not None:
        rows = shown_samples(net, table, targets)[0].tolist()
    assert rows is not None
    result = forward_rows(net, rows)
    if csv:
        emit(False, dict, lambda: print(forward_csv(result), end=""), result.notes)
        return
    emit(as_json, lambda: forward_json(result), lambda: forward_view(result), result.notes)


def set_values(
    assignments: Annotated[
        list[str],
        typer.Argument(metavar="ASSIGNMENT...", help="Like 'weight[0,1]=0.5' 'bias[1]=0', or '2.weight[0,1]=0.5'."),
    ],
    state: StateOpt = None,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Edit parameters by hand, by their state_dict() names: set 'weight[0,1]=0.5' '2.bias[1]=0'."""
    from linctl import parsing
    from linctl.model.describe import describe
    from linctl.model.edit import set_value
    from linctl.model.samples import set_note
    from linctl.render.network import set_json, set_view
    from linctl.render.widgets import emit

    parsed = [parsing.parse_assignment(a) for a in assignments]
    path = session.path_of(state)

    described = []  # the network as the edits left it, without reading the file again

    def work(net):
        changes = []
        for name, index, value in parsed:
            full, old, new = set_value(net, name, index, value)
            changes.append({"name": full, "index": list(index), "old": old, "new": new})
        described.append(describe(net.to_state()))
        return changes

    changes = session.change(path, "cpu", work, lambda r: {"loss": None, "lr": None})
    d = described[0]
    notes = [n for c in changes if (n := set_note(c["name"], tuple(c["index"]), c["new"]))]
    emit(as_json, lambda: set_json(changes, d, str(path)), lambda: set_view(changes, d, str(path)), notes)
