"""The hourly process-group rollup (store/rollups.py, tables.process_group_rollups_1h) and the
top-N query that reads it (query/processes.py): same answers as the all-raw computation."""

from __future__ import annotations

import random

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, select

from fleetscope.cli.settings import ServerSettings
from fleetscope.query.processes import ProcessQueries
from fleetscope.store.engine import alembic_config, make_engine
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import DAY_MS, HOUR_MS, GroupHour, counter_step, group_hours
from fleetscope.store.tables import (
    hosts,
    process_group_rollups_1h,
    process_groups,
    rollup_dirty,
    tenants,
)
from fleetscope.store.writer import BatchRows, ProcessGroupRow, StoreWriter

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
STEP_MS = 5 * 60_000


def test_counter_step_counts_a_reset_from_zero() -> None:
    assert counter_step(10.0, 12.5) == 2.5
    assert counter_step(10.0, 10.0) == 0.0
    assert counter_step(10.0, 3.0) == 3.0


def test_group_hours_sums_each_hour_of_each_group() -> None:
    rows = [
        (T0, "a", 2, 10.0, 100),
        (T0, "b", 1, 5.0, 7),
        (T0 + 1000, "a", 3, 12.0, 300),
        (T0 + 2000, "a", 1, 4.0, 200),  # a reset: 4 counted from zero
        (T0 + HOUR_MS, "a", 1, 6.0, 50),
    ]
    assert group_hours(rows) == {
        (T0, "a"): GroupHour(3, 600, 300, 3, T0, 10.0, T0 + 2000, 4.0, 6.0),
        (T0, "b"): GroupHour(1, 7, 7, 1, T0, 5.0, T0, 5.0, 0.0),
        (T0 + HOUR_MS, "a"): GroupHour(1, 50, 50, 1, T0 + HOUR_MS, 6.0, T0 + HOUR_MS, 6.0, 0.0),
    }


def _random_batches(rng: random.Random, hosts: int, hours: int) -> list[BatchRows]:
    """Per host, one batch per hour: groups that come and go, gaps, counter resets. Counters
    move in quarters and memory is whole, so every sum is exact in float64 whatever its order
    and the two computations can be compared for equality."""
    batches = []
    names = [f"g{n}" for n in range(6)]
    for host in range(hosts):
        counters = {name: rng.randrange(0, 400) / 4 for name in names}
        alive = {name: rng.random() < 0.7 for name in names}
        for hour in range(hours):
            rows = []
            for ts in range(T0 + hour * HOUR_MS, T0 + (hour + 1) * HOUR_MS, STEP_MS):
                if rng.random() < 0.1:  # a gap: the agent sent nothing
                    continue
                for name in names:
                    if rng.random() < 0.05:  # appears or disappears
                        alive[name] = not alive[name]
                    if not alive[name]:
                        continue
                    if rng.random() < 0.05:
                        counters[name] = rng.randrange(0, 40) / 4  # reset
                    else:
                        counters[name] += rng.randrange(0, 40) / 4
                    rows.append(
                        ProcessGroupRow(
                            ts + rng.randrange(0, 3) * 1000,
                            name,
                            rng.randint(1, 6),
                            counters[name],
                            float(rng.randrange(1, 1 << 30)),
                            0.0,
                            0.0,
                        )
                    )
            batches.append(
                BatchRows(1, f"m-{host}", f"host-{host}", "1", f"b-{host}-{hour}", (), tuple(rows))
            )
    return batches


def _compare(engine: Engine, rng: random.Random, span_ms: int, cases: int) -> int:
    """Random ranges over the data, both sorts, one host and the fleet; returns how many
    ranges had at least one whole hour (served by the rollup when rolled up)."""
    queries = ProcessQueries(engine)
    with engine.connect() as conn:
        host_ids = [None, *conn.execute(select(process_group_rollups_1h.c.host_id).distinct())]
    whole = 0
    for _ in range(cases):
        start = T0 - HOUR_MS + rng.randrange(0, span_ms + 2 * HOUR_MS)
        if rng.random() < 0.3:
            start = start // HOUR_MS * HOUR_MS  # on an hour's edge
        end = start + rng.randrange(0, span_ms)
        if rng.random() < 0.3:
            end = end // HOUR_MS * HOUR_MS - 1  # just before an hour's edge
        whole += (end + 1) // HOUR_MS - -(-start // HOUR_MS) >= 1
        host = rng.choice(host_ids)
        host_id = None if host is None else host[0]
        for by in ("cpu", "memory"):
            args = (1, start, end)
            options = {"by": by, "limit": 100, "host_id": host_id}
            expected = queries.top_groups_raw(*args, **options)  # type: ignore[arg-type]
            assert queries.top_groups(*args, **options) == expected, (start, end, by, host)  # type: ignore[arg-type]
    return whole


