"""The second wall between tenants: PostgreSQL row-level security on tenant_id.

Every table with a tenant_id column (day partitions of metric_frames included) has the policy
`tenant_wall` (migration 0010; partitions made later get it in store/partitions.py): a row is
seen and written only when its tenant_id is the transaction's `fleetscope.tenant_id`, or when
the transaction is privileged (`fleetscope.all_tenants` = 'on'). A transaction that set neither
sees nothing and may write nothing: the wall fails closed. Design and reasons:
docs/accounts.md, "The second wall".

Which applies is decided per transaction from the context (contextvars, so each request and
thread has its own), by the engine's `begin` hook that `install` adds to PostgreSQL engines:

- Inside a request (`request_wall`, the web app's outermost middleware), nothing is visible
  until the request's principal is known; `enter_tenant` (called where a token is verified)
  then opens that tenant's rows to the rest of the request.
- `all_tenants()` is privileged: what must span tenants by its nature (login by username, key
  and session lookup by hash before the tenant is known). `acting_for(tenant)` moves the wall
  to another tenant for the superuser's changes to it.
- Outside any request (digest, store upkeep, alert evaluation, the admin CLI, migrations) the
  code is the server's own and privileged, as it always was.

A superuser (or BYPASSRLS) role ignores row-level security even when forced, so when the
session's user is one, a walled transaction also does `SET LOCAL ROLE fleetscope_app` (a role
migration 0010 makes, without login or BYPASSRLS). This stops a query that forgets its tenant
filter, not an attacker who can run SQL of their choice: such a one can set the settings too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, event

log = logging.getLogger(__name__)

APP_ROLE = "fleetscope_app"
TENANT_SETTING = "fleetscope.tenant_id"
ALL_TENANTS_SETTING = "fleetscope.all_tenants"
POLICY = "tenant_wall"
# The policy's condition, also in migration 0010 as it was written. '' is what a setting made
# by an earlier transaction's SET LOCAL reads as afterwards: no tenant, like NULL.
POLICY_CONDITION = (
    f"current_setting('{ALL_TENANTS_SETTING}', true) = 'on'"
    f" OR tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::integer"
)


def wall_statements(table: str) -> list[str]:
    """The DDL that puts the wall on one table (its owner runs it; the name is ours)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} USING ({POLICY_CONDITION})"
        f" WITH CHECK ({POLICY_CONDITION})",
    ]


class _RequestTenant:
    """The tenant of one request, None until its principal is known. Mutable so that a
    dependency running in a worker thread (a copy of the request's context) can set it for
    the whole request."""

    __slots__ = ("tenant_id",)

    def __init__(self) -> None:
        self.tenant_id: int | None = None


_request: ContextVar[_RequestTenant | None] = ContextVar("fleetscope_request_tenant", default=None)
_privileged: ContextVar[bool] = ContextVar("fleetscope_all_tenants", default=False)
_acting_for: ContextVar[int | None] = ContextVar("fleetscope_acting_for", default=None)


class TenantMismatch(RuntimeError):
    """One request tried to act for two tenants."""


@contextmanager
def request_wall() -> Iterator[None]:
    """Wall off the database for the duration of one request: no tenant's rows until
    `enter_tenant`."""
    token = _request.set(_RequestTenant())
    try:
        yield
    finally:
        _request.reset(token)


def enter_tenant(tenant_id: int) -> None:
    """The current request acts for this tenant from now on (its principal was verified).
    Outside a request this does nothing."""
    current = _request.get()
    if current is None:
        return
    if current.tenant_id is not None and current.tenant_id != tenant_id:
        raise TenantMismatch(f"request of tenant {current.tenant_id} asked for {tenant_id}")
    current.tenant_id = tenant_id


@contextmanager
def all_tenants() -> Iterator[None]:
    """Privileged within the block: for what spans tenants by its nature."""
    token = _privileged.set(True)
    try:
        yield
    finally:
        _privileged.reset(token)


@contextmanager
def acting_for(tenant_id: int) -> Iterator[None]:
    """Within the block, the wall is around this tenant, whoever the request's principal is:
    for the superuser's changes to another tenant (its first admin, its deactivation, its
    audit log), which the caller has authorised. Narrower than all_tenants()."""
    token = _acting_for.set(tenant_id)
    try:
        yield
    finally:
        _acting_for.reset(token)


P = ParamSpec("P")
R = TypeVar("R")


def privileged(function: Callable[P, R]) -> Callable[P, R]:
    """`function` runs within all_tenants()."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with all_tenants():
            return function(*args, **kwargs)

    return wrapper


def scope() -> tuple[bool, int | None]:
    """(privileged, tenant) of the code running now."""
    if _privileged.get():
        return True, None
    acting = _acting_for.get()
    if acting is not None:
        return False, acting
    request = _request.get()
    if request is None:
        return True, None
    return False, request.tenant_id


def install(engine: Engine) -> None:
    """Put the per-transaction settings on a PostgreSQL engine's connections."""
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)


_BYPASS_KEY = "fleetscope_bypasses_rls"
_SWITCH_KEY = "fleetscope_may_switch_role"


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user")
        row = cursor.fetchone()
    finally:
        cursor.close()
    dbapi_connection.rollback()  # end the transaction that query opened
    record.info[_BYPASS_KEY] = bool(row and row[0])


def _may_switch_role(cursor: Any, info: dict[Any, Any]) -> bool:
    # Remembered once true; asked again while false, because the migration that makes the role
    # may run on this very connection.
    if not info.get(_SWITCH_KEY):
        cursor.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)"
            " THEN pg_has_role(session_user, %s, 'MEMBER') ELSE false END",
            (APP_ROLE, APP_ROLE),
        )
        row = cursor.fetchone()
        info[_SWITCH_KEY] = bool(row and row[0])
    return bool(info[_SWITCH_KEY])


def _on_begin(conn: Connection) -> None:
    privileged, tenant_id = scope()
    fairy = conn.connection
    bypasses = bool(fairy.info.get(_BYPASS_KEY))
    if privileged and bypasses:
        return  # sees everything already: no statement, no round trip
    params: tuple[str, ...] = ()
    if privileged:
        sql = f"SELECT set_config('{ALL_TENANTS_SETTING}', 'on', true)"
    else:
        sql = f"SELECT set_config('{TENANT_SETTING}', %s, true)"
        params = ("" if tenant_id is None else str(tenant_id),)
    dbapi_connection = fairy.dbapi_connection
    if dbapi_connection is None:
        raise RuntimeError("a transaction began on a closed connection")
    driver_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    cursor = dbapi_connection.cursor()
    try:
        if not privileged and bypasses:
            if not _may_switch_role(cursor, fairy.info):
                raise PermissionError(
                    f"the database user bypasses row-level security and cannot SET ROLE"
                    f" {APP_ROLE}: migrate the database (0010) as a user that may create it"
                )
            sql += f", set_config('role', '{APP_ROLE}', true)"
        cursor.execute(sql, params)
    except driver_error as exc:
        # This hook runs before SQLAlchemy's own error handling of BEGIN: hand the driver's
        # error to it, so that a lost connection is invalidated and raised as SQLAlchemy's
        # OperationalError like any other (the outage handling and digest's retry know it).
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)
    finally:
        cursor.close()
