"""Imports read from the source with ``ast`` (nothing is imported): each statement with its file and line, and
the graph of the imports that run, for the layout tests of ``shared/`` and ``sandbox/``."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

Graph = dict[str, set[str]]


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    """The module imported, resolved within the package; outside it, the dotted name as written (``a.b.Name``)."""
    line: int
    typing_only: bool
    """Under ``if TYPE_CHECKING:``: it never runs, so it cannot close a cycle."""


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root`` by dotted name (a package by its own name, not ``__init__``)."""
    found = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, at any depth (functions, classes, ``try``), flagged when only a type checker
    reads it."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, typing_only
        elif isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.body:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), typing_only)
        else:
            yield from _statements(node, typing_only)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def imports(root: Path, package: str) -> list[Import]:
    """Every import statement of ``package``, each name of a ``from`` import on its own."""
    known = modules(root, package)
    found = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node, typing_only in _statements(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                if target.startswith(package + "."):
                    resolved = target
                    while resolved not in known and "." in resolved:
                        resolved = resolved.rpartition(".")[0]
                    if resolved != package:  # a module of the package, or a name read from it
                        target = resolved
                found.append(Import(name, target, node.lineno, typing_only))
    return found


def import_graph(root: Path, package: str) -> Graph:
    """Module → the package's modules it imports when it runs.

    Importing ``a.b.c`` runs ``a`` and ``a.b`` first, so those count too, except the importer's own packages,
    which are already running when it does; a name imported from one of them (``from a import X`` inside
    ``a.b``) still counts, as it is read from a package that may be only half run.
    """
    known = modules(root, package)
    graph: Graph = {name: set() for name in known}
    for item in imports(root, package):
        if item.typing_only or item.target not in known or item.target == item.module:
            continue
        own = {*_ancestors(item.module), item.module}
        graph[item.module].add(item.target)
        graph[item.module].update(a for a in _ancestors(item.target) if a in known and a not in own)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, a]``) through each group of modules that import one another, in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            current = queue.pop(0)
            for target in sorted(graph[current]):
                if target == start:
                    found.append([*paths[current], start])
                    queue = []
                    break
                if target in group and target not in paths:
                    paths[target] = [*paths[current], target]
                    queue.append(target)
    return sorted(found)
