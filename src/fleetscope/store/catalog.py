"""The one SQLAlchemy MetaData every table of the store registers on, with the naming
convention that keeps constraint names identical on SQLite and PostgreSQL (Alembic compares
them). A module of its own so that table modules (store/tables.py, store/alert_tables.py)
import it without importing each other; store/schema.py gathers them all."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
