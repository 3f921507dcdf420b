"""Request and response bodies of the account routes: tenants, users, API keys, the caller
(/me) and the audit log (web/routes/tenants.py, users.py, keys.py, me.py, audit.py).

No `from __future__ import annotations`: pydantic and FastAPI read these annotations at run
time."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from fleetscope.model.auth import Role, Scope
from fleetscope.query.accounts import ApiKey, AuditEntry, Tenant, User
from fleetscope.web.deps import MAX_ID

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
# New passwords: at least 8 characters (NIST SP 800-63B's minimum); the bound keeps argon2's
# input small.
NewPassword = Annotated[str, Field(min_length=8, max_length=1024)]


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class TenantIn(BaseModel):
    name: Name


class TenantPatch(BaseModel):
    name: Name | None = None
    active: bool | None = Field(None, description="false deactivates: keys and logins refused")


class TenantOut(BaseModel):
    id: int
    name: str
    active: bool
    created: AwareDatetime

    @staticmethod
    def of(t: Tenant) -> "TenantOut":
        return TenantOut(id=t.id, name=t.name, active=t.active, created=_at(t.created_ms))


class UserIn(BaseModel):
    username: Name
    password: NewPassword
    role: Role
    tenant_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="the superuser only, for a tenant's first admin; default the caller's",
    )


class UserPatch(BaseModel):
    role: Role | None = None
    disabled: bool | None = Field(None, description="true: login refused, sessions ended")


class PasswordReset(BaseModel):
    password: NewPassword


class PasswordChange(BaseModel):
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: NewPassword


class UserOut(BaseModel):
    id: int
    tenant_id: int
    username: str
    role: Role
    superuser: bool
    disabled: bool
    created: AwareDatetime
    password_changed: AwareDatetime | None

    @staticmethod
    def of(u: User) -> "UserOut":
        return UserOut(
            id=u.id,
            tenant_id=u.tenant_id,
            username=u.username,
            role=u.role,
            superuser=u.superuser,
            disabled=u.disabled,
            created=_at(u.created_ms),
            password_changed=_time(u.password_changed_ms),
        )


class KeyIn(BaseModel):
    name: Name
    scope: Scope
    expires_at: AwareDatetime | None = Field(None, description="refused from then on")
    machine_id: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None, description="ingest keys only: send for this host's machine id only"
    )


class KeyOut(BaseModel):
    id: int
    name: str
    scope: Scope
    prefix: str = Field(description="the key's first characters, to recognise it")
    machine_id: str | None = Field(description="the host it is bound to")
    created_by: str | None
    created: AwareDatetime
    last_used: AwareDatetime | None = Field(description="to within a minute")
    expires_at: AwareDatetime | None
    revoked_at: AwareDatetime | None

    @staticmethod
    def of(k: ApiKey) -> "KeyOut":
        return KeyOut(
            id=k.id,
            name=k.name,
            scope=k.scope,
            prefix=k.prefix,
            machine_id=k.bound_machine_id,
            created_by=k.created_by,
            created=_at(k.created_ms),
            last_used=_time(k.last_used_ms),
            expires_at=_time(k.expires_ms),
            revoked_at=_time(k.revoked_ms),
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown in this answer only, never again")


class MeOut(BaseModel):
    kind: Literal["user", "key"]
    name: str = Field(description="the username, or the key's name")
    user_id: int | None
    role: Role | None
    scope: Scope | None
    superuser: bool
    tenant_id: int
    tenant_name: str


class AuditEntryOut(BaseModel):
    id: int
    at: AwareDatetime
    actor: str
    action: str
    object: str
    detail: dict[str, Any]
    address: str | None

    @staticmethod
    def of(e: AuditEntry) -> "AuditEntryOut":
        return AuditEntryOut(
            id=e.id,
            at=_at(e.at_ms),
            actor=e.actor,
            action=e.action,
            object=e.object,
            detail=e.detail,
            address=e.address,
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before_id: int | None = Field(
        description="pass as before_id for the next (older) page; null at the end"
    )
