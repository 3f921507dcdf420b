"""The in-memory spool: the contract's reference backend, and the fallback when the data
directory cannot hold a spool file (the agent then says so: a restart loses what is waiting)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable

from fleetscope.agent.spool.base import (
    MAX_DEAD_LETTERS_KEPT,
    DeadLetter,
    SpoolBatch,
    SpoolEntry,
    SpoolLimits,
    SpoolStatus,
)


class MemorySpool:
    def __init__(self, limits: SpoolLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: deque[SpoolEntry] = deque()
        self._bytes = 0
        self._next_seq = 1
        self._batch: tuple[uuid.UUID, set[int]] | None = None
        self._dead: deque[DeadLetter] = deque(maxlen=MAX_DEAD_LETTERS_KEPT)
        self._appended = self._dropped = self._dead_total = 0
        self._last_success: float | None = None
        self._last_error: tuple[str, float] | None = None

    def append(self, timestamp: float, snapshot_json: bytes) -> None:
        with self._lock:
            self._entries.append(SpoolEntry(self._next_seq, timestamp, snapshot_json))
            self._next_seq += 1
            self._appended += 1
            self._bytes += len(snapshot_json)
            cutoff = self._clock() - self.limits.max_age_seconds
            if any(e.timestamp < cutoff for e in self._entries):
                self._remove({e.seq for e in self._entries if e.timestamp < cutoff})
            while self._bytes > self.limits.max_bytes and self._entries:
                self._remove({self._entries[0].seq})

    def _remove(self, seqs: set[int]) -> None:
        kept = deque(e for e in self._entries if e.seq not in seqs)
        gone = len(self._entries) - len(kept)
        self._bytes -= sum(len(e.snapshot_json) for e in self._entries if e.seq in seqs)
        self._entries = kept
        self._dropped += gone
        if self._batch is not None:
            members = self._batch[1] - seqs
            self._batch = (self._batch[0], members) if members else None

    def take(self, max_count: int, max_bytes: int) -> SpoolBatch | None:
        with self._lock:
            if self._batch is None:
                members: list[SpoolEntry] = []
                size = 0
                for entry in self._entries:
                    if len(members) >= max_count or (
                        members and size + len(entry.snapshot_json) > max_bytes
                    ):
                        break
                    members.append(entry)
                    size += len(entry.snapshot_json)
                if not members:
                    return None
                self._batch = (uuid.uuid4(), {e.seq for e in members})
            batch_id, seqs = self._batch
            return SpoolBatch(batch_id, [e for e in self._entries if e.seq in seqs])

    def _finish(self, batch_id: uuid.UUID) -> list[SpoolEntry]:
        if self._batch is None or self._batch[0] != batch_id:
            return []  # already finished, or pushed out by the bounds
        seqs = self._batch[1]
        members = [e for e in self._entries if e.seq in seqs]
        self._entries = deque(e for e in self._entries if e.seq not in seqs)
        self._bytes -= sum(len(e.snapshot_json) for e in members)
        self._batch = None
        return members

    def delivered(self, batch_id: uuid.UUID) -> None:
        with self._lock:
            self._finish(batch_id)
            self._last_success = self._clock()

    def dead_letter(self, batch_id: uuid.UUID, status_code: int | None, message: str) -> None:
        with self._lock:
            members = self._finish(batch_id)
            if not members:
                return
            now = self._clock()
            self._dead.append(DeadLetter(batch_id, len(members), status_code, message, now))
            self._dead_total += len(members)

    def record_error(self, message: str) -> None:
        with self._lock:
            self._last_error = (message, self._clock())

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            return list(reversed(self._dead))[:limit]

    def status(self) -> SpoolStatus:
        with self._lock:
            return SpoolStatus(
                depth=len(self._entries),
                stored_bytes=self._bytes,
                oldest_timestamp=min((e.timestamp for e in self._entries), default=None),
                appended_total=self._appended,
                dropped_total=self._dropped,
                dead_letters_total=self._dead_total,
                last_success_at=self._last_success,
                last_error=None if self._last_error is None else self._last_error[0],
                last_error_at=None if self._last_error is None else self._last_error[1],
            )

    def close(self) -> None:
        pass
