"""Process-group rollup: process_group_rollups_1h (store/rollups.py, query/processes.py,
docs/data-model.md "process_group_rollups_1h"). Not partitioned, like process_groups.

The hours of the process groups already stored are marked dirty (step 1 hour), so the rollup
step fills the table from the data already stored; until it has, the top-N query reads those
hours raw.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HOUR_MS = 3_600_000


def upgrade() -> None:
    op.create_table(
        "process_group_rollups_1h",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(256), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("memory_sum", sa.BigInteger(), nullable=False),
        sa.Column("memory_max", sa.BigInteger(), nullable=False),
        sa.Column("num_procs_max", sa.Integer(), nullable=False),
        sa.Column("first_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_cpu", sa.Double(), nullable=False),
        sa.Column("last_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_cpu", sa.Double(), nullable=False),
        sa.Column("cpu_increase", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_process_group_rollups_1h_host_id_hosts"
        ),
        sa.PrimaryKeyConstraint(
            "host_id", "bucket_ms", "group_name", name="pk_process_group_rollups_1h"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_process_group_rollups_1h_tenant_id_bucket_ms",
        "process_group_rollups_1h",
        ["tenant_id", "bucket_ms"],
    )
    # "WHERE true": SQLite needs it to parse ON CONFLICT after INSERT ... SELECT.
    op.get_bind().execute(
        sa.text(
            "INSERT INTO rollup_dirty (step_ms, bucket_ms, host_id, tenant_id, gen)"
            " SELECT DISTINCT :step, ts_ms / :step * :step, host_id, tenant_id, 1"
            " FROM process_groups WHERE true"
            " ON CONFLICT (step_ms, bucket_ms, host_id) DO NOTHING"
        ),
        {"step": HOUR_MS},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_process_group_rollups_1h_tenant_id_bucket_ms", table_name="process_group_rollups_1h"
    )
    op.drop_table("process_group_rollups_1h")
