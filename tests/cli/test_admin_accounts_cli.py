"""`fleetscope admin tenants|users|keys|collectors` directly on the store (issue 12), on a
SQLite data directory and on a PostgreSQL database of the test's own: every command, the first
superuser on an empty store, a lost admin password recovered, the audit entries with actor
"cli", and the exit codes (2: what was typed; 1: a refusal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from fleetscope.cli.main import app
from fleetscope.model.auth import AuditAction, Role, Scope
from fleetscope.store import accounts, audit, collectors, keys
from fleetscope.store import auth as store_auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from tests.conftest import private_database


@dataclass
class Store:
    args: list[str]  # --data-dir D or --database URL
    url: str
    data_dir: Path

    def run(self, *words: str) -> Result:
        return CliRunner().invoke(app, ["admin", *words, *self.args])

    def ok(self, *words: str) -> Result:
        result = self.run(*words)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *words: str) -> Any:
        return json.loads(self.ok(*words, "--json").stdout)

    def engine(self) -> Engine:
        return make_engine(self.url)

    def bootstrapped(self, password: str) -> Engine:
        """What a server's first start leaves: the default tenant, admin (superuser), a key."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        engine = self.engine()
        migrate(engine)
        store_auth.bootstrap(engine, self.data_dir, password)
        return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store: a data directory that does not exist yet, or an empty database."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        yield Store(["--data-dir", str(data_dir)], sqlite_url(data_dir), data_dir)
        return
    with private_database("fleetscope_cli") as url:
        yield Store(["--database", url], url, data_dir)


def _audit(engine: Engine, tenant_id: int, action: AuditAction) -> list[audit.AuditEntry]:
    return audit.list_entries(engine, tenant_id, action=action)


def test_the_first_superuser_on_an_empty_store(store: Store) -> None:
    listed = store.run("users", "list")
    if store.args[0] == "--data-dir":  # nothing there: not made by a command that only reads
        assert listed.exit_code == 1 and "no fleetscope database" in listed.stderr
        assert not store.data_dir.exists()
    else:  # a database named is migrated, as the server would
        assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 1
    made = store.json("users", "create", "root", "--superuser")
    assert (made["username"], made["role"], made["superuser"]) == ("root", "admin", True)
    engine = store.engine()
    try:
        user = accounts.authenticate(engine, "root", made["password"])
        assert user is not None and user.superuser
        tenant = accounts.get_tenant(engine, user.tenant_id)
        assert tenant is not None and tenant.name == store_auth.DEFAULT_TENANT
        (created,) = _audit(engine, tenant.id, AuditAction.USER_CREATED)
        assert (created.actor, created.object) == ("cli", "user:root")
        assert [t.name for t in accounts.list_tenants(engine)] == [store_auth.DEFAULT_TENANT]
        # The server's first start then finds a user and leaves the store as it is.
        assert store_auth.bootstrap(engine, store.data_dir, None) is None
        assert [u.username for u in accounts.list_users(engine, tenant.id)] == ["root"]
    finally:
        engine.dispose()
    table = store.ok("users", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "TENANT", "USERNAME", "ROLE"]
    assert table[1].split()[2:5] == ["root", "admin", "yes"]


def test_a_lost_admin_password_is_reset_on_the_store(store: Store) -> None:
    engine = store.bootstrapped("forgotten")
    try:
        admin = accounts.user_by_name(engine, "admin")
        assert admin is not None
        session = store_auth.open_session(engine, admin)
        result = store.ok("users", "update", "admin", "--reset-password")
        lines = result.stdout.splitlines()
        assert lines[-1].startswith("(shown once")
        password = lines[-2].removeprefix("password: ")
        assert password and password not in "\n".join(lines[:-2])
        assert accounts.authenticate(engine, "admin", "forgotten") is None
        assert accounts.authenticate(engine, "admin", password) is not None
        assert store_auth.verify_session(engine, session) is None  # its sessions ended
        (reset,) = _audit(engine, admin.tenant_id, AuditAction.USER_PASSWORD_RESET)
        assert (reset.actor, reset.object) == ("cli", "user:admin")
        assert "forgotten" not in json.dumps(reset.detail) and password not in reset.object
        # A chosen password instead of a generated one; nothing printed as a secret.
        chosen = store.ok("users", "update", "admin", "--password", "chosen one")
        assert "password:" not in chosen.stdout
        assert accounts.authenticate(engine, "admin", "chosen one") is not None
    finally:
        engine.dispose()


