"""Shared test plumbing: where the fixtures are, and the skip-or-fail rule for outside things."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import LiveServer, start_server

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Skip when something outside the repo is missing, except under CI, where it fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI=true, so this is a failure, not a skip)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures beside the clone, or FLEETSCOPE_FIXTURES."""
    path = Path(os.environ.get("FLEETSCOPE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
    require(path.is_dir(), f"shared fixtures not found at {path}")
    return path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The real server app, in process, on SQLite files in a temp dir."""
    yield from start_server(tmp_path / "data")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    from tests.redis_support import private_prefix  # noqa: PLC0415 (it imports require from here)

    yield from private_prefix()
