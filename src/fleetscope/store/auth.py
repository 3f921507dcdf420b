"""First start, login sessions and the agent key of `fleetscope up`. Tenants and users are
store/accounts.py, API keys store/keys.py. Session tokens are stored as SHA-256 (they are
256-bit random, so a fast hash cannot be brute-forced and still allows an indexed lookup)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select

from fleetscope.model.auth import Principal, Role, Scope
from fleetscope.store import accounts, keys
from fleetscope.store.engine import now_ms
from fleetscope.store.keys import KEY_PREFIX, sha256_hex
from fleetscope.store.tables import sessions, tenants, users
from fleetscope.store.transaction import Db, begin

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
ADMIN_USERNAME = "admin"
CREDENTIALS_FILE = "initial-credentials"
SESSION_LIFETIME_MS = 12 * 3600 * 1000

__all__ = [
    "ADMIN_USERNAME",
    "CREDENTIALS_FILE",
    "DEFAULT_TENANT",
    "KEY_PREFIX",
    "LOCAL_AGENT_KEY_FILE",
    "SESSION_LIFETIME_MS",
    "InitialCredentials",
    "bootstrap",
    "local_agent_key",
    "login",
    "logout",
    "open_session",
    "revoke_api_key",
    "sha256_hex",
    "verify_api_key",
    "verify_session",
]


@dataclass(frozen=True, slots=True)
class InitialCredentials:
    admin_password: str | None  # None when FLEETSCOPE_ADMIN_PASSWORD chose it
    agent_api_key: str
    path: Path


def bootstrap(
    engine: Engine, data_dir: Path, admin_password: str | None
) -> InitialCredentials | None:
    """On first start (no user yet): the default tenant unless migration 0009 made it, its
    admin, who is also the superuser, and one ingest key, written once to
    <data-dir>/initial-credentials (0600), like Jenkins' initialAdminPassword. Later starts
    return None and change nothing."""
    generated = admin_password is None
    password = secrets.token_urlsafe(18) if admin_password is None else admin_password
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).limit(1)).first() is not None:
            return None
        created = now_ms()
        tenant_id = accounts.default_tenant_id(conn)
        if tenant_id is None:
            tenant_id = conn.execute(
                insert(tenants)
                .values(name=DEFAULT_TENANT, created_ms=created)
                .returning(tenants.c.id)
            ).scalar_one()
        conn.execute(
            insert(users).values(
                tenant_id=tenant_id,
                username=ADMIN_USERNAME,
                password_hash=accounts.hash_password(password),
                created_ms=created,
                role=Role.ADMIN.value,
                superuser=True,
                disabled=False,
                password_changed_ms=created,
            )
        )
        key = keys.insert_key(conn, tenant_id, "initial agent key", Scope.INGEST).secret
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


def verify_api_key(engine: Engine, key: str) -> Principal | None:
    """A live key that may send data (scope ingest), as ingest asks; store/keys.py verify_key
    answers for keys of every scope."""
    principal = keys.verify_key(engine, key)
    return principal if principal is not None and principal.may_ingest() else None


def login(engine: Engine, username: str, password: str) -> str | None:
    """A new session token for valid credentials of an enabled user of an active tenant, else
    None (the same answer, after the same argon2 work, whatever was wrong, so usernames cannot
    be probed). Login throttling is store/throttle.py, which the caller consults first."""
    user = accounts.authenticate(engine, username, password)
    return None if user is None else open_session(engine, user)


def open_session(db: Db, user: accounts.User) -> str:
    token = secrets.token_urlsafe(32)
    created = now_ms()
    with begin(db) as conn:
        conn.execute(
            insert(sessions).values(
                token_hash=sha256_hex(token),
                tenant_id=user.tenant_id,
                user_id=user.id,
                created_ms=created,
                expires_ms=created + SESSION_LIFETIME_MS,
            )
        )
    return token


def verify_session(engine: Engine, token: str) -> Principal | None:
    """The user of a live session, with their role and superuser flag as they are now; None
    when the session expired or ended, the user is disabled or the tenant deactivated."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                users.c.tenant_id,
                users.c.id,
                users.c.username,
                users.c.role,
                users.c.superuser,
            )
            .select_from(sessions)
            .join(users, users.c.id == sessions.c.user_id)
            .join(tenants, tenants.c.id == users.c.tenant_id)
            .where(
                sessions.c.token_hash == sha256_hex(token),
                sessions.c.expires_ms > now_ms(),
                users.c.disabled.is_(False),
                tenants.c.active.is_(True),
            )
        ).first()
    if row is None:
        return None
    return Principal(
        row.tenant_id,
        "user",
        row.username,
        role=Role(row.role),
        superuser=bool(row.superuser),
        user_id=row.id,
    )


def revoke_api_key(engine: Engine, key: str) -> bool:
    return keys.revoke_secret(engine, key)


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
        tenant_id = accounts.default_tenant_id(conn)
        if tenant_id is None:
            raise RuntimeError("no tenant yet: bootstrap() runs before local_agent_key()")
        key = keys.insert_key(conn, tenant_id, "local agent (fleetscope up)", Scope.INGEST).secret
    fd = os.open(data_dir / LOCAL_AGENT_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"agent_api_key={key}\n")
    return key


LOCAL_AGENT_KEY_FILE = "local-agent-key"


def logout(db: Db, token: str) -> bool:
    """End a session; False when there was none."""
    with begin(db) as conn:
        result = conn.execute(delete(sessions).where(sessions.c.token_hash == sha256_hex(token)))
    return bool(result.rowcount)
