"""The agent's spool: every snapshot is committed here before the uploader sees it, and leaves
only when the server (or the collection file) has taken it. One interface, two backends
(`SQLiteSpool` on disk, `MemorySpool`), one contract suite (tests/agent/test_spool_contract.py).

Batches: `take()` returns the batch in flight if there is one, else forms a new one from the
oldest entries not yet in a batch, gives it an id and records its membership. The same batch
(same id, same snapshots) comes back from every `take()` until it is `delivered()` or
`dead_lettered()`; in the SQLite spool this survives a restart, so a resend after a crash
reuses the id and the server stores it once.

Bounds: `max_bytes` (the stored, compressed size of the pending snapshots) and
`max_age_seconds` (by snapshot timestamp). Past either, the oldest entries go first, and each
one is counted in `dropped_total`; nothing leaves silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# A dead-lettered batch keeps its snapshots for inspection; only this many of the newest are
# kept, so a server that rejects everything cannot fill the disk with them.
MAX_DEAD_LETTERS_KEPT = 100


class SpoolError(RuntimeError):
    """The spool could not do what was asked (disk full, I/O error); the message says which
    file and why."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int  # append order, never reused
    timestamp: float  # the snapshot's, unix seconds
    snapshot_json: bytes  # exactly model.payload.Snapshot's JSON


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    batch_id: uuid.UUID
    entries: Sequence[SpoolEntry]

    @property
    def json_bytes(self) -> int:
        return sum(len(e.snapshot_json) for e in self.entries)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    batch_id: uuid.UUID
    snapshots: int
    status_code: int | None
    message: str
    failed_at: float


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    depth: int  # snapshots waiting, in a batch or not
    stored_bytes: int
    oldest_timestamp: float | None
    appended_total: int  # snapshots ever committed to this spool
    dropped_total: int  # pushed out by the bounds
    dead_letters_total: int  # snapshots in batches the server rejected
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None

    def oldest_age_seconds(self, now: float) -> float | None:
        return None if self.oldest_timestamp is None else max(0.0, now - self.oldest_timestamp)


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    max_bytes: int
    max_age_seconds: float


class Spool(Protocol):
    def append(self, timestamp: float, snapshot_json: bytes) -> None:
        """Commit one snapshot; returns once it survives a crash of this process. Enforces the
        bounds, dropping (and counting) the oldest entries. Raises SpoolError."""
        ...

    def take(self, max_count: int, max_bytes: int) -> SpoolBatch | None:
        """The batch in flight, or a new one of the oldest entries: at most max_count, at most
        max_bytes of snapshot JSON (but always at least one entry). None when empty."""
        ...

    def delivered(self, batch_id: uuid.UUID) -> None:
        """Forget a batch the sink took (2xx); records the time as the last success."""
        ...

    def dead_letter(self, batch_id: uuid.UUID, status_code: int | None, message: str) -> None:
        """Move a batch the server rejected as bad out of the way, with the server's reason."""
        ...

    def record_error(self, message: str) -> None:
        """Remember the last upload error, for `fleetscope agent status`."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        ...

    def status(self) -> SpoolStatus: ...

    def close(self) -> None: ...
