"""The views of export and import: what was written, what a checkpoint holds."""

from __future__ import annotations

from linctl.render.cells import table
from linctl.render.widgets import console


def export_json(files: list[str], names: list[str], shapes: dict[str, list[int]]) -> dict:
    return {"files": files, "keys": names, "shapes": shapes}


def export_view(files: list[str], names: list[str], shapes: dict[str, list[int]]) -> None:
    grid = table()
    grid.add_column("state_dict key")
    grid.add_column("shape")
    for name in names:
        grid.add_row(name, "(" + ", ".join(map(str, shapes[name])) + ("," if len(shapes[name]) == 1 else "") + ")")
    out = console()
    out.print(f"wrote {files[0]}" + (f" and {', '.join(files[1:])}" if files[1:] else ""))
    out.print(grid)


def pairs_json(source: str, pairs: list) -> dict:
    return {
        "file": source,
        "linears": [
            {
                "key": p.prefix,
                "weight": p.weight,
                "bias": p.bias,
                "in_features": p.in_features,
                "out_features": p.out_features,
                "dtype": p.dtype,
                "weight_shape": [p.out_features, p.in_features],
                "bias_shape": [p.out_features] if p.bias is not None else None,
            }
            for p in pairs
        ],
    }


def pairs_view(source: str, pairs: list) -> None:
    out = console()
    if not pairs:
        out.print(f"{source} holds no Linear-shaped weights (a 2-D PREFIX.weight, with or without a 1-D PREFIX.bias)")
        return
    grid = table()
    for column in ("--key", "weight", "bias", "in_features", "out_features", "dtype"):
        grid.add_column(column)
    for p in pairs:
        grid.add_row(
            repr(p.prefix) if not p.prefix else p.prefix,
            f"{p.weight} ({p.out_features}, {p.in_features})",
            f"{p.bias} ({p.out_features},)" if p.bias else "none",
            str(p.in_features),
            str(p.out_features),
            p.dtype,
        )
    out.print(f"Linear-shaped weights in {source}:")
    out.print(grid)
    out.print("build a network from them with 'linctl import FILE --key PREFIX' (repeat --key for a stack)")
