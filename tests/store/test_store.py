"""Migrations, the frame codec and the idempotent writer, on SQLite and PostgreSQL (the
`database_url` fixture runs each database test on both)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from msgspec.structs import replace
from sqlalchemy import Engine, func, select

from fleetscope.digest.transform import agent_payload_rows
from fleetscope.model.series import flatten_snapshot, series_key, split_series_key
from fleetscope.query.metrics import MetricQueries
from fleetscope.store import auth
from fleetscope.store.engine import migrate
from fleetscope.store.frames import pack_values, unpack_values
from fleetscope.store.partitions import alembic_filters
from fleetscope.store.schema import metadata
from fleetscope.store.tables import hosts, ingested_batches, metric_layouts
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload, payload_json
from tests.snapshots import count_snapshots


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=alembic_filters(conn.dialect.name))
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrate_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)


def test_frame_values_round_trip_with_absent_as_nan() -> None:
    values = unpack_values(pack_values([1.5, None, -2.0, 1e300]))
    assert values[0] == 1.5 and math.isnan(values[1]) and values[2:].tolist() == [-2.0, 1e300]


@pytest.mark.parametrize(
    "labels",
    [{}, {"cpu": "0", "mode": "user"}, {"path": 'C:\\dir "x"\nnext'}, {"a": "", "b": "=,{}"}],
)
def test_series_key_round_trips(labels: dict[str, str]) -> None:
    assert split_series_key(series_key("m_total", labels)) == ("m_total", labels)


def test_flatten_names_units_and_absent_values() -> None:
    flat = dict(flatten_snapshot(payload(1).snapshots[0]))
    assert flat['cpu_seconds_total{mode="user"}'] == 100
    assert flat['cpu_seconds_total{mode="iowait"}'] is None  # absent stays absent, not 0
    assert flat["memory_used_bytes"] == 1e9
    assert flat['collector_success{collector="cpu"}'] == 1.0


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_replayed_batch_is_stored_once(engine: Engine) -> None:
    writer = StoreWriter(engine)
    rows = agent_payload_rows(1, payload_json(payload(5)))
    first = writer.write_batches([rows])
    again = writer.write_batches([rows, rows])
    assert (first.batches_written, first.frames_written) == (1, 5)
    assert (again.batches_written, again.batches_skipped) == (0, 2)
    assert count_snapshots(engine) == 5
    assert _count(engine, metric_layouts) == 1


def test_the_same_samples_in_a_new_batch_are_stored_once(engine: Engine) -> None:
    """A lost response makes the agent resend; even under a new batch id nothing doubles."""
    writer = StoreWriter(engine)
    p = payload(4)
    writer.write_batches([agent_payload_rows(1, payload_json(p))])
    resent = replace(p, batch_id=payload(1).batch_id)
    result = writer.write_batches([agent_payload_rows(1, payload_json(resent))])
    assert result.batches_written == 1 and result.frames_written == 0
    assert count_snapshots(engine) == 4
    assert _count(engine, ingested_batches) == 2


def test_late_batch_does_not_move_last_seen_back_or_rename(engine: Engine) -> None:
    writer = StoreWriter(engine)
    writer.write_batches(
        [agent_payload_rows(1, payload_json(payload(1, hostname="new-name", start=T0)))]
    )
    old = payload(1, hostname="old-name", start=T0.replace(hour=1))
    writer.write_batches([agent_payload_rows(1, payload_json(old))])
    with engine.connect() as conn:
        row = conn.execute(select(hosts.c.name, hosts.c.last_seen_ms)).one()
    assert row.name == "new-name"
    assert row.last_seen_ms == round(T0.timestamp() * 1000)


def test_series_read_back_in_time_order(engine: Engine) -> None:
    writer = StoreWriter(engine)
    writer.write_batches([agent_payload_rows(1, payload_json(payload(3)))])
    with engine.connect() as conn:
        host_id = conn.execute(select(hosts.c.id)).scalar_one()
    start = round(T0.timestamp() * 1000)
    series = MetricQueries(engine).host_series(
        1, host_id, start, start + 60_000, {"cpu_utilization_percent"}
    )
    assert [s.metric for s in series] == ["cpu_utilization_percent"]
    assert series[0].points == [(T0.timestamp() + 10 * i, 10.0 + i) for i in range(3)]
    other_tenant = MetricQueries(engine).host_series(2, host_id, start, start + 60_000)
    assert other_tenant == []


def test_credentials_file_is_private_and_secrets_are_hashed(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / auth.CREDENTIALS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    lines = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert "admin_password" not in lines  # it was given, so it is not written down
    key = lines["agent_api_key"]
    assert auth.verify_api_key(engine, key) is not None
    assert auth.verify_api_key(engine, key + "x") is None
    assert auth.login(engine, "admin", "wrong") is None
    token = auth.login(engine, "admin", "pw")
    assert token is not None and auth.verify_session(engine, token) is not None
    dump = _dump(engine)
    # The password as a whole value ('pw' in a row's repr): a random hash or token may end
    # in "pw" by chance (it did once in CI).
    assert key not in dump and "'pw'" not in dump and token not in dump


def _dump(engine: Engine) -> str:
    """Every row of every table, as text."""
    with engine.connect() as conn:
        return "\n".join(
            repr(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
        )


def test_bootstrap_runs_once(engine: Engine, tmp_path: Path) -> None:
    assert auth.bootstrap(engine, tmp_path, None) is None


def test_revoked_key_is_refused(engine: Engine, tmp_path: Path) -> None:
    key = auth.local_agent_key(engine, tmp_path)
    assert auth.revoke_api_key(engine, key)
    assert auth.verify_api_key(engine, key) is None
    assert auth.local_agent_key(engine, tmp_path) != key  # up makes itself a new one
