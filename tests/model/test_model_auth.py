"""model/auth.py: what each kind of caller may do, as a table, so a change to one rule shows."""

from __future__ import annotations

import pytest

from fleetscope.model.auth import Principal, Role, Scope

ADMIN = Principal(1, "user", "ann", role=Role.ADMIN)
EDITOR = Principal(1, "user", "ed", role=Role.EDITOR)
VIEWER = Principal(1, "user", "vi", role=Role.VIEWER)
SUPERUSER = Principal(1, "user", "root", role=Role.VIEWER, superuser=True)
INGEST = Principal(1, "agent_key", "agents", scope=Scope.INGEST)
BOUND = Principal(1, "agent_key", "laptop", scope=Scope.INGEST, bound_machine_id="m-1")
READ = Principal(1, "agent_key", "grafana", scope=Scope.READ)
LEGACY_KEY = Principal(1, "agent_key", "old")  # built the way ingest did before scopes
LEGACY_USER = Principal(1, "user", "old")  # before roles: no role given

CALLERS = {
    "admin": ADMIN,
    "editor": EDITOR,
    "viewer": VIEWER,
    "superuser": SUPERUSER,
    "ingest": INGEST,
    "bound": BOUND,
    "read": READ,
    "legacy_key": LEGACY_KEY,
    "legacy_user": LEGACY_USER,
}

# permission -> the callers that have it; everyone else must not
EXPECTED = {
    "may_ingest": {"ingest", "bound", "legacy_key"},
    "may_read": {"admin", "editor", "viewer", "superuser", "read", "legacy_user"},
    "may_edit": {"admin", "editor", "superuser"},
    "may_upload": {"admin", "editor", "superuser"},
    "may_manage_collectors": {"admin", "editor", "superuser"},
    "may_run_analyses": {"admin", "editor", "superuser"},
    "may_manage_users": {"admin", "superuser"},
    "may_manage_keys": {"admin", "superuser"},
    "may_read_audit": {"admin", "superuser"},
    "may_manage_alerts": {"admin", "superuser"},
    "may_manage_tenants": {"superuser"},
    "may_change_password": {"admin", "editor", "viewer", "superuser", "legacy_user"},
}


@pytest.mark.parametrize("permission", sorted(EXPECTED))
def test_permission_table(permission: str) -> None:
    allowed = {name for name, who in CALLERS.items() if getattr(who, permission)()}
    assert allowed == EXPECTED[permission]


def test_a_bound_key_ingests_for_its_host_only() -> None:
    assert BOUND.may_ingest_for("m-1")
    assert not BOUND.may_ingest_for("m-2")
    assert INGEST.may_ingest_for("m-2")
    assert not READ.may_ingest_for("m-1")
    assert not ADMIN.may_ingest_for("m-1")


def test_only_the_superuser_reaches_other_tenants() -> None:
    assert ADMIN.may_access_tenant(1) and not ADMIN.may_access_tenant(2)
    assert READ.may_access_tenant(1) and not READ.may_access_tenant(2)
    assert SUPERUSER.may_access_tenant(2)
    # A key cannot carry the superuser flag into another tenant.
    forged = Principal(1, "agent_key", "k", scope=Scope.READ, superuser=True)
    assert not forged.may_access_tenant(2) and not forged.may_manage_tenants()


def test_roles_are_ordered_and_defaults_are_the_least() -> None:
    assert Role.ADMIN.at_least(Role.EDITOR) and Role.EDITOR.at_least(Role.VIEWER)
    assert not Role.VIEWER.at_least(Role.EDITOR)
    assert LEGACY_USER.effective_role is Role.VIEWER and LEGACY_USER.effective_scope is None
    assert LEGACY_KEY.effective_scope is Scope.INGEST and LEGACY_KEY.effective_role is None
    assert Role("editor") is Role.EDITOR and Scope("read") is Scope.READ
