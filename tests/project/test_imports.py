"""The package's layers (docs/architecture.md, "Layout"): no module imports a layer above
its own, lazily or not, and no two modules import each other at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "xncost"

# lowest first; a module may import its own layer and those below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("xncost", "xncost.errors", "xncost.exact"),
    ("xncost.io", "xncost.report"),
    ("xncost.conventions",),
    ("xncost.core",),
    ("xncost.kernels",),
    ("xncost.nn",),
    ("xncost.models",),
    ("xncost.profile",),
    ("xncost.train",),
    ("xncost.paper",),
    ("xncost.api",),
    ("xncost.cli",),
    ("xncost.__main__",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    """The layer of a module: its longest matching prefix (the root package alone for
    `xncost` itself)."""
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            hit = (
                name == prefix
                if prefix == "xncost"
                else name == prefix or name.startswith(prefix + ".")
            )
            if hit and len(prefix) > best:
                best, rank = len(prefix), i
    if rank is None:
        raise AssertionError(f"{name} is in no layer of {__name__}.LAYERS")
    return rank


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The xncost modules `path` imports (names resolved to modules where they are ones)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # what runs on import: under `if`/`try` too, not `if TYPE_CHECKING:`
        nodes = [
            n
            for top in tree.body
            if not _type_checking(top)
            for n in ast.walk(top)
            if not _in_function(top, n)
        ]
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("xncost")}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if not node.module.startswith("xncost"):
                continue
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _in_function(top: ast.AST, node: ast.AST) -> bool:
    if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node is not top
    return False


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_reaches_up(name):
    here = layer_of(name)
    up = sorted(t for t in imports(MODULES[name], top_level_only=False) if layer_of(t) > here)
    assert not up, f"{name} (layer {here}) imports a higher layer: {up}"


def test_no_import_cycle():
    graph = {n: imports(p, top_level_only=True) & set(MODULES) for n, p in MODULES.items()}
    for n in graph:  # importing a.b.c imports a.b first: the parent package is an edge too
        parent = n.rpartition(".")[0]
        if parent in graph and parent != n:
            graph[n] = graph[n] | {parent}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if m == n or n.startswith(m + "."):  # a package's own parents are loaded first
                continue
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(m) :] + [m]))
            if m not in state:
                visit(m)
        path.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
