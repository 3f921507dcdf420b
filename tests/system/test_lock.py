"""uv.lock is what `make run` and `make test` install: it must satisfy pyproject.toml's ranges.

Someone who edits one file and not the other gets a failure naming the package, before CI does
(`uv sync --locked` in the Makefile refuses such a pair as well, but only once it runs).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = "fleetscope"


def _declared(pyproject: dict[str, Any]) -> list[Requirement]:
    project = pyproject["project"]
    texts = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        texts.extend(extra)
    for group in pyproject.get("dependency-groups", {}).values():
        texts.extend(item for item in group if isinstance(item, str))
    return [Requirement(text) for text in texts]


def _recorded(lock: dict[str, Any]) -> set[tuple[str, SpecifierSet]]:
    """What uv recorded of the project's own requirements when it last locked."""
    root = next(p for p in lock["package"] if p["name"] == PROJECT)
    metadata = root.get("metadata", {})
    entries = list(metadata.get("requires-dist", []))
    for group in metadata.get("requires-dev", {}).values():
        entries.extend(group)
    return {(canonicalize_name(e["name"]), SpecifierSet(e.get("specifier", ""))) for e in entries}


def lock_drift(pyproject: dict[str, Any], lock: dict[str, Any]) -> list[str]:
    """Every way uv.lock fails pyproject.toml, one sentence each naming the package."""
    locked: dict[str, list[Version]] = {}
    for package in lock["package"]:
        if package["name"] == PROJECT:  # its version is dynamic, read from the package
            continue
        locked.setdefault(canonicalize_name(package["name"]), []).append(
            Version(package["version"])
        )
    problems = []
    declared = _declared(pyproject)
    for req in declared:
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"{req.name}: in pyproject.toml ({req}) but not in uv.lock")
            continue
        for version in locked[name]:
            if not req.specifier.contains(version, prereleases=True):
                problems.append(
                    f"{req.name}: uv.lock has {version}, pyproject.toml asks for {req.specifier}"
                )
    wanted = {(canonicalize_name(r.name), r.specifier) for r in declared}
    recorded = _recorded(lock)
    for name, spec in sorted(recorded - wanted):
        problems.append(
            f"{name}: uv.lock was made for '{spec or 'any'}', no longer in pyproject.toml"
        )
    for name, spec in sorted(wanted - recorded):
        problems.append(
            f"{name}: pyproject.toml asks for '{spec or 'any'}', not what uv.lock was made for"
        )
    return problems


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_the_committed_lock_satisfies_pyproject(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    assert lock_drift(pyproject, lock) == []


def test_a_raised_lower_bound_that_the_lock_does_not_meet_is_named(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    edited = copy.deepcopy(pyproject)
    deps = edited["project"]["dependencies"]
    index = next(i for i, d in enumerate(deps) if d.startswith("msgspec"))
    deps[index] = "msgspec>=99"
    problems = lock_drift(edited, lock)
    assert any(p.startswith("msgspec: uv.lock has ") and ">=99" in p for p in problems), problems


def test_a_dependency_added_to_pyproject_only_is_named(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    edited = copy.deepcopy(pyproject)
    edited["dependency-groups"]["dev"].append("not-a-locked-package>=6")
    problems = lock_drift(edited, lock)
    assert (
        "not-a-locked-package: in pyproject.toml (not-a-locked-package>=6) but not in uv.lock"
        in problems
    )


def test_a_dependency_removed_from_pyproject_only_is_named(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    edited = copy.deepcopy(pyproject)
    edited["project"]["dependencies"] = [
        d for d in edited["project"]["dependencies"] if not d.startswith("zstandard")
    ]
    problems = lock_drift(edited, lock)
    assert any(p.startswith("zstandard: uv.lock was made for") for p in problems), problems


def test_every_locked_package_has_a_hash_and_comes_from_pypi(lock: dict[str, Any]) -> None:
    for package in lock["package"]:
        if package["name"] == PROJECT:
            continue
        assert package["source"] == {"registry": "https://pypi.org/simple"}, package["name"]
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files, package["name"]
        assert all(f["hash"].startswith("sha256:") for f in files), package["name"]


UV = ROOT / ".tools" / "bin" / "uv"


def test_the_environment_running_the_tests_is_exactly_the_lock() -> None:
    """A hand-upgraded package in .venv shows up here; `make test` re-syncs before it runs."""
    if not UV.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{UV} is missing: `make test` installs it")
        pytest.skip("uv is not installed in .tools (run `make install-dev`)")
    venv = Path(sys.prefix)
    result = subprocess.run(
        [str(UV), "sync", "--locked", "--dry-run", "--offline"],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Would make no changes" in result.stderr + result.stdout, result.stderr
