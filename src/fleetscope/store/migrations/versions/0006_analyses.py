"""Stored analyses: table analyses (store/tables.py, docs/analysis.md "Stored analyses").

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_analyses_tenant_id_created_by_analysed_ms", ["tenant_id", "created_by", "analysed_ms"]),
    ("ix_analyses_tenant_id_status", ["tenant_id", "status"]),
    ("ix_analyses_collection_id_analysed_ms", ["collection_id", "analysed_ms"]),
    ("ix_analyses_host_id_analysed_ms", ["host_id", "analysed_ms"]),
)


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("analysed_ms", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("fit", sa.Integer(), nullable=True),
        sa.Column("snapshots", sa.Integer(), nullable=True),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report_html", sa.LargeBinary(), nullable=True),
        sa.Column("report_pdf", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_analyses_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_analyses_created_by_users"),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_analyses_host_id_hosts"),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["collections.id"], name="fk_analyses_collection_id_collections"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_analyses"),
    )
    for name, columns in _INDEXES:
        op.create_index(name, "analyses", columns)


def downgrade() -> None:
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="analyses")
    op.drop_table("analyses")
