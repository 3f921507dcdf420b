"""Idempotent writes of digested agent batches.

One call writes many batches in one transaction (SQLite: one writer, batched transactions).
A batch already recorded in ingested_batches is skipped whole; rows are also keyed by
(host, timestamp, layout), so a replayed or re-sent sample is stored once either way. A call's
snapshots of one host and layout share rows (chunks: store/chunks.py, store/chunk_writes.py).

On PostgreSQL the frames of a call go in by binary COPY into a temporary staging table and
then one INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY alone cannot skip duplicates).
Before writing, the writer creates the day partitions its frames need (store/partitions.py);
making those ahead, retention and the pace of the rollup step are store/maintenance.py's, which
the digest loop calls. In the same transaction as the frames the writer marks the minutes they
touch for the rollup step (store/rollups.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

from sqlalchemy import Connection, Engine, select

from fleetscope.store.chunk_writes import PendingFrame, insert_chunks
from fleetscope.store.engine import now_ms
from fleetscope.store.frames import layout_digest, layout_json
from fleetscope.store.inventory import upsert_inventory
from fleetscope.store.metadata import MetadataRows, upsert_metadata
from fleetscope.store.partitions import FramePartitions
from fleetscope.store.rollup_math import MINUTE_MS
from fleetscope.store.rollups import mark_dirty
from fleetscope.store.sql import (
    ROWS_PER_STATEMENT,
    GroupTuple,
    hosts_by_name_sql,
    insert_for,
    insert_process_groups,
    record_batches_sql,
    touch_hosts_sql,
    touch_last_seen_sql,
    upsert_hosts_sql,
)
from fleetscope.store.tables import collections, metric_layouts

_MAX_CACHED_DIGESTS = 10_000


@dataclass(frozen=True, slots=True)
class FrameRow:
    ts_ms: int
    series: tuple[str, ...]
    values: tuple[float | None, ...]


class ProcessGroupRow(NamedTuple):
    """A NamedTuple, not a frozen dataclass: digest makes tens per payload, and a frozen
    dataclass sets each field through object.__setattr__, which made these rows a visible
    share of digest's CPU (docs/deployment.md, issue 17). Unpacked by position below."""

    ts_ms: int
    group_name: str
    num_procs: int
    cpu_seconds_total: float  # user + system
    memory_bytes: float  # resident
    read_bytes_total: float
    write_bytes_total: float


@dataclass(frozen=True, slots=True)
class InventoryRow:
    ts_ms: int
    content_sha256: str
    audit_json: str


@dataclass(frozen=True, slots=True)
class CollectionRow:
    content_sha256: str
    first_ts_ms: int
    last_ts_ms: int
    bytes: int
    snapshots: int
    uploaded_by: str
    received_ms: int


@dataclass(frozen=True, slots=True)
class BatchRows:
    """Everything one message (or one device of it) becomes, before host and layout ids are
    known.

    batch_id: the agent's batch id, recorded in ingested_batches so a replay is skipped whole;
    for the doors whose requests carry none (aggregator, pushed exposition, remote_write,
    OTLP), a hash of the request's body (model/devices.py body_batch_id); None only for
    stream messages enqueued before those ids existed.
    attach_by_name: a device named by a third party joins the tenant's host of that name when
    there is one (the most recently seen), else becomes the host `machine_id`.
    collection: recorded once per (tenant, content) even when its batches were all seen."""

    tenant_id: int
    machine_id: str
    hostname: str
    agent_version: str | None
    batch_id: str | None
    frames: tuple[FrameRow, ...]
    process_groups: tuple[ProcessGroupRow, ...] = ()
    inventory: tuple[InventoryRow, ...] = ()
    collection: CollectionRow | None = None
    attach_by_name: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    batches_written: int
    batches_skipped: int
    frames_written: int
    # Aligned with the batches written: the host id of each, or None for a batch digested
    # before (skipped). Lets the caller tell the live feed which hosts have new points.
    host_ids: tuple[int | None, ...] = ()


class StoreWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The days known to have a partition; shared with StoreMaintenance, which makes days
        # ahead and drops expired ones.
        self.partitions = FramePartitions(engine)
        # Layouts rarely change; remembering their ids saves a lookup per frame.
        self._layout_ids: dict[tuple[int, str], int] = {}
        # Hosts are never deleted, so an id once known stays right: (tenant, machine id).
        self._host_ids: dict[tuple[int, str], int] = {}
        # A layout's digest by its keys: the same layouts come back in every batch.
        self._digests: dict[tuple[str, ...], str] = {}

    def write_batches(
        self, batches: Sequence[BatchRows], metadata: Sequence[MetadataRows] = ()
    ) -> WriteResult:
        try:
            return self._write(batches, metadata)
        except BaseException:
            # Host and layout ids learnt inside a rolled-back transaction may not exist, and a
            # partition this writer knew may have been dropped by another one's retention.
            self._layout_ids.clear()
            self._host_ids.clear()
            self.partitions.forget()
            raise

    def _write(
        self, batches: Sequence[BatchRows], metadata: Sequence[MetadataRows] = ()
    ) -> WriteResult:
        # Before the write transaction: creating a partition locks metric_frames, which must
        # not be held for as long as a COPY.
        self.partitions.ensure(frame.ts_ms for batch in batches for frame in batch.frames)
        with self.engine.begin() as conn:
            upsert_metadata(conn, metadata)
            host_of = self._resolve_hosts(conn, batches)
            for batch, host_id in zip(batches, host_of, strict=True):
                if batch.collection is not None:
                    self._record_collection(conn, batch.tenant_id, host_id, batch.collection)
            fresh = self._record_batches(conn, batches, host_of)
            host_ids: list[int | None] = []
            rows: list[PendingFrame] = []
            groups: list[GroupTuple] = []
            touched: set[tuple[int, int, int]] = set()  # tenant, host, frame time
            for batch, host_id, new in zip(batches, host_of, fresh, strict=True):
                if not new:  # this batch was digested before
                    host_ids.append(None)
                    continue
                host_ids.append(host_id)
                tenant_id = batch.tenant_id
                rows.extend(
                    PendingFrame(
                        host_id,
                        self._layout_id(conn, tenant_id, frame.series),
                        tenant_id,
                        frame.ts_ms,
                        frame.values,
                    )
                    for frame in batch.frames
                )
                groups.extend(
                    (
                        host_id,
                        ts_ms,
                        name,
                        tenant_id,
                        procs,
                        cpu,
                        round(mem),
                        round(read),
                        round(wrote),
                    )
                    for ts_ms, name, procs, cpu, mem, read, wrote in batch.process_groups
                )
                for audit in sorted(batch.inventory, key=lambda a: a.ts_ms):
                    upsert_inventory(
                        conn,
                        tenant_id,
                        host_id,
                        ts_ms=audit.ts_ms,
                        sha256=audit.content_sha256,
                        audit_json=audit.audit_json,
                    )
                touched.update((tenant_id, host_id, f.ts_ms) for f in batch.frames)
                # Their hour's process-group rollup is recomputed with the hour's frames.
                # A snapshot's tens of groups share its time: one mark each.
                group_times = {g.ts_ms for g in batch.process_groups}
                touched.update((tenant_id, host_id, ts_ms) for ts_ms in group_times)
            # A call's snapshots of a host and layout share rows (store/chunks.py).
            frames_written = insert_chunks(conn, rows) if rows else 0
            if groups:
                insert_process_groups(conn, groups)
            mark_dirty(conn, MINUTE_MS, touched)
        written = len(host_ids) - host_ids.count(None)
        return WriteResult(written, len(host_ids) - written, frames_written, tuple(host_ids))

    def _resolve_hosts(self, conn: Connection, batches: Sequence[BatchRows]) -> list[int]:
        """The host id of every batch, aligned. A host this writer knows costs no statement of
        its own: its last_seen (and name, agent version) move in one UPDATE per call; the
        unknown ones are upserted by one multi-row statement and remembered."""
        out: list[int | None] = []
        latest: dict[int, tuple[int, str, str | None]] = {}  # host -> seen, name, version
        # Unknown hosts: (tenant, machine) -> first seen, seen, name, version.
        unknown: dict[tuple[int, str], tuple[int, int, str, str | None]] = {}
        by_name = self._resolve_named(conn, batches)
        for batch in batches:
            seen = max((f.ts_ms for f in batch.frames), default=now_ms())
            if batch.attach_by_name:
                out.append(by_name[(batch.tenant_id, batch.hostname, batch.machine_id)])
                continue
            key = (batch.tenant_id, batch.machine_id)
            host_id = self._host_ids.get(key)
            out.append(host_id)
            # As one upsert per batch would: the newest batch names the host, the first on a
            # tie.
            if host_id is None:
                first = unknown.get(key)
                if first is None or seen > first[1]:
                    first_seen = seen if first is None else first[0]
                    unknown[key] = (first_seen, seen, batch.hostname, batch.agent_version)
                continue
            known = latest.get(host_id)
            if known is None or seen > known[0]:
                latest[host_id] = (seen, batch.hostname, batch.agent_version)
        if unknown:
            self._upsert_hosts(conn, unknown)
            out = [
                self._host_ids[(b.tenant_id, b.machine_id)] if host_id is None else host_id
                for b, host_id in zip(batches, out, strict=True)
            ]
        if latest:
            # A replayed old batch must not move last_seen backwards or rename the host. In
            # host order, so that concurrent writers lock host rows in one order.
            conn.exec_driver_sql(
                touch_hosts_sql(conn),
                [
                    (seen, name, seen, version, seen, host_id)
                    for host_id, (seen, name, version) in sorted(latest.items())
                ],
            )
        return cast(list[int], out)  # every None was filled from the upsert above

    def _resolve_named(
        self, conn: Connection, batches: Sequence[BatchRows]
    ) -> dict[tuple[int, str, str], int]:
        """The host of every device named by a third party (attach_by_name): the tenant's
        host of that name seen last, else the host `machine_id`, upserted. Looked up for all
        of a call's devices at once (one SELECT per tenant, one UPDATE of last_seen, one
        upsert of the new ones), not a lookup and an update per batch: an aggregator request
        holds several devices and a digest call hundreds of requests, and those statements
        were the largest part of the write (docs/deployment.md, "Issue 17: the aggregator
        batch door"). Never cached across calls: the host of a name may change (an agent of
        that name appears)."""
        spans: dict[tuple[int, str, str], tuple[int, int, str | None]] = {}
        for batch in batches:
            if not batch.attach_by_name:
                continue
            seen = max((f.ts_ms for f in batch.frames), default=now_ms())
            key = (batch.tenant_id, batch.hostname, batch.machine_id)
            known = spans.get(key)
            if known is None:
                spans[key] = (seen, seen, batch.agent_version)
            elif seen > known[1]:  # the newest batch names the version, the first on a tie
                spans[key] = (min(known[0], seen), seen, batch.agent_version)
            else:
                spans[key] = (min(known[0], seen), known[1], known[2])
        if not spans:
            return {}
        by_name = self._hosts_by_name(conn, {(t, name) for t, name, _ in spans})
        out: dict[tuple[int, str, str], int] = {}
        touch: dict[int, int] = {}  # host -> seen
        unknown: dict[tuple[int, str], tuple[int, int, str, str | None]] = {}
        for (tenant_id, name, machine_id), (first, seen, version) in spans.items():
            host_id = by_name.get((tenant_id, name))
            if host_id is None:
                unknown[(tenant_id, machine_id)] = (first, seen, name, version)
                continue
            out[(tenant_id, name, machine_id)] = host_id
            touch[host_id] = max(seen, touch.get(host_id, seen))
        if touch:  # in host order: concurrent writers lock host rows in one order
            conn.exec_driver_sql(
                touch_last_seen_sql(conn),
                [(seen, host_id) for host_id, seen in sorted(touch.items())],
            )
        if unknown:
            self._upsert_hosts(conn, unknown)
            for tenant_id, name, machine_id in spans:
                if (tenant_id, name, machine_id) not in out:
                    out[(tenant_id, name, machine_id)] = self._host_ids[(tenant_id, machine_id)]
        return out

    @staticmethod
    def _hosts_by_name(conn: Connection, names: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(tenant, name) -> the id of the tenant's host of that name seen last, for those that
        have one."""
        by_tenant: dict[int, list[str]] = {}
        for tenant_id, name in sorted(names):
            by_tenant.setdefault(tenant_id, []).append(name)
        found: dict[tuple[int, str], tuple[int, int]] = {}  # -> (last seen, id)
        for tenant_id, tenant_names in by_tenant.items():
            for start in range(0, len(tenant_names), ROWS_PER_STATEMENT):
                part = tenant_names[start : start + ROWS_PER_STATEMENT]
                rows = conn.exec_driver_sql(hosts_by_name_sql(conn, len(part)), (tenant_id, *part))
                for host_id, name, last_seen in rows:
                    key = (tenant_id, str(name))
                    best = found.get(key)
                    if best is None or (int(last_seen), -int(host_id)) > (best[0], -best[1]):
                        found[key] = (int(last_seen), int(host_id))
        return {key: host_id for key, (_, host_id) in found.items()}

    def _upsert_hosts(
        self, conn: Connection, unknown: dict[tuple[int, str], tuple[int, int, str, str | None]]
    ) -> None:
        """Insert or update hosts this writer does not know, in (tenant, machine) order (one
        lock order for concurrent writers), and remember their ids."""
        rows = sorted(unknown.items())
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            result = conn.exec_driver_sql(
                upsert_hosts_sql(conn, len(chunk)),
                tuple(
                    v
                    for (tenant_id, machine_id), (first_seen, seen, name, version) in chunk
                    for v in (tenant_id, machine_id, name, version, first_seen, seen)
                ),
            )
            for host_id, tenant_id, machine_id in result:
                self._host_ids[(int(tenant_id), str(machine_id))] = int(host_id)

    @staticmethod
    def _record_batches(
        conn: Connection, batches: Sequence[BatchRows], host_of: Sequence[int]
    ) -> list[bool]:
        """Record the batches' ids in ingested_batches; aligned with batches, True for those
        not digested before (and for batches without an id, whose frame keys dedupe)."""
        received = now_ms()
        fresh = [True] * len(batches)
        rows: dict[tuple[int, str], tuple[int, str, int, int, int]] = {}
        for n, (batch, host_id) in enumerate(zip(batches, host_of, strict=True)):
            if batch.batch_id is None:
                continue
            key = (host_id, batch.batch_id)
            if key in rows:  # the same batch twice in one call: the second is a replay
                fresh[n] = False
                continue
            rows[key] = (host_id, batch.batch_id, batch.tenant_id, received, len(batch.frames))
        inserted: set[tuple[int, str]] = set()
        values = list(rows.values())
        for start in range(0, len(values), ROWS_PER_STATEMENT):
            chunk = values[start : start + ROWS_PER_STATEMENT]
            result = conn.exec_driver_sql(
                record_batches_sql(conn, len(chunk)),
                tuple(v for row in chunk for v in row),
            )
            inserted.update((int(h), str(b)) for h, b in result)
        for n, (batch, host_id) in enumerate(zip(batches, host_of, strict=True)):
            if fresh[n] and batch.batch_id is not None:
                key = (host_id, batch.batch_id)
                fresh[n] = key in inserted
                inserted.discard(key)  # a later duplicate (caught above) stays skipped
        return fresh

    @staticmethod
    def _record_collection(
        conn: Connection, tenant_id: int, host_id: int, c: CollectionRow
    ) -> None:
        conn.execute(
            insert_for(conn, collections)
            .values(
                tenant_id=tenant_id,
                host_id=host_id,
                content_sha256=c.content_sha256,
                first_ts_ms=c.first_ts_ms,
                last_ts_ms=c.last_ts_ms,
                bytes=c.bytes,
                snapshots=c.snapshots,
                uploaded_by=c.uploaded_by,
                received_ms=c.received_ms,
            )
            .on_conflict_do_nothing()
        )

    def _layout_id(self, conn: Connection, tenant_id: int, series: tuple[str, ...]) -> int:
        # Hashing the tuple costs about a microsecond (its strings are flatten's cached keys,
        # their hashes kept); joining and SHA-256 of the layout cost tens of them per frame.
        digest = self._digests.get(series)
        if digest is None:
            if len(self._digests) >= _MAX_CACHED_DIGESTS:
                self._digests.clear()
            digest = self._digests[series] = layout_digest(series)
        cached = self._layout_ids.get((tenant_id, digest))
        if cached is not None:
            return cached
        conn.execute(
            insert_for(conn, metric_layouts)
            .values(tenant_id=tenant_id, digest=digest, series=layout_json(series))
            .on_conflict_do_nothing()
        )
        layout_id = conn.execute(
            select(metric_layouts.c.id).where(
                metric_layouts.c.tenant_id == tenant_id, metric_layouts.c.digest == digest
            )
        ).scalar_one()
        self._layout_ids[(tenant_id, digest)] = layout_id
        return int(layout_id)


def decode_layout(series_json: str) -> list[str]:
    keys = json.loads(series_json)
    if not isinstance(keys, list):
        raise ValueError("metric layout is not a JSON list")
    return [str(k) for k in keys]
