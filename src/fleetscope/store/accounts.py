"""Tenants and users (issue 12, docs/data-model.md "Accounts").

Passwords are argon2id hashes (argon2-cffi's defaults, slow on purpose). A change of password,
a reset, disabling a user and deactivating a tenant end the sessions concerned, so a stolen
session does not outlive the change. A tenant keeps at least one enabled admin: demoting or
disabling the last one is refused (LastAdminError), so no tenant is left that only the
superuser can manage. Usernames are unique server-wide, because a login names no tenant.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleetscope.model.auth import Role
from fleetscope.store.engine import now_ms
from fleetscope.store.tables import sessions, tenants, users
from fleetscope.store.transaction import Db, begin

NAME_MAX = 128  # tenants.name and users.username


class NameTakenError(ValueError):
    """A tenant or username that exists already."""


class LastAdminError(ValueError):
    """The change would leave a tenant without an enabled admin."""


class UnknownTenantError(LookupError):
    pass


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("a password must not be empty")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    active: bool
    created_ms: int


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: int
    username: str
    role: Role
    superuser: bool
    disabled: bool
    created_ms: int
    password_changed_ms: int | None


_TENANT_COLUMNS = (tenants.c.id, tenants.c.name, tenants.c.active, tenants.c.created_ms)
_USER_COLUMNS = (
    users.c.id,
    users.c.tenant_id,
    users.c.username,
    users.c.role,
    users.c.superuser,
    users.c.disabled,
    users.c.created_ms,
    users.c.password_changed_ms,
)


def _checked_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"a {what} must be 1 to {NAME_MAX} characters, not {name!r}")
    return name


def _tenant(row: Row[*tuple[Any, ...]]) -> Tenant:
    return Tenant(row.id, row.name, bool(row.active), row.created_ms)


def _user(row: Row[*tuple[Any, ...]]) -> User:
    return User(
        row.id,
        row.tenant_id,
        row.username,
        Role(row.role),
        bool(row.superuser),
        bool(row.disabled),
        row.created_ms,
        row.password_changed_ms,
    )


# Tenants


def default_tenant_id(conn: Connection) -> int | None:
    """The first tenant made (by migration 0009 or the first start): stays the default when
    renamed. None before there is any."""
    value = conn.execute(select(func.min(tenants.c.id))).scalar()
    return None if value is None else int(value)


def create_tenant(db: Db, name: str) -> Tenant:
    name = _checked_name(name, "tenant name")
    try:
        with begin(db) as conn:
            row = conn.execute(
                insert(tenants).values(name=name, created_ms=now_ms()).returning(*_TENANT_COLUMNS)
            ).one()
    except IntegrityError as exc:
        raise NameTakenError(f"a tenant named {name!r} exists already") from exc
    return _tenant(row)


def get_tenant(engine: Engine, tenant_id: int) -> Tenant | None:
    with engine.connect() as conn:
        row = conn.execute(select(*_TENANT_COLUMNS).where(tenants.c.id == tenant_id)).first()
    return None if row is None else _tenant(row)


def tenant_by_name(engine: Engine, name: str) -> Tenant | None:
    with engine.connect() as conn:
        row = conn.execute(select(*_TENANT_COLUMNS).where(tenants.c.name == name)).first()
    return None if row is None else _tenant(row)


def list_tenants(engine: Engine) -> list[Tenant]:
    with engine.connect() as conn:
        rows = conn.execute(select(*_TENANT_COLUMNS).order_by(tenants.c.id)).all()
    return [_tenant(row) for row in rows]


def rename_tenant(db: Db, tenant_id: int, name: str) -> bool:
    name = _checked_name(name, "tenant name")
    try:
        with begin(db) as conn:
            result = conn.execute(
                update(tenants).where(tenants.c.id == tenant_id).values(name=name)
            )
    except IntegrityError as exc:
        raise NameTakenError(f"a tenant named {name!r} exists already") from exc
    return bool(result.rowcount)


def set_tenant_active(db: Db, tenant_id: int, active: bool) -> bool:
    """Deactivate (keys and logins refused, sessions ended, data kept) or reactivate."""
    with begin(db) as conn:
        result = conn.execute(
            update(tenants).where(tenants.c.id == tenant_id).values(active=active)
        )
        if not active:
            conn.execute(delete(sessions).where(sessions.c.tenant_id == tenant_id))
    return bool(result.rowcount)


# Users


def create_user(
    db: Db,
    tenant_id: int,
    username: str,
    password: str,
    role: Role,
    *,
    superuser: bool = False,
) -> User:
    username = _checked_name(username, "username")
    password_hash = hash_password(password)
    created = now_ms()
    try:
        with begin(db) as conn:
            if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
                raise UnknownTenantError(f"no tenant {tenant_id}")
            row = conn.execute(
                insert(users)
                .values(
                    tenant_id=tenant_id,
                    username=username,
                    password_hash=password_hash,
                    created_ms=created,
                    role=role.value,
                    superuser=superuser,
                    disabled=False,
                    password_changed_ms=created,
                )
                .returning(*_USER_COLUMNS)
            ).one()
    except IntegrityError as exc:
        raise NameTakenError(f"a user named {username!r} exists already") from exc
    return _user(row)


def get_user(engine: Engine, user_id: int, tenant_id: int | None = None) -> User | None:
    """A user by id; with tenant_id, only when they belong to that tenant."""
    query = select(*_USER_COLUMNS).where(users.c.id == user_id)
    if tenant_id is not None:
        query = query.where(users.c.tenant_id == tenant_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _user(row)


def user_by_name(engine: Engine, username: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(*_USER_COLUMNS).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def list_users(engine: Engine, tenant_id: int) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*_USER_COLUMNS).where(users.c.tenant_id == tenant_id).order_by(users.c.username)
        ).all()
    return [_user(row) for row in rows]


def _other_admins(conn: Connection, tenant_id: int, user_id: int) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(users)
            .where(
                users.c.tenant_id == tenant_id,
                users.c.id != user_id,
                users.c.role == Role.ADMIN.value,
                users.c.disabled.is_(False),
            )
        ).scalar_one()
    )


def _locked_user(conn: Connection, tenant_id: int, user_id: int) -> User | None:
    query = select(*_USER_COLUMNS).where(users.c.id == user_id, users.c.tenant_id == tenant_id)
    if conn.dialect.name == "postgresql":
        # Two admins demoting each other at once must not both succeed.
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _user(row)


def _guard_last_admin(conn: Connection, user: User) -> None:
    if (
        user.role is Role.ADMIN
        and not user.disabled
        and _other_admins(conn, user.tenant_id, user.id) == 0
    ):
        raise LastAdminError(f"{user.username!r} is the tenant's last enabled admin")


def set_role(db: Db, tenant_id: int, user_id: int, role: Role) -> bool:
    with begin(db) as conn:
        user = _locked_user(conn, tenant_id, user_id)
        if user is None:
            return False
        if role is not Role.ADMIN:
            _guard_last_admin(conn, user)
        conn.execute(update(users).where(users.c.id == user_id).values(role=role.value))
    return True


def set_disabled(db: Db, tenant_id: int, user_id: int, disabled: bool) -> bool:
    """Disable (login refused, sessions ended) or enable a user of the tenant."""
    with begin(db) as conn:
        user = _locked_user(conn, tenant_id, user_id)
        if user is None:
            return False
        if disabled:
            _guard_last_admin(conn, user)
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
    return True


def set_superuser(db: Db, user_id: int, superuser: bool) -> bool:
    """Grant or take the server-wide superuser flag. Taking it from the last enabled superuser
    is refused: tenants would be left with no one to manage them."""
    with begin(db) as conn:
        if not superuser:
            others = conn.execute(
                select(func.count())
                .select_from(users)
                .where(
                    users.c.superuser.is_(True), users.c.disabled.is_(False), users.c.id != user_id
                )
            ).scalar_one()
            if others == 0:
                raise LastAdminError("the server would be left without a superuser")
        result = conn.execute(
            update(users).where(users.c.id == user_id).values(superuser=superuser)
        )
    return bool(result.rowcount)


def _set_password(
    conn: Connection, user_id: int, password: str, keep_token_hash: str | None
) -> None:
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=hash_password(password), password_changed_ms=now_ms())
    )
    ended = delete(sessions).where(sessions.c.user_id == user_id)
    if keep_token_hash is not None:
        ended = ended.where(sessions.c.token_hash != keep_token_hash)
    conn.execute(ended)


def reset_password(db: Db, tenant_id: int, user_id: int, password: str) -> bool:
    """An admin sets a user's password; every session of the user ends."""
    with begin(db) as conn:
        if _locked_user(conn, tenant_id, user_id) is None:
            return False
        _set_password(conn, user_id, password, None)
    return True


def change_own_password(
    db: Db, user_id: int, old: str, new: str, *, keep_token_hash: str | None = None
) -> bool:
    """A user changes their password, knowing the old one; their other sessions end (the one
    whose token hash is keep_token_hash, the one asking, stays). False for a wrong old
    password."""
    with begin(db) as conn:
        current = conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()
        if current is None or not password_matches(current, old):
            return False
        _set_password(conn, user_id, new, keep_token_hash)
    return True


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user these credentials name, or None: unknown user, wrong password, disabled user
    or deactivated tenant all answer None after the same argon2 work, so a caller cannot tell
    which (nor probe usernames by timing)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(*_USER_COLUMNS, users.c.password_hash, tenants.c.active.label("tenant_active"))
            .join(tenants, tenants.c.id == users.c.tenant_id)
            .where(users.c.username == username)
        ).first()
    if row is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    if not password_matches(row.password_hash, password):
        return None
    if row.disabled or not row.tenant_active:
        return None
    return _user(row)
