"""What `inspect`, `set`, `undo`, `history` and `diff` show: plain records
per layer, read from the state data (tensors as stored: torch tensors, or
numpy arrays when a read-only command read the file without torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linctl.model import spec
from linctl.model.records import LayerRecord, ParamValue


@dataclass
class ParamInfo(ParamValue):
    """A parameter as stored, its gradient, and the range of its values."""

    min: float
    max: float


@dataclass
class LayerInfo(LayerRecord[ParamInfo]):
    init_bound: float  # torch's init draws from ±1/sqrt(in_features)

    @property
    def parameters(self) -> int:
        return sum(math.prod(p.value.shape) for p in self.params.values())


@dataclass
class Description:
    """Everything `inspect` shows about the network."""

    structure: str
    sizes: list[int]
    dtype: str
    layers: list[LayerInfo]
    requires_grad: bool
    step: int
    optimizer: dict
    seed: int | None
    last_x: Any
    last_t: Any

    @property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def bias_enabled(self) -> bool:
        return all(layer.param("bias") is not None for layer in self.layers)


def layer_infos(data: dict) -> list[LayerInfo]:
    specs = spec.from_dicts(data["layers"])
    infos = []
    for name, names, layer in zip(spec.prefixes(specs), spec.layer_params(specs), specs, strict=True):
        params = {}
        for kind, key in names.items():
            value = data["params"][key]  # never empty: every size is at least 1
            params[key] = ParamInfo(
                name=key,
                kind=kind,
                value=value,
                grad=data["grads"].get(key),
                min=float(value.min()),
                max=float(value.max()),
            )
        infos.append(
            LayerInfo(
                name=name,
                params=params,
                in_features=layer.in_features,
                out_features=layer.out_features,
                activation=layer.activation,
                init_bound=1 / math.sqrt(layer.in_features),
            )
        )
    return infos


def describe(data: dict) -> Description:
    specs = spec.from_dicts(data["layers"])
    opt = data.get("optimizer") or {}
    return Description(
        structure=spec.structure(specs),
        sizes=spec.sizes(specs),
        dtype=data.get("dtype", "float32"),
        layers=layer_infos(data),
        requires_grad=True,
        step=int(data.get("step", 0)),
        optimizer={"name": opt.get("name"), "settings": dict(opt.get("settings") or {})},
        seed=data.get("seed"),
        last_x=data.get("last_x"),
        last_t=data.get("last_t"),
    )
