"""Who is calling, and what they may do: the identity ingest, the read side and the CLI agree on.

A caller is a user (a login session) or an API key. A user has a role in one tenant
(`admin` > `editor` > `viewer`) and may also be the server-wide superuser, who manages tenants
and may act on any of them. An API key has a scope: `ingest` keys (agents) only send data,
optionally for one bound host; `read` keys (API clients) only read. Every decision below is a
pure function of the Principal, so the routes, the pages and the CLI cannot disagree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """A user's role in their tenant; each includes everything of the ones below it."""

    ADMIN = "admin"  # users, API keys, collectors, plus everything an editor may do
    EDITOR = "editor"  # collectors, analyses, uploads
    VIEWER = "viewer"  # read only

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class Scope(StrEnum):
    """What an API key may do."""

    INGEST = "ingest"  # agents: send only
    READ = "read"  # API clients: read only


class AuditAction(StrEnum):
    """The audit log's vocabulary (store/audit.py), so every writer names an event the same."""

    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_THROTTLED = "login.throttled"
    LOGOUT = "logout"
    TENANT_CREATED = "tenant.created"
    TENANT_RENAMED = "tenant.renamed"
    TENANT_DEACTIVATED = "tenant.deactivated"
    TENANT_ACTIVATED = "tenant.activated"
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 (an event name, not a password)
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105
    USER_SUPERUSER_CHANGED = "user.superuser_changed"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    COLLECTOR_CREATED = "collector.created"
    COLLECTOR_UPDATED = "collector.updated"
    COLLECTION_FILE_UPLOADED = "collection_file.uploaded"


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller. `kind` "agent_key" is any API key (its scope says which); "user" a session.

    The fields after `subject` have defaults so that a Principal built the old way (tenant,
    kind, subject) still means what it meant: a key without a scope is an ingest key, a user
    without a role may only read.
    """

    tenant_id: int
    kind: Literal["agent_key", "user"]
    subject: str  # the key's name or the username, for logs and audit
    role: Role | None = None  # users only
    superuser: bool = False  # users only: server-wide, manages tenants
    scope: Scope | None = None  # API keys only
    bound_machine_id: str | None = None  # an ingest key bound to one host's machine id
    user_id: int | None = None
    key_id: int | None = None

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_key(self) -> bool:
        return self.kind == "agent_key"

    @property
    def effective_role(self) -> Role | None:
        """A user's role (viewer when none was given); None for a key."""
        if not self.is_user:
            return None
        return self.role if self.role is not None else Role.VIEWER

    @property
    def effective_scope(self) -> Scope | None:
        """A key's scope (ingest when none was given: the only kind of key before scopes);
        None for a user."""
        if not self.is_key:
            return None
        return self.scope if self.scope is not None else Scope.INGEST

    def _has_role(self, role: Role) -> bool:
        if not self.is_user:
            return False
        effective = self.effective_role
        return self.superuser or (effective is not None and effective.at_least(role))

    def may_ingest(self) -> bool:
        """Send data: ingest keys only; a login session never sends."""
        return self.effective_scope is Scope.INGEST

    def may_ingest_for(self, machine_id: str) -> bool:
        """Send data for this host: an ingest key bound to another host may not."""
        return self.may_ingest() and self.bound_machine_id in (None, machine_id)

    def may_read(self) -> bool:
        """Read the tenant's data: every user, and read keys."""
        return self.is_user or self.effective_scope is Scope.READ

    def may_edit(self) -> bool:
        """Change the tenant's collectors and analyses, upload collection files."""
        return self._has_role(Role.EDITOR)

    def may_upload(self) -> bool:
        """Upload a collection file from the dashboard or the API (agents upload with an ingest
        key, through may_ingest)."""
        return self._has_role(Role.EDITOR)

    def may_manage_collectors(self) -> bool:
        return self._has_role(Role.EDITOR)

    def may_run_analyses(self) -> bool:
        return self._has_role(Role.EDITOR)

    def may_manage_users(self) -> bool:
        return self._has_role(Role.ADMIN)

    def may_manage_keys(self) -> bool:
        return self._has_role(Role.ADMIN)

    def may_read_audit(self) -> bool:
        return self._has_role(Role.ADMIN)

    def may_manage_alerts(self) -> bool:
        """Alert rules, channels and silences: what only the admin could change before roles."""
        return self._has_role(Role.ADMIN)

    def may_manage_tenants(self) -> bool:
        """Create, rename, deactivate tenants: the superuser only."""
        return self.is_user and self.superuser

    def may_access_tenant(self, tenant_id: int) -> bool:
        """Act on objects of `tenant_id`: one's own tenant, or any for the superuser."""
        return tenant_id == self.tenant_id or self.may_manage_tenants()

    def may_change_password(self) -> bool:
        """Change one's own password: every user (a disabled user has no session at all)."""
        return self.is_user
