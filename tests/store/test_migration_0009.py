"""Migration 0009 (accounts) on a database made by the previous release (head 0008), on SQLite
and PostgreSQL: every table of that release gets rows, the migration runs, and nothing is lost,
every row is in the default tenant, the users keep what they could do and the keys still work.

The rows are made from the reflected 0008 schema, one or two per table, so a table added to
that release cannot be forgotten here: the test fails when a 0008 table has no rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection, Engine, func, select

from fleetscope.model.auth import Role, Scope
from fleetscope.query.metrics import MetricQueries
from fleetscope.store import accounts, auth, keys
from fleetscope.store.engine import alembic_config, make_engine
from fleetscope.store.frames import encode_frame
from fleetscope.store.keys import sha256_hex
from fleetscope.store.partitions import create_partitions, day_of
from fleetscope.store.schema import metadata

T0 = 1_764_000_000_000
NEW_TABLES = {"collectors", "collection_files", "audit_log", "login_throttle"}
OLD_KEY = "fsk_previous-release-agent-key-0123456789abcdefghijklmnopqrs"
REVOKED_KEY = "fsk_previous-release-revoked-key-0123456789abcdefghijklmno"
# Values a generic row cannot guess; rows per table beyond the first are listed here too.
ROWS: dict[str, list[dict[str, Any]]] = {
    "tenants": [{"name": "default"}],
    "users": [
        {"username": "admin", "created_ms": T0},
        {"username": "ops", "created_ms": T0 + 1},
    ],
    "api_keys": [
        {
            "name": "initial agent key",
            "key_hash": sha256_hex(OLD_KEY),
            "prefix": OLD_KEY[:10],
            "revoked_ms": None,
        },
        {
            "name": "old laptop",
            "key_hash": sha256_hex(REVOKED_KEY),
            "prefix": REVOKED_KEY[:10],
            "revoked_ms": T0,
        },
    ],
    "metric_layouts": [{"series": '["cpu_seconds_total", "memory_used_bytes"]'}],
    "metric_frames": [{"vals": encode_frame([1.5, 2e9])}],
    "sessions": [{"expires_ms": 2**62}],
}


def _value(column: sa.Column[Any], n: int, ids: dict[str, int], tenant: int | None) -> Any:
    """A value of the column's type; nullable columns are filled too (more to lose)."""
    if column.name == "tenant_id":
        return tenant
    for fk in column.foreign_keys:
        return ids[fk.column.table.name]
    kind = column.type
    if isinstance(kind, sa.String) and not isinstance(kind, sa.Text):
        return f"v{n}"[: kind.length or 64]
    by_type: list[tuple[type[Any], Any]] = [
        (sa.Boolean, True),
        (sa.BigInteger, T0 + n),
        (sa.Integer, n + 1),
        (sa.Double, 1.5),
        (sa.LargeBinary, b"\x00bytes"),
        (sa.Text, "{}"),
    ]
    for kind_type, value in by_type:
        if isinstance(kind, kind_type):
            return value
    raise AssertionError(f"no value for {column}")


def _fill_previous_release(conn: Connection) -> dict[str, int]:
    """Rows in every table of the 0008 schema; how many per table."""
    if conn.dialect.name == "postgresql":
        create_partitions(conn, [day_of(T0)])
    existing = set(sa.inspect(conn).get_table_names())
    ids: dict[str, int] = {}
    counts: dict[str, int] = {}
    tenant: int | None = None
    for table in metadata.sorted_tables:
        if table.name not in existing:
            assert table.name in NEW_TABLES, f"{table.name} missing at 0008"
            continue
        old_columns = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        for n, extra in enumerate(ROWS.get(table.name, [{}])):
            values = {
                c.name: _value(c, n, ids, tenant)
                for c in table.columns
                if c.name in old_columns and not (c.primary_key and c.name == "id")
            }
            values.update(extra)
            stmt = sa.insert(table).values(values)
            if "id" in table.c and table.c.id.primary_key:
                row_id = conn.execute(stmt.returning(table.c.id)).scalar_one()
                ids.setdefault(table.name, row_id)
            else:
                conn.execute(stmt)
        if table.name == "tenants":
            tenant = ids["tenants"]
        counts[table.name] = len(ROWS.get(table.name, [{}]))
    assert tenant is not None
    return counts


