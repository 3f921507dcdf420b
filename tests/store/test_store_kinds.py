"""Inventory upserts with history, process groups for top-N, and the pure transforms of the
other message kinds, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

from msgspec.structs import replace
from sqlalchemy import Engine, func, select

from fleetscope.digest.transform import (
    agent_payload_rows,
    aggregator_rows,
    prometheus_rows,
)
from fleetscope.model.devices import AggregatorBatch, PrometheusPush, body_batch_id
from fleetscope.model.inventory import InventorySection, OsInventory
from fleetscope.model.payload import Payload, ProcessesSection, ProcessGroup
from fleetscope.query.processes import ProcessQueries
from fleetscope.store.inventory import inventory_changes
from fleetscope.store.tables import hosts, inventory, inventory_history, process_groups
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload, payload_json, snapshot


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def audit(kernel: str, modules: int = 1) -> InventorySection:
    body = {"kernel": kernel, "modules": modules}
    return InventorySection(
        content_sha256=hashlib.sha256(json.dumps(body).encode()).hexdigest(),
        agent_version="test",
        hostname="web-1",
        os=OsInventory(id="debian", kernel=kernel),
        memory_total_bytes=8e9 * modules,
    )


def with_audit(at: datetime, section: InventorySection) -> Payload:
    p = payload(1, start=at)
    return replace(p, snapshots=[replace(p.snapshots[0], inventory=section)])


def test_inventory_upsert_history_and_replay(engine: Engine) -> None:
    writer = StoreWriter(engine)

    def write(p: Payload) -> None:
        writer.write_batches([agent_payload_rows(1, payload_json(p))])

    write(with_audit(T0, audit("6.1")))
    write(with_audit(T0 + timedelta(hours=1), audit("6.1")))  # no change: no history
    assert _count(engine, inventory_history) == 0
    changed = with_audit(T0 + timedelta(hours=2), audit("6.2", modules=2))
    write(changed)
    write(replace(changed, batch_id=uuid.uuid4()))  # replayed under a new id
    write(with_audit(T0 + timedelta(minutes=30), audit("5.10")))  # older than stored: ignored
    with engine.connect() as conn:
        row = conn.execute(select(inventory)).one()
        history = conn.execute(select(inventory_history)).all()
    assert _count(engine, inventory) == 1
    assert row.content_sha256 == audit("6.2", 2).content_sha256
    assert row.updated_ms == round((T0 + timedelta(hours=2)).timestamp() * 1000)
    assert json.loads(row.audit)["os"]["kernel"] == "6.2"
    (entry,) = history
    assert entry.ts_ms == row.updated_ms
    assert entry.previous_sha256 == audit("6.1").content_sha256
    assert json.loads(entry.changed) == [
        {"path": "memory_total_bytes", "old": 8e9, "new": 16e9},
        {"path": "os.kernel", "old": "6.1", "new": "6.2"},
    ]


def test_inventory_changes_paths() -> None:
    old = {"a": {"b": 1}, "l": [1, 2], "m": [{"x": 1}], "big": "x" * 300, "content_sha256": "1"}
    new = {"a": {"b": 2}, "l": [1], "m": [{"x": 2}], "big": "y" * 300, "content_sha256": "2"}
    assert inventory_changes(old, new) == [
        {"path": "a.b", "old": 1, "new": 2},
        {"path": "big"},  # too big to keep
        {"path": "l", "old": [1, 2], "new": [1]},
        {"path": "m.0.x", "old": 1, "new": 2},
    ]


def group(name: str, cpu: float, resident: float) -> ProcessGroup:
    return ProcessGroup(
        name=name,
        num_procs=2,
        num_threads=4,
        cpu_user_seconds_total=cpu,
        cpu_system_seconds_total=cpu / 2,
        read_bytes_total=1e6,
        write_bytes_total=2e6,
        resident_bytes=resident,
        virtual_bytes=resident * 4,
    )


def with_groups(hostname: str, start: datetime, n: int) -> Payload:
    p = payload(n, hostname=hostname, machine_id=f"m-{hostname}", start=start)
    shots = [
        replace(
            s,
            processes=ProcessesSection(
                count=10,
                groups=[
                    group("postgres", cpu=100 + 20 * i, resident=5e8),
                    group("nginx", cpu=10 + 1 * i, resident=9e8 + i),
                ],
            ),
        )
        for i, s in enumerate(p.snapshots)
    ]
    return replace(p, snapshots=shots)


def test_process_groups_stored_once_and_top_n(engine: Engine) -> None:
    writer = StoreWriter(engine)
    web = agent_payload_rows(1, payload_json(with_groups("web-1", T0, 3)))
    db = agent_payload_rows(1, payload_json(with_groups("db-1", T0, 2)))
    writer.write_batches([web, db])
    writer.write_batches([web])  # a replayed batch
    assert _count(engine, process_groups) == 2 * 3 + 2 * 2
    with engine.connect() as conn:
        row = conn.execute(
            select(process_groups).where(process_groups.c.group_name == "postgres").limit(1)
        ).one()
    assert (row.num_procs, row.cpu_seconds_total, row.memory_bytes) == (2, 150.0, 500_000_000)
    start = round(T0.timestamp() * 1000)
    queries = ProcessQueries(engine)
    top_cpu = queries.top_groups(1, start, start + 60_000, by="cpu", limit=2)
    # postgres grew 30 s (user + system) per 10 s on both hosts: 2 intervals on web-1.
    assert [(g.host_name, g.group_name, g.cpu_seconds) for g in top_cpu] == [
        ("web-1", "postgres", 60.0),
        ("db-1", "postgres", 30.0),
    ]
    top_memory = queries.top_groups(1, start, start + 60_000, by="memory", limit=1)
    assert [(g.host_name, g.group_name, g.max_memory_bytes) for g in top_memory] == [
        ("web-1", "nginx", 900_000_002)
    ]
    with engine.connect() as conn:
        db_id = conn.execute(select(hosts.c.id).where(hosts.c.name == "db-1")).scalar_one()
    only_db = queries.top_groups(1, start, start + 60_000, host_id=db_id)
    assert {g.host_name for g in only_db} == {"db-1"}
    assert queries.top_groups(2, start, start + 60_000) == []  # another tenant sees nothing


def test_aggregator_samples_of_one_timestamp_share_a_frame() -> None:
    batch = AggregatorBatch.model_validate(
        {
            "metrics": [
                {"device_name": "s1", "metric_name": "a", "value": 1, "timestamp": 1.8e9},
                {"device_name": "s1", "metric_name": "b", "value": 2, "timestamp": "1800000000"},
                {"device_name": "s1", "metric_name": "a", "value": 3, "timestamp": 1.8e9 + 10},
                {"device_name": "s2", "metric_name": "a", "value": 4, "timestamp": 1.8e9},
                {"device_name": "s1", "metric_name": "a", "value": 9, "timestamp": 1.8e9},
            ]
        }
    )
    body = batch.model_dump_json().encode()
    rows = aggregator_rows(1, body)
    # One batch id per request, the body's: a replay is skipped whole (ingested_batches).
    assert [(r.machine_id, r.hostname, r.batch_id) for r in rows] == [
        ("device:s1", "s1", body_batch_id(body)),
        ("device:s2", "s2", body_batch_id(body)),
    ]
    frames = rows[0].frames
    assert [(f.ts_ms, f.series, f.values) for f in frames] == [
        (1_800_000_000_000, ("a", "b"), (1.0, 2.0)),  # the repeated "a" keeps its first value
        (1_800_000_010_000, ("a",), (3.0,)),
    ]


def test_pushed_exposition_keeps_names_and_timestamps() -> None:
    text = '# TYPE up gauge\nup{job="x"} 1\nlate 2 1800000000000\nnan_one NaN\n'
    push = PrometheusPush(
        device_name="edge", content_type="text/plain", default_timestamp_ms=5000, text=text
    )
    (rows,) = prometheus_rows(1, push.model_dump_json().encode())
    assert [(f.ts_ms, f.series, f.values) for f in rows.frames] == [
        (5000, ("nan_one", 'up{job="x"}'), (None, 1.0)),
        (1_800_000_000_000, ("late",), (2.0,)),
    ]


def test_plain_payload_rows_without_groups_or_inventory() -> None:
    rows = agent_payload_rows(1, payload_json(payload(1)))
    assert rows.process_groups == () and rows.inventory == ()
    assert snapshot(T0).processes is None
