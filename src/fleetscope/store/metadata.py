"""Metric metadata (store/tables.py series_metadata): upserted in digest's write transaction,
read by the query side (Prometheus' /api/v1/metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from fleetscope.store.tables import series_metadata


@dataclass(frozen=True, slots=True)
class MetadataRow:
    metric_family_name: str
    type: str
    help: str
    unit: str


@dataclass(frozen=True, slots=True)
class MetadataRows:
    """The metadata of one stream message: written whatever else the message carried
    (Prometheus sends metadata in requests of its own, without samples or a host)."""

    tenant_id: int
    received_ms: int
    rows: tuple[MetadataRow, ...]


def upsert_metadata(conn: Connection, batches: Sequence[MetadataRows]) -> int:
    """The latest declaration of each family wins; a replayed older message changes nothing."""
    latest: dict[tuple[int, str], tuple[int, MetadataRow]] = {}
    for batch in batches:
        for row in batch.rows:
            key = (batch.tenant_id, row.metric_family_name)
            seen = latest.get(key)
            if seen is None or batch.received_ms >= seen[0]:
                latest[key] = (batch.received_ms, row)
    if not latest:
        return 0
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    for (tenant_id, name), (received_ms, row) in sorted(latest.items()):
        stmt = dialect.insert(series_metadata).values(
            tenant_id=tenant_id,
            metric_family_name=name,
            type=row.type,
            help=row.help,
            unit=row.unit,
            updated_ms=received_ms,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "metric_family_name"],
                set_={
                    "type": stmt.excluded.type,
                    "help": stmt.excluded.help,
                    "unit": stmt.excluded.unit,
                    "updated_ms": stmt.excluded.updated_ms,
                },
                where=stmt.excluded.updated_ms >= series_metadata.c.updated_ms,
            )
        )
    return len(latest)


def read_metadata(engine: Engine, tenant_id: int) -> dict[str, MetadataRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                series_metadata.c.metric_family_name,
                series_metadata.c.type,
                series_metadata.c.help,
                series_metadata.c.unit,
            ).where(series_metadata.c.tenant_id == tenant_id)
        ).all()
    return {r[0]: MetadataRow(r[0], r[1], r[2], r[3]) for r in rows}
