"""Tensors handed between the layers of linctl: detached CPU copies, JSON-ready arrays, dtype notes.

A neutral module: model, store and render all use it, and it imports none of them (nor torch at module level).
"""

from __future__ import annotations

from typing import Any


def cpu(tensor):
    """A detached CPU tensor (a copy only when the tensor lives elsewhere)."""
    return tensor.detach().cpu()


def copied(tensor):
    """A detached CPU copy that no later step can change (one copy, wherever the tensor lives); None stays None.

    For the tensors a result object keeps: `cpu` of a CPU tensor is the live parameter itself.
    """
    return None if tensor is None else tensor.detach().to("cpu", copy=True)


def plain(tensor) -> Any:
    """A tensor as an array for JSON (None stays None); orjson writes it fast."""
    if tensor is None:
        return None
    if not hasattr(tensor, "detach"):  # already a numpy array (read from safetensors without torch)
        return tensor
    return tensor.detach().cpu().contiguous().numpy()


def cast_note(typed, cast, what: str) -> str | None:
    """A warning when finite typed numbers became inf in the network's dtype (1e39 in float32)."""
    import torch

    if cast.dtype == torch.float64 or cast.numel() == 0:
        return None
    bad = ~torch.isfinite(cast)
    if not bool(bad.any()):
        return None
    typed = typed.double() if isinstance(typed, torch.Tensor) else torch.tensor(typed, dtype=torch.float64)
    overflowed = bad.cpu() & torch.isfinite(typed.cpu())
    count = int(overflowed.sum())
    if not count:
        return None  # NaN/inf as typed: the typed-value warning covers them
    first = float(typed.cpu()[overflowed][0])
    name = str(cast.dtype).replace("torch.", "")
    more = f" (and {count - 1} more)" if count > 1 else ""
    return (
        f"warning: {what}: {first:g}{more} is beyond {name}'s range (±{torch.finfo(cast.dtype).max:.4g}) and became "
        f"{'inf' if first > 0 else '-inf'}; results will not be finite. Use smaller values, or a float64 network "
        "(inspect IN OUT --dtype float64)"
    )
