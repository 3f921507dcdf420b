"""The on-disk spool: one SQLite file (`spool.db` in the agent's data dir) in WAL mode.

Durability: `synchronous=FULL`, so a committed append survives power loss and an OS crash, not
only a crash of the agent (which WAL with NORMAL already survives). The agent appends once per
interval (10 s by default) and commits once per delivered batch, so one fsync per commit costs
next to nothing; bench/bench_spool_append.py measures the difference.

Snapshots are stored as zstd-compressed JSON (several times smaller than the JSON for a real
snapshot with processes: docs/code-choices.md), with their timestamp and uncompressed size
(the upload batch is bounded by JSON bytes, which is what the server limits). `max_bytes`
bounds the compressed bytes; the file itself is larger by SQLite's page overhead, and freed
pages are reused.

A corrupt or truncated file is detected on open (and by SQLite's own checks later): it is
renamed aside with its WAL as `spool.db.corrupt-<UTC time>` (`-wal`, `-shm` beside it, so
`sqlite3 spool.db.corrupt-...` still opens what was there), a warning names both paths, and a
fresh spool starts; the agent keeps collecting.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import zstandard

from fleetscope.agent.spool.base import (
    MAX_DEAD_LETTERS_KEPT,
    DeadLetter,
    SpoolBatch,
    SpoolEntry,
    SpoolError,
    SpoolLimits,
    SpoolStatus,
)

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- append order; AUTOINCREMENT: never reused
    ts REAL NOT NULL,                       -- the snapshot's timestamp, unix seconds
    batch_id TEXT,                          -- set when the entry joins the batch in flight
    json_size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    body BLOB NOT NULL                      -- zstd(snapshot JSON)
);
CREATE INDEX IF NOT EXISTS entries_ts ON entries (ts);
CREATE INDEX IF NOT EXISTS entries_batch ON entries (batch_id);
CREATE TABLE IF NOT EXISTS dead_letters (
    batch_id TEXT PRIMARY KEY,
    snapshots INTEGER NOT NULL,
    status_code INTEGER,
    message TEXT NOT NULL,
    failed_at REAL NOT NULL,
    body BLOB NOT NULL                      -- zstd(JSON array of the batch's snapshots)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

# Corruption, as SQLite reports it (Python 3.11+ names the result code).
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_COUNTERS = ("appended_total", "dropped_total", "dead_letters_total")

Synchronous = Literal["FULL", "NORMAL"]


class _Corrupt(Exception):
    pass


def _is_corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(exc, _Corrupt) or name in _CORRUPT or "malformed" in str(exc)


def quarantine(path: Path, reason: str, now: datetime) -> Path:
    """Rename a bad spool file (and its -wal, -shm) aside; return the new name."""
    aside = path.with_name(f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%S.%fZ')}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(aside.with_name(aside.name + suffix))
    log.warning(
        "the spool %s is corrupt or truncated (%s): moved aside to %s; starting a fresh spool "
        "(what was waiting in it is not uploaded)",
        path,
        reason,
        aside,
    )
    return aside


class SQLiteSpool:
    """See the module docstring. Methods raise SpoolError, never sqlite3 errors."""

    def __init__(
        self,
        path: Path,
        limits: SpoolLimits,
        clock: Callable[[], float] = time.time,
        synchronous: Synchronous = "FULL",
    ) -> None:
        self.path = path
        self.limits = limits
        self._clock = clock
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._zc = zstandard.ZstdCompressor(level=3)
        self._zd = zstandard.ZstdDecompressor()
        self.quarantined: list[Path] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.Error as exc:
            if not _is_corrupt(exc):
                raise SpoolError(f"cannot open the spool {path}: {exc}") from exc
            self._conn = self._reopen_fresh(str(exc))

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Corrupt("; ".join(problems[:3]))
            conn.executescript(_SCHEMA)
            self._bytes = int(
                conn.execute("SELECT coalesce(sum(stored_size), 0) FROM entries").fetchone()[0]
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _reopen_fresh(self, reason: str) -> sqlite3.Connection:
        try:
            self.quarantined.append(quarantine(self.path, reason, datetime.now(UTC)))
            return self._open()
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot start a fresh spool at {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction under the lock. A corrupt file found here is moved aside
        and the caller's work is lost with it (logged); other errors become SpoolError."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error as rollback:
                        log.debug("rollback after %s failed too: %s", exc, rollback)
                if not isinstance(exc, sqlite3.Error):
                    raise
                if _is_corrupt(exc):
                    conn.close()
                    self._conn = self._reopen_fresh(f"{what}: {exc}")
                raise SpoolError(f"spool {self.path}: {what}: {exc}") from exc

    def append(self, timestamp: float, snapshot_json: bytes) -> None:
        body = self._zc.compress(snapshot_json)
        with self._transaction("append") as conn:
            conn.execute(
                "INSERT INTO entries (ts, json_size, stored_size, body) VALUES (?, ?, ?, ?)",
                (timestamp, len(snapshot_json), len(body), body),
            )
            self._bump(conn, "appended_total", 1)
            added = len(body)
            dropped, freed = self._enforce_bounds(conn, self._bytes + added)
            self._bump(conn, "dropped_total", dropped)
        self._bytes += added - freed

    def _enforce_bounds(self, conn: sqlite3.Connection, total: int) -> tuple[int, int]:
        cutoff = self._clock() - self.limits.max_age_seconds
        old = conn.execute(
            "SELECT count(*), coalesce(sum(stored_size), 0) FROM entries WHERE ts < ?", (cutoff,)
        ).fetchone()
        dropped, freed = int(old[0]), int(old[1])
        if dropped:
            conn.execute("DELETE FROM entries WHERE ts < ?", (cutoff,))
        if total - freed > self.limits.max_bytes:
            over = total - freed - self.limits.max_bytes
            last_seq, cut = None, 0
            for seq, size in conn.execute("SELECT seq, stored_size FROM entries ORDER BY seq"):
                last_seq, cut, dropped = seq, cut + size, dropped + 1
                if cut >= over:
                    break
            if last_seq is not None:
                conn.execute("DELETE FROM entries WHERE seq <= ?", (last_seq,))
                freed += cut
        if dropped:
            log.warning(
                "spool full (%d bytes max, %g s max age): dropped the %d oldest snapshots",
                self.limits.max_bytes,
                self.limits.max_age_seconds,
                dropped,
            )
        return dropped, freed

    @staticmethod
    def _bump(conn: sqlite3.Connection, key: str, by: int) -> None:
        if by:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, by),
            )

    @staticmethod
    def _set(conn: sqlite3.Connection, key: str, value: object) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def take(self, max_count: int, max_bytes: int) -> SpoolBatch | None:
        with self._transaction("take a batch") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'batch_in_flight'").fetchone()
            batch_id = row[0] if row else None
            rows = (
                conn.execute(
                    "SELECT seq, ts, body FROM entries WHERE batch_id = ? ORDER BY seq",
                    (batch_id,),
                ).fetchall()
                if batch_id
                else []
            )
            if not rows:  # none in flight, or the bounds pushed all of it out
                batch_id = str(uuid.uuid4())
                rows = self._form(conn, batch_id, max_count, max_bytes)
                if not rows:
                    conn.execute("DELETE FROM meta WHERE key = 'batch_in_flight'")
                    return None
                self._set(conn, "batch_in_flight", batch_id)
        entries = [SpoolEntry(seq, ts, self._zd.decompress(body)) for seq, ts, body in rows]
        return SpoolBatch(uuid.UUID(batch_id), entries)

    @staticmethod
    def _form(
        conn: sqlite3.Connection, batch_id: str, max_count: int, max_bytes: int
    ) -> list[tuple[int, float, bytes]]:
        sizes = conn.execute(
            "SELECT seq, json_size FROM entries WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
            (max_count,),
        ).fetchall()
        last, total = None, 0
        for seq, size in sizes:
            if last is not None and total + size > max_bytes:
                break
            last, total = seq, total + size
        if last is None:
            return []
        conn.execute(
            "UPDATE entries SET batch_id = ? WHERE batch_id IS NULL AND seq <= ?", (batch_id, last)
        )
        rows: list[tuple[int, float, bytes]] = conn.execute(
            "SELECT seq, ts, body FROM entries WHERE batch_id = ? ORDER BY seq", (batch_id,)
        ).fetchall()
        return rows

    def _finish(self, conn: sqlite3.Connection, batch_id: uuid.UUID) -> list[bytes]:
        bodies = [
            row[0]
            for row in conn.execute(
                "SELECT body FROM entries WHERE batch_id = ? ORDER BY seq", (str(batch_id),)
            )
        ]
        freed = conn.execute(
            "SELECT coalesce(sum(stored_size), 0) FROM entries WHERE batch_id = ?",
            (str(batch_id),),
        ).fetchone()[0]
        conn.execute("DELETE FROM entries WHERE batch_id = ?", (str(batch_id),))
        conn.execute(
            "DELETE FROM meta WHERE key = 'batch_in_flight' AND value = ?", (str(batch_id),)
        )
        self._bytes -= int(freed)
        return bodies

    def delivered(self, batch_id: uuid.UUID) -> None:
        with self._transaction("delete a delivered batch") as conn:
            self._finish(conn, batch_id)
            self._set(conn, "last_success_at", self._clock())

    def dead_letter(self, batch_id: uuid.UUID, status_code: int | None, message: str) -> None:
        with self._transaction("dead-letter a batch") as conn:
            bodies = self._finish(conn, batch_id)
            if not bodies:
                return
            array = b"[" + b",".join(self._zd.decompress(b) for b in bodies) + b"]"
            conn.execute(
                "INSERT OR REPLACE INTO dead_letters "
                "(batch_id, snapshots, status_code, message, failed_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(batch_id),
                    len(bodies),
                    status_code,
                    message,
                    self._clock(),
                    self._zc.compress(array),
                ),
            )
            conn.execute(
                "DELETE FROM dead_letters WHERE batch_id NOT IN "
                "(SELECT batch_id FROM dead_letters ORDER BY failed_at DESC LIMIT ?)",
                (MAX_DEAD_LETTERS_KEPT,),
            )
            self._bump(conn, "dead_letters_total", len(bodies))

    def record_error(self, message: str) -> None:
        with self._transaction("record an error") as conn:
            self._set(conn, "last_error", message)
            self._set(conn, "last_error_at", self._clock())

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            return read_dead_letters(self._conn, limit)

    def status(self) -> SpoolStatus:
        with self._lock:
            try:
                return read_status(self._conn)
            except sqlite3.Error as exc:
                raise SpoolError(f"spool {self.path}: status: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def read_status(conn: sqlite3.Connection) -> SpoolStatus:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    depth, stored, oldest = conn.execute(
        "SELECT count(*), coalesce(sum(stored_size), 0), min(ts) FROM entries"
    ).fetchone()
    return SpoolStatus(
        depth=depth,
        stored_bytes=stored,
        oldest_timestamp=oldest,
        appended_total=int(meta.get("appended_total", 0)),
        dropped_total=int(meta.get("dropped_total", 0)),
        dead_letters_total=int(meta.get("dead_letters_total", 0)),
        last_success_at=meta.get("last_success_at"),
        last_error=meta.get("last_error"),
        last_error_at=meta.get("last_error_at"),
    )


def read_dead_letters(conn: sqlite3.Connection, limit: int) -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT batch_id, snapshots, status_code, message, failed_at FROM dead_letters "
        "ORDER BY failed_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [DeadLetter(uuid.UUID(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def open_read_only(path: Path) -> sqlite3.Connection:
    """For `fleetscope agent status`: reads beside a running agent, never creates or changes
    the file. Raises SpoolError when there is no readable spool there."""
    if not path.is_file():
        raise SpoolError(f"no spool at {path} (is --data-dir the agent's?)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT count(*) FROM entries").fetchone()
    except sqlite3.Error as exc:
        raise SpoolError(f"cannot read the spool {path}: {exc}") from exc
    return conn