def test_rollup_answers_as_raw_over_random_ranges(engine: Engine) -> None:
    rng = random.Random(6)
    now = [(T0 + 3 * DAY_MS) / 1000]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=lambda: now[0])
    batches = _random_batches(rng, hosts=3, hours=12)
    late = [b for b in batches if b.batch_id is not None and b.batch_id.endswith("-5")]
    writer.write_batches([b for b in batches if b not in late])
    # Before any rollup: every hour is dirty, so everything is read raw.
    assert _compare(engine, rng, 6 * HOUR_MS, 10) > 0
    result = maintenance.roll_up(force=True)
    assert result is not None
    assert result.process_hours == 3 * 12 - 3  # hour 5 was not written yet
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rollup_dirty)).scalar_one() == 0
        assert (
            conn.execute(select(func.count()).select_from(process_group_rollups_1h)).scalar_one()
            > 0
        )
    assert _compare(engine, rng, 12 * HOUR_MS, 60) > 20
    # Late data: hour 5 arrives after its neighbours were rolled up. Until the step runs again
    # the hour is dirty and read raw; then it is rolled up like the others.
    writer.write_batches(late)
    assert _compare(engine, rng, 12 * HOUR_MS, 20) > 0
    result = maintenance.roll_up(force=True)
    assert result is not None
    assert result.process_hours == 3
    assert _compare(engine, rng, 12 * HOUR_MS, 60) > 20


def test_rerolled_hour_replaces_its_rows(engine: Engine) -> None:
    now = (T0 + DAY_MS) / 1000
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=lambda: now)

    def batch(batch_id: str, *rows: tuple[int, str, float]) -> BatchRows:
        groups = tuple(ProcessGroupRow(ts, name, 1, cpu, 100.0, 0.0, 0.0) for ts, name, cpu in rows)
        return BatchRows(1, "m-0", "host-0", "1", batch_id, (), groups)

    writer.write_batches([batch("a", (T0, "web", 1.0), (T0 + 60_000, "web", 3.0))])
    maintenance.roll_up(force=True)
    # Late: a sample in between, a reset, and a group that was not there.
    writer.write_batches([batch("b", (T0 + 30_000, "web", 0.5), (T0 + 30_000, "db", 2.0))])
    maintenance.roll_up(force=True)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                process_group_rollups_1h.c.group_name,
                process_group_rollups_1h.c.samples,
                process_group_rollups_1h.c.first_cpu,
                process_group_rollups_1h.c.last_cpu,
                process_group_rollups_1h.c.cpu_increase,
            ).order_by(process_group_rollups_1h.c.group_name)
        ).all()
    # web: 1.0 -> 0.5 is a reset (0.5), then 0.5 -> 3.0 (2.5).
    assert [tuple(r) for r in rows] == [("db", 1, 2.0, 2.0, 0.0), ("web", 3, 1.0, 3.0, 3.0)]
    top = ProcessQueries(engine).top_groups(1, T0, T0 + HOUR_MS - 1)
    assert [(g.group_name, g.cpu_seconds, g.samples) for g in top] == [
        ("web", 3.0, 3),
        ("db", 0.0, 1),
    ]