def _count(conn: Connection, name: str) -> int:
    return int(conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one())


def _migrated_previous_release(database_url: str) -> tuple[Engine, dict[str, int]]:
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0008")
    with engine.begin() as conn:
        counts = _fill_previous_release(conn)
    command.upgrade(alembic_config(engine), "head")
    return engine, counts


def test_previous_release_data_lands_in_the_default_tenant(
    database_url: str, tmp_path: Path
) -> None:
    engine, counts = _migrated_previous_release(database_url)
    try:
        assert set(counts) | NEW_TABLES == {t.name for t in metadata.sorted_tables}, (
            "every table of 0008 got rows"
        )
        with engine.connect() as conn:
            default = accounts.default_tenant_id(conn)
            assert default is not None
            for name, count in counts.items():
                assert _count(conn, name) == count, f"{name} lost rows"
                table = metadata.tables[name]
                if "tenant_id" in table.c:
                    tenants_of = set(conn.execute(select(table.c.tenant_id).distinct()).scalars())
                    assert tenants_of == {default}, f"{name} has rows outside the default tenant"
        [tenant] = accounts.list_tenants(engine)
        assert (tenant.id, tenant.name, tenant.active) == (default, "default", True)
        admin, ops = accounts.list_users(engine, default)
        assert (admin.username, admin.role, admin.superuser) == ("admin", Role.ADMIN, True)
        assert (ops.username, ops.role, ops.superuser) == ("ops", Role.ADMIN, False)
        assert admin.password_changed_ms == T0 and not ops.disabled
        live, revoked = keys.list_keys(engine, default)
        assert live.scope is Scope.INGEST and live.bound_machine_id is None
        assert live.expires_ms is None and live.created_by is None
        assert auth.verify_api_key(engine, OLD_KEY) is not None  # agents keep sending
        assert revoked.revoked_ms == T0 and auth.verify_api_key(engine, REVOKED_KEY) is None
        # The stored samples read back through the read side as before.
        with engine.connect() as conn:
            host_id = conn.execute(select(metadata.tables["hosts"].c.id)).scalar_one()
        series = MetricQueries(engine).host_series(default, host_id, T0 - 1, T0 + 1000)
        assert [(s.metric, s.points) for s in series] == [
            ("cpu_seconds_total", [(T0 / 1000, 1.5)]),
            ("memory_used_bytes", [(T0 / 1000, 2e9)]),
        ]
        # A later start of the new release does not bootstrap again.
        assert auth.bootstrap(engine, tmp_path, None) is None
    finally:
        engine.dispose()


def test_downgrade_to_the_previous_release_and_back(database_url: str) -> None:
    engine, counts = _migrated_previous_release(database_url)
    try:
        config = alembic_config(engine)
        with engine.connect() as conn:
            default = accounts.default_tenant_id(conn)
        assert default is not None
        keys.create_key(engine, default, "made after", Scope.READ)
        command.downgrade(config, "0008")
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            assert not names & NEW_TABLES
            user_columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
            assert "role" not in user_columns and "superuser" not in user_columns
            for name, count in counts.items():
                expected = count + 1 if name == "api_keys" else count
                assert _count(conn, name) == expected, f"{name} lost rows on downgrade"
        command.upgrade(config, "head")
        [tenant] = accounts.list_tenants(engine)
        assert tenant.active
    finally:
        engine.dispose()


def test_an_empty_previous_release_database_gets_the_default_tenant(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0008")
        command.upgrade(alembic_config(engine), "head")
        assert [(t.name, t.active) for t in accounts.list_tenants(engine)] == [("default", True)]
    finally:
        engine.dispose()
