"""Servers that start together on one PostgreSQL database take turns at what a start writes
once: the migrations, the first start's tenant, admin and key, the ready-made alert rules.
Without it, the scaled layout's servers started at once on a new database raced: one of them
failed in the migrations (two CREATE TYPE of the same name) and exited 1. SQLite needs no
turn: one process owns a data directory (cli/startup.py), and SQLite serialises writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

# pg_advisory_lock's key: any constant no other application on the database uses; "fsup".
STARTUP_LOCK_KEY = 0x66737570


@contextmanager
def startup_turn(engine: Engine) -> Iterator[None]:
    """Hold the database's start-up lock (a session-level advisory lock on a connection of
    its own, waited for) while the block runs; on SQLite, nothing."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
        conn.commit()  # the lock is the session's: no transaction left open meanwhile
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK_KEY})
            conn.commit()
