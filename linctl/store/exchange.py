"""Files for and from plain PyTorch: a state_dict written as .pt, safetensors or JSON; one read from a checkpoint.

Exported keys are the module's own state_dict() names (`weight`, `bias` for
one Linear; `0.weight`, `2.bias` for a stack), so
`nn.Linear(3, 2).load_state_dict(torch.load(FILE))` works as it is.
Checkpoints are read with torch.load(weights_only=True), or as safetensors
after their header is checked: nothing in a file runs code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linctl.errors import LinctlError, UsageError


def _atomic(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise LinctlError(f"cannot write {target}: {exc.strerror or exc}; pass a writable path") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def export_state_dict(data: dict, target: Path, kind: str) -> list[str]:
    """Write the parameters under their state_dict() names; returns the names in order."""
    params = data["params"]
    names = list(params)
    if kind == ".json":
        import orjson

        from linctl.tensors import plain

        content = orjson.dumps({n: plain(params[n]) for n in names}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        _atomic(target, lambda handle: handle.write(content))
    elif kind == ".safetensors":
        from safetensors.numpy import save

        from linctl.tensors import plain

        content = save({n: plain(params[n]) for n in names})
        _atomic(target, lambda handle: handle.write(content))
    else:
        import torch

        state_dict = {n: params[n].detach().clone() for n in names}
        _atomic(target, lambda handle: torch.save(state_dict, handle))
    return names


def optimizer_path(target: Path) -> Path:
    return target.with_name(target.stem + ".optimizer.pt")


def export_optimizer(data: dict, target: Path) -> Path:
    """The optimizer's state_dict() beside FILE, for `opt.load_state_dict(torch.load(...))`."""
    import torch

    entry = data.get("optimizer") or {}
    if entry.get("name") is None:
        raise LinctlError("--with-optimizer: this network has no optimizer yet; take a 'linctl step' first")
    state = entry.get("state")
    if state is None:
        raise LinctlError(
            f"--with-optimizer: the {entry['name']} optimizer has no state yet (no step taken since it was set); "
            "take a 'linctl step' first"
        )
    out = optimizer_path(target)
    _atomic(out, lambda handle: torch.save(state, handle))
    return out


# --------------------------------------------------------------------------
# reading a checkpoint


