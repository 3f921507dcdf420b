"""The agent's spool (see spool/base.py): `SQLiteSpool` on disk by default, `MemorySpool` when
no spool file can be opened."""

from __future__ import annotations

import logging
from pathlib import Path

from fleetscope.agent.spool.base import (
    DeadLetter,
    Spool,
    SpoolBatch,
    SpoolEntry,
    SpoolError,
    SpoolLimits,
    SpoolStatus,
)
from fleetscope.agent.spool.memory import MemorySpool
from fleetscope.agent.spool.sqlite import SPOOL_FILE, SQLiteSpool

log = logging.getLogger(__name__)

__all__ = [
    "SPOOL_FILE",
    "DeadLetter",
    "MemorySpool",
    "SQLiteSpool",
    "Spool",
    "SpoolBatch",
    "SpoolEntry",
    "SpoolError",
    "SpoolLimits",
    "SpoolStatus",
    "open_spool",
]


def open_spool(data_dir: Path, limits: SpoolLimits) -> Spool:
    """The spool file in data_dir; in memory (said loudly) when that cannot be opened at all,
    so the agent keeps collecting."""
    try:
        return SQLiteSpool(data_dir / SPOOL_FILE, limits)
    except (SpoolError, OSError) as exc:
        log.error("%s; spooling in memory instead, so a restart loses what is waiting", exc)
        return MemorySpool(limits)
