"""Alerting's tables (alerting/, docs/alerting.md), on the same metadata as store/tables.py.

Every row carries tenant_id, so the coming tenancy work only adds it to the keys. The
evaluation writes a (rule, host)'s new state, its history row and the notifications it owes
in one transaction (an outbox): a restart finds a firing alert still firing and a message
either still pending (sent then) or marked sent (never sent again).
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
    String,
    Table,
    Text,
    UniqueConstraint,
)

from fleetscope.store.catalog import metadata

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("signal", String(256), nullable=False),  # alerting/signals.py, or a series name
    Column("op", String(2), nullable=False),
    Column("threshold", Double, nullable=False),
    Column("for_seconds", Integer, nullable=False),
    Column("host_pattern", String(256), nullable=False),  # fnmatch on the host name
    Column("params", Text, nullable=False),  # JSON object: the signal's options
    Column("severity", String(32), nullable=False),
    Column("repeat_seconds", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("default_key", String(64)),  # set on the ready-made rules, so they are made once
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "name"),
)

# One row per (rule, host) once the rule has matched the host; state is inactive, pending,
# firing or resolved. notified_ms: when the current firing was last notified (None: owed).
alert_states = Table(
    "alert_states",
    metadata,
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("since_ms", BigInteger, nullable=False),  # entered this state
    Column("active_ms", BigInteger),  # the condition has held since (pending and firing)
    Column("value", Double),
    Column("detail", Text, nullable=False),  # JSON: what the signal saw (mountpoint, groups)
    Column("evaluated_ms", BigInteger, nullable=False),
    Column("notified_ms", BigInteger),
    Index(None, "tenant_id", "state"),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("value", Double),
    Index(None, "tenant_id", "at_ms"),
    Index(None, "host_id", "at_ms"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="CASCADE")),  # None: all
    Column("host_pattern", String(256), nullable=False),
    Column("starts_ms", BigInteger, nullable=False),
    Column("ends_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "tenant_id", "ends_ms"),
)

alert_channels = Table(
    "alert_channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # webhook, email, apprise
    Column("config", Text, nullable=False),  # JSON: alerting/channels.py's settings per kind
    Column("enabled", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "name"),
)

# The outbox: one row per message owed to a channel, written with the state change. status
# pending -> sending (just before the attempt) -> sent | failed. The idempotency key travels
# with the message (webhook header, e-mail Message-ID) so a receiver can drop the one resend
# a crash during the attempt can cause.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("channel_id", Integer, ForeignKey("alert_channels.id", ondelete="CASCADE")),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),  # JSON: the Alertmanager-style message
    Column("attempts", Integer, nullable=False),
    Column("next_ms", BigInteger, nullable=False),  # not tried again before (back-off)
    Column("created_ms", BigInteger, nullable=False),
    Column("sent_ms", BigInteger),
    Column("error", Text),
    Index(None, "status", "created_ms"),
)

# One evaluator at a time across processes: the holder renews before expires_ms.
alert_leases = Table(
    "alert_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)
