"""What the registry's entries compute: torch's forward functions, called lazily, and each local backward and
loss gradient written out by hand (only ever compared with autograd). Nothing here imports torch at module level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Tensor = Any

LEAKY_SLOPE = 0.01  # torch's default negative_slope
SOFTPLUS_THRESHOLD = 20.0  # torch's default: above it softplus(z) = z
ELU_ALPHA = 1.0


def torch(name: str) -> Callable[..., Tensor]:
    def call(*args):
        import torch

        return getattr(torch, name)(*args)

    return call


def functional(name: str) -> Callable[..., Tensor]:
    def call(*args):
        import torch.nn.functional as F

        return getattr(F, name)(*args)

    return call


def over_features(name: str) -> Callable[[Tensor], Tensor]:
    """softmax or log_softmax over the features (dim=1), as nn.Softmax(dim=1) / nn.LogSoftmax(dim=1)."""

    def call(z):
        import torch

        return getattr(torch, name)(z, dim=1)

    return call


def softmax_backward(z, h, g):
    """The Jacobian-vector product per sample: dL/dz = h ⊙ (g − (g·h))."""
    return h * (g - (g * h).sum(dim=1, keepdim=True))


def log_softmax_backward(z, h, g):
    """dh_i/dz_j = δij − softmax_j, so dL/dz = g − e^h ⊙ Σ_j g_j (per sample)."""
    return g - h.exp() * g.sum(dim=1, keepdim=True)


def leaky_relu_backward(z, h, g):
    return g * ((z > 0).to(z.dtype) + LEAKY_SLOPE * (z <= 0).to(z.dtype))


def gelu_backward(z, h, g):
    """d/dz z·Φ(z) = Φ(z) + z·φ(z), Φ the normal CDF, φ its density."""
    import math

    import torch

    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    density = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return g * (cdf + z * density)


def silu_backward(z, h, g):
    import torch

    s = torch.sigmoid(z)
    return g * (s * (1 + z * (1 - s)))


def softplus_backward(z, h, g):
    """σ(z), and 1 above torch's threshold 20 where softplus(z) is z itself."""
    import torch

    return g * torch.where(z > SOFTPLUS_THRESHOLD, torch.ones_like(z), torch.sigmoid(z))


def elu_backward(z, h, g):
    """1 for z > 0, α·e^z = h + α below."""
    return g * ((z > 0).to(z.dtype) + (z <= 0).to(z.dtype) * (h + ELU_ALPHA))


def sign_over_n(o, t):
    import torch

    return torch.sign(o - t) / o.numel()


def bce_gradient(o, t):
    import torch

    return (o - t) / torch.clamp(o * (1 - o), min=1e-12) / o.numel()


def class_indices(t):
    """A (B, 1) column of class indices as the (B,) int64 tensor torch's losses take; probability rows as they are."""
    if t.ndim == 1:  # already class indices (train converts its targets once)
        return t
    return t[:, 0].long() if t.shape[1] == 1 else t


def on_classes(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """F.cross_entropy / F.nll_loss on the targets as torch takes them."""

    def call(o, t):
        import torch.nn.functional as F

        return getattr(F, name)(o, class_indices(t))

    return call


def _target_rows(o, t):
    """onehot(t) for class indices, the probability rows themselves otherwise: (B, C) like o."""
    import torch.nn.functional as F

    if t.ndim == 1 or t.shape[1] == 1:
        return F.one_hot(class_indices(t), o.shape[1]).to(o.dtype)
    return t


def cross_entropy_gradient(o, t):
    """dL/do = (softmax(o) − onehot(t)) / B: log_softmax and the mean over the batch, by hand (probability rows p:
    (softmax(o)·Σp − p) / B, which is the same where each row sums to 1)."""
    import torch

    rows = _target_rows(o, t)
    return (torch.softmax(o, dim=1) * rows.sum(dim=1, keepdim=True) - rows) / o.shape[0]


def nll_gradient(o, t):
    """dL/do = −onehot(t) / B: L picks each sample's log-probability of its class."""
    return -_target_rows(o, t) / o.shape[0]
