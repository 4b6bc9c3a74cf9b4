"""The import direction DESIGN.md draws, checked over every import (function-level ones too): no cycle, no arrow up."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "linctl"

# a module in the first group never imports one in the second
FORBIDDEN = {
    ("model", "optim", "store", "tensors", "errors", "parsing", "data", "parallel"): (
        "app",
        "commands",
        "session",
        "options",
        "render",
        "view",
    ),
    ("render",): ("app", "commands", "session", "options", "optimizer_options"),
    ("session",): ("app", "commands", "options", "optimizer_options", "render"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("linctl"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("linctl")}
        graph[name] = {m for m in found if m in modules and m != name and m != "linctl"}
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_runs_upward():
    wrong = [
        f"{a} imports {b}"
        for a, targets in imports().items()
        for b in targets
        for low, high in FORBIDDEN.items()
        if room(a) in low and room(b) in high
    ]
    assert wrong == []


def test_no_import_cycle():
    graph = imports()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert cycles == []
