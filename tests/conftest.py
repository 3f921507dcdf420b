"""Shared test plumbing: where the fixtures are, and the skip-or-fail rule for outside things."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate
from tests.env import variable_for_tests
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


# scripts/check runs the tests on 2 pytest-xdist workers (--dist loadgroup). Tests that start
# real processes (the slow ones, and these modules that start, kill or time servers and
# agents) form one group, so they run one at a time on one worker: never two multi-process
# scenarios, two chromiums or two SIGKILL loops at once on a 2-core machine. The other worker
# runs the in-process tests beside them.
PROCESS_MODULES = frozenset(
    {
        "tests/agent/test_exporters.py",
        "tests/agent/test_tls.py",
        "tests/alerting/test_alerts_scenario.py",
        "tests/cli/test_data_dir.py",
    }
)


def pytest_itemcollected(item: pytest.Item) -> None:
    # As each test is collected, so that xdist's pytest_collection_modifyitems, which turns the
    # mark into the @group suffix its scheduler reads, always finds it.
    module = item.nodeid.split("::", 1)[0]
    if item.get_closest_marker("slow") is not None or module in PROCESS_MODULES:
        item.add_marker(pytest.mark.xdist_group("processes"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures beside the clone, or FLEETSCOPE_FIXTURES."""
    path = Path(
        variable_for_tests("FLEETSCOPE_FIXTURES", str(REPO_ROOT.parent / "shared" / "fixtures"))
    )
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


POSTGRES_URL = variable_for_tests(
    "FLEETSCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def private_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of the caller's own, <prefix>_<random>, dropped (WITH FORCE) at
    the end. Skips (fails under CI=true) when the server in FLEETSCOPE_TEST_POSTGRES_URL is
    down. Yields its URL."""
    import sqlalchemy as sa  # noqa: PLC0415 (only the PostgreSQL tests need it)

    from fleetscope.store.engine import make_engine  # noqa: PLC0415

    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        require(False, f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    try:
        yield sa.make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """This test run's own database, fleetscope_test_<random>, dropped at the end."""
    with private_database("fleetscope_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test: a SQLite file in tmp_path, or a PostgreSQL schema of
    its own in this run's database (search_path points there, so tests cannot see each other)."""
    if request.param == "sqlite":
        from fleetscope.store.engine import sqlite_url  # noqa: PLC0415

        yield sqlite_url(tmp_path)
        return
    import sqlalchemy as sa  # noqa: PLC0415

    base: str = request.getfixturevalue("postgres_database")
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            sa.make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated store with the default tenant and admin, on SQLite or PostgreSQL."""
    engine = make_engine(database_url)
    migrate(engine)
    auth.bootstrap(engine, tmp_path, "pw")
    yield engine
    engine.dispose()
