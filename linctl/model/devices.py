"""Where the network runs, and how much memory a new one may take."""

from __future__ import annotations

from linctl.errors import LinctlError, UsageError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str | None):
    import torch

    name = (name or "cpu").lower()
    if name not in DEVICES:
        raise UsageError(f"--device (or LINCTL_DEVICE): expected one of cpu, cuda, auto, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise LinctlError(
            f"--device cuda: no CUDA GPU is available (torch {torch.__version__}); use --device cpu or --device auto"
        )
    return torch.device(name)


def available_memory() -> int | None:
    """Bytes of memory free for new allocations, from /proc/meminfo where it exists."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
