"""Inventory (latest audit per host) and its history, process groups for top-N queries, and
uploaded collection files. Plain tables on both databases (docs/data-model.md says why
process_groups is not partitioned).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _host_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=f"fk_{table}_host_id_hosts")


def upgrade() -> None:
    op.create_table(
        "inventory",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("audit", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        _host_fk("inventory"),
        sa.PrimaryKeyConstraint("host_id", name="pk_inventory"),
    )
    op.create_table(
        "inventory_history",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("previous_sha256", sa.String(64), nullable=False),
        sa.Column("changed", sa.Text(), nullable=False),
        _host_fk("inventory_history"),
        sa.PrimaryKeyConstraint("host_id", "ts_ms", name="pk_inventory_history"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "process_groups",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(256), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("num_procs", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds_total", sa.Double(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("write_bytes_total", sa.BigInteger(), nullable=False),
        _host_fk("process_groups"),
        sa.PrimaryKeyConstraint("host_id", "ts_ms", "group_name", name="pk_process_groups"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_process_groups_tenant_id_ts_ms", "process_groups", ["tenant_id", "ts_ms"])
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("first_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_collections_tenant_id_tenants"
        ),
        _host_fk("collections"),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint(
            "tenant_id", "content_sha256", name="uq_collections_tenant_id_content_sha256"
        ),
    )
    op.create_index("ix_collections_host_id_first_ts_ms", "collections", ["host_id", "first_ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_collections_host_id_first_ts_ms", table_name="collections")
    op.drop_table("collections")
    op.drop_index("ix_process_groups_tenant_id_ts_ms", table_name="process_groups")
    op.drop_table("process_groups")
    op.drop_table("inventory_history")
    op.drop_table("inventory")
