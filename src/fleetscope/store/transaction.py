"""A change and the audit entry that records it are written in one transaction (issue 12):
an entry never outlives a change that rolled back, and a change whose entry cannot be written
rolls back. So the store's changes take either an Engine (a transaction of their own) or the
caller's Connection (its transaction, which the caller commits with the audit entry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

Db = Engine | Connection


@contextmanager
def begin(db: Db) -> Iterator[Connection]:
    """The caller's connection as it is (its transaction commits or rolls back there), or a
    new transaction on the engine, committed when the block ends without an error."""
    if isinstance(db, Connection):
        yield db
        return
    with db.begin() as conn:
        yield conn
