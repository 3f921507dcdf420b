"""Engines built from a URL; the SQLite settings that make it a safe single-node store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from fleetscope.store import tenancy

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def now_ms() -> int:
    return int(time.time() * 1000)


def ms_of(at: datetime) -> int:
    """A time as the store keeps it: epoch milliseconds, rounded."""
    return round(at.timestamp() * 1000)


def datetime_of_ms(ms: int) -> datetime:
    """Epoch milliseconds, as the store keeps time, back to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'fleetscope.db'}"


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3, the only PostgreSQL driver we ship."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    tenancy.install(engine)  # row-level security's per-transaction settings (store/tenancy.py)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 16 kB pages keep a row of up to about 4 kB in its page (4 kB pages: 1 kB), which a chunk
    # of several snapshots needs (store/chunks.py); a database made before keeps its pages.
    cursor.execute("PRAGMA page_size=16384")
    # WAL lets the dashboard read while digest writes. synchronous=FULL because the stream
    # forgets a message once digest has committed it here: that commit must survive power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent). Privileged: migrations span
    tenants, even when called within a request."""
    with tenancy.all_tenants():
        command.upgrade(alembic_config(engine), "head")
