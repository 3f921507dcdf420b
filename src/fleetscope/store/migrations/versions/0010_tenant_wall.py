"""Row-level security on tenant_id, PostgreSQL's second wall between tenants (issue 12;
store/tenancy.py, docs/accounts.md "The second wall"). Nothing on SQLite, which has none.

Every table of this schema with a tenant_id column, day partitions of metric_frames included,
gets ENABLE and FORCE ROW LEVEL SECURITY (FORCE: the owner is held too) and the policy
`tenant_wall`: a row is visible and writable when its tenant_id is the transaction's
`fleetscope.tenant_id`, or when `fleetscope.all_tenants` is 'on'. Partitions made later get the
same in store/partitions.py.

A superuser ignores row-level security even when forced, so the migration also makes the role
`fleetscope_app` (NOLOGIN, no BYPASSRLS), which walled transactions SET LOCAL ROLE to when the
connecting user is a superuser, and grants it the tables of this schema, now and later
(ALTER DEFAULT PRIVILEGES). The role belongs to the cluster, not to this database, so it may
exist already (another database, another schema) and downgrade leaves it; downgrade removes
the policies and this schema's grants. A connecting user that may not create roles is not a
superuser, so FORCE alone holds it and the role is not needed.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# store/tenancy.py's names and condition, as they were when this was written.
APP_ROLE = "fleetscope_app"
POLICY = "tenant_wall"
CONDITION = (
    "current_setting('fleetscope.all_tenants', true) = 'on'"
    " OR tenant_id = NULLIF(current_setting('fleetscope.tenant_id', true), '')::integer"
)
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT, UPDATE"


def _tables_with_tenant_id(conn: sa.Connection) -> list[str]:
    """Tables (plain and partitioned, partitions included) of the current schema that have a
    tenant_id column."""
    return list(
        conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c"
                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
                " AND NOT a.attisdropped"
                " WHERE c.relnamespace = current_schema()::regnamespace"
                " AND c.relkind IN ('r', 'p') ORDER BY c.relname"
            )
        ).scalars()
    )


def _quoted_schema(conn: sa.Connection) -> str:
    return str(conn.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one())


def _may_create_role(conn: sa.Connection) -> bool:
    return bool(
        conn.execute(
            sa.text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in _tables_with_tenant_id(conn):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # A partition made by this release's code before the migration ran has it already.
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({CONDITION}) WITH CHECK ({CONDITION})"
        )
    if not _may_create_role(conn):
        return
    # Two migrations at once (two databases of one cluster) may both find no role: the loser
    # of that race is told duplicate_object or unique_violation, and the role is there.
    op.execute(
        f"DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN;"
        " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    schema = _quoted_schema(conn)
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}")
    op.execute(f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {schema} TO {APP_ROLE}")
    op.execute(f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {schema} TO {APP_ROLE}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" GRANT {TABLE_PRIVILEGES} ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {APP_ROLE}"
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in _tables_with_tenant_id(conn):
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    exists = conn.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": APP_ROLE}
    ).scalar()
    if not exists or not _may_create_role(conn):
        return
    schema = _quoted_schema(conn)
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" REVOKE {SEQUENCE_PRIVILEGES} ON SEQUENCES FROM {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" REVOKE {TABLE_PRIVILEGES} ON TABLES FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {APP_ROLE}")
