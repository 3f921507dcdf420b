"""Alerting's services for the REST API, the dashboard and the CLI: rules (CRUD), current
alerts and their history, silences and notification channels. The evaluation itself is
digest-side (alerting/)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleetscope.model.alerts import (
    ACTIVE_STATES,
    BadRule,
    Rule,
    RuleSpec,
    State,
    check_rule,
    parse_channel_config,
)
from fleetscope.store.alert_rows import rule_of, rule_values
from fleetscope.store.alert_tables import (
    alert_channels,
    alert_history,
    alert_rules,
    alert_states,
    silences,
)
from fleetscope.store.tables import hosts


class Conflict(Exception):
    """The request clashes with what is stored (HTTP 409); the message says how."""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    rule_id: int
    rule_name: str
    severity: str
    host_id: int
    host_name: str
    state: State
    since: datetime
    active_since: datetime | None
    value: float | None
    detail: dict[str, str]


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    rule_id: int
    rule_name: str
    host_id: int
    host_name: str
    state: State
    at: datetime
    value: float | None


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    id: int
    rule_id: int | None
    host_pattern: str
    starts: datetime
    ends: datetime
    reason: str
    created_by: str


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    id: int
    name: str
    kind: str
    config: str  # JSON; secrets are masked by the API
    enabled: bool


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _detail(text: str) -> dict[str, str]:
    return {k: str(v) for k, v in json.loads(text).items() if k != "known"}


class AlertQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # rules
    def rules(self, tenant_id: int) -> list[Rule]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_rules).where(alert_rules.c.tenant_id == tenant_id).order_by("id")
            )
            return [rule_of(r) for r in rows]

    def rule(self, tenant_id: int, rule_id: int) -> Rule | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(alert_rules).where(
                    alert_rules.c.tenant_id == tenant_id, alert_rules.c.id == rule_id
                )
            ).first()
        return None if row is None else rule_of(row)

    def create_rule(self, tenant_id: int, spec: RuleSpec, now_ms: int) -> Rule:
        check_rule(spec)
        try:
            with self.engine.begin() as conn:
                rule_id = conn.execute(
                    insert(alert_rules)
                    .values(
                        tenant_id=tenant_id,
                        created_ms=now_ms,
                        updated_ms=now_ms,
                        **rule_values(spec),
                    )
                    .returning(alert_rules.c.id)
                ).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"name: a rule named {spec.name!r} exists already") from exc
        return Rule(rule_id, tenant_id, spec)

    def update_rule(self, tenant_id: int, rule_id: int, spec: RuleSpec, now_ms: int) -> Rule | None:
        """Replace what the rule says; its states start over when the condition changed."""
        check_rule(spec)
        old = self.rule(tenant_id, rule_id)
        if old is None:
            return None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(alert_rules)
                    .where(alert_rules.c.id == rule_id)
                    .values(updated_ms=now_ms, **rule_values(spec))
                )
                same = (old.spec.signal, old.spec.op, old.spec.threshold, old.spec.params) == (
                    spec.signal,
                    spec.op,
                    spec.threshold,
                    spec.params,
                )
                if not same or not spec.enabled:
                    conn.execute(delete(alert_states).where(alert_states.c.rule_id == rule_id))
        except IntegrityError as exc:
            raise Conflict(f"name: a rule named {spec.name!r} exists already") from exc
        return Rule(rule_id, tenant_id, spec, old.default_key)

    def delete_rule(self, tenant_id: int, rule_id: int) -> bool:
        rule = self.rule(tenant_id, rule_id)
        if rule is None:
            return False
        if rule.default_key is not None:
            raise Conflict(
                f"rule {rule_id} is a ready-made rule: disable it (enabled: false) instead, "
                "so it is not made again"
            )
        with self.engine.begin() as conn:
            conn.execute(delete(alert_states).where(alert_states.c.rule_id == rule_id))
            conn.execute(delete(alert_history).where(alert_history.c.rule_id == rule_id))
            conn.execute(delete(silences).where(silences.c.rule_id == rule_id))
            conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))
        return True

    # alerts
    def alerts(
        self,
        tenant_id: int,
        states: tuple[State, ...] = ACTIVE_STATES,
        host_id: int | None = None,
    ) -> list[AlertRecord]:
        """Firing first, then pending (or the states asked for), longest-standing first."""
        query = (
            select(
                alert_states,
                alert_rules.c.name.label("rule_name"),
                alert_rules.c.severity,
                hosts.c.name.label("host_name"),
            )
            .join(alert_rules, alert_rules.c.id == alert_states.c.rule_id)
            .join(hosts, hosts.c.id == alert_states.c.host_id)
            .where(alert_states.c.tenant_id == tenant_id, alert_states.c.state.in_(states))
        )
        if host_id is not None:
            query = query.where(alert_states.c.host_id == host_id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).all())
        order = {"firing": 0, "pending": 1, "resolved": 2, "inactive": 3}
        rows.sort(key=lambda r: (order[r.state], r.since_ms))
        return [
            AlertRecord(
                r.rule_id,
                r.rule_name,
                r.severity,
                r.host_id,
                r.host_name,
                r.state,
                _dt(r.since_ms),
                None if r.active_ms is None else _dt(r.active_ms),
                r.value,
                _detail(r.detail),
            )
            for r in rows
        ]

    def history(
        self, tenant_id: int, host_id: int | None = None, limit: int = 100
    ) -> list[HistoryRecord]:
        """State changes, newest first."""
        query = (
            select(
                alert_history,
                alert_rules.c.name.label("rule_name"),
                hosts.c.name.label("host_name"),
            )
            .join(alert_rules, alert_rules.c.id == alert_history.c.rule_id)
            .join(hosts, hosts.c.id == alert_history.c.host_id)
            .where(alert_history.c.tenant_id == tenant_id)
            .order_by(alert_history.c.at_ms.desc(), alert_history.c.id.desc())
            .limit(limit)
        )
        if host_id is not None:
            query = query.where(alert_history.c.host_id == host_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            HistoryRecord(
                r.rule_id, r.rule_name, r.host_id, r.host_name, r.state, _dt(r.at_ms), r.value
            )
            for r in rows
        ]

    # silences
    def silences(
        self, tenant_id: int, now_ms: int, include_ended: bool = False
    ) -> list[SilenceRecord]:
        query = select(silences).where(silences.c.tenant_id == tenant_id).order_by("id")
        if not include_ended:
            query = query.where(silences.c.ends_ms > now_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SilenceRecord(
                r.id,
                r.rule_id,
                r.host_pattern,
                _dt(r.starts_ms),
                _dt(r.ends_ms),
                r.reason,
                r.created_by,
            )
            for r in rows
        ]

    def create_silence(
        self,
        tenant_id: int,
        *,
        rule_id: int | None,
        host_pattern: str,
        starts_ms: int,
        ends_ms: int,
        reason: str,
        created_by: str,
        now_ms: int,
    ) -> SilenceRecord:
        if ends_ms <= starts_ms:
            raise BadRule("ends_at: must be after starts_at")
        if not reason.strip():
            raise BadRule("reason: say why the alerts are silenced")
        if rule_id is not None and self.rule(tenant_id, rule_id) is None:
            raise BadRule(f"rule_id: no rule with id {rule_id}")
        with self.engine.begin() as conn:
            silence_id = conn.execute(
                insert(silences)
                .values(
                    tenant_id=tenant_id,
                    rule_id=rule_id,
                    host_pattern=host_pattern,
                    starts_ms=starts_ms,
                    ends_ms=ends_ms,
                    reason=reason,
                    created_by=created_by,
                    created_ms=now_ms,
                )
                .returning(silences.c.id)
            ).scalar_one()
        return SilenceRecord(
            silence_id, rule_id, host_pattern, _dt(starts_ms), _dt(ends_ms), reason, created_by
        )

    def end_silence(self, tenant_id: int, silence_id: int, now_ms: int) -> bool:
        """End a silence now (kept, for the record)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(silences)
                    .where(
                        silences.c.tenant_id == tenant_id,
                        silences.c.id == silence_id,
                        silences.c.ends_ms > now_ms,
                    )
                    .values(ends_ms=now_ms)
                ).rowcount
            )

    # channels
    def channels(self, tenant_id: int) -> list[ChannelRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_channels).where(alert_channels.c.tenant_id == tenant_id).order_by("id")
            ).all()
        return [ChannelRecord(r.id, r.name, r.kind, r.config, bool(r.enabled)) for r in rows]

    def channel(self, tenant_id: int, channel_id: int) -> ChannelRecord | None:
        return next((c for c in self.channels(tenant_id) if c.id == channel_id), None)

    def create_channel(
        self, tenant_id: int, *, name: str, kind: str, config: str, enabled: bool, now_ms: int
    ) -> ChannelRecord:
        parse_channel_config(kind, config)
        if not name.strip():
            raise BadRule("name: must not be empty")
        try:
            with self.engine.begin() as conn:
                channel_id = conn.execute(
                    insert(alert_channels)
                    .values(
                        tenant_id=tenant_id,
                        name=name,
                        kind=kind,
                        config=config,
                        enabled=enabled,
                        created_ms=now_ms,
                    )
                    .returning(alert_channels.c.id)
                ).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"name: a channel named {name!r} exists already") from exc
        return ChannelRecord(channel_id, name, kind, config, enabled)

    def delete_channel(self, tenant_id: int, channel_id: int) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(alert_channels).where(
                        alert_channels.c.tenant_id == tenant_id, alert_channels.c.id == channel_id
                    )
                ).rowcount
            )
