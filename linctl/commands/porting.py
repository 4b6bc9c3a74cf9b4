"""export, import: to and from real PyTorch (a state_dict in .pt, safetensors or JSON; a layer of a checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from linctl import session
from linctl.errors import UsageError
from linctl.options import NETWORK, OUTPUT, JsonOpt, LayerActOpt, StateOpt

EXPORT_KINDS = (".pt", ".pth", ".safetensors", ".json")


def export(
    file: Annotated[
        str | None,
        typer.Argument(metavar="FILE", help="Where to write: .pt/.pth (torch.save), .safetensors or .json."),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            metavar="FILE.py",
            rich_help_panel=OUTPUT,
            help="Write the session as a standalone PyTorch program that replays the current line of history.",
        ),
    ] = None,
    with_optimizer: Annotated[
        bool,
        typer.Option(
            "--with-optimizer",
            rich_help_panel=OUTPUT,
            help="With .pt: also write the optimizer's state_dict() to FILE's stem + '.optimizer.pt'.",
        ),
    ] = False,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the network's state_dict() (the module inspect prints) for plain PyTorch: .pt, .safetensors or .json."""
    from linctl.render.porting import export_json, export_view
    from linctl.render.widgets import emit
    from linctl.store import exchange

    if python is not None:
        if file is not None or with_optimizer:
            raise UsageError("export --python FILE.py writes a program; give no other FILE or --with-optimizer with it")
        return export_program(Path(python), session.path_of(state), as_json)
    if file is None:
        raise UsageError("export: give FILE (.pt, .pth, .safetensors or .json) or --python FILE.py")
    target = Path(file)
    kind = target.suffix.lower()
    if kind not in EXPORT_KINDS:
        raise UsageError(f"export: FILE {file!r} must end in .pt, .pth, .safetensors or .json")
    if with_optimizer and kind not in (".pt", ".pth"):
        raise UsageError(
            "--with-optimizer: the optimizer's state_dict is written with torch.save; export to a .pt FILE"
        )
    path = session.path_of(state)
    # .safetensors and .json need no torch: the state file is read with numpy
    data = session.read_data(path) if kind in (".safetensors", ".json") else session.read_torch_data(path)
    written = exchange.export_state_dict(data, target, kind)
    files = [str(target)]
    if with_optimizer:
        files.append(str(exchange.export_optimizer(data, target)))
    shapes = {name: list(value.shape) for name, value in data["params"].items()}
    emit(as_json, lambda: export_json(files, written, shapes), lambda: export_view(files, written, shapes))


def export_program(target: Path, path: Path, as_json: bool) -> None:
    from linctl.render.widgets import console, emit
    from linctl.store import program
    from linctl.store.exchange import _atomic

    if target.suffix != ".py":
        raise UsageError(f"--python: {str(target)!r} must end in .py")
    text, side, notes = program.build(path, session.read_torch_data(path), target)
    _atomic(target, lambda handle: handle.write(text.encode("utf-8")))
    files = [str(target)] + ([str(side)] if side else [])
    emit(
        as_json,
        lambda: {"files": files, "program": str(target)},
        lambda: console().print(f"wrote {' and '.join(files)}; run it with: python {target}"),
        notes,
    )


def import_(
    file: Annotated[str, typer.Argument(metavar="FILE", help="A state_dict: .pt/.pth (torch.save) or .safetensors.")],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="PREFIX",
            rich_help_panel=NETWORK,
            help="Build from PREFIX.weight/PREFIX.bias; repeat for a stack, in order.",
        ),
    ] = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all", rich_help_panel=NETWORK, help="Build the whole chain of Linear layers the listing shows, in order."
        ),
    ] = False,
    activation: LayerActOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the Linear-shaped weights of a checkpoint, or with --key (or --all) build the network from them."""
    from linctl.model.describe import describe
    from linctl.render.network import inspect_json, inspect_view
    from linctl.render.porting import pairs_json, pairs_view
    from linctl.render.widgets import emit
    from linctl.store import exchange

    source = Path(file)
    tensors = exchange.read_state_dict(source)
    pairs = exchange.linear_pairs(tensors)
    if every and key:
        raise UsageError("import: give --key PREFIX or --all, not both")
    if every:
        if not pairs:
            raise UsageError(f"import --all: {source} holds no Linear-shaped weight (a 2-D PREFIX.weight)")
        key = [p.prefix for p in pairs]
    if not key:
        if activation:
            raise UsageError("import: --activation builds a network; give --key PREFIX (or --all) too")
        emit(as_json, lambda: pairs_json(str(source), pairs), lambda: pairs_view(str(source), pairs))
        return
    new, notes = exchange.build_from(tensors, pairs, key, activation)
    path = session.path_of(state)
    backup = session.replace(path, new)
    d = describe(new)
    if backup:
        notes.append(f"replaced the network in {path}; the old one is kept in {backup} (and 'linctl undo' restores it)")
    emit(
        as_json,
        lambda: {**inspect_json(d, str(path), str(backup) if backup else None), "imported_from": str(source)},
        lambda: inspect_view(d, str(path)),
        notes,
    )
