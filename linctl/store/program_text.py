"""The fixed text of the program `export --python` writes: its header, helpers and footer, and the tables of the
activations, losses and optimizers it knows (all of linctl's, from their registries)."""

from __future__ import annotations

from linctl.model import registry

HEADER = '''"""The linctl session in {state} as a plain PyTorch program (written by 'linctl export --python').

Run it with python; it prints the final state_dict() as one JSON object on its last line.
"""

import json
import os

import torch
import torch.nn.functional as F

DTYPE = torch.{dtype}
{tables}'''


def _table(name: str, code: dict[str, str]) -> str:
    """A dict of the program's source, one entry a line: the registry's names and their plain torch code."""
    return "\n".join([f"{name} = {{", *(f"    {key!r}: {value}," for key, value in code.items()), "}"]) + "\n"


def tables() -> str:
    """The activations, losses (mean-reduced, as linctl's) and optimizers the program knows: all of linctl's."""
    from linctl.optim.settings import OPTIMIZERS

    return (
        _table("ACTIVATIONS", {k: a.program for k, a in registry.ACTIVATIONS.items()})
        + _table("LOSSES", {k: entry.program for k, entry in registry.LOSSES.items()})
        + _table("OPTIMIZERS", {k: f"torch.optim.{o.torch_class}" for k, o in OPTIMIZERS.items()})
    )


HELPERS = '''

def run(x, acts):
    """The network's output with these activations after each Linear (the stored ones unless a command chose others)."""
    h = x
    for linear, act in zip(linears, acts):
        h = ACTIVATIONS[act](linear(h))
    return h


opt, opt_name = None, None


def optimizer(name, settings, keep):
    """One optimizer object for the whole session; a new one where linctl reset its state."""
    global opt, opt_name
    if opt is None or not keep or name != opt_name:
        opt, opt_name = OPTIMIZERS[name](net.parameters(), **settings), name
    else:
        for group in opt.param_groups:
            group.update(settings)
    return opt
'''

SIDE_LOADER = '''

def side_state(key):
    """A linctl state stored in the safetensors file beside this program (tensors, and its structure as JSON)."""
    from safetensors import safe_open

    with safe_open(SIDE, framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        structure = json.loads(handle.metadata()[key])

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"tensor"}:
                return tensors[value["tensor"]]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(structure), tensors


def side_samples(key):
    """Training samples as linctl read them from the data file: in the network's dtype, row-major."""
    from safetensors import safe_open

    with safe_open(SIDE, framework="pt") as handle:
        x, t = handle.get_tensor(key + "/x"), handle.get_tensor(key + "/t")
    return x.to(DTYPE).contiguous(), t.to(DTYPE).contiguous()


def load_state(key):
    """Parameters, gradients and the optimizer exactly as that state holds them."""
    global opt, opt_name
    data, _ = side_state(key)
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.copy_(data["params"][name])
            grad = data["grads"].get(name)
            param.grad = None if grad is None else grad.clone()
    entry = data.get("optimizer") or {}
    opt, opt_name = None, None
    if entry.get("name") is not None:
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["settings"].items()}
        optimizer(entry["name"], settings, False)
        if entry.get("state") is not None:
            state = entry["state"]
            state["state"] = {int(k): v for k, v in state["state"].items()}
            opt.load_state_dict(state)
'''

FOOTER = """

print(json.dumps({name: value.tolist() for name, value in net.state_dict().items()}))
"""