def test_tenants(store: Store) -> None:
    engine = store.bootstrapped("pw")
    try:
        acme = store.json("tenants", "create", "acme")
        assert acme["name"] == "acme" and acme["active"] is True
        duplicate = store.run("tenants", "create", "acme")
        assert duplicate.exit_code == 1 and "exists already" in duplicate.stderr
        names = [t["name"] for t in store.json("tenants", "list")]
        assert names == [store_auth.DEFAULT_TENANT, "acme"]
        renamed = store.json("tenants", "update", "acme", "--name", "acme-eu")
        assert (renamed["id"], renamed["name"]) == (acme["id"], "acme-eu")
        assert store.run("tenants", "update", "acme-eu").exit_code == 2  # nothing to change
        store.json("users", "create", "eve", "--tenant", "acme-eu", "--role", "admin",
                   "--password", "pw of eve!")  # fmt: skip
        assert accounts.authenticate(engine, "eve", "pw of eve!") is not None
        off = store.json("tenants", "deactivate", str(acme["id"]))
        assert off["active"] is False
        assert accounts.authenticate(engine, "eve", "pw of eve!") is None  # logins refused
        assert store.json("tenants", "activate", "acme-eu")["active"] is True
        assert accounts.authenticate(engine, "eve", "pw of eve!") is not None
        actions = [e.action for e in audit.list_entries(engine, acme["id"]) if e.actor == "cli"]
        assert actions == [  # newest first
            AuditAction.TENANT_ACTIVATED,
            AuditAction.TENANT_DEACTIVATED,
            AuditAction.USER_CREATED,
            AuditAction.TENANT_RENAMED,
            AuditAction.TENANT_CREATED,
        ]
        missing = store.run("tenants", "deactivate", "nowhere")
        assert missing.exit_code == 1 and "no tenant 'nowhere'" in missing.stderr
    finally:
        engine.dispose()


def test_users(store: Store) -> None:
    engine = store.bootstrapped("pw")
    try:
        bob = store.json("users", "create", "bob", "--role", "editor", "--password", "pw of bob!")
        assert (bob["role"], bob["superuser"], bob["disabled"]) == ("editor", False, False)
        assert "password" not in bob  # chosen, so not printed back
        viewer = store.json("users", "create", "val")
        assert viewer["role"] == "viewer" and viewer["password"]
        assert [u["username"] for u in store.json("users", "list")] == ["admin", "bob", "val"]
        assert store.json("users", "update", "bob", "--role", "admin")["role"] == "admin"
        assert store.json("users", "update", str(bob["id"]), "--disable")["disabled"] is True
        assert accounts.authenticate(engine, "bob", "pw of bob!") is None
        assert store.json("users", "update", "bob", "--enable")["disabled"] is False
        assert store.json("users", "update", "bob", "--superuser")["superuser"] is True
        assert store.json("users", "update", "bob", "--no-superuser")["superuser"] is False
        # The tenant keeps an enabled admin: demoting both is refused at the second.
        store.ok("users", "update", "bob", "--role", "viewer")
        last = store.run("users", "update", "admin", "--role", "viewer")
        assert last.exit_code == 1 and "last enabled admin" in last.stderr
        taken = store.run("users", "create", "bob")
        assert taken.exit_code == 1 and "exists already" in taken.stderr
        unknown = store.run("users", "update", "nobody", "--enable")
        assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.stderr
        elsewhere = store.json("tenants", "create", "other")
        wrong = store.run("users", "update", "bob", "--enable", "--tenant", "other")
        assert wrong.exit_code == 1  # bob is not the other tenant's
        assert store.json("users", "list", "--tenant", str(elsewhere["id"])) == []
        tenant_id = bob["tenant_id"]
        actions = {e.action for e in audit.list_entries(engine, tenant_id) if e.actor == "cli"}
        assert {
            AuditAction.USER_CREATED,
            AuditAction.USER_ROLE_CHANGED,
            AuditAction.USER_DISABLED,
            AuditAction.USER_ENABLED,
            AuditAction.USER_SUPERUSER_CHANGED,
        } <= actions
        user = accounts.user_by_name(engine, "bob")
        assert user is not None and user.role is Role.VIEWER
    finally:
        engine.dispose()


