"""The writer's batched statements (store/writer.py): a call over many batches records their
ids, hosts and rows in a constant number of statements, and still skips a replayed batch whole,
keeps host names and last_seen as the newest batch says, and aligns host_ids with the batches.
On SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.tables import hosts, ingested_batches, process_groups
from fleetscope.store.writer import BatchRows, FrameRow, ProcessGroupRow, StoreWriter
from tests.snapshots import count_snapshots

T0_MS = 1_795_852_800_000  # 2026-11-22 08:00 UTC
SERIES = ("cpu_utilization_percent", "memory_used_bytes")


def batch(
    machine: str, batch_id: str | None, ts_ms: int, name: str | None = None, groups: int = 0
) -> BatchRows:
    return BatchRows(
        tenant_id=1,
        machine_id=machine,
        hostname=name or f"host-{machine}",
        agent_version="1.0",
        batch_id=batch_id,
        frames=(FrameRow(ts_ms, SERIES, (12.5, None)),),
        process_groups=tuple(
            ProcessGroupRow(ts_ms, f"g{n}", 1, 1.5, 1e6, 2e3, 3e3) for n in range(groups)
        ),
    )


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def host_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {m: i for m, i in conn.execute(select(hosts.c.machine_id, hosts.c.id))}


def test_one_call_aligns_host_ids_and_skips_a_batch_repeated_in_it(engine: Engine) -> None:
    writer = StoreWriter(engine)
    a = batch("a", "b-1", T0_MS, groups=2)
    calls = [a, batch("b", "b-2", T0_MS), a, batch("a", "b-3", T0_MS + 10_000, groups=2)]
    result = writer.write_batches(calls)
    ids = host_ids(engine)
    assert result.host_ids == (ids["a"], ids["b"], None, ids["a"])
    assert (result.batches_written, result.batches_skipped, result.frames_written) == (3, 1, 3)
    assert count(engine, process_groups) == 4
    # A second writer (a restarted digest: nothing cached) sees every batch as digested.
    again = StoreWriter(engine).write_batches(calls)
    assert (again.batches_written, again.batches_skipped) == (0, 4)
    assert again.host_ids == (None,) * 4
    assert (count_snapshots(engine), count(engine, ingested_batches)) == (3, 3)


def test_known_hosts_take_the_newest_name_and_never_go_back(engine: Engine) -> None:
    writer = StoreWriter(engine)
    writer.write_batches([batch("a", "1", T0_MS, "first")])  # the host is now cached
    writer.write_batches([batch("a", "2", T0_MS + 10_000, "second")])
    writer.write_batches([batch("a", "3", T0_MS - 60_000, "late")])  # an old batch replayed
    with engine.connect() as conn:
        row = conn.execute(select(hosts.c.name, hosts.c.last_seen_ms, hosts.c.first_seen_ms)).one()
    assert tuple(row) == ("second", T0_MS + 10_000, T0_MS)
    # Several batches of one host in one call: the newest names it, whatever their order.
    writer.write_batches(
        [
            batch("a", "4", T0_MS + 30_000, "newest"),
            batch("a", "5", T0_MS + 20_000, "older"),
        ]
    )
    with engine.connect() as conn:
        row = conn.execute(select(hosts.c.name, hosts.c.last_seen_ms)).one()
    assert tuple(row) == ("newest", T0_MS + 30_000)


def test_more_batches_than_one_statement_holds(engine: Engine) -> None:
    """1,201 batch ids: three multi-row inserts (500 rows each at most), all recorded."""
    writer = StoreWriter(engine)
    batches = [batch(f"m{n % 3}", f"id-{n}", T0_MS + n * 1000) for n in range(1201)]
    result = writer.write_batches(batches)
    assert (result.batches_written, result.frames_written) == (1201, 1201)
    assert None not in result.host_ids
    replay = writer.write_batches(batches[::-1])
    assert (replay.batches_written, replay.batches_skipped) == (0, 1201)
    assert count(engine, ingested_batches) == 1201


def test_batches_without_id_are_deduplicated_by_their_frames(engine: Engine) -> None:
    writer = StoreWriter(engine)
    first = writer.write_batches([batch("a", None, T0_MS), batch("a", None, T0_MS)])
    assert (first.batches_written, first.frames_written) == (2, 1)
    assert count(engine, ingested_batches) == 0


def test_maintain_deletes_process_groups_older_than_the_raw_tier(engine: Engine) -> None:
    now_s = (T0_MS + 3 * 86_400_000) / 1000
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine, writer.partitions, raw_retention_days=2, clock=lambda: now_s
    )
    old = int(now_s * 1000) - 2 * 86_400_000 - 60_000  # a minute past the retention
    kept = int(now_s * 1000) - 2 * 86_400_000 + 60_000
    writer.write_batches(
        [
            batch("a", "1", old, groups=3),
            batch("a", "2", kept, groups=3),
            batch("b", "3", old, groups=2),
        ]
    )
    assert count(engine, process_groups) == 8
    result = maintenance.maintain()
    assert result.process_groups_deleted == 5
    with engine.connect() as conn:
        left = set(conn.execute(select(process_groups.c.ts_ms)).scalars())
    assert left == {kept}
    assert maintenance.maintain().process_groups_deleted == 0


def test_unknown_hosts_of_one_call_are_upserted_as_batch_by_batch(engine: Engine) -> None:
    StoreWriter(engine).write_batches([batch("a", "0", T0_MS, "known")])
    writer = StoreWriter(engine)  # knows no host: "a" exists in the database, "b" does not
    result = writer.write_batches(
        [
            batch("b", "1", T0_MS + 20_000, "b-newer"),
            batch("a", "2", T0_MS - 10_000, "a-late"),
            batch("b", "3", T0_MS + 10_000, "b-older"),
            batch("a", "4", T0_MS + 30_000, "a-newest"),
        ]
    )
    ids = host_ids(engine)
    assert result.host_ids == (ids["b"], ids["a"], ids["b"], ids["a"])
    with engine.connect() as conn:
        rows = {
            r.machine_id: (r.name, r.first_seen_ms, r.last_seen_ms)
            for r in conn.execute(select(hosts))
        }
    assert rows == {
        "a": ("a-newest", T0_MS, T0_MS + 30_000),
        "b": ("b-newer", T0_MS + 20_000, T0_MS + 20_000),
    }