@pytest.mark.parametrize("days", [None, 2])
def test_process_rollup_retention(engine: Engine, days: int | None) -> None:
    now = [(T0 + DAY_MS) / 1000]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine,
        writer.partitions,
        clock=lambda: now[0],
        rollup_1h_retention_days=3,
        process_rollup_retention_days=days,
    )
    rows = tuple(
        ProcessGroupRow(T0 + h * HOUR_MS, "web", 1, float(h), 1.0, 0.0, 0.0) for h in range(3)
    )
    writer.write_batches([BatchRows(1, "m-0", "host-0", "1", "a", (), rows)])
    maintenance.roll_up(force=True)
    now[0] = (T0 + (days or 3) * DAY_MS + HOUR_MS) / 1000  # the first hour expired
    result = maintenance.maintain()
    assert result.rollup_rows_deleted == 1
    with engine.connect() as conn:
        kept = conn.execute(select(process_group_rollups_1h.c.bucket_ms)).scalars().all()
    assert sorted(kept) == [T0 + HOUR_MS, T0 + 2 * HOUR_MS]


def test_migration_0005_marks_stored_hours_for_the_rollup(database_url: str) -> None:
    engine = make_engine(database_url)
    config = alembic_config(engine)
    command.upgrade(config, "0004")
    with engine.begin() as conn:
        tenant = conn.execute(
            insert(tenants).values(name="t", created_ms=0).returning(tenants.c.id)
        ).scalar_one()
        host = conn.execute(
            insert(hosts)
            .values(tenant_id=tenant, machine_id="m", name="h", first_seen_ms=0, last_seen_ms=0)
            .returning(hosts.c.id)
        ).scalar_one()
        conn.execute(
            insert(process_groups),
            [
                {
                    "host_id": host,
                    "ts_ms": T0 + i * 20 * 60_000,
                    "group_name": "web",
                    "tenant_id": tenant,
                    "num_procs": 1,
                    "cpu_seconds_total": float(i),
                    "memory_bytes": 10,
                    "read_bytes_total": 0,
                    "write_bytes_total": 0,
                }
                for i in range(7)  # 2 h 0 min: hours 0, 1 and 2
            ],
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        marks = conn.execute(select(rollup_dirty.c.step_ms, rollup_dirty.c.bucket_ms)).all()
    assert sorted(marks) == [(HOUR_MS, T0 + h * HOUR_MS) for h in range(3)]
    queries = ProcessQueries(engine)
    before = queries.top_groups(tenant, T0, T0 + 3 * HOUR_MS)
    StoreMaintenance(engine, clock=lambda: (T0 + DAY_MS) / 1000).roll_up(force=True)
    with engine.connect() as conn:
        rolled = conn.execute(select(func.count()).select_from(process_group_rollups_1h))
        assert rolled.scalar_one() == 3
    assert queries.top_groups(tenant, T0, T0 + 3 * HOUR_MS) == before
    assert [(g.cpu_seconds, g.samples) for g in before] == [(6.0, 7)]
    command.downgrade(config, "0004")
    command.upgrade(config, "head")
    engine.dispose()


def test_process_rollup_retention_setting_keeps_at_least_raw() -> None:
    assert ServerSettings().process_rollup_retention_days == 730
    ServerSettings(raw_retention_days=30, process_rollup_retention_days=30)
    with pytest.raises(ValueError, match="process_rollup_retention_days"):
        ServerSettings(raw_retention_days=30, process_rollup_retention_days=7)


def test_late_data_after_raw_expiry_keeps_the_hours_rollup(engine: Engine) -> None:
    now = [(T0 + 12 * HOUR_MS) / 1000]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine, writer.partitions, raw_retention_days=1, clock=lambda: now[0]
    )

    def batch(batch_id: str, *times: int) -> BatchRows:
        groups = tuple(ProcessGroupRow(ts, "web", 1, ts / 1000, 100.0, 0.0, 0.0) for ts in times)
        return BatchRows(1, "m-0", "host-0", "1", batch_id, (), groups)

    writer.write_batches([batch("a", T0, T0 + 60_000)])
    maintenance.roll_up(force=True)
    now[0] = (T0 + DAY_MS + 2 * HOUR_MS) / 1000
    assert maintenance.maintain().process_groups_deleted == 2  # hour 0's raw rows expired
    # Late data in that hour: recomputing from the one raw row left would lose the two
    # samples the rollup holds, so the rollup is kept as it was.
    writer.write_batches([batch("b", T0 + 120_000)])
    result = maintenance.roll_up(force=True)
    assert result is not None
    assert result.process_hours == 0
    with engine.connect() as conn:
        samples = conn.execute(select(process_group_rollups_1h.c.samples)).scalars().all()
    assert samples == [2]
