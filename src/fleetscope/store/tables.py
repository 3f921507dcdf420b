"""Tables, in SQLAlchemy 2 Core. Alembic migrations (store/migrations) create them; a test
keeps the two from drifting apart.

Rules that keep PostgreSQL a drop-in: every row carries tenant_id; times are UTC, stored as
integer epoch milliseconds (`*_ms`) so both databases compare and index them the same way.

Metric samples are stored as *frames*: one row per (host, timestamp, layout) holding all the
values of one snapshot as float64 in a zstd frame (store/frames.py), and a layout row naming
the series in order. A snapshot of ~200 values costs one row instead of 200, which keeps bytes
per sample near 3 (docs/data-model.md) and makes a host's time range one primary-key range scan.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(128), nullable=False),
    # SHA-256 of the key: keys are 256-bit random, so a fast hash is safe and allows lookup.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("machine_id", String(128), nullable=False),
    Column("name", String(255), nullable=False),
    Column("agent_version", String(64), nullable=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "machine_id"),
    Index(None, "tenant_id", "name"),
)

metric_layouts = Table(
    "metric_layouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    # SHA-256 of the newline-joined series keys: the same layout is stored once per tenant.
    Column("digest", String(64), nullable=False),
    Column("series", Text, nullable=False),  # JSON list of series keys, in value order
    UniqueConstraint("tenant_id", "digest"),
)

metric_frames = Table(
    "metric_frames",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("layout_id", Integer, ForeignKey("metric_layouts.id"), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("vals", LargeBinary, nullable=False),  # one zstd frame of float64 (store/frames.py)
    # Clustered by (host, time) on SQLite (WITHOUT ROWID): a host's range is one index scan.
    sqlite_with_rowid=False,
    # Daily partitions on PostgreSQL, made and dropped by store/partitions.py.
    postgresql_partition_by="RANGE (ts_ms)",
)
# PostgreSQL only: a BRIN on ts_ms for slices of the whole fleet (every host's last minutes).
# Measured on a simulated day: 0.06 % of the table's size, 9x faster slices (docs/data-model.md).
# SQLite's table is clustered by host and has no BRIN.
Index("ix_metric_frames_ts_ms_brin", metric_frames.c.ts_ms, postgresql_using="brin").ddl_if(
    dialect="postgresql"
)

ingested_batches = Table(
    "ingested_batches",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("batch_id", String(36), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("snapshots", Integer, nullable=False),
    sqlite_with_rowid=False,
)


def _rollup_table(name: str) -> Table:
    """A rollup tier (store/rollups.py): per (host, bucket start, layout), one zstd frame of
    four float64 arrays in layout order: min, max, sum, count."""
    return Table(
        name,
        metadata,
        Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
        Column("bucket_ms", BigInteger, primary_key=True),
        Column("layout_id", Integer, ForeignKey("metric_layouts.id"), primary_key=True),
        Column("tenant_id", Integer, nullable=False),
        Column("frames", Integer, nullable=False),  # raw snapshots folded into the bucket
        Column("stats", LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )


metric_rollups_1m = _rollup_table("metric_rollups_1m")
metric_rollups_1h = _rollup_table("metric_rollups_1h")

# Buckets whose source rows changed since they were rolled up: step_ms 60000 marks a minute
# to recompute from raw frames, 3600000 an hour to recompute from minutes. gen grows at every
# new mark, so a rollup clears only the mark it read. Keyed by bucket first: the rollup step
# takes the oldest settled buckets, and retention asks for the earliest.
rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("step_ms", Integer, primary_key=True),
    Column("bucket_ms", BigInteger, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("gen", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
