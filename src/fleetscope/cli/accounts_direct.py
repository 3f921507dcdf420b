"""`fleetscope admin tenants|users|keys|collectors` directly on the store (--data-dir,
--database, --config): for bootstrap and recovery, when no server runs or nobody can log in
(the first superuser, a lost admin password). Every change is written to the audit log with
actor "cli", so the tenant's admins see what was done behind the server's back.

The store functions (store/accounts.py, keys.py, collectors.py) do the work and their rules
hold here too: a tenant keeps an enabled admin, usernames are unique server-wide."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine

from fleetscope.cli.accounts_common import AdminError, Record
from fleetscope.model.auth import AuditAction, Role, Scope
from fleetscope.store import accounts, audit, collectors, keys
from fleetscope.store.collectors import CollectorChanges, CollectorDetails

ACTOR = "cli"


def _record(item: Any) -> Record:
    return {
        name: value.value if isinstance(value, Role | Scope) else value
        for name, value in dataclasses.asdict(item).items()
    }


class DirectAccounts:
    """The commands' operations on a migrated store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    # Tenants

    def tenant(self, given: str | None) -> accounts.Tenant:
        """--tenant as a name or an id; without it the default tenant (migration 0009 makes
        it, so the first superuser on an empty store has one)."""
        if given is None:
            with self.engine.connect() as conn:
                tenant_id = accounts.default_tenant_id(conn)
            if tenant_id is None:
                raise AdminError("the store has no tenant", 1)
            found = accounts.get_tenant(self.engine, tenant_id)
        else:
            found = accounts.tenant_by_name(self.engine, given)
            if found is None and given.isdecimal():
                found = accounts.get_tenant(self.engine, int(given))
        if found is None:
            raise AdminError(f"no tenant {given!r}", 1)
        return found

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        """One transaction for a change and its audit entry (store/transaction.py); the
        store's refusals as AdminError, after the rollback."""
        with _refusals(), self.engine.begin() as conn:
            yield conn

    def _audit(
        self,
        conn: Connection,
        tenant_id: int | None,
        action: AuditAction,
        obj: str,
        **detail: Any,
    ) -> None:
        audit.append(conn, tenant_id, ACTOR, action, obj, detail=detail or None)

    def tenants(self) -> list[Record]:
        return [_record(t) for t in accounts.list_tenants(self.engine)]

    def create_tenant(self, name: str) -> Record:
        with self._change() as conn:
            made = accounts.create_tenant(conn, name)
            self._audit(
                conn, made.id, AuditAction.TENANT_CREATED, f"tenant:{made.id}", name=made.name
            )
        return _record(made)

    def update_tenant(self, given: str, *, name: str | None, active: bool | None) -> Record:
        tenant = self.tenant(given)
        with self._change() as conn:
            if name is not None:
                accounts.rename_tenant(conn, tenant.id, name)
                self._audit(
                    conn,
                    tenant.id,
                    AuditAction.TENANT_RENAMED,
                    f"tenant:{tenant.id}",
                    old=tenant.name,
                    new=name.strip(),
                )
            if active is not None and active != tenant.active:
                accounts.set_tenant_active(conn, tenant.id, active)
                action = AuditAction.TENANT_ACTIVATED if active else AuditAction.TENANT_DEACTIVATED
                self._audit(conn, tenant.id, action, f"tenant:{tenant.id}")
        return _record(self.tenant(str(tenant.id)))

    # Users

    def _user(self, given: str, tenant: str | None) -> accounts.User:
        user = accounts.user_by_name(self.engine, given)
        if user is None and given.isdecimal():
            user = accounts.get_user(self.engine, int(given))
        if user is None or (tenant is not None and user.tenant_id != self.tenant(tenant).id):
            raise AdminError(f"no user {given!r}" + (f" in tenant {tenant!r}" if tenant else ""), 1)
        return user

    def users(self, tenant: str | None) -> list[Record]:
        return [_record(u) for u in accounts.list_users(self.engine, self.tenant(tenant).id)]

    def create_user(
        self, username: str, password: str, role: Role, *, tenant: str | None, superuser: bool
    ) -> Record:
        owner = self.tenant(tenant)
        with self._change() as conn:
            made = accounts.create_user(
                conn, owner.id, username, password, role, superuser=superuser
            )
            self._audit(
                conn,
                owner.id,
                AuditAction.USER_CREATED,
                f"user:{made.username}",
                role=made.role.value,
                superuser=superuser,
            )
        return _record(made)

    def update_user(
        self,
        given: str,
        *,
        tenant: str | None,
        role: Role | None,
        disabled: bool | None,
        password: str | None,
        superuser: bool | None,
    ) -> Record:
        user = self._user(given, tenant)
        where, obj = user.tenant_id, f"user:{user.username}"
        # Every change asked for, or none of them (each with its audit entry).
        with self._change() as conn:
            if role is not None and role is not user.role:
                accounts.set_role(conn, where, user.id, role)
                self._audit(
                    conn, where, AuditAction.USER_ROLE_CHANGED, obj, old=user.role, new=role
                )
            if disabled is not None and disabled != user.disabled:
                accounts.set_disabled(conn, where, user.id, disabled)
                action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
                self._audit(conn, where, action, obj)
            if superuser is not None and superuser != user.superuser:
                accounts.set_superuser(conn, user.id, superuser)
                self._audit(
                    conn, where, AuditAction.USER_SUPERUSER_CHANGED, obj, superuser=superuser
                )
            if password is not None:
                accounts.reset_password(conn, where, user.id, password)
                self._audit(conn, where, AuditAction.USER_PASSWORD_RESET, obj)
        changed = accounts.get_user(self.engine, user.id)
        assert changed is not None  # users are never deleted
        return _record(changed)

    # API keys

    def keys(self, tenant: str | None, *, include_revoked: bool) -> list[Record]:
        owner = self.tenant(tenant)
        return [
            _record(k)
            for k in keys.list_keys(self.engine, owner.id, include_revoked=include_revoked)
        ]

    def create_key(
        self,
        name: str,
        scope: Scope,
        *,
        tenant: str | None,
        machine_id: str | None,
        expires_ms: int | None,
    ) -> Record:
        owner = self.tenant(tenant)
        with self._change() as conn:
            made = keys.create_key(
                conn,
                owner.id,
                name,
                scope,
                created_by=ACTOR,
                bound_machine_id=machine_id,
                expires_ms=expires_ms,
            )
            self._audit(
                conn,
                owner.id,
                AuditAction.KEY_CREATED,
                f"key:{made.key.id}",
                name=made.key.name,
                scope=scope.value,
                prefix=made.key.prefix,
            )
        return {**_record(made.key), "key": made.secret}

    def revoke_key(self, key_id: int, *, tenant: str | None) -> Record:
        owner = self.tenant(tenant)
        key = keys.get_key(self.engine, owner.id, key_id)
        if key is None:
            raise AdminError(f"no key {key_id} in tenant {owner.name!r}", 1)
        with self._change() as conn:
            if not keys.revoke_key(conn, owner.id, key_id):
                raise AdminError(f"key {key_id} ({key.name!r}) is revoked already", 1)
            self._audit(conn, owner.id, AuditAction.KEY_REVOKED, f"key:{key_id}", name=key.name)
        revoked = keys.get_key(self.engine, owner.id, key_id)
        assert revoked is not None
        return _record(revoked)

    # Collectors

    def collectors(self, tenant: str | None, *, site: str | None) -> list[Record]:
        owner = self.tenant(tenant)
        return [_record(c) for c in collectors.list_collectors(self.engine, owner.id, site=site)]

    def create_collector(
        self, machine: str, details: CollectorDetails, *, tenant: str | None
    ) -> Record:
        owner = self.tenant(tenant)
        with self._change() as conn:
            made = collectors.create_collector(conn, owner.id, machine, **details)
            self._audit(
                conn,
                owner.id,
                AuditAction.COLLECTOR_CREATED,
                f"collector:{made.id}",
                site=made.site,
                machine=made.machine,
            )
        return _record(made)

    def update_collector(
        self, collector_id: int, changes: CollectorChanges, *, tenant: str | None
    ) -> Record:
        owner = self.tenant(tenant)
        with self._change() as conn:
            changed = collectors.update_collector(conn, owner.id, collector_id, **changes)
            if changed is None:
                raise AdminError(f"no collector {collector_id} in tenant {owner.name!r}", 1)
            self._audit(
                conn,
                owner.id,
                AuditAction.COLLECTOR_UPDATED,
                f"collector:{collector_id}",
                fields=sorted(changes),
            )
        return _record(changed)


@contextmanager
def _refusals() -> Iterator[None]:
    """The store's refusals (a name taken, the last admin, a bad value) as AdminError."""
    try:
        yield
    except (accounts.NameTakenError, collectors.DuplicateCollectorError) as exc:
        raise AdminError(str(exc), 1) from exc
    except accounts.LastAdminError as exc:
        raise AdminError(f"refused: {exc}", 1) from exc
    except accounts.UnknownTenantError as exc:
        raise AdminError(str(exc), 1) from exc
    except ValueError as exc:
        raise AdminError(str(exc), 2) from exc
