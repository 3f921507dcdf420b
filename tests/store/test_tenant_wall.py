"""Row-level security on tenant_id, PostgreSQL's second wall (store/tenancy.py, migration
0010, docs/accounts.md "The second wall"): queries that forget their tenant filter, run as a
request of tenant A, see nothing of tenant B; a request whose principal is not known yet sees
nothing at all; a write for another tenant is refused. On a database of its own, connected as
the superuser the tests use, which is what makes the role switch necessary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, insert, text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from fleetscope.cli.tenant_wall import TenantWall
from fleetscope.model.auth import AuditAction, Role
from fleetscope.query.accounts import AccountService
from fleetscope.query.auth import AuthService
from fleetscope.store import accounts, audit, auth, collectors
from fleetscope.store.engine import alembic_config, make_engine, migrate
from fleetscope.store.partitions import create_partitions, day_of, partition_name
from fleetscope.store.tables import hosts, metric_frames, metric_layouts
from fleetscope.store.tenancy import (
    APP_ROLE,
    POLICY,
    acting_for,
    all_tenants,
    enter_tenant,
    request_wall,
)
from tests.conftest import private_database

T0 = 1_780_000_000_000


@dataclass(frozen=True)
class Two:
    engine: Engine
    a: int
    b: int
    token_a: str
    token_b: str


def _host(engine: Engine, tenant_id: int, machine_id: str) -> None:
    with engine.begin() as conn:
        host_id = conn.execute(
            insert(hosts)
            .values(
                tenant_id=tenant_id,
                machine_id=machine_id,
                name=machine_id,
                first_seen_ms=T0,
                last_seen_ms=T0,
            )
            .returning(hosts.c.id)
        ).scalar_one()
        layout_id = conn.execute(
            insert(metric_layouts)
            .values(tenant_id=tenant_id, digest=machine_id, series="[]")
            .returning(metric_layouts.c.id)
        ).scalar_one()
        conn.execute(
            insert(metric_frames).values(
                host_id=host_id, ts_ms=T0, layout_id=layout_id, tenant_id=tenant_id, vals=b""
            )
        )


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    """Tenants A (the default, its admin a superuser) and B, each with a host, frames, a
    layout, users, keys, sessions, a collector and audit entries; and one audit entry of no
    tenant."""
    with private_database("fleetscope_rls") as url:
        engine = make_engine(url)
        migrate(engine)
        auth.bootstrap(engine, tmp_path_factory.mktemp("data"), "pw")
        a = accounts.user_by_name(engine, auth.ADMIN_USERNAME)
        assert a is not None
        b = accounts.create_tenant(engine, "b").id
        accounts.create_user(engine, b, "bob", "bob-password", Role.ADMIN)
        with engine.begin() as conn:
            create_partitions(conn, [day_of(T0)])
        for tenant_id, machine in ((a.tenant_id, "host-a"), (b, "host-b")):
            _host(engine, tenant_id, machine)
            collectors.create_collector(engine, tenant_id, machine)
            audit.append_event(engine, tenant_id, "test", AuditAction.LOGIN_SUCCEEDED)
        audit.append_event(engine, None, "nobody", AuditAction.LOGIN_FAILED)
        token_a = auth.login(engine, "admin", "pw")
        token_b = auth.login(engine, "bob", "bob-password")
        assert token_a is not None and token_b is not None
        yield Two(engine, a.tenant_id, b, token_a, token_b)
        engine.dispose()


def _walled_tables(engine: Engine) -> list[str]:
    """Every table of the schema with a tenant_id column, partitions included."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_attribute a"
                    " ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
                    " WHERE c.relnamespace = current_schema()::regnamespace"
                    " AND c.relkind IN ('r', 'p') ORDER BY 1"
                )
            ).scalars()
        )


def _tenants_seen(engine: Engine, table: str) -> set[int | None]:
    # Deliberately unfiltered: the wall, not a WHERE, decides what comes back.
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT tenant_id FROM {table}")).scalars())  # noqa: S608


def test_every_table_with_tenant_id_is_walled_and_forced(two: Two) -> None:
    tables = _walled_tables(two.engine)
    assert {"hosts", "metric_frames", partition_name(day_of(T0)), "audit_log"} <= set(tables)
    with two.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid"
                " AND p.polname = :policy)"
                " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
                " AND c.relname = ANY(:tables)"
            ),
            {"policy": POLICY, "tables": tables},
        ).all()
    assert {name for name, *_ in rows} == set(tables)
    assert [
        name for name, enabled, forced, policy in rows if not (enabled and forced and policy)
    ] == []
    print(f"{len(tables)} tables walled: {', '.join(tables)}")


def test_an_unfiltered_query_as_tenant_a_sees_only_a(two: Two) -> None:
    tables = _walled_tables(two.engine)
    with request_wall():
        enter_tenant(two.a)
        with two.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM hosts")).mappings().all()
        assert [r["machine_id"] for r in rows] == ["host-a"]
        seen = {table: _tenants_seen(two.engine, table) for table in tables}
    for table in (
        "hosts",
        "metric_frames",
        "metric_layouts",
        "users",
        "api_keys",
        "sessions",
        "collectors",
        "audit_log",
        partition_name(day_of(T0)),
    ):
        assert seen[table] == {two.a}, table
    assert all(tenants <= {two.a} for tenants in seen.values()), seen
    # The same queries, privileged, see both tenants and the audit entry of none.
    assert _tenants_seen(two.engine, "hosts") == {two.a, two.b}
    assert _tenants_seen(two.engine, "audit_log") == {two.a, two.b, None}


def test_a_request_whose_principal_is_unknown_sees_nothing(two: Two) -> None:
    with request_wall():
        seen = {table: _tenants_seen(two.engine, table) for table in _walled_tables(two.engine)}
    assert seen == {table: set() for table in seen}


