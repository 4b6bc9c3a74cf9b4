"""Loss and backward(): autograd's gradients beside backprop written out by
hand, layer by layer from the output back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.model import registry
from linctl.model.forward import compare
from linctl.model.network import Network
from linctl.model.records import LayerRecord, ParamRecord
from linctl.tensors import copied, cpu


@dataclass
class ParamGrads(ParamRecord):
    """One parameter's part of backward(): its .grad before, what this backward added, and by hand."""

    value: Any  # backward leaves it as it was
    grad_before: Any  # None: the first backward since the gradients were cleared
    grad_added: Any  # grad - grad_before
    grad: Any
    manual_grad: Any  # by hand, this backward alone: delta_kᵀ·h_{k-1} for the weight, Σ_samples delta_k for the bias


@dataclass
class LayerGrads(LayerRecord[ParamGrads]):
    """One Linear layer's part of backward()."""

    x: Any  # the layer's input h_{k-1}
    linear: Any  # z_k
    output: Any  # h_k
    delta: Any  # dL/dz_k, by hand
    max_abs_diff: float
    match: bool


@dataclass
class BackwardResult:
    structure: str
    activations: list[str]
    loss_name: str
    dtype: str
    x: Any
    t: Any
    output: Any
    loss: float
    layers: list[LayerGrads]
    weights_unchanged: bool
    notes: list[str] = field(default_factory=list)

    @property
    def match(self) -> bool:
        return all(layer.match for layer in self.layers)

    @property
    def max_abs_diff(self) -> float:
        return max(layer.max_abs_diff for layer in self.layers)


def loss_value(name: str, output, target):
    return registry.loss(name).forward(output, target)


def backward_rows(net: Network, x_rows, t_rows, loss: str, activations: list[str], place=None) -> BackwardResult:
    """backward() on typed rows: shapes checked, values the loss cannot take refused, the samples remembered."""
    from linctl.model import samples

    x, t = samples.checked_tensors(net, x_rows, t_rows, loss, place)
    result = backward(net, x, t, loss, activations)
    samples.remember_inputs(net.data, x, t)
    result.notes = list(net.notes) + samples.loss_notes(loss, activations[-1])
    return result


def backward(net: Network, x, t, loss: str, activations: list[str]) -> BackwardResult:
    """Forward, loss, loss.backward(): gradients accumulate, as in PyTorch."""
    import torch

    before = {name: p.detach().clone() for name, p in net.named_params()}
    grads_before = {name: None if p.grad is None else cpu(p.grad).clone() for name, p in net.named_params()}
    from linctl.model.samples import check_output

    zs, hs = net.run(x, activations)
    check_output(loss, activations[-1], hs[-1].detach())
    value = loss_value(loss, hs[-1], t)
    value.backward()
    fresh = single_call_grads(net, x, t, loss, activations)
    hand = backprop(net, x, t, loss, activations, zs, hs)
    inputs, names, params = [x, *hs[:-1]], net.layer_names(), net.layer_params()
    layers = [
        layer_grads(
            names[k], linear, params[k], activations[k], (inputs[k], zs[k], hs[k]), hand[k], (fresh, grads_before)
        )
        for k, linear in enumerate(net.linears)
    ]
    unchanged = all(bool(torch.equal(p.detach(), before[name])) for name, p in net.named_params())
    return BackwardResult(
        structure=net.structure(),
        activations=list(activations),
        loss_name=loss,
        dtype=net.dtype_name,
        x=cpu(x),
        t=cpu(t),
        output=cpu(hs[-1]),
        loss=value.item(),
        layers=layers,
        weights_unchanged=unchanged,
    )


def layer_grads(name: str, linear, names: dict, activation: str, flow: tuple, hand: tuple, grads: tuple):
    """One layer's record of a backward: `names` its parameters {kind: state_dict name}; `flow` its
    (input, z, h); `hand` the by-hand ({kind: dL/dparam}, delta); `grads` autograd's gradients of this
    loss alone and the stored ones before it, by name."""
    by_hand, delta = hand
    fresh, grads_before = grads
    params, worst, same = {}, 0.0, True
    for kind, key in names.items():
        param = getattr(linear, kind)
        differs, agrees = compare(cpu(by_hand[kind]), fresh[key])
        worst, same = max(worst, differs), same and agrees
        grad, before = copied(param.grad), grads_before[key]
        params[key] = ParamGrads(
            name=key,
            kind=kind,
            value=copied(param),
            grad_before=before,
            grad_added=grad if before is None else grad - before,
            grad=grad,
            manual_grad=cpu(by_hand[kind]),
        )
    return LayerGrads(
        name=name,
        params=params,
        in_features=linear.in_features,
        out_features=linear.out_features,
        activation=activation,
        x=cpu(flow[0]),
        linear=cpu(flow[1]),
        output=cpu(flow[2]),
        delta=cpu(delta),
        max_abs_diff=worst,
        match=same,
    )


def backprop(net: Network, x, t, loss: str, activations: list[str], zs, hs) -> list[tuple]:
    """({'weight': dL/dW_k, 'bias': dL/db_k}, delta_k) per layer, by hand, from the output back.

    delta_L = dL/do ⊙ f_L'(z_L);  delta_k = (delta_{k+1}·W_{k+1}) ⊙ f_k'(z_k);
    dL/dW_k = delta_kᵀ·h_{k-1};  dL/db_k = Σ_samples delta_k.
    """
    import torch

    inputs = [x, *hs[:-1]]
    out: list[tuple] = [()] * len(net.linears)
    with torch.no_grad():
        upstream = registry.loss(loss).gradient(hs[-1], t)  # dL/dh_L
        for k in range(len(net.linears) - 1, -1, -1):
            delta = registry.activation(activations[k]).backward(zs[k], hs[k], upstream)
            out[k] = ({"weight": delta.t().mm(inputs[k]), "bias": delta.sum(dim=0)}, delta)
            upstream = delta.mm(net.linears[k].weight)
    return out


def single_call_grads(net: Network, x, t, loss: str, activations: list[str]) -> dict:
    """Autograd's gradient of this loss alone, free of what was accumulated before."""
    import torch

    names = [name for name, _ in net.named_params()]
    value = loss_value(loss, net.output(x, activations), t)
    grads = torch.autograd.grad(value, net.parameters())
    return {name: cpu(g) for name, g in zip(names, grads, strict=True)}


def zero_grad(net: Network) -> dict:
    """optimizer.zero_grad() as PyTorch does by default: gradients become None. Returns those before."""
    before = net.grads()
    for param in net.parameters():
        param.grad = None
    return before
