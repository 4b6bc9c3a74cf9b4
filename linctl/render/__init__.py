"""Views and JSON built from result objects: widgets, per-layer pieces, and one module per command group."""
