"""Tenants, users, agent API keys and login sessions. Secrets are stored hashed: passwords with
argon2id (slow on purpose), API keys and session tokens with SHA-256 (they are 256-bit random,
so a fast hash cannot be brute-forced and still allows an indexed lookup)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from fleetscope.model.auth import Principal
from fleetscope.store.engine import now_ms
from fleetscope.store.tables import api_keys, sessions, tenants, users

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
ADMIN_USERNAME = "admin"
CREDENTIALS_FILE = "initial-credentials"
SESSION_LIFETIME_MS = 12 * 3600 * 1000
KEY_PREFIX = "fsk_"  # recognisable in logs and secret scanners, like GitHub's ghp_

_hasher = PasswordHasher()


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class InitialCredentials:
    admin_password: str | None  # None when FLEETSCOPE_ADMIN_PASSWORD chose it
    agent_api_key: str
    path: Path


def bootstrap(
    engine: Engine, data_dir: Path, admin_password: str | None
) -> InitialCredentials | None:
    """On first start: the default tenant, the admin user and one agent key, written once to
    <data-dir>/initial-credentials (0600), like Jenkins' initialAdminPassword. Later starts
    return None and change nothing."""
    with engine.begin() as conn:
        if conn.execute(select(tenants.c.id).limit(1)).first() is not None:
            return None
        created = now_ms()
        tenant_id = conn.execute(
            insert(tenants).values(name=DEFAULT_TENANT, created_ms=created).returning(tenants.c.id)
        ).scalar_one()
        generated = admin_password is None
        password = secrets.token_urlsafe(18) if admin_password is None else admin_password
        conn.execute(
            insert(users).values(
                tenant_id=tenant_id,
                username=ADMIN_USERNAME,
                password_hash=_hasher.hash(password),
                created_ms=created,
            )
        )
        key = _insert_api_key(conn, tenant_id, "initial agent key")
        path = data_dir / CREDENTIALS_FILE
        lines = [f"agent_api_key={key}\n"]
        if generated:
            lines.insert(0, f"admin_password={password}\n")
        # Created 0600 from the start: never world-readable, not even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(lines)
    log.info("first start: credentials written to %s", path)
    return InitialCredentials(password if generated else None, key, path)


def _insert_api_key(conn: Connection, tenant_id: int, name: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(api_keys).values(
            tenant_id=tenant_id,
            name=name,
            key_hash=sha256_hex(key),
            prefix=key[:10],
            created_ms=now_ms(),
        )
    )
    return key


def verify_api_key(engine: Engine, key: str) -> Principal | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(api_keys.c.tenant_id, api_keys.c.name).where(
                api_keys.c.key_hash == sha256_hex(key), api_keys.c.revoked_ms.is_(None)
            )
        ).first()
    return None if row is None else Principal(row.tenant_id, "agent_key", row.name)


def login(engine: Engine, username: str, password: str) -> str | None:
    """A new session token for valid credentials, else None (same answer for an unknown user
    and a wrong password, so usernames cannot be probed)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.tenant_id, users.c.password_hash).where(
                users.c.username == username
            )
        ).first()
    if row is None:
        # Spend the same argon2 time for an unknown user as for a wrong password.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except VerificationError:
        return None
    token = secrets.token_urlsafe(32)
    created = now_ms()
    with engine.begin() as conn:
        conn.execute(
            insert(sessions).values(
                token_hash=sha256_hex(token),
                tenant_id=row.tenant_id,
                user_id=row.id,
                created_ms=created,
                expires_ms=created + SESSION_LIFETIME_MS,
            )
        )
    return token


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_session(engine: Engine, token: str) -> Principal | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(sessions.c.tenant_id, users.c.username)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == sha256_hex(token), sessions.c.expires_ms > now_ms())
        ).first()
    return None if row is None else Principal(row.tenant_id, "user", row.username)


def revoke_api_key(engine: Engine, key: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.key_hash == sha256_hex(key), api_keys.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms())
        )
    return result.rowcount > 0


def local_agent_key(engine: Engine, data_dir: Path) -> str:
    """The key `fleetscope up` gives its own agent: the initial one while it is valid, else a
    key made for the purpose and kept in <data-dir>/local-agent-key (0600)."""
    candidates = [data_dir / CREDENTIALS_FILE, data_dir / LOCAL_AGENT_KEY_FILE]
    for path in candidates:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            name, _, value = line.partition("=")
            if name.strip() == "agent_api_key" and verify_api_key(engine, value.strip()):
                return value.strip()
    with engine.begin() as conn:
        tenant_id = conn.execute(
            select(tenants.c.id).where(tenants.c.name == DEFAULT_TENANT)
        ).scalar_one()
        key = _insert_api_key(conn, tenant_id, "local agent (fleetscope up)")
    fd = os.open(data_dir / LOCAL_AGENT_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"agent_api_key={key}\n")
    return key


LOCAL_AGENT_KEY_FILE = "local-agent-key"


def logout(engine: Engine, token: str) -> bool:
    """End a session; False when there was none."""
    with engine.begin() as conn:
        result = conn.execute(delete(sessions).where(sessions.c.token_hash == sha256_hex(token)))
    return bool(result.rowcount)
