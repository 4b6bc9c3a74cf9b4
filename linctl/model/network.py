"""The live torch network for one command: a bare `nn.Linear`, or an
`nn.Sequential` of `Linear` and activation modules, built from the state
file's data and written back to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from linctl.model import registry, spec
from linctl.model.records import ParamValue
from linctl.tensors import cpu

Tensor = Any


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]


def element_size(dtype: str) -> int:
    return {"float32": 4, "float64": 8}[dtype]


def build_module(specs: list[spec.LayerSpec], dtype, device=None):
    """The module `inspect` prints: torch's own init, layers built in order."""
    import torch

    linears = [
        torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias, dtype=dtype, device=device)
        for layer in specs
    ]
    if spec.bare(specs):
        return linears[0]
    modules: list[torch.nn.Module] = []
    for linear, layer in zip(linears, specs, strict=True):
        modules.append(linear)
        entry = registry.activation(layer.activation)
        if entry.module is not None:
            modules.append(getattr(torch.nn, entry.module)(**dict(entry.arguments)))
    return torch.nn.Sequential(*modules)


def linears_of(module, specs: list[spec.LayerSpec]) -> list:
    """The module's Linear layers, in order (a bare Linear is its own one layer: its prefix is '')."""
    return [module.get_submodule(prefix) for prefix in spec.prefixes(specs)]


def param_values(linear, names: dict[str, str]) -> dict[str, ParamValue]:
    """The layer's parameters as they are now and their gradients, copied to the CPU, by state_dict name."""
    values = {}
    for kind, name in names.items():
        param = getattr(linear, kind)
        values[name] = ParamValue(name, kind, cpu(param), None if param.grad is None else cpu(param.grad))
    return values


class Network:
    """A real torch module built from the state data, on one device."""

    def __init__(self, data: dict, device=None, copy: bool = True):
        import torch

        self.data = data
        self.device = device if device is not None else torch.device("cpu")
        self.notes: list[str] = []  # warnings about the values this command was given
        self.specs = spec.from_dicts(data["layers"])
        self.dtype_name = data.get("dtype", "float32")
        self.dtype = torch_dtype(self.dtype_name)
        self.module = build_module(self.specs, self.dtype, device="meta")
        # a copy keeps `data` as it was loaded while the live parameters change
        tensors = {
            name: data["params"][name].to(device=self.device, dtype=self.dtype, copy=copy)
            for name in spec.param_names(self.specs)
        }
        self.module.load_state_dict(tensors, assign=True)
        self.linears = linears_of(self.module, self.specs)
        for name, param in self.named_params():
            grad = data["grads"].get(name)
            param.grad = None if grad is None else grad.to(device=self.device, dtype=self.dtype, copy=copy)

    # ---- structure

    @property
    def in_features(self) -> int:
        return self.specs[0].in_features

    @property
    def out_features(self) -> int:
        return self.specs[-1].out_features

    @property
    def activations(self) -> list[str]:
        return [layer.activation for layer in self.specs]

    def structure(self) -> str:
        return spec.structure(self.specs)

    def layer_names(self) -> list[str]:
        return spec.prefixes(self.specs)

    def layer_params(self) -> list[dict[str, str]]:
        """Each layer's parameters, {kind: state_dict name}."""
        return spec.layer_params(self.specs)

    # ---- parameters by state_dict name

    def named_params(self) -> Iterator[tuple[str, Any]]:
        for linear, names in zip(self.linears, spec.layer_params(self.specs), strict=True):
            for kind, name in names.items():
                yield name, getattr(linear, kind)

    def parameters(self) -> list:
        return [p for _, p in self.named_params()]

    def param(self, name: str):
        for key, value in self.named_params():
            if key == name:
                return value
        return None

    def params(self) -> dict[str, Tensor]:
        return {name: cpu(p) for name, p in self.named_params()}

    def grads(self) -> dict[str, Tensor | None]:
        return {name: None if p.grad is None else cpu(p.grad) for name, p in self.named_params()}

    def has_grads(self) -> bool:
        return any(p.grad is not None for p in self.parameters())

    def to_state(self) -> dict:
        """The state data with this network's current parameters and gradients."""
        data = dict(self.data)
        data["params"] = self.params()
        data["grads"] = self.grads()
        return data

    # ---- running it

    def tensor(self, rows: list[list[float]], option: str | None = None):
        """Typed rows in the network's dtype; a value the dtype cannot hold is noted under `option`."""
        import torch

        from linctl.tensors import cast_note

        cast = torch.tensor(rows, dtype=self.dtype, device=self.device)
        warning = cast_note(rows, cast, option) if option else None
        if warning:
            self.notes.append(warning)
        return cast

    def run(self, x, activations: list[str] | None = None) -> tuple[list, list]:
        """Layer by layer: each pre-activation z_k = W_k·h_{k-1} + b_k and output h_k = f_k(z_k).

        This is what the module's own forward does (nn.Sequential calls its
        children in order), so the last h is the network's output, bit for bit.
        """
        acts = activations or self.activations
        zs, hs = [], []
        h = x
        for linear, name in zip(self.linears, acts, strict=True):
            z = linear(h)
            h = registry.activation(name).forward(z)
            zs.append(z)
            hs.append(h)
        return zs, hs

    def output(self, x, activations: list[str] | None = None):
        return self.run(x, activations)[1][-1]


def new_state(
    specs: list[spec.LayerSpec],
    *,
    dtype: str = "float32",
    seed: int | None = None,
    weights: list[list[list[float]]] | None = None,
    biases: list[list[float]] | None = None,
    notes: list[str] | None = None,
) -> dict:
    """Build the module with torch's own init (after torch.manual_seed(seed)) and return its state data.

    Shapes are checked before (spec.plan); a --weight/--bias value the dtype cannot hold is noted in `notes`.
    """
    import torch

    from linctl.store import FORMAT, schema
    from linctl.tensors import cast_note

    if seed is not None:
        torch.manual_seed(seed)
    module = build_module(specs, torch_dtype(dtype))
    with torch.no_grad():
        for k, linear in enumerate(linears_of(module, specs)):
            given = [
                ("--weight", weights[k] if weights else None, linear.weight),
                ("--bias", biases[k] if biases else None, linear.bias),
            ]
            for option, values, param in given:
                if values is None or param is None:
                    continue
                cast = torch.tensor(values, dtype=param.dtype)
                warning = cast_note(values, cast, option + spec.which_layer(k, len(specs)))
                if warning and notes is not None:
                    notes.append(warning)
                param.copy_(cast)
    params = {name: p.detach() for name, p in module.state_dict(keep_vars=True).items()}
    return schema.fresh(
        format=FORMAT,
        dtype=dtype,
        layers=[layer.as_dict() for layer in specs],
        params=params,
        grads=dict.fromkeys(params),
        seed=seed,
    )
