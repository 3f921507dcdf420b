"""A change and its audit entry are one transaction (store/transaction.py), on SQLite and
PostgreSQL: when the audit insert fails the change rolls back, and when the change fails after
an entry was written, the entry goes with it. Failures are injected into the database itself
(a trigger that refuses the insert or the update), not by patching the code under test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from fleetscope.cli.accounts_common import AdminError
from fleetscope.cli.accounts_direct import DirectAccounts
from fleetscope.digest.transform import UploadedFile
from fleetscope.digest.uploads import keep_upload
from fleetscope.model.auth import AuditAction, Principal, Role, Scope
from fleetscope.model.devices import UploadHeader
from fleetscope.query.accounts import AccountService
from fleetscope.query.auth import AuthService
from fleetscope.query.collectors import CollectorQueries
from fleetscope.store import accounts, audit, keys
from fleetscope.store.account_tables import audit_log, collection_files, collectors
from fleetscope.store.tables import api_keys, sessions, tenants, users

REFUSED = "refused by the trigger of this test"


def refuse(engine: Engine, table: str, event: str = "INSERT") -> None:
    """Make the database refuse `event` ("INSERT", "UPDATE OF col") on `table`."""
    name = f"refuse_{table}"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
            )
            return
        conn.exec_driver_sql(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def admin_of(engine: Engine) -> Principal:
    user = accounts.user_by_name(engine, "admin")
    assert user is not None
    return Principal(
        user.tenant_id, "user", "admin", role=Role.ADMIN, superuser=True, user_id=user.id
    )


def test_every_change_rolls_back_when_its_audit_entry_cannot_be_written(
    engine: Engine, tmp_path: Path
) -> None:
    service = AccountService(engine)
    admin = admin_of(engine)
    tenant_id = admin.tenant_id
    other = service.create_user(admin, tenant_id, "olga", "password1", Role.EDITOR, address=None)
    key = service.create_key(
        admin, "k", Scope.INGEST, expires_ms=None, bound_machine_id=None, address=None
    )
    registry = CollectorQueries(engine)
    collector = registry.create(tenant_id, "admin", "m1")
    session = AuthService(engine).attempt_login("olga", "password1", None)
    assert session.token is not None
    tables = (tenants, users, api_keys, collectors, sessions)
    before = {t.name: count(engine, t) for t in tables}
    entries = count(engine, audit_log)
    refuse(engine, "audit_log")

    changes: list[tuple[str, Callable[[], object]]] = [
        ("create tenant", lambda: service.create_tenant(admin, "t2", None)),
        (
            "rename tenant",
            lambda: service.update_tenant(
                admin, tenant_id, name="renamed", active=None, address=None
            ),
        ),
        (
            "create user",
            lambda: service.create_user(
                admin, tenant_id, "u2", "password1", Role.VIEWER, address=None
            ),
        ),
        (
            "change role",
            lambda: service.update_user(
                admin, tenant_id, other.id, role=Role.VIEWER, disabled=None, address=None
            ),
        ),
        (
            "disable user",
            lambda: service.update_user(
                admin, tenant_id, other.id, role=None, disabled=True, address=None
            ),
        ),
        (
            "reset password",
            lambda: service.reset_password(admin, tenant_id, other.id, "password2", None),
        ),
        (
            "create key",
            lambda: service.create_key(
                admin, "k2", Scope.READ, expires_ms=None, bound_machine_id=None, address=None
            ),
        ),
        ("revoke key", lambda: service.revoke_key(admin, key.key.id, None)),
        ("create collector", lambda: registry.create(tenant_id, "admin", "m2")),
        ("update collector", lambda: registry.update(tenant_id, "admin", collector.id, site="x")),
        (
            "log in",
            lambda: AuthService(engine).attempt_login("olga", "password1", None),
        ),
        ("log out", lambda: AuthService(engine).logout(session.token or "")),
        ("cli: create tenant", lambda: DirectAccounts(engine).create_tenant("t3")),
        ("cli: revoke key", lambda: DirectAccounts(engine).revoke_key(key.key.id, tenant=None)),
    ]
    for what, change in changes:
        with pytest.raises(Exception, match=REFUSED):
            change()
        assert {t.name: count(engine, t) for t in tables} == before, what

    assert count(engine, audit_log) == entries
    tenant = accounts.get_tenant(engine, tenant_id)
    assert tenant is not None and tenant.name != "renamed"
    olga = accounts.get_user(engine, other.id)
    assert olga is not None and (olga.role, olga.disabled) == (Role.EDITOR, False)
    assert accounts.authenticate(engine, "olga", "password1") is not None  # not reset
    assert keys.verify_key(engine, key.secret) is not None  # not revoked
    assert CollectorQueries(engine).get(tenant_id, collector.id).site == ""
    with engine.connect() as conn:  # no session opened by the refused login, none ended
        assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == 1


def test_an_entry_goes_with_a_change_that_fails_after_it(engine: Engine) -> None:
    """A role change is written and audited, then disabling the same user is refused by the
    database: neither the role change nor its entry remains."""
    service = AccountService(engine)
    admin = admin_of(engine)
    other = service.create_user(
        admin, admin.tenant_id, "olga", "password1", Role.EDITOR, address=None
    )
    refuse(engine, "users", "UPDATE OF disabled")
    with pytest.raises(Exception, match=REFUSED):
        service.update_user(
            admin, admin.tenant_id, other.id, role=Role.VIEWER, disabled=True, address=None
        )
    olga = accounts.get_user(engine, other.id)
    assert olga is not None and olga.role is Role.EDITOR
    assert audit.list_entries(engine, admin.tenant_id, action=AuditAction.USER_ROLE_CHANGED) == []

    # The same through `fleetscope admin` on the store, refused by the store's own rule.
    with pytest.raises(AdminError):
        DirectAccounts(engine).update_user(
            "olga", tenant=None, role=Role.VIEWER, disabled=None, password="", superuser=None
        )
    olga = accounts.get_user(engine, other.id)
    assert olga is not None and olga.role is Role.EDITOR
    assert audit.list_entries(engine, admin.tenant_id, action=AuditAction.USER_ROLE_CHANGED) == []


def test_a_kept_upload_rolls_back_with_its_audit_entry(engine: Engine) -> None:
    tenant_id = admin_of(engine).tenant_id
    header = UploadHeader(
        machine_id="m1", content_sha256="0" * 64, bytes=3, uploaded_by="k", received_ms=1
    )
    refuse(engine, "audit_log")
    with pytest.raises(Exception, match=REFUSED):
        keep_upload(engine, tenant_id, UploadedFile(header, b"abc"), None)
    assert count(engine, collection_files) == 0
