"""Accounts (issue 12): tenants can be deactivated; users get a role, the superuser flag, a
disabled flag and the time of their last password change; API keys get a scope, an optional
bound host, their creator, last use and expiry; new tables for the collector registry, the
collection files uploaded for a collector, the audit log and the login throttle
(store/account_tables.py, docs/data-model.md "Accounts").

Every tenant-owned table has carried tenant_id since 0001, and the first start of every earlier
release made the tenant "default" before anything else, so existing rows are already that
tenant's. What this migration adds for them: the default tenant when there is none yet (a
database migrated before its first start), every existing user an admin of their tenant (before
roles, every user could do everything), the bootstrap admin the superuser, and every existing
key an ingest key (the only kind there was).

The new columns of existing tables are plain ADD COLUMNs with server defaults, never a batch
table rebuild: on SQLite a rebuild of users would drop a table that sessions and analyses refer
to, which foreign_keys=ON refuses inside the migration's transaction.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DEFAULT_TENANT = "default"  # store/auth.py's DEFAULT_TENANT, as it was when this was written
ADMIN_USERNAME = "admin"


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.add_column(
        "users",
        sa.Column("role", sa.String(16), nullable=False, server_default=sa.text("'viewer'")),
    )
    op.add_column(
        "users", sa.Column("superuser", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "users", sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("password_changed_ms", sa.BigInteger(), nullable=True))
    op.add_column(
        "api_keys",
        sa.Column("scope", sa.String(8), nullable=False, server_default=sa.text("'ingest'")),
    )
    op.add_column("api_keys", sa.Column("bound_machine_id", sa.String(128), nullable=True))
    op.add_column("api_keys", sa.Column("created_by", sa.String(128), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_ms", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("expires_ms", sa.BigInteger(), nullable=True))
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    _create_tables()
    _existing_rows()


def _create_tables() -> None:
    op.create_table(
        "collectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("machine", sa.String(255), nullable=False),
        sa.Column("machine_id", sa.String(128), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("chip_maker", sa.String(64), nullable=True),
        sa.Column("cpu_model", sa.String(255), nullable=True),
        sa.Column("cores", sa.Integer(), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_collectors_host_id_hosts"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_collectors_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collectors"),
        sa.UniqueConstraint(
            "tenant_id", "site", "machine", name="uq_collectors_tenant_id_site_machine"
        ),
    )
    op.create_index("ix_collectors_tenant_id_machine_id", "collectors", ["tenant_id", "machine_id"])
    op.create_table(
        "collection_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_ms", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_collection_files_collection_id_collections",
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["collectors.id"], name="fk_collection_files_collector_id_collectors"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_collection_files_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collection_files"),
    )
    op.create_index(
        "ix_collection_files_collector_id_uploaded_ms",
        "collection_files",
        ["collector_id", "uploaded_ms"],
    )
    op.create_index(
        "ix_collection_files_tenant_id_uploaded_ms",
        "collection_files",
        ["tenant_id", "uploaded_ms"],
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.String(256), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_audit_log_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_tenant_id_id", "audit_log", ["tenant_id", "id"])
    op.create_table(
        "login_throttle",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_ms", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject", name="pk_login_throttle"),
    )
    op.create_index("ix_login_throttle_last_failure_ms", "login_throttle", ["last_failure_ms"])


def _existing_rows() -> None:
    bind = op.get_bind()
    first = bind.execute(sa.text("SELECT min(id) FROM tenants")).scalar()
    if first is None:
        # Migrated before the first start: make the default tenant here, so that everything
        # the server writes from now on has it (store/auth.py bootstrap adds its admin).
        bind.execute(
            sa.text("INSERT INTO tenants (name, created_ms, active) VALUES (:name, :now, :yes)"),
            {"name": DEFAULT_TENANT, "now": int(time.time() * 1000), "yes": True},
        )
        return
    bind.execute(sa.text("UPDATE users SET role = 'admin', password_changed_ms = created_ms"))
    # The bootstrap admin of the default tenant becomes the superuser, or failing that the
    # oldest user: a server with users must keep one who can manage tenants.
    superuser = bind.execute(
        sa.text(
            "SELECT u.id FROM users u JOIN tenants t ON t.id = u.tenant_id"
            " WHERE u.username = :admin AND t.name = :default"
        ),
        {"admin": ADMIN_USERNAME, "default": DEFAULT_TENANT},
    ).scalar()
    if superuser is None:
        superuser = bind.execute(sa.text("SELECT min(id) FROM users")).scalar()
    if superuser is not None:
        bind.execute(
            sa.text("UPDATE users SET superuser = :yes WHERE id = :id"),
            {"yes": True, "id": superuser},
        )


def downgrade() -> None:
    for table in ("login_throttle", "audit_log", "collection_files", "collectors"):
        op.drop_table(table)
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    for column in ("expires_ms", "last_used_ms", "created_by", "bound_machine_id", "scope"):
        op.drop_column("api_keys", column)
    for column in ("password_changed_ms", "disabled", "superuser", "role"):
        op.drop_column("users", column)
    op.drop_column("tenants", "active")
