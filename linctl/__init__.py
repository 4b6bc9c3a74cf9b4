"""linctl: inspect and step PyTorch linear networks from the command line."""

__version__ = "0.1.0"
