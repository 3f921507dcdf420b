"""No import cycle between modules under src/: a loop hidden behind a lazy import (one inside a
function) counts too, since it still ties the two modules together. Imports under
`if TYPE_CHECKING:` do not count: they never run."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent.parent / "src"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes inside an `if TYPE_CHECKING:` block."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of `known` that the file names in an import anywhere in its body: for each
    imported name the longest prefix that is a module (`from a.b import c` is a.b's name c,
    or the module a.b.c). The packages Python runs on the way (a/__init__ for a.b) are not
    counted: a package that imports its own modules would otherwise loop with each."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[list[str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.module else []
            if node.level:
                anchor = package.split(".")
                base = anchor[: len(anchor) - node.level + 1] + base
            found += [[*base, alias.name] for alias in node.names]
    targets: set[str] = set()
    for parts in found:
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if prefix in known:
                if prefix != name:
                    targets.add(prefix)
                break
    return targets


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    return {name: imported_modules(path, name, known) for name, path in files.items()}


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted. Recursive:
    the depth is at most the number of modules (a few hundred), below Python's limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycle_under_src() -> None:
    cycles = strongly_connected(import_graph(SRC))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_ingest_package_imports_no_loop() -> None:
    graph = import_graph(SRC)
    ingest = {name: edges for name, edges in graph.items() if name.startswith("fleetscope.ingest")}
    assert "fleetscope.ingest.devices" in ingest["fleetscope.ingest.router"]
    assert not strongly_connected(ingest)


def test_server_and_worker_share_the_wiring_module() -> None:
    """`fleetscope worker` takes its wiring (stream, engine, store upkeep, GC tuning) from
    cli/wiring.py, as the server does, not from the server's module."""
    graph = import_graph(SRC)
    assert "fleetscope.cli.server" not in graph["fleetscope.cli.worker"]
    assert "fleetscope.cli.wiring" in graph["fleetscope.cli.worker"]
    assert "fleetscope.cli.wiring" in graph["fleetscope.cli.server"]


def _write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("files", "cycles"),
    [
        # The loop ingest/router.py <-> ingest/devices.py had: one side imports lazily.
        (
            {
                "pkg/__init__.py": "",
                "pkg/router.py": "def build():\n    from pkg.devices import d\n",
                "pkg/devices.py": "from pkg.router import helper\n",
                "pkg/leaf.py": "import pkg.devices\n",
            },
            [["pkg.devices", "pkg.router"]],
        ),
        # Relative imports and `from package import module`, three modules round.
        (
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from . import b\n",
                "pkg/b.py": "from .c import x\n",
                "pkg/c.py": "from pkg import a\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
        # A package that imports its module which imports the package back by name; a
        # sibling imported through the package's path is no loop with the package.
        (
            {
                "pkg/__init__.py": "from pkg.m import x\nfrom pkg.n import y\n",
                "pkg/m.py": "import pkg\n",
                "pkg/n.py": "from pkg.base import z\n",
                "pkg/base.py": "",
            },
            [["pkg", "pkg.m"]],
        ),
        # Not cycles: a TYPE_CHECKING import back, and a chain.
        (
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg.b import x\n",
                "pkg/b.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.a import y\n",
                "pkg/c.py": "import pkg.a\n",
            },
            [],
        ),
    ],
    ids=["lazy", "relative", "package", "none"],
)
def test_the_checker_sees_cycles(
    tmp_path: Path, files: Mapping[str, str], cycles: list[list[str]]
) -> None:
    _write(tmp_path, files)
    assert strongly_connected(import_graph(tmp_path)) == cycles
