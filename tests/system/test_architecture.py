"""The package layout is the data path; each package imports only what STYLE.md allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent.parent / "src" / "fleetscope"

# package -> fleetscope packages it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "config": set(),
    "exposition": set(),
    "edge": {"model"},
    "agent": {"model", "config", "exposition"},
    "stream": {"model"},
    "ingest": {"model", "stream", "edge", "exposition"},
    "store": {"model"},
    "digest": {"model", "stream", "store", "exposition"},
    "alerting": {"model", "store"},
    "query": {"model", "store"},
    "web": {"model", "config", "query", "edge"},
    "report": {"model", "query"},
    "cli": {
        "model",
        "config",
        "exposition",
        "edge",
        "agent",
        "stream",
        "ingest",
        "store",
        "digest",
        "alerting",
        "query",
        "web",
        "report",
    },
}
# Third-party modules a package must never import: the agent ships alone on hosts.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "agent": {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "redis", "psycopg"},
    "model": {"fastapi", "starlette", "sqlalchemy", "httpx", "psutil", "redis", "psycopg"},
    "config": {"fastapi", "starlette", "sqlalchemy", "httpx", "psutil", "redis", "psycopg"},
    "exposition": {"fastapi", "starlette", "sqlalchemy", "httpx", "psutil", "redis", "psycopg"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_every_package_has_a_rule() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_table(package: str) -> None:
    violations = []
    for module in _modules(package):
        for name in _imports(module):
            parts = name.split(".")
            if parts[0] == "fleetscope" and len(parts) > 1 and parts[1] in ALLOWED:
                target = parts[1]
                if target != package and target not in ALLOWED[package]:
                    violations.append(f"{module.relative_to(SRC)} imports {name}")
            if parts[0] in FORBIDDEN_THIRD_PARTY.get(package, set()):
                violations.append(f"{module.relative_to(SRC)} imports {name}")
    assert not violations, "\n".join(violations)


def test_the_rule_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from fleetscope.store.tables import hosts\nimport fastapi\n")
    assert {"fleetscope.store.tables", "fastapi"} <= _imports(bad)


# A module a newcomer can read in one sitting; past this, it is doing two jobs.
MAX_MODULE_LINES = 450
# Generated code nobody reads or edits by hand: the Prometheus protobuf bindings.
GENERATED = ("ingest/prompb/",)


def _long_modules(root: Path, limit: int) -> list[str]:
    found = []
    for module in sorted(root.rglob("*.py")):
        relative = module.relative_to(root).as_posix()
        if relative.startswith(GENERATED):
            continue
        lines = len(module.read_text().splitlines())
        if lines > limit:
            found.append(f"{relative}: {lines} lines")
    return found


def test_no_module_is_over_the_line_limit() -> None:
    too_long = _long_modules(SRC, MAX_MODULE_LINES)
    assert not too_long, "\n".join(too_long)


def test_the_line_limit_checker_sees_a_long_module(tmp_path: Path) -> None:
    (tmp_path / "short.py").write_text("x = 1\n")
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert _long_modules(tmp_path, MAX_MODULE_LINES) == [f"long.py: {MAX_MODULE_LINES + 1} lines"]