def test_keys(store: Store) -> None:
    engine = store.bootstrapped("pw")
    try:
        made = store.ok("keys", "create", "laptop").stdout.splitlines()
        secret = made[-2].removeprefix("key: ")
        assert secret.startswith(keys.KEY_PREFIX) and secret not in "\n".join(made[:-2])
        principal = keys.verify_key(engine, secret)
        assert principal is not None and principal.scope is Scope.INGEST
        read = store.json(
            "keys", "create", "api", "--scope", "read", "--machine-id", "m-1", "--expires-days", "2"
        )
        assert (read["scope"], read["bound_machine_id"], read["created_by"]) == (
            "read",
            "m-1",
            "cli",
        )
        assert read["expires_ms"] - read["created_ms"] == pytest.approx(2 * 86_400_000, abs=5000)
        assert keys.verify_key(engine, read["key"]) is not None
        listed = store.json("keys", "list")
        assert [k["name"] for k in listed] == ["initial agent key", "laptop", "api"]
        assert all("key" not in k for k in listed)
        laptop_id = listed[1]["id"]
        revoked = store.json("keys", "revoke", str(laptop_id))
        assert revoked["revoked_ms"] is not None
        assert keys.verify_key(engine, secret) is None
        again = store.run("keys", "revoke", str(laptop_id))
        assert again.exit_code == 1 and "revoked already" in again.stderr
        assert store.run("keys", "revoke", "999").exit_code == 1
        assert [k["name"] for k in store.json("keys", "list")] == ["initial agent key", "api"]
        assert len(store.json("keys", "list", "--all")) == 3
        assert store.run("keys", "create", "x", "--scope", "write").exit_code == 2
        tenant_id = read["tenant_id"]
        (created, _) = _audit(engine, tenant_id, AuditAction.KEY_CREATED)
        assert created.detail["prefix"] == read["prefix"] and read["key"] not in str(created)
        assert _audit(engine, tenant_id, AuditAction.KEY_REVOKED)[0].object == f"key:{laptop_id}"
    finally:
        engine.dispose()


def test_collectors(store: Store) -> None:
    engine = store.bootstrapped("pw")
    try:
        web = store.json(
            "collectors", "create", "web1", "--site", "lab", "--platform", "Linux",
            "--chip-maker", "AMD", "--cpu-model", "EPYC 7763", "--cores", "64",
            "--memory-bytes", str(256 << 30), "--owner", "ops", "--machine-id", "m-web1",
        )  # fmt: skip
        assert (web["site"], web["machine"], web["cores"], web["owner"]) == (
            "lab",
            "web1",
            64,
            "ops",
        )
        store.json("collectors", "create", "db1")
        duplicate = store.run("collectors", "create", "web1", "--site", "lab")
        assert duplicate.exit_code == 1 and "exists already" in duplicate.stderr
        assert [c["machine"] for c in store.json("collectors", "list", "--site", "lab")] == ["web1"]
        table = store.ok("collectors", "list").stdout
        assert "256.0 GiB" in table and "EPYC 7763" in table
        edited = store.json("collectors", "update", str(web["id"]), "--owner", "", "--cores", "32",
                            "--machine", "web-1")  # fmt: skip
        assert (edited["owner"], edited["cores"], edited["machine"]) == (None, 32, "web-1")
        stored = collectors.get_collector(engine, web["tenant_id"], web["id"])
        assert stored is not None and stored.machine == "web-1" and stored.cpu_model == "EPYC 7763"
        assert store.run("collectors", "update", str(web["id"])).exit_code == 2
        assert store.run("collectors", "update", "999", "--owner", "x").exit_code == 1
        assert store.run("collectors", "create", "x", "--cores", "-1").exit_code == 2
        (updated,) = _audit(engine, web["tenant_id"], AuditAction.COLLECTOR_UPDATED)
        assert updated.detail == {"fields": ["cores", "machine", "owner"]}
        assert len(_audit(engine, web["tenant_id"], AuditAction.COLLECTOR_CREATED)) == 2
    finally:
        engine.dispose()


def test_what_was_typed_wrong_is_exit_code_2(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]

    def run(*words: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["admin", *words], env=env)

    both = run("users", "list", "--server", "http://x", *data)
    assert both.exit_code == 2 and "not both" in both.stderr
    no_token = run("keys", "list", "--server", "http://x")
    assert no_token.exit_code == 2 and "--token" in no_token.stderr
    assert run("users", "create", "a", "--role", "root", *data).exit_code == 2
    twice = run("users", "update", "a", "--reset-password", "--password", "p", *data)
    assert twice.exit_code == 2 and "not both" in twice.stderr
    short = run("users", "create", "a", "--password", "seven!!", *data)
    assert short.exit_code == 2 and "at least 8 characters" in short.stderr
    assert run("keys", "revoke", "one", *data).exit_code == 2
    # FLEETSCOPE_SERVER and FLEETSCOPE_TOKEN are known variables, not typos of a setting.
    env = {"FLEETSCOPE_SERVER": "http://127.0.0.1:9", "FLEETSCOPE_TOKEN": "t"}
    unreachable = run("tenants", "list", env=env)
    assert unreachable.exit_code == 1 and "cannot reach the server" in unreachable.stderr
    assert not (tmp_path / "fleetscope.db").exists()
