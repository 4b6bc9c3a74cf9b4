"""View and JSON for `graph`: the autograd graph of the loss as a tree, from the loss down to the parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from linctl.render.cells import fmt, text
from linctl.render.widgets import heading, show
from linctl.tensors import plain

INLINE_LIMIT = 6  # tensors with at most this many values are written out; bigger ones summarised


def _value_json(value: Any) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        array = plain(value) if not isinstance(value, np.ndarray) else value
        return array.item() if array.ndim == 0 else array  # orjson writes arrays of one dimension or more
    if isinstance(value, tuple):
        return list(value)
    return value


def graph_json(r) -> dict:
    nodes = []
    for node in r.nodes:
        entry: dict[str, Any] = {
            "id": node.id,
            "name": node.name,
            "shape": None if node.shape is None else list(node.shape),
            "grad": _value_json(node.grad) if node.grad is not None else None,
        }
        if node.param is not None or node.name == "AccumulateGrad":
            entry["param"] = node.param
        entry["saved"] = {k: _value_json(v) for k, v in node.saved.items()}
        nodes.append(entry)
    return {
        "structure": r.structure,
        "loss_name": r.loss_name,
        "activations": r.activations,
        "x": plain(r.x),
        "t": plain(r.t),
        "loss": r.loss,
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in r.edges],
    }


def tensor_text(value: Any) -> str:
    """A small tensor written out ([[0.1, -0.2]]); a big one as its shape, min, max and mean."""
    array = np.asarray(value)
    shape = "(" + ", ".join(str(n) for n in array.shape) + ("," if array.ndim == 1 else "") + ")"
    if array.size <= INLINE_LIMIT:
        if array.ndim == 0:
            return fmt(float(array))

        def nest(a) -> str:
            if a.ndim == 1:
                return "[" + ", ".join(fmt(float(v)) for v in a) + "]"
            return "[" + ", ".join(nest(row) for row in a) + "]"

        return nest(array)
    finite = array[np.isfinite(array)] if array.size else array
    if finite.size == 0:
        return f"{shape} no finite values"
    return f"{shape} min {fmt(float(finite.min()))} max {fmt(float(finite.max()))} mean {fmt(float(finite.mean()))}"


def saved_text(name: str, value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{name} = {tensor_text(value)}"
    return f"{name} = {value}"


def _label(node, saved: bool):
    from rich.text import Text

    shape = "()" if node.shape == () else ("?" if node.shape is None else str(tuple(node.shape)).replace(",)", ",)"))
    label = Text()
    label.append(node.name, style="bold")
    if node.param is not None:
        label.append(f"  {node.param}", style="bold magenta")
    label.append(f"  {shape}", style="cyan")
    if node.grad is not None:
        label.append("  grad " + tensor_text(node.grad))
    if saved and node.saved:
        for key, value in node.saved.items():
            label.append("\n  saved " + saved_text(key, value), style="dim")
    return label


def graph_tree(r, saved: bool = False):
    from rich.tree import Tree

    children: dict[int, list[int]] = {}
    for a, b in r.edges:
        children.setdefault(a, []).append(b)
    nodes = {node.id: node for node in r.nodes}
    shown: set[int] = set()

    def add(branch, node_id: int) -> None:
        node = nodes[node_id]
        if node_id in shown:
            branch.add(text(f"{node.name} (#{node_id}, shown above)", "dim"))
            return
        shown.add(node_id)
        sub = branch.add(_label(node, saved))
        for child in children.get(node_id, []):
            add(sub, child)

    root = nodes[0]
    shown.add(0)
    tree = Tree(_label(root, saved))
    for child in children.get(0, []):
        add(tree, child)
    return tree


def graph_view(r, saved: bool = False) -> None:
    head = f"autograd graph of loss = {r.loss_name}(o, t) = {fmt(r.loss)}"
    show(
        heading(head),
        text(r.structure),
        text(
            "from loss.grad_fn down its next_functions to the parameters (AccumulateGrad); "
            "each node: its shape, and the gradient that flowed back into it during loss.backward()"
        ),
        graph_tree(r, saved),
        text("nothing was kept: the stored gradients and weights are as they were"),
    )
