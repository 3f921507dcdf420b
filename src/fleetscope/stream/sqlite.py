"""The embedded stream: a SQLite table in WAL mode with synchronous=FULL, so a 2xx from ingest
means the payload is on disk, and a SIGKILL between enqueue and digest loses nothing.

Concurrent enqueues are group-committed: a writer thread drains everything waiting into one
transaction and one fsync, then wakes every caller. At hundreds of payloads per second that is
what makes FULL durability affordable.

Backlog limit: when digest falls behind, the unacknowledged messages (and their bytes) would
grow without bound on disk. At max_backlog messages or max_backlog_bytes body bytes, enqueue
raises StreamBacklogFull instead (ingest answers 429 with Retry-After), as the Redis stream
does. Both are counted in memory, from a count at open and every commit, ack and dead letter:
this process is the stream's only writer (the server that owns data_dir), and a count(*) per
enqueue would cost a scan of the table. Enqueues already waiting for the writer thread are
not counted yet, so the limit can be passed by at most one group.

Backpressure (soft_backlog): the embedded server runs ingest and digest in one process, under
one GIL. Left alone, ingest's event loop wins most of it at saturation: it accepted more than
twice the samples per second digest kept up with (docs/deployment.md, "Fleet simulator"), so the
backlog grew until the limit above answered 429, and the rate sustained was digest's. With
soft_backlog, the group-commit thread waits (at most backpressure_max_wait_seconds a group)
while that many messages are unacknowledged: ingest's answers slow down, senders send less
often, and digest gets the time it needs. A 2xx still means committed; only the answer waits.
Only for a stream whose digest runs in this process (its acks are what the count sees).

Handoff (handoff_max): ingest decodes and validates every payload before enqueueing it, and
digest, in the same process, decoded the same body again. A message enqueued with its decoded
form (NewMessage.decoded) keeps that form in memory until it is first claimed, and the claim
hands it over (StreamMessage.decoded). Only an optimisation: nothing of it is stored, a message
claimed again, after a restart or beyond handoff_max waiting ones has none and is decoded from
its body, so what is stored and acknowledged, and when, is unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

from fleetscope.stream.base import (
    DeadLetter,
    NewMessage,
    StreamBacklogFull,
    StreamMessage,
    StreamUnavailable,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    body BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_claimable ON messages (claimed_until, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""

_MAX_GROUP = 512  # enqueue calls folded into one transaction at most
_IDS_PER_STATEMENT = 500  # ids per DELETE ... IN (...): far below SQLite's parameter limit


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SQLiteStream:
    """See the module docstring. Every method raises StreamUnavailable, never sqlite3 errors."""

    def __init__(
        self,
        path: Path,
        visibility_timeout_seconds: float = 60.0,
        *,
        max_backlog: int | None = None,
        max_backlog_bytes: int | None = None,
        retry_after_seconds: float = 10.0,
        soft_backlog: int | None = None,
        backpressure_max_wait_seconds: float = 1.0,
        handoff_max: int = 0,
    ) -> None:
        """max_backlog, max_backlog_bytes: None for no limit; soft_backlog: None for no
        backpressure; handoff_max: unclaimed messages whose decoded form is kept, 0 for no
        handoff (module docstring)."""
        self.path = path
        self.visibility_timeout = visibility_timeout_seconds
        self.max_backlog = max_backlog
        self.max_backlog_bytes = max_backlog_bytes
        self.retry_after_seconds = retry_after_seconds
        self.soft_backlog = soft_backlog
        self.backpressure_max_wait = backpressure_max_wait_seconds
        self.handoff_max = handoff_max
        # message id -> NewMessage.decoded, until claimed. Written by the group-commit thread
        # only, popped by claims: single dict operations, atomic under the GIL.
        self._handoff: dict[int, object] = {}
        self._conn = _connect(path)
        self._conn.executescript(_SCHEMA)
        count, size = self._conn.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0) FROM messages"
        ).fetchone()
        self._backlog_lock = threading.Lock()
        self._drained = threading.Condition(self._backlog_lock)  # notified when it shrinks
        self._backlog = (int(count), int(size))  # unacknowledged messages, their body bytes
        self._lock = threading.Lock()  # one connection serves readers and ackers
        self._arrived = threading.Condition()
        self._pending: queue.Queue[tuple[Sequence[NewMessage], Future[list[str]]] | None] = (
            queue.Queue()
        )
        self._writer_conn = _connect(path)
        self._writer = threading.Thread(target=self._write_loop, name="stream-writer", daemon=True)
        self._closed = False
        self._writer.start()

    # -- enqueue: group commit -------------------------------------------------------------
    def enqueue(self, messages: Sequence[NewMessage]) -> list[str]:
        return self.submit(messages).result()

    def submit(self, messages: Sequence[NewMessage]) -> Future[list[str]]:
        """stream.base.Submits: ingest awaits the commit on its event loop (asyncio.wrap_future)
        instead of blocking a pool thread in enqueue."""
        if self._closed:
            raise StreamUnavailable("the stream is closed")
        self._check_backlog(messages)
        done: Future[list[str]] = Future()
        self._pending.put((messages, done))
        return done

    def _check_backlog(self, messages: Sequence[NewMessage]) -> None:
        count, size = self._backlog
        if self.max_backlog is not None and count + len(messages) > self.max_backlog:
            raise StreamBacklogFull(
                f"{count} messages wait for digest (limit {self.max_backlog})",
                self.retry_after_seconds,
            )
        added = sum(len(m.body) for m in messages)
        if self.max_backlog_bytes is not None and size + added > self.max_backlog_bytes:
            raise StreamBacklogFull(
                f"{size} bytes wait for digest (limit {self.max_backlog_bytes})",
                self.retry_after_seconds,
            )

    def _count(self, messages: int, size: int) -> None:
        with self._backlog_lock:
            count, total = self._backlog
            self._backlog = (count + messages, total + size)
            if messages < 0:
                self._drained.notify_all()

    def _wait_for_digest(self) -> None:
        """Backpressure (module docstring): before committing a group, wait while digest is
        soft_backlog messages behind, at most backpressure_max_wait seconds."""
        if self.soft_backlog is None:
            return
        deadline = time.monotonic() + self.backpressure_max_wait
        with self._drained:
            while self._backlog[0] >= self.soft_backlog and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._drained.wait(remaining)

    def _write_loop(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            group = [first]
            while len(group) < _MAX_GROUP:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._pending.put(None)  # finish this group, then stop
                    break
                group.append(item)
            self._wait_for_digest()
            self._commit_group(group)

    def _commit_group(self, group: list[tuple[Sequence[NewMessage], Future[list[str]]]]) -> None:
        # A submitter that gave up (its future cancelled) was never told "stored": its
        # messages are not written, and its future cannot take a result any more.
        group = [item for item in group if item[1].set_running_or_notify_cancel()]
        if not group:
            return
        now = time.time()
        handed: list[int] = []
        try:
            conn = self._writer_conn
            conn.execute("BEGIN IMMEDIATE")
            results: list[list[str]] = []
            for messages, _ in group:
                ids = []
                for m in messages:
                    cursor = conn.execute(
                        "INSERT INTO messages (kind, tenant_id, body, enqueued_at)"
                        " VALUES (?, ?, ?, ?)",
                        (m.kind, m.tenant_id, m.body, now),
                    )
                    row_id = cursor.lastrowid
                    assert row_id is not None
                    # Before the commit: a consumer may claim the row as soon as it is in.
                    if m.decoded is not None and len(self._handoff) < self.handoff_max:
                        self._handoff[row_id] = m.decoded
                        handed.append(row_id)
                    ids.append(str(row_id))
                results.append(ids)
            conn.execute("COMMIT")
            self._count(
                sum(len(ids) for ids in results),
                sum(len(m.body) for messages, _ in group for m in messages),
            )
        except sqlite3.Error as exc:
            if self._writer_conn.in_transaction:
                self._writer_conn.execute("ROLLBACK")
            # Rolled back: the ids may be given to other messages (AUTOINCREMENT's counter
            # is rolled back too).
            for row_id in handed:
                self._handoff.pop(row_id, None)
            error = StreamUnavailable(f"embedded stream {self.path}: {exc}")
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), ids in zip(group, results, strict=True):
            future.set_result(ids)
        with self._arrived:
            self._arrived.notify_all()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The reader connection, under the lock; backend errors become StreamUnavailable."""
        with self._lock:
            if self._closed:
                raise StreamUnavailable("the stream is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StreamUnavailable(f"embedded stream {self.path}: {exc}") from exc

    # -- consume -----------------------------------------------------------------------------
    def read(self, consumer: str, max_count: int, block_seconds: float) -> list[StreamMessage]:
        deadline = time.monotonic() + block_seconds
        while True:
            claimed = self._claim(consumer, max_count)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            with self._arrived:
                self._arrived.wait(timeout=min(remaining, 0.5))

    def _claim(self, consumer: str, max_count: int) -> list[StreamMessage]:
        now = time.time()
        # One statement: a SELECT then an UPDATE per row read every body twice (a payload
        # spans overflow pages). RETURNING gives the rows in no promised order: sorted after.
        with self._locked() as conn:
            rows = conn.execute(
                "UPDATE messages SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM messages WHERE claimed_until <= ?"
                " ORDER BY id LIMIT ?)"
                " RETURNING id, kind, tenant_id, body, attempts, enqueued_at",
                (consumer, now + self.visibility_timeout, now, max_count),
            ).fetchall()
        rows.sort()
        handoff = self._handoff
        return [
            StreamMessage(str(r[0]), r[1], r[2], r[3], r[4], r[5], handoff.pop(r[0], None))
            for r in rows
        ]

    def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        keys = [int(i) for i in ids]
        removed = size = 0
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for start in range(0, len(keys), _IDS_PER_STATEMENT):
                chunk = keys[start : start + _IDS_PER_STATEMENT]
                marks = ", ".join("?" * len(chunk))
                for (length,) in conn.execute(
                    f"DELETE FROM messages WHERE id IN ({marks}) RETURNING length(body)",  # noqa: S608
                    chunk,
                ).fetchall():
                    removed += 1
                    size += length
            conn.execute("COMMIT")
        self._count(-removed, -size)

    def fail(self, message_id: str, error: str, max_attempts: int) -> bool:
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT kind, tenant_id, body, attempts FROM messages WHERE id = ?",
                (int(message_id),),
            ).fetchone()
            # row is None: already acknowledged or dead-lettered by another consumer.
            dead = row is not None and row[3] >= max_attempts
            if dead:
                conn.execute(
                    "INSERT INTO dead_letters (id, kind, tenant_id, body, error, failed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (int(message_id), row[0], row[1], row[2], error, time.time()),
                )
                conn.execute("DELETE FROM messages WHERE id = ?", (int(message_id),))
            elif row is not None:
                conn.execute(
                    "UPDATE messages SET claimed_by = NULL, claimed_until = 0 WHERE id = ?",
                    (int(message_id),),
                )
            conn.execute("COMMIT")
        if dead:
            self._count(-1, -len(row[2]))
            log.error(
                "message %s dead-lettered after %d attempts: %s", message_id, max_attempts, error
            )
        return dead

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT id, kind, tenant_id, body, error, failed_at FROM dead_letters"
                " ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def dead_letter_count(self) -> int:
        with self._locked() as conn:
            return int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def replay_dead_letter(self, message_id: str) -> str | None:
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "DELETE FROM dead_letters WHERE id = ? RETURNING kind, tenant_id, body",
                (int(message_id),),
            ).fetchone()
            new_id = None
            if row is not None:
                new_id = conn.execute(
                    "INSERT INTO messages (kind, tenant_id, body, enqueued_at)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (row[0], row[1], row[2], time.time()),
                ).fetchone()[0]
            conn.execute("COMMIT")
        if row is None:
            return None
        self._count(1, len(row[2]))
        with self._arrived:
            self._arrived.notify_all()
        return str(new_id)

    def drop_dead_letter(self, message_id: str) -> bool:
        with self._locked() as conn:
            gone = conn.execute("DELETE FROM dead_letters WHERE id = ?", (int(message_id),))
            return gone.rowcount > 0

    def depth(self) -> int:
        with self._locked() as conn:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])

    def oldest_age_seconds(self) -> float | None:
        with self._locked() as conn:
            row = conn.execute("SELECT min(enqueued_at) FROM messages").fetchone()
        return None if row[0] is None else max(0.0, time.time() - row[0])

    def ping(self) -> None:
        with self._locked() as conn:
            conn.execute("SELECT 1 FROM messages LIMIT 1").fetchall()
        if not self._writer.is_alive():
            raise StreamUnavailable("embedded stream writer thread has stopped")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._drained:
            self._drained.notify_all()
        self._pending.put(None)
        self._writer.join(timeout=10)
        with self._arrived:
            self._arrived.notify_all()
        with self._lock:
            self._conn.close()
        self._writer_conn.close()
        self._handoff.clear()
