"""Loss and backward(): autograd's gradients beside backprop written out by
hand, layer by layer from the output back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.model import registry
from linctl.model.forward import compare
from linctl.model.network import Network
from linctl.tensors import copied, cpu


@dataclass
class LayerGrads:
    """One Linear layer's part of backward()."""

    name: str
    weight_name: str
    bias_name: str | None
    in_features: int
    out_features: int
    activation: str
    x: Any  # the layer's input h_{k-1}
    linear: Any  # z_k
    output: Any  # h_k
    weight: Any
    bias: Any
    weight_grad_before: Any
    bias_grad_before: Any
    weight_grad_added: Any
    bias_grad_added: Any
    weight_grad: Any
    bias_grad: Any
    delta: Any  # dL/dz_k, by hand
    manual_weight_grad: Any  # delta_kᵀ·h_{k-1}
    manual_bias_grad: Any  # sum of delta_k over samples
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
    def activation(self) -> str:
        return self.activations[-1]

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
    inputs = [x, *hs[:-1]]
    layers = [
        layer_grads(name, linear, activations[k], (inputs[k], zs[k], hs[k]), hand[k], fresh, grads_before)
        for k, (name, linear) in enumerate(zip(net.layer_names(), net.linears, strict=True))
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


def layer_grads(name: str, linear, activation: str, flow: tuple, hand: tuple, fresh: dict, grads_before: dict):
    """One layer's record of a backward: `flow` its (input, z, h); `hand` the by-hand (dL/dW, dL/db, delta);
    `fresh` autograd's gradient of this loss alone, `grads_before` the stored ones before it."""
    w_name = f"{name}.weight" if name else "weight"
    b_name = None if linear.bias is None else (f"{name}.bias" if name else "bias")
    manual_w, manual_b, delta = hand
    worst, same = compare(cpu(manual_w), fresh[w_name])
    if b_name is not None:
        worst_b, same_b = compare(cpu(manual_b), fresh[b_name])
        worst, same = max(worst, worst_b), same and same_b
    w_grad = copied(linear.weight.grad)
    b_grad = None if b_name is None else copied(linear.bias.grad)
    w_before, b_before = grads_before[w_name], None if b_name is None else grads_before[b_name]
    return LayerGrads(
        name=name,
        weight_name=w_name,
        bias_name=b_name,
        in_features=linear.in_features,
        out_features=linear.out_features,
        activation=activation,
        x=cpu(flow[0]),
        linear=cpu(flow[1]),
        output=cpu(flow[2]),
        weight=copied(linear.weight),
        bias=copied(linear.bias),
        weight_grad_before=w_before,
        bias_grad_before=b_before,
        weight_grad_added=w_grad if w_before is None else w_grad - w_before,
        bias_grad_added=None if b_grad is None else (b_grad if b_before is None else b_grad - b_before),
        weight_grad=w_grad,
        bias_grad=b_grad,
        delta=cpu(delta),
        manual_weight_grad=cpu(manual_w),
        manual_bias_grad=None if b_name is None else cpu(manual_b),
        max_abs_diff=worst,
        match=same,
    )


def backprop(net: Network, x, t, loss: str, activations: list[str], zs, hs) -> list[tuple]:
    """(dL/dW_k, dL/db_k, delta_k) per layer, by hand, from the output back.

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
            grad_w = delta.t().mm(inputs[k])
            grad_b = delta.sum(dim=0)
            out[k] = (grad_w, grad_b, delta)
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
