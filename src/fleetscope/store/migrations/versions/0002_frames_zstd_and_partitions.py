"""Frames become zstd-compressed; on PostgreSQL metric_frames becomes daily range partitions
with a BRIN index on ts_ms.

Both databases: every existing frame blob (raw little-endian float64) is rewritten as one zstd
frame of the same bytes (store/frames.py says why). PostgreSQL only: metric_frames is rebuilt
as `PARTITION BY RANGE (ts_ms)` with a partition for each day that already holds frames;
store/partitions.py creates the others as data arrives. SQLite keeps its WITHOUT ROWID table.

The codec is written out here rather than imported, so this migration keeps meaning what it
meant even if store/frames.py changes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DAY_MS = 86_400_000
_BATCH = 1000

_frames = sa.table(
    "metric_frames",
    sa.column("host_id", sa.Integer()),
    sa.column("ts_ms", sa.BigInteger()),
    sa.column("layout_id", sa.Integer()),
    sa.column("vals", sa.LargeBinary()),
)


def _rewrite_blobs(convert: Callable[[bytes], bytes]) -> None:
    """Rewrite every frame's blob in primary-key order, a thousand rows per round trip."""
    conn = op.get_bind()
    key = (_frames.c.host_id, _frames.c.ts_ms, _frames.c.layout_id)
    after: tuple[int, int, int] | None = None
    while True:
        query = sa.select(*key, _frames.c.vals).order_by(*key).limit(_BATCH)
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        rows = conn.execute(query).all()
        if not rows:
            return
        conn.execute(
            sa.update(_frames)
            .where(
                _frames.c.host_id == sa.bindparam("h"),
                _frames.c.ts_ms == sa.bindparam("t"),
                _frames.c.layout_id == sa.bindparam("l"),
            )
            .values(vals=sa.bindparam("v")),
            [{"h": r[0], "t": r[1], "l": r[2], "v": convert(bytes(r[3]))} for r in rows],
        )
        after = (rows[-1][0], rows[-1][1], rows[-1][2])


def _create_frames_table(partitioned: bool) -> None:
    op.execute(
        "CREATE TABLE metric_frames ("
        " host_id INTEGER NOT NULL, ts_ms BIGINT NOT NULL, layout_id INTEGER NOT NULL,"
        " tenant_id INTEGER NOT NULL, vals BYTEA NOT NULL,"
        " CONSTRAINT pk_metric_frames PRIMARY KEY (host_id, ts_ms, layout_id),"
        " CONSTRAINT fk_metric_frames_host_id_hosts FOREIGN KEY (host_id) REFERENCES hosts (id),"
        " CONSTRAINT fk_metric_frames_layout_id_metric_layouts"
        " FOREIGN KEY (layout_id) REFERENCES metric_layouts (id))"
        + (" PARTITION BY RANGE (ts_ms)" if partitioned else "")
    )


def _swap_frames_table(partitioned: bool) -> None:
    """PostgreSQL: move the frames into a new metric_frames, partitioned or not."""
    op.execute("ALTER TABLE metric_frames RENAME TO metric_frames_old")
    op.execute("ALTER INDEX pk_metric_frames RENAME TO pk_metric_frames_old")
    _create_frames_table(partitioned)
    if partitioned:
        days = op.get_bind().execute(
            sa.text("SELECT DISTINCT ts_ms / :day * :day FROM metric_frames_old"), {"day": DAY_MS}
        )
        for (day,) in days:
            name = "metric_frames_p" + datetime.fromtimestamp(day / 1000, UTC).strftime("%Y%m%d")
            op.execute(
                f"CREATE TABLE {name} PARTITION OF metric_frames"
                f" FOR VALUES FROM ({day}) TO ({day + DAY_MS})"
            )
    op.execute("INSERT INTO metric_frames SELECT * FROM metric_frames_old")
    op.execute("DROP TABLE metric_frames_old")


def upgrade() -> None:
    compressor = zstandard.ZstdCompressor(level=3)
    _rewrite_blobs(compressor.compress)
    if op.get_bind().dialect.name == "postgresql":
        _swap_frames_table(partitioned=True)
        op.execute("CREATE INDEX ix_metric_frames_ts_ms_brin ON metric_frames USING brin (ts_ms)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap_frames_table(partitioned=False)
    decompressor = zstandard.ZstdDecompressor()
    _rewrite_blobs(decompressor.decompress)
