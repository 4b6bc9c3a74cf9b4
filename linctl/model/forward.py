"""The forward pass, layer by layer, beside the same done by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linctl.model.network import Network, param_values
from linctl.model.records import LayerRecord, ParamValue
from linctl.tensors import cpu

TRAP_SHOW_LIMIT = 4096


def tolerance(dtype) -> tuple[float, float]:
    """(rtol, atol) as torch.testing uses them for this dtype."""
    import torch

    return (1e-7, 1e-7) if dtype == torch.float64 else (1.3e-6, 1e-5)


def compare(a, b) -> tuple[float, bool]:
    """The largest absolute difference, and whether a and b agree within torch.testing's tolerance."""
    import torch

    if a.numel() == 0:
        return 0.0, True
    diff = (a - b).abs()
    finite = torch.isfinite(diff)
    worst = float(diff[finite].max()) if finite.any() else 0.0
    rtol, atol = tolerance(a.dtype)
    # torch.allclose(a, b, rtol, atol, equal_nan=True), written out: its first call costs ~0.07 s of set-up
    close = (a == b) | ((diff <= atol + rtol * b.abs()) & torch.isfinite(b)) | (torch.isnan(a) & torch.isnan(b))
    return worst, bool(close.all())


@dataclass
class Trap:
    """What adding the bias without .view(OUT, 1) gives."""

    kind: str  # "values" (same shape, wrong numbers), "shape" (wrong shape) or "error"
    shape: tuple[int, ...] | None
    values: Any = None  # tensor, only when small enough to show
    message: str = ""


@dataclass
class LayerForward(LayerRecord[ParamValue]):
    """One Linear layer's part of the forward pass (its gradients as stored: forward changes none)."""

    x: Any  # this layer's input h_{k-1}, (B, in)
    linear: Any  # z_k = h_{k-1}·W_kᵀ + b_k, (B, out)
    output: Any  # h_k = f(z_k), (B, out)
    manual: Any  # torch.mm(W, h.t()) + b.view(out, 1), (out, B)
    max_abs_diff: float
    match: bool
    exact: bool
    grad_fn: str
    output_grad_fn: str | None


@dataclass
class ForwardResult:
    structure: str
    dtype: str
    device: str
    x: Any
    output: Any
    layers: list[LayerForward]
    trap: Trap | None
    rtol: float
    atol: float
    built: bool = False
    notes: list[str] = field(default_factory=list)
    classified: Any = None  # metrics.Classified: predicted class and probabilities, for a classifier

    @property
    def match(self) -> bool:
        return all(layer.match for layer in self.layers)

    @property
    def exact(self) -> bool:
        return all(layer.exact for layer in self.layers)

    @property
    def max_abs_diff(self) -> float:
        return max(layer.max_abs_diff for layer in self.layers)


def grad_fn_name(tensor) -> str:
    return type(tensor.grad_fn).__name__ if tensor.grad_fn is not None else "None"


def forward_rows(net: Network, rows: list[list[float]]) -> ForwardResult:
    """forward() on typed rows, checked against the network's inputs."""
    from linctl.model import metrics
    from linctl.model.samples import check_inputs

    check_inputs(rows, net.in_features)
    result = forward(net, net.tensor(rows, "--x"))
    result.notes = list(net.notes)
    classes, last = net.data.get("classes"), net.activations[-1]
    if metrics.is_classifier(last, classes):
        result.classified = metrics.classify(result.output, last, classes)
    return result


def forward(net: Network, x) -> ForwardResult:
    """net(x), each layer's pre-activation beside torch.mm(W, h.t()) + b.view(out, 1)."""
    import torch

    zs, hs = net.run(x)
    layers = []
    trap = None
    h_in = x
    names, params = net.layer_names(), net.layer_params()
    for k, linear in enumerate(net.linears):
        z, h = zs[k], hs[k]
        with torch.no_grad():
            weight, bias = linear.weight, linear.bias
            product = torch.mm(weight, h_in.detach().t())
            manual = product + bias.view(linear.out_features, 1) if bias is not None else product
            worst, same = compare(manual.t(), z.detach())
            exact = bool(torch.equal(manual.t(), z.detach()))
            if k == 0:
                trap = bias_trap(product, bias)
        layers.append(
            LayerForward(
                name=names[k],
                params=param_values(linear, params[k]),
                in_features=linear.in_features,
                out_features=linear.out_features,
                activation=net.activations[k],
                x=cpu(h_in),
                linear=cpu(z),
                output=cpu(h),
                manual=cpu(manual),
                max_abs_diff=worst,
                match=same,
                exact=exact,
                grad_fn=grad_fn_name(z),
                output_grad_fn=grad_fn_name(h) if h is not z else None,
            )
        )
        h_in = h
    rtol, atol = tolerance(net.dtype)
    return ForwardResult(
        structure=net.structure(),
        dtype=net.dtype_name,
        device=str(net.device),
        x=cpu(x),
        output=cpu(hs[-1]),
        layers=layers,
        trap=trap,
        rtol=rtol,
        atol=atol,
    )


def bias_trap(product, bias) -> Trap | None:
    """`torch.mm(W, x.t()) + b`: broadcasts b along the wrong axis whenever OUT > 1."""
    if bias is None:
        return None
    out_features, batch = product.shape
    if out_features == 1:
        return None  # (1, B) + (1,) broadcasts to the right numbers
    # (OUT, B) + (OUT,): the bias lines up with the last dimension, B
    # (torch.broadcast_shapes would say the same, but imports sympy: 0.4 s)
    if batch not in (1, out_features):
        return Trap(
            kind="error",
            shape=None,
            message=(
                f"torch raises: the size of tensor a ({batch}) must match the size of tensor b ({out_features}) "
                "at non-singleton dimension 1"
            ),
        )
    shape = (out_features, out_features)
    values = cpu(product + bias) if out_features * out_features <= TRAP_SHOW_LIMIT else None
    kind = "values" if shape == tuple(product.shape) else "shape"
    return Trap(kind=kind, shape=shape, values=values)
