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
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from fleetscope.store.catalog import metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    # A deactivated tenant's keys and logins are refused; its data is kept.
    Column("active", Boolean, nullable=False, server_default=true()),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    # Unique server-wide, not per tenant: a login names only the user, never the tenant.
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # The new columns have server defaults only (no Python-side default), so an INSERT built
    # from this table still runs on a database migrated to an older revision (the migration
    # tests insert at 0001 and 0004). The default role is the least one.
    Column("role", String(16), nullable=False, server_default=text("'viewer'")),
    Column("superuser", Boolean, nullable=False, server_default=false()),  # server-wide
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("password_changed_ms", BigInteger, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(128), nullable=False),
    # SHA-256 of the key: keys are 256-bit random, so a fast hash is safe and allows lookup.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the key's first 10 characters
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("scope", String(8), nullable=False, server_default=text("'ingest'")),  # or read
    Column("bound_machine_id", String(128), nullable=True),  # ingest for this host only
    Column("created_by", String(128), nullable=True),  # the username; None: made at bootstrap
    Column("last_used_ms", BigInteger, nullable=True),  # to the minute (store/keys.py)
    Column("expires_ms", BigInteger, nullable=True),
    Index(None, "prefix"),
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
# It costs a small part of the table's size and speeds those slices up many times over
# (docs/data-model.md, "Index choice", with the bench command that measured it).
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

# The latest inventory audit of each host (store/inventory.py).
inventory = Table(
    "inventory",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("audit", Text, nullable=False),  # model.payload.InventorySection as JSON
    Column("updated_ms", BigInteger, nullable=False),  # time of the snapshot that carried it
)

# What changed between two audits of a host, at the time of the newer one.
inventory_history = Table(
    "inventory_history",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("previous_sha256", String(64), nullable=False),
    # JSON list of {"path": "os.kernel", "old": ..., "new": ...}; old/new only when small.
    Column("changed", Text, nullable=False),
    sqlite_with_rowid=False,
)

# Process groups per snapshot, for top-N queries (query/processes.py). The primary key makes
# one host's time range one index range scan (and a replay a no-op); ix_process_groups_
# tenant_id_ts_ms serves fleet-wide top-N over a time range. Not partitioned: see
# docs/data-model.md.
process_groups = Table(
    "process_groups",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("group_name", String(256), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("num_procs", Integer, nullable=False),
    Column("cpu_seconds_total", Double, nullable=False),  # user + system
    Column("memory_bytes", BigInteger, nullable=False),  # resident
    Column("read_bytes_total", BigInteger, nullable=False),
    Column("write_bytes_total", BigInteger, nullable=False),
    Index(None, "tenant_id", "ts_ms"),
    sqlite_with_rowid=False,
)

# Collection files uploaded from the agent's local mode; one row per distinct file content.
collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("first_ts_ms", BigInteger, nullable=False),
    Column("last_ts_ms", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("snapshots", Integer, nullable=False),
    Column("uploaded_by", String(128), nullable=False),  # the API key's name
    Column("received_ms", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "content_sha256"),
    Index(None, "host_id", "first_ts_ms"),
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

# Process groups per (host, hour, group), for top-N over long ranges (query/processes.py): what
# the top-N query needs of the hour's raw rows, exactly. Recomputed whole by the 1-hour rollup
# step (store/rollups.py) when its hour is marked dirty. cpu_increase is the sum of the
# counter's within-hour steps, a negative step counted as a reset (the new value from zero);
# the step into the hour from the previous sample is left to the reader, from first_cpu and the
# previous hour's last_cpu. Not partitioned, like process_groups.
process_group_rollups_1h = Table(
    "process_group_rollups_1h",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("bucket_ms", BigInteger, primary_key=True),
    Column("group_name", String(256), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("memory_sum", BigInteger, nullable=False),
    Column("memory_max", BigInteger, nullable=False),
    Column("num_procs_max", Integer, nullable=False),
    Column("first_ts_ms", BigInteger, nullable=False),
    Column("first_cpu", Double, nullable=False),
    Column("last_ts_ms", BigInteger, nullable=False),
    Column("last_cpu", Double, nullable=False),
    Column("cpu_increase", Double, nullable=False),
    Index(None, "tenant_id", "bucket_ms"),
    sqlite_with_rowid=False,
)

# Metric metadata as senders declare it (Prometheus remote_write's MetricMetadata, OTLP's
# metric type, description and unit), per tenant and metric family; the latest wins. Not per
# host: Prometheus sends it without the target it came from.
series_metadata = Table(
    "series_metadata",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id"), primary_key=True),
    Column("metric_family_name", String(256), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("help", Text, nullable=False),
    Column("unit", String(64), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Analyses (report/, query/analyses.py): what was analysed (a host over a range, or an uploaded
# collection's host over its range), its state while it runs, and the result: status, fit,
# findings (JSON) and the rendered report files, kept as bytes here so every server behind a
# load balancer can serve them (docs/analysis.md, "Stored analyses"). created_by is the user
# who asked (None when an upload started it); tenancy adds tenant_id later, owner until then.
analyses = Table(
    "analyses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("collection_id", Integer, ForeignKey("collections.id"), nullable=True),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("analysed_ms", BigInteger, nullable=True),  # when it finished
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("progress", Integer, nullable=False),  # 0-100
    Column("status", String(16), nullable=True),  # primary, success, warning, danger, info
    Column("fit", Integer, nullable=True),
    Column("snapshots", Integer, nullable=True),
    Column("findings", Text, nullable=True),  # JSON list of report.findings.Finding
    Column("error", Text, nullable=True),
    Column("report_html", LargeBinary, nullable=True),
    Column("report_pdf", LargeBinary, nullable=True),
    Index(None, "tenant_id", "created_by", "analysed_ms"),
    Index(None, "tenant_id", "status"),
    Index(None, "collection_id", "analysed_ms"),
    Index(None, "host_id", "analysed_ms"),
)
