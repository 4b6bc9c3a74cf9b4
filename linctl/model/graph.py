"""The autograd graph of the loss, walked from loss.grad_fn along next_functions,
with what flows through each node captured by hooks during a real backward()."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.model import registry
from linctl.model.network import Network
from linctl.tensors import cpu


@dataclass
class GraphNode:
    id: int
    name: str  # type(fn).__name__, as torch names it
    shape: tuple[int, ...] | None  # the tensor the node produced (its gradient has the same shape)
    grad: Any = None  # the gradient w.r.t. that tensor, from this backward
    param: str | None = None  # a leaf's parameter name, as `set` knows it
    saved: dict[str, Any] = field(default_factory=dict)  # the node's _saved_* attributes


@dataclass
class GraphResult:
    structure: str
    loss_name: str
    activations: list[str]
    x: Any
    t: Any
    loss: float
    nodes: list[GraphNode]
    edges: list[tuple[int, int]]  # (from, to): `to` is one of `from`'s next_functions
    notes: list[str] = field(default_factory=list)


def _saved(fn) -> dict[str, Any]:
    """What a node saved for backward, read before backward() frees it."""
    import torch

    out: dict[str, Any] = {}
    for attr in dir(fn):
        if not attr.startswith("_saved_"):
            continue
        try:
            value = getattr(fn, attr)
        except RuntimeError:  # freed, or not readable
            continue
        if isinstance(value, torch.Tensor):
            value = cpu(value).clone()
        out[attr.removeprefix("_saved_")] = value
    return out


def walk(root) -> tuple[list[Any], list[tuple[int, int]]]:
    """Every node reachable from `root` (breadth first, each once) and the edges between them."""
    order: list[Any] = [root]
    index = {root: 0}
    edges: list[tuple[int, int]] = []
    i = 0
    while i < len(order):
        fn = order[i]
        for nxt, _ in fn.next_functions:
            if nxt is None:  # an input that needs no gradient
                continue
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            edges.append((i, index[nxt]))
        i += 1
    return order, edges


def graph(net: Network, x, t, loss: str, activations: list[str]) -> GraphResult:
    """loss(act(net(x)), t).backward() with a hook on every node; the network keeps no gradient."""
    from linctl.model.samples import check_output

    names = {id(p): name for name, p in net.named_params()}
    for p in net.parameters():  # the stored gradients are not this backward's
        p.grad = None
    output = net.output(x, activations)
    check_output(loss, activations[-1], output.detach())
    value = registry.loss(loss).forward(output, t)
    fns, edges = walk(value.grad_fn)
    nodes = [GraphNode(id=i, name=type(fn).__name__, shape=None, saved=_saved(fn)) for i, fn in enumerate(fns)]
    for node, fn in zip(nodes, fns, strict=True):
        variable = getattr(fn, "variable", None)
        if variable is not None:
            node.param = names.get(id(variable))
            node.shape = tuple(variable.shape)

        def capture(grad_outputs, node=node):
            if grad_outputs and grad_outputs[0] is not None:
                node.grad = cpu(grad_outputs[0]).clone()
                node.shape = tuple(grad_outputs[0].shape)

        fn.register_prehook(capture)
    value.backward()
    nodes[0].shape = tuple(value.shape)
    for p in net.parameters():
        p.grad = None
    return GraphResult(
        structure=net.structure(),
        loss_name=loss,
        activations=list(activations),
        x=cpu(x),
        t=cpu(t),
        loss=value.item(),
        nodes=nodes,
        edges=edges,
    )


def graph_rows(net: Network, x_rows, t_rows, loss: str, activations: list[str], place=None) -> GraphResult:
    from linctl.model import samples

    x, t = samples.checked_tensors(net, x_rows, t_rows, loss, place)
    result = graph(net, x, t, loss, activations)
    result.notes = list(net.notes) + samples.loss_notes(loss, activations[-1])
    return result