def read_state_dict(source: Path) -> dict[str, Any]:
    """name -> torch tensor, from a .pt/.pth state_dict or a .safetensors file."""
    import torch

    try:
        found = source.is_file()
    except OSError as exc:
        raise LinctlError(f"import: cannot look at {str(source)[:80]!r}: {exc.strerror or exc}") from None
    if not found:
        raise LinctlError(
            f"import: no file at {str(source)[:200]!r}; give the path of a .pt, .pth or .safetensors file"
        )
    kind = source.suffix.lower()
    if kind == ".safetensors":
        from linctl.store import codec

        try:
            header, _ = codec.read_header(source, codec.ALL_DTYPE_SIZES)
            tensors = codec.read_tensors(source, list(header), "pt")
        except codec.BadFile as exc:
            raise LinctlError(f"cannot read {source}: not a usable safetensors file ({exc})") from None
        except Exception as exc:
            raise LinctlError(
                f"cannot read {source}: {str(exc).splitlines()[0][:120] if str(exc) else exc!r}"
            ) from None
        return tensors
    if kind not in (".pt", ".pth", ".bin"):
        raise UsageError(f"import: FILE {str(source)!r} must end in .pt, .pth or .safetensors")
    import pickle

    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise LinctlError(
            f"refused to load {source}: it holds pickled objects (a whole module saved with torch.save(model)?), "
            "not a state_dict; nothing in it was run; save model.state_dict() instead"
        ) from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LinctlError(f"cannot read {source}: not a torch.save file ({reason[:120]})") from None
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]  # a training checkpoint that wraps one
    if not isinstance(loaded, dict):
        raise LinctlError(f"{source} holds a {type(loaded).__name__}, not a state_dict (a dict of tensors)")
    return {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


@dataclass
class Pair:
    prefix: str  # '' for a bare 'weight'
    weight: str
    bias: str | None
    in_features: int
    out_features: int
    dtype: str


def linear_pairs(tensors: dict[str, Any]) -> list[Pair]:
    """Every Linear-shaped entry: a 2-D PREFIX.weight, with its 1-D PREFIX.bias when the sizes match."""
    pairs = []
    for name, value in tensors.items():
        if not (name == "weight" or name.endswith(".weight")) or value.dim() != 2 or not value.is_floating_point():
            continue
        prefix = name[: -len("weight")].removesuffix(".")
        bias_name = f"{prefix}.bias" if prefix else "bias"
        bias = tensors.get(bias_name)
        if bias is not None and (bias.dim() != 1 or bias.shape[0] != value.shape[0]):
            continue  # a bias that does not fit: not a Linear
        out_features, in_features = value.shape
        if in_features < 1 or out_features < 1:
            continue
        pairs.append(
            Pair(
                prefix,
                name,
                bias_name if bias is not None else None,
                in_features,
                out_features,
                str(value.dtype).removeprefix("torch."),
            )
        )
    return pairs


def build_from(
    tensors: dict[str, Any], pairs: list[Pair], keys: list[str], activations: list[str] | None
) -> tuple[dict, list[str]]:
    """The state data of a network made of the named pairs, in order, each size checked to chain."""
    import torch

    from linctl.model import spec
    from linctl.model.network import new_state

    by_prefix = {p.prefix: p for p in pairs}
    chosen = []
    for key in keys:
        prefix = key.removesuffix(".weight").removesuffix(".")
        if prefix not in by_prefix:
            known = ", ".join(repr(p.prefix) for p in pairs[:8]) or "none"
            raise UsageError(
                f"--key: {key!r} is not the prefix of a Linear-shaped weight in the file "
                f"(a 2-D {prefix + '.' if prefix else ''}weight); it holds {known}"
            )
        chosen.append(by_prefix[prefix])
    for k in range(1, len(chosen)):
        if chosen[k].in_features != chosen[k - 1].out_features:
            raise UsageError(
                f"--key: {chosen[k].prefix!r} takes {chosen[k].in_features} inputs but {chosen[k - 1].prefix!r} "
                f"gives {chosen[k - 1].out_features}; the keys must chain, in order (--all takes every Linear "
                "the listing shows, in its order)"
            )
    if len(chosen) > spec.MAX_LAYERS:
        raise UsageError(f"--key: {len(chosen)} layers; linctl builds at most {spec.MAX_LAYERS}")
    specs = [spec.LayerSpec(p.in_features, p.out_features, bias=p.bias is not None) for p in chosen]
    acts = spec.activations_for(specs, activations)
    specs = [
        spec.LayerSpec(s.in_features, s.out_features, bias=s.bias, activation=a)
        for s, a in zip(specs, acts, strict=True)
    ]
    notes = [
        f"{p.prefix or 'the layer'}: no {p.prefix + '.' if p.prefix else ''}bias in the file, so it is built without "
        "one (bias=False)"
        for p in chosen
        if p.bias is None
    ]
    dtype = "float64" if all(p.dtype == "float64" for p in chosen) else "float32"
    if any(p.dtype not in ("float32", "float64") for p in chosen):
        notes.append(f"the weights are {', '.join(sorted({p.dtype for p in chosen}))}: converted to {dtype}")
    new = new_state(specs, dtype=dtype)
    target = torch.float64 if dtype == "float64" else torch.float32
    for names, p in zip(spec.layer_params(specs), chosen, strict=True):
        for kind, name in names.items():  # a bias only where the file has one (the spec was built so)
            new["params"][name] = tensors[getattr(p, kind)].detach().to(dtype=target, copy=True).contiguous()
    return new, notes
