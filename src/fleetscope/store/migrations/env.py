"""Alembic environment: the engine comes from the caller (store.engine.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from fleetscope.store.partitions import alembic_filters
from fleetscope.store.schema import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through fleetscope.store.engine.migrate(engine)")


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        **alembic_filters(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
