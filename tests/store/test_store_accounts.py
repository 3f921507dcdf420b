"""store/accounts.py and store/auth.py with roles: tenants, users, sessions, on SQLite and
PostgreSQL (the `engine` fixture: migrated, with the default tenant and its admin 'pw')."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from fleetscope.model.auth import Role, Scope
from fleetscope.store import accounts, auth, keys
from fleetscope.store.accounts import LastAdminError, NameTakenError, UnknownTenantError
from fleetscope.store.keys import sha256_hex
from fleetscope.store.tables import sessions


def _default(engine: Engine) -> accounts.Tenant:
    tenant = accounts.tenant_by_name(engine, auth.DEFAULT_TENANT)
    assert tenant is not None
    return tenant


def test_bootstrap_makes_the_admin_a_superuser_of_the_default_tenant(engine: Engine) -> None:
    admin = accounts.user_by_name(engine, auth.ADMIN_USERNAME)
    assert admin is not None
    assert admin.role is Role.ADMIN and admin.superuser and not admin.disabled
    assert admin.tenant_id == _default(engine).id
    assert admin.password_changed_ms == admin.created_ms
    with engine.connect() as conn:
        assert accounts.default_tenant_id(conn) == admin.tenant_id
    [key] = keys.list_keys(engine, admin.tenant_id)
    assert key.scope is Scope.INGEST and key.created_by is None
    token = auth.login(engine, "admin", "pw")
    assert token is not None
    principal = auth.verify_session(engine, token)
    assert principal is not None
    assert principal.role is Role.ADMIN and principal.superuser and principal.user_id == admin.id
    assert principal.may_manage_tenants()


def test_tenants_create_rename_deactivate(engine: Engine) -> None:
    team = accounts.create_tenant(engine, " team b ")
    assert team.name == "team b" and team.active
    with pytest.raises(NameTakenError):
        accounts.create_tenant(engine, "team b")
    with pytest.raises(ValueError, match="1 to 128"):
        accounts.create_tenant(engine, "  ")
    assert accounts.rename_tenant(engine, team.id, "team c")
    with pytest.raises(NameTakenError):
        accounts.rename_tenant(engine, team.id, auth.DEFAULT_TENANT)
    assert not accounts.rename_tenant(engine, 9999, "nobody")
    assert [t.name for t in accounts.list_tenants(engine)] == ["default", "team c"]
    # The default tenant stays the default when renamed.
    default = _default(engine)
    assert accounts.rename_tenant(engine, default.id, "acme")
    with engine.connect() as conn:
        assert accounts.default_tenant_id(conn) == default.id
    assert accounts.get_tenant(engine, default.id) == accounts.Tenant(
        default.id, "acme", True, default.created_ms
    )


def test_a_deactivated_tenant_refuses_logins_sessions_and_keys(engine: Engine) -> None:
    team = accounts.create_tenant(engine, "b")
    accounts.create_user(engine, team.id, "bob", "bob-pw", Role.ADMIN)
    token = auth.login(engine, "bob", "bob-pw")
    assert token is not None
    key = keys.create_key(engine, team.id, "agents", Scope.INGEST, created_by="bob").secret
    assert auth.verify_api_key(engine, key) is not None
    assert accounts.set_tenant_active(engine, team.id, False)
    assert auth.verify_session(engine, token) is None
    assert auth.login(engine, "bob", "bob-pw") is None
    assert auth.verify_api_key(engine, key) is None
    assert accounts.get_tenant(engine, team.id) == accounts.Tenant(
        team.id, "b", False, team.created_ms
    )
    assert accounts.set_tenant_active(engine, team.id, True)
    assert auth.verify_api_key(engine, key) is not None  # its data and keys were kept
    assert auth.login(engine, "bob", "bob-pw") is not None


def test_users_create_list_role_and_names(engine: Engine) -> None:
    tenant = _default(engine).id
    viewer = accounts.create_user(engine, tenant, "vic", "v-pw", Role.VIEWER)
    assert viewer.role is Role.VIEWER and not viewer.superuser
    with pytest.raises(NameTakenError):
        accounts.create_user(engine, tenant, "vic", "x", Role.EDITOR)
    other = accounts.create_tenant(engine, "b")
    with pytest.raises(NameTakenError):  # usernames are unique server-wide
        accounts.create_user(engine, other.id, "vic", "x", Role.EDITOR)
    with pytest.raises(UnknownTenantError):
        accounts.create_user(engine, 9999, "nobody", "x", Role.EDITOR)
    with pytest.raises(ValueError, match="empty"):
        accounts.create_user(engine, tenant, "nopw", "", Role.EDITOR)
    assert [u.username for u in accounts.list_users(engine, tenant)] == ["admin", "vic"]
    assert accounts.list_users(engine, other.id) == []
    assert accounts.set_role(engine, tenant, viewer.id, Role.EDITOR)
    assert not accounts.set_role(engine, other.id, viewer.id, Role.ADMIN)  # not b's user
    assert accounts.get_user(engine, viewer.id, tenant) is not None
    assert accounts.get_user(engine, viewer.id, other.id) is None
    token = auth.login(engine, "vic", "v-pw")
    assert token is not None
    principal = auth.verify_session(engine, token)
    assert principal is not None and principal.role is Role.EDITOR and not principal.superuser


def test_the_last_admin_cannot_be_demoted_or_disabled(engine: Engine) -> None:
    tenant = _default(engine).id
    admin = accounts.user_by_name(engine, "admin")
    assert admin is not None
    with pytest.raises(LastAdminError):
        accounts.set_role(engine, tenant, admin.id, Role.VIEWER)
    with pytest.raises(LastAdminError):
        accounts.set_disabled(engine, tenant, admin.id, True)
    second = accounts.create_user(engine, tenant, "ann", "a-pw", Role.ADMIN)
    assert accounts.set_role(engine, tenant, admin.id, Role.VIEWER)
    with pytest.raises(LastAdminError):
        accounts.set_disabled(engine, tenant, second.id, True)
    user = accounts.get_user(engine, admin.id)
    assert user is not None and user.role is Role.VIEWER


def test_disabling_a_user_ends_their_sessions_and_refuses_login(engine: Engine) -> None:
    tenant = _default(engine).id
    ed = accounts.create_user(engine, tenant, "ed", "e-pw", Role.EDITOR)
    token = auth.login(engine, "ed", "e-pw")
    assert token is not None
    assert accounts.set_disabled(engine, tenant, ed.id, True)
    assert auth.verify_session(engine, token) is None
    assert auth.login(engine, "ed", "e-pw") is None
    assert accounts.authenticate(engine, "ed", "e-pw") is None
    assert accounts.set_disabled(engine, tenant, ed.id, False)
    assert auth.login(engine, "ed", "e-pw") is not None


def _sessions_of(engine: Engine, user_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
            ).scalar_one()
        )


def test_password_reset_and_own_change_end_sessions(engine: Engine) -> None:
    tenant = _default(engine).id
    ed = accounts.create_user(engine, tenant, "ed", "old-pw", Role.EDITOR)
    first = auth.login(engine, "ed", "old-pw")
    second = auth.login(engine, "ed", "old-pw")
    assert first is not None and second is not None
    assert not accounts.change_own_password(engine, ed.id, "wrong", "new-pw")
    assert accounts.change_own_password(
        engine, ed.id, "old-pw", "new-pw", keep_token_hash=sha256_hex(second)
    )
    assert auth.verify_session(engine, first) is None
    assert auth.verify_session(engine, second) is not None  # the one that asked stays
    assert auth.login(engine, "ed", "old-pw") is None
    assert auth.login(engine, "ed", "new-pw") is not None
    changed = accounts.get_user(engine, ed.id)
    assert changed is not None and changed.password_changed_ms is not None
    assert changed.password_changed_ms >= ed.created_ms
    assert accounts.reset_password(engine, tenant, ed.id, "reset-pw")
    assert _sessions_of(engine, ed.id) == 0
    assert auth.login(engine, "ed", "new-pw") is None
    assert auth.login(engine, "ed", "reset-pw") is not None
    other = accounts.create_tenant(engine, "b")
    assert not accounts.reset_password(engine, other.id, ed.id, "x")  # not b's user


def test_superuser_flag_keeps_one_superuser(engine: Engine) -> None:
    admin = accounts.user_by_name(engine, "admin")
    assert admin is not None
    with pytest.raises(LastAdminError, match="superuser"):
        accounts.set_superuser(engine, admin.id, False)
    team = accounts.create_tenant(engine, "b")
    root = accounts.create_user(engine, team.id, "root", "r-pw", Role.VIEWER, superuser=True)
    assert accounts.set_superuser(engine, admin.id, False)
    token = auth.login(engine, "root", "r-pw")
    assert token is not None
    principal = auth.verify_session(engine, token)
    assert principal is not None and principal.superuser and principal.may_access_tenant(1)
    assert not accounts.set_superuser(engine, 9999, True)
    assert root.superuser


def test_authenticate_gives_the_same_answer_for_every_failure(engine: Engine) -> None:
    assert accounts.authenticate(engine, "nobody", "pw") is None
    assert accounts.authenticate(engine, "admin", "wrong") is None
    user = accounts.authenticate(engine, "admin", "pw")
    assert user is not None and user.username == "admin"


def test_bootstrap_after_migration_made_the_tenant(database_url: str, tmp_path: Path) -> None:
    """Migration 0009 makes the default tenant on an empty database; the first start then adds
    its admin there rather than a second tenant."""
    from fleetscope.store.engine import make_engine, migrate  # noqa: PLC0415

    engine = make_engine(database_url)
    try:
        migrate(engine)
        assert [t.name for t in accounts.list_tenants(engine)] == ["default"]
        credentials = auth.bootstrap(engine, tmp_path, None)
        assert credentials is not None and credentials.admin_password is not None
        assert len(accounts.list_tenants(engine)) == 1
        assert auth.login(engine, "admin", credentials.admin_password) is not None
        assert auth.local_agent_key(engine, tmp_path) == credentials.agent_api_key
    finally:
        engine.dispose()
