"""Metric metadata sent with remote_write and OTLP (store/metadata.py, docs/interop.md
"Sending to fleetscope"): type, help and unit per tenant and metric family.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series_metadata",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("metric_family_name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("help", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_series_metadata_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "metric_family_name", name="pk_series_metadata"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("series_metadata")
