"""A database for one benchmark run: SQLite in a temp dir, or a PostgreSQL database of a
random name on the given server, dropped (connections forced out) afterwards."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from fleetscope.store.engine import make_engine, sqlite_url


@contextmanager
def scratch_database(kind: str, postgres_url: str) -> Iterator[str]:
    """The URL of a fresh database of `kind` ("sqlite" or "postgresql") for the block."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield sqlite_url(Path(tmp))
        return
    admin = make_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"fleetscope_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
