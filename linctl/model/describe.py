"""What `inspect`, `set`, `undo`, `history` and `diff` show: plain records
per layer, read from the state data (tensors as stored: torch tensors, or
numpy arrays when a read-only command read the file without torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linctl.model import spec


@dataclass
class LayerInfo:
    name: str  # prefix in the state_dict ('' for a bare Linear)
    weight_name: str
    bias_name: str | None
    in_features: int
    out_features: int
    activation: str
    weight: Any
    bias: Any
    weight_grad: Any
    bias_grad: Any
    init_bound: float
    weight_min: float
    weight_max: float
    bias_min: float | None
    bias_max: float | None

    @property
    def parameters(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias_name else 0)


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
    def is_stack(self) -> bool:
        return len(self.layers) > 1

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
        return all(layer.bias_name is not None for layer in self.layers)

    @property
    def activation(self) -> str:
        return self.layers[-1].activation


def _range(tensor) -> tuple[float | None, float | None]:
    if tensor is None or math.prod(tensor.shape) == 0:
        return None, None
    return float(tensor.min()), float(tensor.max())


def layer_infos(data: dict) -> list[LayerInfo]:
    specs = spec.from_dicts(data["layers"])
    infos = []
    for name, (w, b), layer in zip(spec.prefixes(specs), spec.layer_param_names(specs), specs, strict=True):
        weight = data["params"][w]
        bias = data["params"][b] if b else None
        w_min, w_max = _range(weight)
        b_min, b_max = _range(bias)
        infos.append(
            LayerInfo(
                name=name,
                weight_name=w,
                bias_name=b,
                in_features=layer.in_features,
                out_features=layer.out_features,
                activation=layer.activation,
                weight=weight,
                bias=bias,
                weight_grad=data["grads"].get(w),
                bias_grad=data["grads"].get(b) if b else None,
                init_bound=1 / math.sqrt(layer.in_features),
                weight_min=w_min if w_min is not None else 0.0,
                weight_max=w_max if w_max is not None else 0.0,
                bias_min=b_min,
                bias_max=b_max,
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
