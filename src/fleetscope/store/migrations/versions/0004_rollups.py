"""Rollup tiers: metric_rollups_1m, metric_rollups_1h and the rollup_dirty marks
(store/rollups.py, docs/data-model.md "Tiers").

Existing raw frames are marked dirty minute by minute, so the rollup step fills both tiers
from the data already stored.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MINUTE_MS = 60_000


def _rollup_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("layout_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("stats", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=f"fk_{name}_host_id_hosts"),
        sa.ForeignKeyConstraint(
            ["layout_id"], ["metric_layouts.id"], name=f"fk_{name}_layout_id_metric_layouts"
        ),
        sa.PrimaryKeyConstraint("host_id", "bucket_ms", "layout_id", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _rollup_table("metric_rollups_1m")
    _rollup_table("metric_rollups_1h")
    op.create_table(
        "rollup_dirty",
        sa.Column("step_ms", sa.Integer(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("gen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_rollup_dirty_host_id_hosts"),
        sa.PrimaryKeyConstraint("step_ms", "bucket_ms", "host_id", name="pk_rollup_dirty"),
        sqlite_with_rowid=False,
    )
    op.get_bind().execute(
        sa.text(
            "INSERT INTO rollup_dirty (step_ms, bucket_ms, host_id, tenant_id, gen)"
            " SELECT DISTINCT :step, ts_ms / :step * :step, host_id, tenant_id, 1"
            " FROM metric_frames"
        ),
        {"step": MINUTE_MS},
    )


def downgrade() -> None:
    op.drop_table("rollup_dirty")
    op.drop_table("metric_rollups_1h")
    op.drop_table("metric_rollups_1m")
