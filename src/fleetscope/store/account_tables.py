"""The tables that come with accounts (migration 0009, docs/data-model.md "Accounts"): the
collector registry, the collection files uploaded for a collector, the audit log and the login
throttle. On store/catalog.py's metadata; tenants, users and api_keys are in store/tables.py."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from fleetscope.store.catalog import metadata

# A monitored machine as its owners describe it (store/collectors.py). Filled from the agent's
# inventory on first contact, then editable; machine_id and host_id link it to what the agent
# sends. site is '' rather than NULL when not set, so the unique key holds for it too
# (NULLs are distinct in a unique constraint on both databases).
collectors = Table(
    "collectors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("site", String(128), nullable=False),
    Column("machine", String(255), nullable=False),
    Column("machine_id", String(128), nullable=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=True),
    Column("platform", String(64), nullable=True),  # Linux, Windows, macOS, ...
    Column("chip_maker", String(64), nullable=True),  # Intel, AMD, ...
    Column("cpu_model", String(255), nullable=True),
    Column("cores", Integer, nullable=True),
    Column("memory_bytes", BigInteger, nullable=True),
    Column("owner", String(128), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "site", "machine"),
    Index(None, "tenant_id", "machine_id"),
)

# Collection files as uploaded for a collector, kept so they can be listed and downloaded
# again. content is the file zstd-compressed (collection files are JSON Lines, which compress
# many times over); size_bytes and content_sha256 are of the file as uploaded. result: accepted
# (on the stream), rejected (refused at ingest, detail says why), ingested, failed.
collection_files = Table(
    "collection_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("collector_id", Integer, ForeignKey("collectors.id"), nullable=False),
    Column("uploaded_ms", BigInteger, nullable=False),
    Column("uploaded_by", String(128), nullable=False),  # the key's name or the username
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("result", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Column("collection_id", Integer, ForeignKey("collections.id"), nullable=True),
    Column("content", LargeBinary, nullable=False),
    Index(None, "collector_id", "uploaded_ms"),
    Index(None, "tenant_id", "uploaded_ms"),
)

# Who did what (store/audit.py). tenant_id is None for events of no tenant (a failed login
# for a username that does not exist); actor is a username or an API key's name.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),  # model/auth.py AuditAction
    Column("object", String(256), nullable=False),  # "user:alice", "key:3", ""
    Column("detail", Text, nullable=True),  # JSON object
    Column("address", String(64), nullable=True),  # the client's IP address
    Index(None, "tenant_id", "id"),
)

# Failed logins per user and per address (store/throttle.py): kind is "user" or "address".
# blocked_until_ms is when the next attempt is allowed again.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("subject", String(256), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_ms", BigInteger, nullable=False),
    Column("blocked_until_ms", BigInteger, nullable=False),
    Index(None, "last_failure_ms"),
)
