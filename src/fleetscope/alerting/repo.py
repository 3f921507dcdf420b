"""The evaluator's database side: rules, states, silences and channels in; new states,
history and owed messages (the outbox) out, in one transaction per round; the lease."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fleetscope.alerting.evaluate import AlertState
from fleetscope.model.alerts import DEFAULT_RULES, Rule
from fleetscope.store.alert_rows import rule_of, rule_values
from fleetscope.store.alert_tables import (
    alert_channels,
    alert_history,
    alert_leases,
    alert_notifications,
    alert_rules,
    alert_states,
    silences,
)
from fleetscope.store.tables import tenants

EVALUATOR_LEASE = "evaluator"


def ensure_default_rules(engine: Engine, now_ms: int) -> int:
    """The ready-made rules for every tenant that has none of them yet; returns how many
    were made. A tenant that deleted or edited them keeps what it has. Servers starting
    together may race here; the one that loses finds them made (the unique name)."""
    try:
        return _make_default_rules(engine, now_ms)
    except IntegrityError:
        return 0


def _make_default_rules(engine: Engine, now_ms: int) -> int:
    made = 0
    with engine.begin() as conn:
        have = set(
            conn.execute(
                select(alert_rules.c.tenant_id).where(alert_rules.c.default_key.is_not(None))
            ).scalars()
        )
        for tenant_id in conn.execute(select(tenants.c.id)).scalars():
            if tenant_id in have:
                continue
            for key, spec in DEFAULT_RULES.items():
                conn.execute(
                    insert(alert_rules).values(
                        tenant_id=tenant_id,
                        default_key=key,
                        created_ms=now_ms,
                        updated_ms=now_ms,
                        **rule_values(spec),
                    )
                )
                made += 1
    return made


def rules_version(conn: Connection) -> tuple[tuple[int, int], ...]:
    """Changes whenever a rule is made, changed or deleted."""
    rows = conn.execute(select(alert_rules.c.id, alert_rules.c.updated_ms).order_by("id"))
    return tuple((r.id, r.updated_ms) for r in rows)


def enabled_rules(conn: Connection) -> list[Rule]:
    rows = conn.execute(select(alert_rules).where(alert_rules.c.enabled.is_(True)))
    return [rule_of(r) for r in rows]


def states_of(conn: Connection, tenant_id: int) -> dict[tuple[int, int], AlertState]:
    rows = conn.execute(select(alert_states).where(alert_states.c.tenant_id == tenant_id))
    return {
        (r.rule_id, r.host_id): AlertState(
            r.state, r.since_ms, r.active_ms, r.value, r.detail, r.notified_ms
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class Silence:
    rule_id: int | None
    host_pattern: str

    def covers(self, rule_id: int, host_name: str) -> bool:
        return self.rule_id in {None, rule_id} and fnmatch.fnmatchcase(host_name, self.host_pattern)


def active_silences(conn: Connection, tenant_id: int, now_ms: int) -> list[Silence]:
    rows = conn.execute(
        select(silences.c.rule_id, silences.c.host_pattern).where(
            silences.c.tenant_id == tenant_id,
            silences.c.starts_ms <= now_ms,
            silences.c.ends_ms > now_ms,
        )
    )
    return [Silence(r.rule_id, r.host_pattern) for r in rows]


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    name: str
    kind: str
    config: str


def channels_of(conn: Connection, tenant_id: int) -> list[Channel]:
    rows = conn.execute(
        select(alert_channels).where(
            alert_channels.c.tenant_id == tenant_id, alert_channels.c.enabled.is_(True)
        )
    )
    return [Channel(r.id, r.name, r.kind, r.config) for r in rows]


@dataclass(frozen=True, slots=True)
class StateWrite:
    rule_id: int
    host_id: int
    state: AlertState
    changed: bool
    is_new: bool


@dataclass(frozen=True, slots=True)
class Outgoing:
    channel_id: int
    key: str
    body: str


def save_round(
    conn: Connection,
    tenant_id: int,
    now_ms: int,
    writes: Sequence[StateWrite],
    outgoing: Iterable[Outgoing],
) -> None:
    """The round's states, their history and the owed messages, in the caller's transaction."""
    new = [w for w in writes if w.is_new]
    if new:
        conn.execute(insert(alert_states), [_state_row(tenant_id, now_ms, w) for w in new])
    for w in writes:
        if not w.is_new:
            row = _state_row(tenant_id, now_ms, w)
            conn.execute(
                update(alert_states)
                .where(alert_states.c.rule_id == w.rule_id, alert_states.c.host_id == w.host_id)
                .values({k: v for k, v in row.items() if k not in {"rule_id", "host_id"}})
            )
    history = [
        {
            "tenant_id": tenant_id,
            "rule_id": w.rule_id,
            "host_id": w.host_id,
            "state": w.state.state,
            "at_ms": now_ms,
            "value": w.state.value,
        }
        for w in writes
        if w.changed
    ]
    if history:
        conn.execute(insert(alert_history), history)
    rows = [
        {
            "tenant_id": tenant_id,
            "channel_id": o.channel_id,
            "idempotency_key": o.key,
            "status": "pending",
            "body": o.body,
            "attempts": 0,
            "next_ms": now_ms,
            "created_ms": now_ms,
        }
        for o in outgoing
    ]
    if rows:
        conn.execute(insert(alert_notifications), rows)


def _state_row(tenant_id: int, now_ms: int, w: StateWrite) -> dict[str, object]:
    s = w.state
    return {
        "rule_id": w.rule_id,
        "host_id": w.host_id,
        "tenant_id": tenant_id,
        "state": s.state,
        "since_ms": s.since_ms,
        "active_ms": s.active_ms,
        "value": s.value,
        "detail": s.detail,
        "evaluated_ms": now_ms,
        "notified_ms": s.notified_ms,
    }


def acquire_lease(engine: Engine, name: str, holder: str, now_ms: int, lease_ms: int) -> bool:
    """Take or renew the lease: free, expired, or already ours. Both databases run the
    conditional UPDATE atomically, so two contenders cannot both see one row updated."""
    with engine.begin() as conn:
        taken = conn.execute(
            update(alert_leases)
            .where(
                alert_leases.c.name == name,
                or_(alert_leases.c.holder == holder, alert_leases.c.expires_ms < now_ms),
            )
            .values(holder=holder, expires_ms=now_ms + lease_ms)
        ).rowcount
        if taken:
            return True
        exists = conn.execute(
            select(alert_leases.c.name).where(alert_leases.c.name == name)
        ).first()
        if exists is not None:
            return False
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(alert_leases).values(name=name, holder=holder, expires_ms=now_ms + lease_ms)
            )
    except IntegrityError:  # a contender inserted first: the lease is theirs
        return False
    return True


def release_lease(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(alert_leases).where(
                and_(alert_leases.c.name == name, alert_leases.c.holder == holder)
            )
        )


HISTORY_RETENTION_MS = 90 * 86_400_000
NOTIFICATION_RETENTION_MS = 30 * 86_400_000


def prune(engine: Engine, now_ms: int) -> int:
    """Drop state changes older than 90 days and delivered (or given-up) messages older than
    30; returns the rows deleted. Pending messages are kept whatever their age."""
    with engine.begin() as conn:
        history = conn.execute(
            delete(alert_history).where(alert_history.c.at_ms < now_ms - HISTORY_RETENTION_MS)
        ).rowcount
        sent = conn.execute(
            delete(alert_notifications).where(
                alert_notifications.c.status.in_(("sent", "failed")),
                alert_notifications.c.created_ms < now_ms - NOTIFICATION_RETENTION_MS,
            )
        ).rowcount
    return int(history) + int(sent)
