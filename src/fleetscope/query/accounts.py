"""Tenants, users, API keys and the audit log as the REST API and the dashboard manage them
(issue 12). Each change is made in the store and recorded in the audit log with who made it;
the permission checks (model/auth.py Principal.may_*) are the caller's, since the same
service also serves the CLI on the data directory, where no principal exists.

Every lookup by id is within one tenant, so an id of another tenant is "not found", never
"forbidden": the caller learns nothing of what other tenants hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from fleetscope.model.auth import AuditAction, Principal, Role, Scope
from fleetscope.store import accounts, audit, keys
from fleetscope.store.accounts import LastAdminError, NameTakenError, Tenant, User
from fleetscope.store.audit import AuditEntry
from fleetscope.store.keys import ApiKey, NewKey
from fleetscope.store.tenancy import acting_for, all_tenants

__all__ = [
    "AccountService",
    "ApiKey",
    "AuditEntry",
    "KeyRevoked",
    "LastAdminError",
    "NameTakenError",
    "NewKey",
    "Tenant",
    "User",
]


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    key: ApiKey
    now: bool  # False: it was revoked before


class AccountService:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def _audit(
        self,
        conn: Connection,
        actor: Principal,
        tenant_id: int | None,
        action: AuditAction,
        object: str,
        *,
        address: str | None,
        **detail: object,
    ) -> None:
        audit.append(
            conn,
            tenant_id,
            actor.subject,
            action,
            object,
            detail={k: v for k, v in detail.items() if v is not None},
            address=address,
            at_ms=self.now_ms(),
        )

    # Tenants (the superuser's)

    def tenants(self) -> list[Tenant]:
        return accounts.list_tenants(self.engine)

    def tenant(self, tenant_id: int) -> Tenant | None:
        return accounts.get_tenant(self.engine, tenant_id)

    def create_tenant(self, actor: Principal, name: str, address: str | None) -> Tenant:
        # Privileged: the new tenant's id, whose audit log the entry goes to, is known only
        # inside the transaction that makes it (the route allows the superuser alone).
        with all_tenants(), self.engine.begin() as conn:
            made = accounts.create_tenant(conn, name)
            self._audit(
                conn,
                actor,
                made.id,
                AuditAction.TENANT_CREATED,
                f"tenant:{made.name}",
                address=address,
            )
        return made

    def update_tenant(
        self,
        actor: Principal,
        tenant_id: int,
        *,
        name: str | None,
        active: bool | None,
        address: str | None,
    ) -> Tenant | None:
        with acting_for(tenant_id):  # its sessions end, its audit log records it
            return self._update_tenant(actor, tenant_id, name=name, active=active, address=address)

    def _update_tenant(
        self,
        actor: Principal,
        tenant_id: int,
        *,
        name: str | None,
        active: bool | None,
        address: str | None,
    ) -> Tenant | None:
        before = self.tenant(tenant_id)
        if before is None:
            return None
        with self.engine.begin() as conn:  # both changes or neither, each with its entry
            if name is not None and name.strip() != before.name:
                accounts.rename_tenant(conn, tenant_id, name)
                self._audit(
                    conn,
                    actor,
                    tenant_id,
                    AuditAction.TENANT_RENAMED,
                    f"tenant:{name.strip()}",
                    address=address,
                    before=before.name,
                )
            if active is not None and active != before.active:
                accounts.set_tenant_active(conn, tenant_id, active)
                action = AuditAction.TENANT_ACTIVATED if active else AuditAction.TENANT_DEACTIVATED
                self._audit(
                    conn, actor, tenant_id, action, f"tenant:{before.name}", address=address
                )
        return self.tenant(tenant_id)

    def has_enabled_admin(self, tenant_id: int) -> bool:
        with acting_for(tenant_id):  # the superuser asks of another tenant
            users = accounts.list_users(self.engine, tenant_id)
        return any(u.role is Role.ADMIN and not u.disabled for u in users)

    # Users

    def users(self, tenant_id: int) -> list[User]:
        return accounts.list_users(self.engine, tenant_id)

    def user(self, tenant_id: int, user_id: int) -> User | None:
        return accounts.get_user(self.engine, user_id, tenant_id)

    def create_user(
        self,
        actor: Principal,
        tenant_id: int,
        username: str,
        password: str,
        role: Role,
        *,
        address: str | None,
    ) -> User:
        # acting_for: the superuser's first admin of another tenant
        with acting_for(tenant_id), self.engine.begin() as conn:
            made = accounts.create_user(conn, tenant_id, username, password, role)
            self._audit(
                conn,
                actor,
                tenant_id,
                AuditAction.USER_CREATED,
                f"user:{made.username}",
                address=address,
                role=role.value,
            )
        return made

    def update_user(
        self,
        actor: Principal,
        tenant_id: int,
        user_id: int,
        *,
        role: Role | None,
        disabled: bool | None,
        address: str | None,
    ) -> User | None:
        """Change a user's role and/or disabled flag; None when the tenant has no such user.
        Raises LastAdminError when the tenant would be left without an enabled admin."""
        before = self.user(tenant_id, user_id)
        if before is None:
            return None
        what = f"user:{before.username}"
        # Both changes or neither: a role changed and then a refused disable leaves nothing.
        with self.engine.begin() as conn:
            if role is not None and role is not before.role:
                accounts.set_role(conn, tenant_id, user_id, role)
                self._audit(
                    conn,
                    actor,
                    tenant_id,
                    AuditAction.USER_ROLE_CHANGED,
                    what,
                    address=address,
                    before=before.role.value,
                    after=role.value,
                )
            if disabled is not None and disabled != before.disabled:
                accounts.set_disabled(conn, tenant_id, user_id, disabled)
                action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
                self._audit(conn, actor, tenant_id, action, what, address=address)
        return self.user(tenant_id, user_id)

    def reset_password(
        self, actor: Principal, tenant_id: int, user_id: int, password: str, address: str | None
    ) -> bool:
        user = self.user(tenant_id, user_id)
        if user is None:
            return False
        with self.engine.begin() as conn:
            if not accounts.reset_password(conn, tenant_id, user_id, password):
                return False
            self._audit(
                conn,
                actor,
                tenant_id,
                AuditAction.USER_PASSWORD_RESET,
                f"user:{user.username}",
                address=address,
            )
        return True

    def change_own_password(
        self, actor: Principal, token: str, old: str, new: str, address: str | None
    ) -> bool:
        """The caller's own password; their other sessions end, the one asking stays. False
        for a wrong current password."""
        if actor.user_id is None:
            return False
        with self.engine.begin() as conn:
            changed = accounts.change_own_password(
                conn, actor.user_id, old, new, keep_token_hash=keys.sha256_hex(token)
            )
            if changed:
                self._audit(
                    conn,
                    actor,
                    actor.tenant_id,
                    AuditAction.USER_PASSWORD_CHANGED,
                    f"user:{actor.subject}",
                    address=address,
                )
        return changed

    # API keys

    def keys(self, tenant_id: int) -> list[ApiKey]:
        return keys.list_keys(self.engine, tenant_id)

    def create_key(
        self,
        actor: Principal,
        name: str,
        scope: Scope,
        *,
        expires_ms: int | None,
        bound_machine_id: str | None,
        address: str | None,
    ) -> NewKey:
        with self.engine.begin() as conn:
            made = keys.create_key(
                conn,
                actor.tenant_id,
                name,
                scope,
                created_by=actor.subject,
                bound_machine_id=bound_machine_id,
                expires_ms=expires_ms,
            )
            self._audit(
                conn,
                actor,
                actor.tenant_id,
                AuditAction.KEY_CREATED,
                f"key:{made.key.name}",
                address=address,
                id=made.key.id,
                prefix=made.key.prefix,
                scope=scope.value,
                machine_id=bound_machine_id,
            )
        return made

    def revoke_key(self, actor: Principal, key_id: int, address: str | None) -> KeyRevoked | None:
        """Revoke a key of the caller's tenant; None when it has no such key."""
        key = keys.get_key(self.engine, actor.tenant_id, key_id)
        if key is None:
            return None
        if key.revoked_ms is not None:
            return KeyRevoked(key, now=False)
        with self.engine.begin() as conn:
            if not keys.revoke_key(conn, actor.tenant_id, key_id):
                return KeyRevoked(key, now=False)
            self._audit(
                conn,
                actor,
                actor.tenant_id,
                AuditAction.KEY_REVOKED,
                f"key:{key.name}",
                address=address,
                id=key.id,
                prefix=key.prefix,
            )
        revoked = keys.get_key(self.engine, actor.tenant_id, key_id)
        return KeyRevoked(revoked or key, now=True)

    # The audit log

    def audit_entries(
        self,
        tenant_id: int,
        *,
        limit: int,
        before_id: int | None,
        action: AuditAction | None,
        actor: str | None,
    ) -> list[AuditEntry]:
        with acting_for(tenant_id):  # the superuser may read another tenant's
            return audit.list_entries(
                self.engine, tenant_id, limit=limit, before_id=before_id, action=action, actor=actor
            )
