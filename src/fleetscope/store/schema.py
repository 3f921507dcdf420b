"""The complete schema: importing this module registers every table module on
`catalog.metadata`, which is what migrations and the schema drift test compare against."""

from __future__ import annotations

from fleetscope.store import account_tables, alert_tables, tables
from fleetscope.store.catalog import metadata

__all__ = ["account_tables", "alert_tables", "metadata", "tables"]
