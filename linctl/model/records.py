"""The shape every per-layer result shares: the Linear layer's name, and one record per parameter,
keyed by its state_dict() name ('weight', '0.weight', '2.bias').

A layer built without a bias simply has no bias record, and another kind of
parameter would need no new field: a result says what it knows about each
parameter once, in its own record type, and views loop over the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar


@dataclass
class ParamRecord:
    """What every per-parameter record has: the parameter's name, and which of the Linear's it is."""

    name: str  # as state_dict() lists it: 'weight', '0.weight', '2.bias'
    kind: str  # the Linear's attribute: 'weight' or 'bias'


@dataclass
class ParamValue(ParamRecord):
    """A parameter as it is now, and its .grad (None before any backward)."""

    value: Any
    grad: Any


P = TypeVar("P", bound=ParamRecord)


@dataclass
class LayerParams(Generic[P]):
    """A layer's records, one per parameter, in the order of `module.parameters()`."""

    name: str  # the layer's prefix in the state_dict ('' for a bare Linear)
    params: dict[str, P]

    def param(self, kind: str) -> P | None:
        """The record of the layer's `kind` parameter ('weight', 'bias'); None where the layer has none."""
        for record in self.params.values():
            if record.kind == kind:
                return record
        return None


@dataclass
class LayerRecord(LayerParams[P]):
    """One Linear layer of the network: its sizes and the activation after it, beside its records."""

    in_features: int
    out_features: int
    activation: str
