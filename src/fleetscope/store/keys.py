"""API keys per tenant (issue 12, docs/data-model.md "Accounts").

A key is `fsk_` and 43 URL-safe characters (256 random bits). It is shown once, at creation;
the store keeps its SHA-256 (a fast hash is safe for 256-bit random secrets and allows an
indexed lookup) and its first 10 characters, the prefix, which lists and logs show so that a
key can be recognised without being readable. A lookup matches prefix and hash.

A key has a scope (model/auth.py Scope: ingest or read), may be bound to one host's machine id
(ingest for that host only), may expire, and is refused once revoked, expired, or when its
tenant is deactivated. Several keys of a tenant are live at once, so a key is rotated by making
the new one, moving the agents, then revoking the old one. last_used_ms is written at most once
a minute per key (LAST_USED_RESOLUTION_MS), so a busy agent does not turn every request into a
write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, or_, select, update

from fleetscope.model.auth import Principal, Scope
from fleetscope.store.engine import now_ms
from fleetscope.store.tables import api_keys, tenants
from fleetscope.store.transaction import Db, begin

KEY_PREFIX = "fsk_"  # recognisable in logs and secret scanners, like GitHub's ghp_
PREFIX_LENGTH = 10  # of the whole key, KEY_PREFIX included
LAST_USED_RESOLUTION_MS = 60_000
NAME_MAX = 128


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant_id: int
    name: str
    scope: Scope
    prefix: str
    bound_machine_id: str | None
    created_by: str | None
    created_ms: int
    last_used_ms: int | None
    expires_ms: int | None
    revoked_ms: int | None

    def live_at(self, at_ms: int) -> bool:
        """Neither revoked nor expired at that time (the tenant's state aside)."""
        return self.revoked_ms is None and (self.expires_ms is None or at_ms < self.expires_ms)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: `secret` is the clear key, which nothing can show again."""

    key: ApiKey
    secret: str


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.tenant_id,
    api_keys.c.name,
    api_keys.c.scope,
    api_keys.c.prefix,
    api_keys.c.bound_machine_id,
    api_keys.c.created_by,
    api_keys.c.created_ms,
    api_keys.c.last_used_ms,
    api_keys.c.expires_ms,
    api_keys.c.revoked_ms,
)


def _key(row: Row[*tuple[Any, ...]]) -> ApiKey:
    return ApiKey(
        row.id,
        row.tenant_id,
        row.name,
        Scope(row.scope),
        row.prefix,
        row.bound_machine_id,
        row.created_by,
        row.created_ms,
        row.last_used_ms,
        row.expires_ms,
        row.revoked_ms,
    )


def insert_key(
    conn: Connection,
    tenant_id: int,
    name: str,
    scope: Scope,
    *,
    created_by: str | None = None,
    bound_machine_id: str | None = None,
    expires_ms: int | None = None,
) -> NewKey:
    """The same as create_key, inside the caller's transaction (bootstrap's)."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"a key name must be 1 to {NAME_MAX} characters, not {name!r}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        insert(api_keys)
        .values(
            tenant_id=tenant_id,
            name=name,
            key_hash=sha256_hex(secret),
            prefix=secret[:PREFIX_LENGTH],
            created_ms=now_ms(),
            scope=scope.value,
            bound_machine_id=bound_machine_id or None,
            created_by=created_by,
            expires_ms=expires_ms,
        )
        .returning(*_COLUMNS)
    ).one()
    return NewKey(_key(row), secret)


def create_key(
    db: Db,
    tenant_id: int,
    name: str,
    scope: Scope,
    *,
    created_by: str | None = None,
    bound_machine_id: str | None = None,
    expires_ms: int | None = None,
) -> NewKey:
    with begin(db) as conn:
        return insert_key(
            conn,
            tenant_id,
            name,
            scope,
            created_by=created_by,
            bound_machine_id=bound_machine_id,
            expires_ms=expires_ms,
        )


def list_keys(engine: Engine, tenant_id: int, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(*_COLUMNS).where(api_keys.c.tenant_id == tenant_id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_ms.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(api_keys.c.id)).all()
    return [_key(row) for row in rows]


def get_key(engine: Engine, tenant_id: int, key_id: int) -> ApiKey | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS).where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant_id)
        ).first()
    return None if row is None else _key(row)


def revoke_key(db: Db, tenant_id: int, key_id: int) -> bool:
    """Revoke a key of the tenant; False when there is no such live key. Callers that cache
    verified keys (ingest's CachedKeys) still accept it until their entry expires."""
    with begin(db) as conn:
        result = conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.revoked_ms.is_(None),
            )
            .values(revoked_ms=now_ms())
        )
    return bool(result.rowcount)


def revoke_secret(engine: Engine, secret: str) -> bool:
    """Revoke a key given in clear (the CLI on the data directory, a leaked key)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.key_hash == sha256_hex(secret), api_keys.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms())
        )
    return bool(result.rowcount)


def verify_key(engine: Engine, secret: str, *, at_ms: int | None = None) -> Principal | None:
    """The Principal a live key stands for, whatever its scope (callers check may_ingest() or
    may_read()); None for an unknown, revoked or expired key or a deactivated tenant."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    at = now_ms() if at_ms is None else at_ms
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS)
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(
                api_keys.c.prefix == secret[:PREFIX_LENGTH],
                api_keys.c.key_hash == sha256_hex(secret),
                api_keys.c.revoked_ms.is_(None),
                or_(api_keys.c.expires_ms.is_(None), api_keys.c.expires_ms > at),
                tenants.c.active.is_(True),
            )
        ).first()
    if row is None:
        return None
    key = _key(row)
    if key.last_used_ms is None or at - key.last_used_ms >= LAST_USED_RESOLUTION_MS:
        with engine.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key.id,
                    or_(
                        api_keys.c.last_used_ms.is_(None),
                        api_keys.c.last_used_ms <= at - LAST_USED_RESOLUTION_MS,
                    ),
                )
                .values(last_used_ms=at)
            )
    return Principal(
        key.tenant_id,
        "agent_key",
        key.name,
        scope=key.scope,
        bound_machine_id=key.bound_machine_id,
        key_id=key.id,
    )
