"""Alerting's REST API: rules (/api/v1/alerts/rules), current alerts and their history
(/api/v1/alerts), silences (/api/v1/silences), notification channels and their test-send
(/api/v1/alerts/channels). Reads take a login session or a read key; writes an admin's session
(model/auth.py may_manage_alerts).

No `from __future__ import annotations`: FastAPI resolves the annotations at run time."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from fleetscope.model.alerts import MAX_REPEAT_SECONDS, STATES, BadRule, Rule, RuleSpec
from fleetscope.model.auth import Principal
from fleetscope.query.alerts import AlertQueries, ChannelRecord, Conflict
from fleetscope.query.auth import AuthService
from fleetscope.web.deps import MAX_ID, PathId, QueryId
from fleetscope.web.services import SESSION_COOKIE

_SECRET_KEYS = frozenset({"password"})


@dataclass(frozen=True)
class AlertServices:
    auth: AuthService
    alerts: AlertQueries
    # (kind, config JSON, channel name) -> None, or the reason the message did not go
    test_send: Callable[[str, str, str], str | None]
    clock: Callable[[], float] = field(default=time.time)

    def now_ms(self) -> int:
        return round(self.clock() * 1000)


OpIn = Literal[">", ">=", "<", "<=", "==", "!="]
StateIn = Literal["inactive", "pending", "firing", "resolved"]


class RuleIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    signal: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description="cpu_percent, memory_available_percent, filesystem_used_percent, "
            "filesystem_hours_to_full, host_silent_seconds, exporter_targets_down, "
            "process_groups_gone, or any series name (its largest value)",
        ),
    ]
    op: OpIn
    threshold: float
    for_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 0
    host_pattern: Annotated[
        str, Field(min_length=1, max_length=256, description="glob on the host name")
    ] = "*"
    params: dict[str, str] = Field(default_factory=dict)
    severity: Annotated[str, Field(min_length=1, max_length=32)] = "warning"
    repeat_seconds: Annotated[int, Field(ge=1, le=MAX_REPEAT_SECONDS)] = 4 * 3600
    enabled: bool = True

    def spec(self) -> RuleSpec:
        return RuleSpec(
            self.name,
            self.signal,
            self.op,
            self.threshold,
            self.for_seconds,
            self.host_pattern,
            self.params,
            self.severity,
            self.repeat_seconds,
            self.enabled,
        )


class RuleOut(RuleIn):
    id: int
    ready_made: bool = Field(description="one of the default rules: disable rather than delete")

    @staticmethod
    def of(rule: Rule) -> "RuleOut":
        s = rule.spec
        return RuleOut(
            id=rule.id,
            ready_made=rule.default_key is not None,
            name=s.name,
            signal=s.signal,
            op=s.op,
            threshold=s.threshold,
            for_seconds=s.for_seconds,
            host_pattern=s.host_pattern,
            params=s.params,
            severity=s.severity,
            repeat_seconds=s.repeat_seconds,
            enabled=s.enabled,
        )


class AlertOut(BaseModel):
    rule_id: int
    rule_name: str
    severity: str
    host_id: int
    host_name: str
    state: StateIn
    since: AwareDatetime
    active_since: AwareDatetime | None
    value: float | None
    detail: dict[str, str]


class HistoryOut(BaseModel):
    rule_id: int
    rule_name: str
    host_id: int
    host_name: str
    state: StateIn
    at: AwareDatetime
    value: float | None


class SilenceIn(BaseModel):
    rule_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="none: every rule")
    host_pattern: Annotated[str, Field(min_length=1, max_length=256)] = "*"
    starts_at: AwareDatetime | None = Field(default=None, description="default now")
    ends_at: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class SilenceOut(BaseModel):
    id: int
    rule_id: int | None
    host_pattern: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str
    created_by: str


class ChannelIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Literal["webhook", "email", "apprise"]
    config: dict[str, Any] = Field(
        description="webhook: {url}; email: {to, sender, smtp_host, smtp_port, starttls, "
        "username, password}; apprise: {urls}"
    )
    enabled: bool = True


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any] = Field(description="as stored, passwords masked")
    enabled: bool

    @staticmethod
    def of(c: ChannelRecord) -> "ChannelOut":
        config = {
            k: "***" if k in _SECRET_KEYS and v else v for k, v in json.loads(c.config).items()
        }
        return ChannelOut(id=c.id, name=c.name, kind=c.kind, config=config, enabled=c.enabled)


class TestSendOut(BaseModel):
    sent: bool
    error: str | None


def build_router(services: AlertServices) -> APIRouter:  # noqa: PLR0915 (one router)
    router = APIRouter(prefix="/api/v1")
    queries = services.alerts

    def principal(request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.cookies.get(SESSION_COOKIE, "")
        found = services.auth.verify_token(token) if token else None
        if found is None:
            if token and services.auth.is_agent_key(token):
                raise HTTPException(403, "an agent API key can only send data; log in as a user")
            raise HTTPException(
                401,
                "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found

    def admin(user: Annotated[Principal, Depends(principal)]) -> Principal:
        if not user.may_manage_alerts():
            raise HTTPException(403, "only a tenant's admins may change alerting")
        return user

    User = Annotated[Principal, Depends(principal)]
    Admin = Annotated[Principal, Depends(admin)]

    def bad(exc: Exception) -> HTTPException:
        return HTTPException(409 if isinstance(exc, Conflict) else 422, str(exc))

    @router.get("/alerts/rules", tags=["alerts"], summary="Every alert rule")
    def list_rules(user: User) -> list[RuleOut]:
        return [RuleOut.of(r) for r in queries.rules(user.tenant_id)]

    @router.post("/alerts/rules", tags=["alerts"], status_code=201, summary="Add a rule")
    def create_rule(body: RuleIn, user: Admin) -> RuleOut:
        try:
            return RuleOut.of(queries.create_rule(user.tenant_id, body.spec(), services.now_ms()))
        except (BadRule, Conflict) as exc:
            raise bad(exc) from exc

    @router.get("/alerts/rules/{rule_id}", tags=["alerts"])
    def get_rule(rule_id: PathId, user: User) -> RuleOut:
        rule = queries.rule(user.tenant_id, rule_id)
        if rule is None:
            raise HTTPException(404, f"no rule with id {rule_id}")
        return RuleOut.of(rule)

    @router.put("/alerts/rules/{rule_id}", tags=["alerts"], summary="Replace a rule")
    def replace_rule(rule_id: PathId, body: RuleIn, user: Admin) -> RuleOut:
        try:
            rule = queries.update_rule(user.tenant_id, rule_id, body.spec(), services.now_ms())
        except (BadRule, Conflict) as exc:
            raise bad(exc) from exc
        if rule is None:
            raise HTTPException(404, f"no rule with id {rule_id}")
        return RuleOut.of(rule)

    @router.patch("/alerts/rules/{rule_id}", tags=["alerts"], summary="Change some fields")
    def patch_rule(rule_id: PathId, body: dict[str, Any], user: Admin) -> RuleOut:
        rule = queries.rule(user.tenant_id, rule_id)
        if rule is None:
            raise HTTPException(404, f"no rule with id {rule_id}")
        unknown = set(body) - set(RuleIn.model_fields)
        if unknown:
            raise HTTPException(422, f"unknown field(s): {', '.join(sorted(unknown))}")
        merged = RuleOut.of(rule).model_dump(exclude={"id", "ready_made"}) | body
        try:
            changed = RuleIn.model_validate(merged)
        except ValidationError as exc:
            raise HTTPException(422, str(exc)) from exc
        return replace_rule(rule_id, changed, user)

    @router.delete("/alerts/rules/{rule_id}", tags=["alerts"], status_code=204)
    def delete_rule(rule_id: PathId, user: Admin) -> Response:
        try:
            if not queries.delete_rule(user.tenant_id, rule_id):
                raise HTTPException(404, f"no rule with id {rule_id}")
        except Conflict as exc:
            raise bad(exc) from exc
        return Response(status_code=204)

    @router.get("/alerts", tags=["alerts"], summary="Current alerts: firing first, then pending")
    def current(
        user: User,
        state: Annotated[
            str, Query(description="comma-separated states: pending, firing, resolved, inactive")
        ] = "pending,firing",
        host_id: QueryId | None = None,
    ) -> list[AlertOut]:
        wanted = {s.strip() for s in state.split(",") if s.strip()}
        wrong = sorted(wanted - set(STATES))
        if wrong or not wanted:
            raise HTTPException(422, f"state: {', '.join(wrong) or 'empty'} is not a state")
        states = tuple(s for s in STATES if s in wanted)
        return [
            AlertOut.model_validate(a, from_attributes=True)
            for a in queries.alerts(user.tenant_id, states, host_id)
        ]

    @router.get("/alerts/history", tags=["alerts"], summary="State changes, newest first")
    def history(
        user: User,
        host_id: QueryId | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[HistoryOut]:
        return [
            HistoryOut.model_validate(h, from_attributes=True)
            for h in queries.history(user.tenant_id, host_id, limit)
        ]

    @router.get("/silences", tags=["alerts"], summary="Silences in force (or all)")
    def list_silences(user: User, include_ended: bool = False) -> list[SilenceOut]:
        return [
            _silence_out(s)
            for s in queries.silences(user.tenant_id, services.now_ms(), include_ended)
        ]

    @router.post("/silences", tags=["alerts"], status_code=201, summary="Silence alerts")
    def create_silence(body: SilenceIn, user: Admin) -> SilenceOut:
        now = services.now_ms()
        starts = now if body.starts_at is None else round(body.starts_at.timestamp() * 1000)
        try:
            silence = queries.create_silence(
                user.tenant_id,
                rule_id=body.rule_id,
                host_pattern=body.host_pattern,
                starts_ms=starts,
                ends_ms=round(body.ends_at.timestamp() * 1000),
                reason=body.reason,
                created_by=user.subject,
                now_ms=now,
            )
        except BadRule as exc:
            raise bad(exc) from exc
        return _silence_out(silence)

    @router.delete("/silences/{silence_id}", tags=["alerts"], status_code=204)
    def end_silence(silence_id: PathId, user: Admin) -> Response:
        if not queries.end_silence(user.tenant_id, silence_id, services.now_ms()):
            raise HTTPException(404, f"no silence in force with id {silence_id}")
        return Response(status_code=204)

    @router.get("/alerts/channels", tags=["alerts"], summary="Notification channels")
    def list_channels(user: User) -> list[ChannelOut]:
        return [ChannelOut.of(c) for c in queries.channels(user.tenant_id)]

    @router.post("/alerts/channels", tags=["alerts"], status_code=201, summary="Add a channel")
    def create_channel(body: ChannelIn, user: Admin) -> ChannelOut:
        try:
            channel = queries.create_channel(
                user.tenant_id,
                name=body.name,
                kind=body.kind,
                config=json.dumps(body.config),
                enabled=body.enabled,
                now_ms=services.now_ms(),
            )
        except (BadRule, Conflict) as exc:
            raise bad(exc) from exc
        return ChannelOut.of(channel)

    @router.delete("/alerts/channels/{channel_id}", tags=["alerts"], status_code=204)
    def delete_channel(channel_id: PathId, user: Admin) -> Response:
        if not queries.delete_channel(user.tenant_id, channel_id):
            raise HTTPException(404, f"no channel with id {channel_id}")
        return Response(status_code=204)

    @router.post(
        "/alerts/channels/{channel_id}/test",
        tags=["alerts"],
        summary="Send a test message through the channel now",
    )
    def test_channel(channel_id: PathId, user: Admin) -> TestSendOut:
        channel = queries.channel(user.tenant_id, channel_id)
        if channel is None:
            raise HTTPException(404, f"no channel with id {channel_id}")
        error = services.test_send(channel.kind, channel.config, channel.name)
        return TestSendOut(sent=error is None, error=error)

    return router


def _silence_out(s: Any) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        rule_id=s.rule_id,
        host_pattern=s.host_pattern,
        starts_at=s.starts,
        ends_at=s.ends,
        reason=s.reason,
        created_by=s.created_by,
    )
