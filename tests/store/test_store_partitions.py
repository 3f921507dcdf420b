"""Raw-tier partitions (PostgreSQL) and retention (both databases), and the frame migration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from fleetscope.digest.transform import agent_payload_rows
from fleetscope.query.metrics import MetricQueries
from fleetscope.store.engine import alembic_config, make_engine
from fleetscope.store.frames import pack_values
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.partitions import DAY_MS, day_of, partition_days, partition_name
from fleetscope.store.tables import hosts, metric_frames, metric_layouts, tenants
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload, payload_json
from tests.snapshots import snapshot_keys, stored_snapshots

T0_MS = round(T0.timestamp() * 1000)


def _frame_times(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(ts for _, ts, _ in stored_snapshots(conn))


def _days(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return partition_days(conn)


def _write_at(writer: StoreWriter, *days: int) -> None:
    writer.write_batches(
        [
            agent_payload_rows(1, payload_json(payload(2, start=T0 + timedelta(days=d))))
            for d in days
        ]
    )


POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRESQL_ONLY
def test_late_and_early_frames_get_partitions_made_on_demand(engine: Engine) -> None:
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=lambda: T0_MS / 1000)
    assert maintenance.maintain_if_due() is not None  # as digest does before its first write
    _write_at(writer, 0, -40, 400)
    day = day_of(T0_MS)
    assert {day - 40 * DAY_MS, day + 400 * DAY_MS} | {day + n * DAY_MS for n in (-1, 0, 1, 2)} == (
        _days(engine)
    )
    assert len(_frame_times(engine)) == 6
    with engine.connect() as conn:
        name = partition_name(day - 40 * DAY_MS)
        held = conn.execute(
            text(f"SELECT host_id, ts_ms, layout_id, vals FROM {name}")  # noqa: S608 (an int)
        )
        assert len(snapshot_keys(held)) == 2
        host_id = conn.execute(select(hosts.c.id)).scalar_one()
    late = MetricQueries(engine).host_series(
        1, host_id, T0_MS - 41 * DAY_MS, T0_MS - 39 * DAY_MS, {"cpu_utilization_percent"}
    )
    assert [v for _, v in late[0].points] == [10.0, 11.0]


def test_retention_drops_expired_frames_and_keeps_the_rest(engine: Engine) -> None:
    now = [T0_MS / 1000]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine, writer.partitions, raw_retention_days=5, clock=lambda: now[0]
    )
    _write_at(writer, -10, -4, 0)
    assert len(_frame_times(engine)) == 6
    now[0] += 0.5 * 86_400  # half a day later
    result = maintenance.maintain()
    assert [ts // DAY_MS for ts in _frame_times(engine)] == [(T0_MS - 4 * DAY_MS) // DAY_MS] * 2 + [
        T0_MS // DAY_MS
    ] * 2
    if engine.dialect.name == "postgresql":
        assert result.dropped == (partition_name(day_of(T0_MS - 10 * DAY_MS)),)
        assert min(_days(engine)) == day_of(T0_MS - 4 * DAY_MS)
        assert max(_days(engine)) == day_of(T0_MS) + 2 * DAY_MS
    else:
        assert result.frames_deleted == 1  # rows: the day's two snapshots share one


@POSTGRESQL_ONLY
def test_a_writer_recovers_when_its_partition_was_dropped_elsewhere(engine: Engine) -> None:
    writer = StoreWriter(engine)
    _write_at(writer, -20)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {partition_name(day_of(T0_MS - 20 * DAY_MS))}"))
    with pytest.raises(SQLAlchemyError):
        _write_at(writer, -20)  # it still believes the day has a partition
    _write_at(writer, -20)  # the digest worker's retry
    assert len(_frame_times(engine)) == 2


def test_migration_0002_compresses_existing_frames_and_downgrades(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    with engine.begin() as conn:
        tenant = conn.execute(
            insert(tenants).values(name="t", created_ms=0).returning(tenants.c.id)
        ).scalar_one()
        host = conn.execute(
            insert(hosts)
            .values(tenant_id=tenant, machine_id="m", name="h", first_seen_ms=0, last_seen_ms=0)
            .returning(hosts.c.id)
        ).scalar_one()
        layout = conn.execute(
            insert(metric_layouts)
            .values(tenant_id=tenant, digest="d", series='["a","b"]')
            .returning(metric_layouts.c.id)
        ).scalar_one()
        conn.execute(
            insert(metric_frames),
            [
                {
                    "host_id": host,
                    "ts_ms": T0_MS + i,
                    "layout_id": layout,
                    "tenant_id": tenant,
                    "vals": pack_values([float(i), None]),
                }
                for i in range(2500)
            ],
        )
    command.upgrade(config, "head")
    series = MetricQueries(engine).host_series(tenant, host, T0_MS, T0_MS + 3000)
    assert [s.metric for s in series] == ["a", "b"]
    assert series[0].points[-1] == ((T0_MS + 2499) / 1000, 2499.0)
    assert series[1].points[0][1] is None
    command.downgrade(config, "0001")
    with engine.connect() as conn:
        blob = conn.execute(
            select(metric_frames.c.vals).where(metric_frames.c.ts_ms == T0_MS + 7)
        ).scalar_one()
        assert conn.execute(select(func.count()).select_from(metric_frames)).scalar_one() == 2500
    assert bytes(blob) == pack_values([7.0, None])
    command.upgrade(config, "head")
    engine.dispose()