def test_a_session_that_set_nothing_sees_nothing(two: Two) -> None:
    """Fail closed in the database itself: the application's role, no settings at all."""
    with two.engine.connect() as conn:
        conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in ("hosts", "metric_frames", "users", "sessions", "audit_log")
        }
    assert counts == {table: 0 for table in counts}


def test_writing_for_another_tenant_is_refused(two: Two) -> None:
    with request_wall():
        enter_tenant(two.a)
        refused = pytest.raises(sa.exc.DBAPIError, match="row-level security")
        with refused, two.engine.begin() as conn:
            conn.execute(
                insert(hosts).values(
                    tenant_id=two.b,
                    machine_id="planted",
                    name="planted",
                    first_seen_ms=T0,
                    last_seen_ms=T0,
                )
            )
        with two.engine.begin() as conn:
            # B's rows are not there to change or delete.
            assert (
                conn.execute(
                    text("UPDATE hosts SET name = 'x' WHERE tenant_id = :b"), {"b": two.b}
                ).rowcount
                == 0
            )
            assert conn.execute(text("DELETE FROM collectors")).rowcount == 1  # A's own
        # Nor can one of A's rows be moved to B.
        with refused, two.engine.begin() as conn:
            conn.execute(text("UPDATE hosts SET tenant_id = :b"), {"b": two.b})
    with all_tenants():
        assert _tenants_seen(two.engine, "collectors") == {two.b}
        collectors.create_collector(two.engine, two.a, "host-a")


def test_acting_for_moves_the_wall_to_that_tenant(two: Two) -> None:
    with request_wall():
        enter_tenant(two.a)
        with acting_for(two.b):
            assert _tenants_seen(two.engine, "users") == {two.b}
        assert _tenants_seen(two.engine, "users") == {two.a}


def test_the_superusers_changes_to_another_tenant_pass_the_wall(two: Two) -> None:
    """query/accounts.py moves the wall to the tenant the superuser changes (acting_for)."""
    service = AccountService(two.engine)
    with request_wall():
        superuser = AuthService(two.engine).verify_token(two.token_a)
        assert superuser is not None and superuser.superuser
        c = service.create_tenant(superuser, "c", address=None)
        assert not service.has_enabled_admin(c.id)
        made = service.create_user(superuser, c.id, "carol", "carol-pw", Role.ADMIN, address=None)
        assert made.tenant_id == c.id and service.has_enabled_admin(c.id)
        changed = service.update_tenant(superuser, c.id, name=None, active=False, address=None)
        assert changed is not None and not changed.active
        entries = service.audit_entries(c.id, limit=10, before_id=None, action=None, actor=None)
        assert {e.action for e in entries} >= {
            AuditAction.TENANT_CREATED,
            AuditAction.USER_CREATED,
            AuditAction.TENANT_DEACTIVATED,
        }
        # And the rest of the request is still tenant A's.
        assert _tenants_seen(two.engine, "users") == {two.a}


async def _unfiltered_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A route that authenticates as the read routes do, then forgets its tenant filter."""
    request = Request(scope, receive)
    engine: Engine = scope["state"]["engine"]

    def handle() -> list[str]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token:
            AuthService(engine).verify_token(token)
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT machine_id FROM hosts")).scalars())

    # A worker thread, as FastAPI runs sync dependencies and handlers: a copy of the context.
    await JSONResponse(await run_in_threadpool(handle))(scope, receive, send)


def test_a_request_sees_only_its_principals_tenant(two: Two) -> None:
    wall = TenantWall(_unfiltered_app)

    async def with_engine(scope: Scope, receive: Receive, send: Send) -> None:
        await wall({**scope, "state": {"engine": two.engine}}, receive, send)

    async def ask(token: str | None) -> list[str]:
        transport = httpx.ASGITransport(app=with_engine)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            answer = await client.get("/", headers=headers)
            answer.raise_for_status()
            return list(answer.json())

    import anyio  # noqa: PLC0415

    assert anyio.run(ask, two.token_a) == ["host-a"]
    assert anyio.run(ask, two.token_b) == ["host-b"]
    assert anyio.run(ask, None) == []
    assert anyio.run(ask, "not-a-token") == []


def test_the_wall_comes_down_and_up_again_with_the_migration(tmp_path: Path) -> None:
    from alembic import command  # noqa: PLC0415

    with private_database("fleetscope_rls_down") as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            config = alembic_config(engine)
            with all_tenants():
                command.downgrade(config, "0009")
            assert _forced(engine) == set()
            auth.bootstrap(engine, tmp_path, "pw")
            admin = accounts.user_by_name(engine, auth.ADMIN_USERNAME)
            assert admin is not None
            day = day_of(T0)
            with engine.begin() as conn:  # a partition as the previous release made it
                conn.execute(
                    text(
                        f"CREATE TABLE {partition_name(day)} PARTITION OF metric_frames"
                        f" FOR VALUES FROM ({day}) TO ({day + 86_400_000})"
                    )
                )
            _host(engine, admin.tenant_id, "kept")  # at 0009: no wall
            migrate(engine)
            assert {"hosts", "users", "audit_log", partition_name(day)} <= _forced(engine)
            with request_wall():
                enter_tenant(admin.tenant_id)
                assert _tenants_seen(engine, "hosts") == {admin.tenant_id}
                enter_tenant(admin.tenant_id)
            with request_wall():
                enter_tenant(admin.tenant_id + 1)
                assert _tenants_seen(engine, "hosts") == set()
        finally:
            engine.dispose()


def _forced(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relforcerowsecurity"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            ).scalars()
        )
