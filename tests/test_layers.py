"""The package's layers, read from the source with `ast` (nothing is imported): no module
imports a higher layer, nothing imports the package root or cli, and no modules import
each other in a circle. Imports inside functions (kept there for start-up time) count.

The order (docs/architecture.md), lowest first; a folder may import its own layer and
those below:

    o3, data, nn, config (+ _version, atomic_files, progress)  <  models  <  inference (longrange, uq, extensions, lammps)
    <  calculator (potential_files)  <  train, evaluation (learn)  <  plots  <  properties, simulate
    <  testing  <  cli

It agrees with /work/shared/tools/check_layers.py (o3/data/nn/config import none of the
higher folders; models imports none of train, evaluation, properties, simulate, plots,
inference, cli) and adds the order above those.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "equipot"

LAYERS: list[set[str]] = [
    {"_version", "atomic_files", "progress", "o3", "data", "nn", "config"},
    {"models"},
    {"inference", "longrange", "uq", "extensions", "lammps"},
    {"calculator", "potential_files"},
    {"train", "evaluation", "learn"},
    {"plots"},
    {"properties", "simulate"},
    {"testing"},
    {"cli"},
]
RANK = {folder: rank for rank, folders in enumerate(LAYERS) for folder in folders}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("equipot", *parts))


def imported_names(path: Path) -> set[str]:
    """Every ``equipot...`` name an import statement anywhere in ``path`` refers to."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.update([target, *(f"{target}.{alias.name}" for alias in node.names)])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {n for n in found if n == "equipot" or n.startswith("equipot.")}


def import_graph() -> dict[str, set[str]]:
    """module -> the modules (files) it imports."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}

    def resolve(target: str) -> str:
        while target not in files:
            target = target.rsplit(".", 1)[0]
        return target

    return {name: {resolve(t) for t in imported_names(path)} - {name} for name, path in files.items()}


def folder(module: str) -> str:
    """The top folder (or top-level module) of ``module``; "" for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_folder_has_a_layer() -> None:
    folders = {folder(name) for name in import_graph()} - {"", "__main__"}
    assert folders <= set(RANK), f"folders without a layer in tests/test_layers.py: {sorted(folders - set(RANK))}"


def test_no_module_imports_a_higher_layer_or_the_package_root() -> None:
    findings = []
    for module, imports in import_graph().items():
        if folder(module) in ("", "__main__"):
            continue  # the root re-exports the public names (lazily); `python -m equipot` runs cli
        for target in imports:
            if folder(target) == "":
                findings.append(f"{module} imports the package root (import from equipot._version or the module itself)")
            elif RANK[folder(target)] > RANK[folder(module)]:
                findings.append(f"{module} imports {target}, a higher layer")
    assert not findings, "\n".join(sorted(findings))


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (package ``__init__`` files,
    which only re-export their own modules, left out), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            files = [m for m in component if not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").exists()]
            if len(files) > 1:
                found.append(sorted(files))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in graph:
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_circles() -> None:
    found = circles(import_graph())
    assert not found, "\n".join(" -> ".join(component) for component in found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"equipot.a.x": {"equipot.a.y"}, "equipot.a.y": {"equipot.a.x"}}, [["equipot.a.x", "equipot.a.y"]]),
        ({"equipot.a.x": {"equipot.a.y"}, "equipot.a.y": set()}, []),
    ],
)
def test_the_circle_finder_finds_circles(graph, expected) -> None:
    assert circles(graph) == expected
