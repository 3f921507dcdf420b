"""The thin loop around the pure transforms: read a batch of messages, write their rows in one
transaction, acknowledge after commit, then recompute the rollup buckets that settled (at most
once per rollup interval, store/rollups.py). Before a write it runs the store's upkeep when that
is due (partitions ahead, retention: store/maintenance.py). A message that cannot be transformed
is retried and then dead-lettered with its error; a database outage leaves the whole batch
unacknowledged, to be retried after a back-off (nothing is lost, nothing is doubled: the writes
are idempotent); a write the database refuses is split until the one message it refuses is
dead-lettered (DigestWorker._store)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fleetscope.digest.transform import Digested, digest_message
from fleetscope.digest.uploads import keep_upload, register_inventories
from fleetscope.store.collection_files import IngestResult
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.writer import BatchRows, StoreWriter, WriteResult
from fleetscope.stream.base import Stream, StreamMessage, StreamUnavailable

log = logging.getLogger(__name__)

Decoded = tuple[StreamMessage, Digested]
# A database error can quote the whole statement and its parameters: enough to say why.
_MAX_ERROR_CHARS = 2000

MAX_ATTEMPTS = 5
# Below saturation digest would otherwise wake for every group the stream commits and write
# one or two payloads a transaction: at 1,000 hosts every 10 s (bench/fleet_simulator.py
# --embedded) three transactions, three fsyncs and the per-batch statements for every one or
# two payloads, on the cores and the disk that ingest's answers wait for. Lingering bounds the
# transactions to about 1 / linger per second; a payload is then digested at most this much
# later. At saturation batches are full and nothing waits.
DEFAULT_LINGER_SECONDS = 0.2


def is_outage(exc: BaseException) -> bool:
    """Whether an error says the database or the stream is unreachable (wait and retry the
    same batch), rather than that it refused what was written (isolate the message)."""
    if isinstance(exc, StreamUnavailable | OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass
class DigestStats:
    """What /metrics reports about digest."""

    batches_written: int = 0
    batches_duplicate: int = 0
    messages_dead_lettered: int = 0
    buckets_rolled_up: int = 0
    last_batch_seconds: float = 0.0


class DigestWorker:
    def __init__(
        self,
        stream: Stream,
        writer: StoreWriter,
        *,
        maintenance: StoreMaintenance | None = None,
        consumer: str = "digest-1",
        batch_size: int = 256,
        on_batch: Callable[[float], None] | None = None,
        on_written: Callable[[Sequence[BatchRows], WriteResult], None] | None = None,
        on_rolled_up: Callable[[int], None] | None = None,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
    ) -> None:
        """maintenance: the store's upkeep and rollup pace; by default one without retention
        that shares the writer's partitions. linger_seconds: after a batch that was not full,
        run() waits this long before the next read, so that a trickle of payloads is written
        in batches (pause_after)."""
        self.stream = stream
        self.linger_seconds = linger_seconds
        self.writer = writer
        self.maintenance = (
            StoreMaintenance(writer.engine, writer.partitions)
            if maintenance is None
            else maintenance
        )
        self.consumer = consumer
        self.batch_size = batch_size
        self.stats = DigestStats()
        self._on_batch = on_batch
        self._on_written = on_written
        self._on_rolled_up = on_rolled_up
        self._stop = threading.Event()

    def run_once(self, block_seconds: float = 1.0) -> int:
        """Digest one batch of messages; returns how many were acknowledged."""
        messages = self.stream.read(self.consumer, self.batch_size, block_seconds)
        if not messages:
            self._roll_up()  # idle: catch up on settled buckets
            return 0
        started = time.perf_counter()
        decoded: list[Decoded] = []
        for message in messages:
            try:
                digested = digest_message(
                    message.kind, message.tenant_id, message.body, message.decoded
                )
                decoded.append((message, digested))
            except (ValidationError, ValueError) as exc:
                if self.stream.fail(message.id, f"{type(exc).__name__}: {exc}", MAX_ATTEMPTS):
                    self.stats.messages_dead_lettered += 1
        stored = self._store(decoded) if decoded else []
        elapsed = time.perf_counter() - started
        self.stats.last_batch_seconds = elapsed
        if self._on_batch is not None:
            self._on_batch(elapsed)
        # After the acknowledgement: rollups are recomputed from what is stored, so a failure
        # here loses nothing; the marks stay for the next round.
        self._roll_up()
        return len(stored)

    def _store(self, decoded: list[Decoded]) -> list[StreamMessage]:
        """Write and acknowledge the messages' rows; returns the messages stored. A write the
        database refuses for what is in it (not an outage: those raise, and the whole batch
        waits for the back-off) is retried once, then the batch is split in halves until the
        message it fails for is alone: that one is dead-lettered with the database's error,
        every other one is stored once. One bad message costs about 2 log2(batch) + 3 writes."""
        error: Exception | None = None
        for _ in range(2):
            try:
                return self._write_and_ack(decoded)
            except Exception as exc:
                if is_outage(exc):
                    raise
                error = exc
                log.warning("digest: a batch of %d failed to write: %s", len(decoded), exc)
        assert error is not None
        return self._isolate(decoded, error)

    def _isolate(self, decoded: list[Decoded], error: Exception) -> list[StreamMessage]:
        """decoded failed to write with error: store what can be, dead-letter the rest. A
        message alone is tried once more first, so that a passing error of the database (a
        conflict with another worker's transaction) does not condemn it."""
        if len(decoded) == 1:
            try:
                return self._write_and_ack(decoded)
            except Exception as exc:
                if is_outage(exc):
                    raise
                self._dead_letter(decoded[0], exc)
                return []
        half = len(decoded) // 2
        stored: list[StreamMessage] = []
        for part in (decoded[:half], decoded[half:]):
            try:
                stored += self._write_and_ack(part)
            except Exception as exc:
                if is_outage(exc):
                    raise
                stored += self._isolate(part, exc)
        return stored

    def _dead_letter(self, message: Decoded, error: Exception) -> None:
        # An outage that the error did not show (a connection lost just then) must not
        # dead-letter good messages: the database has to answer before one is condemned.
        with self.writer.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        reason = f"{type(error).__name__}: {error}"
        upload = message[1].upload
        if upload is not None:
            # The file is still kept, its failure said, so its owner sees why nothing came of it.
            try:
                keep_upload(
                    self.writer.engine,
                    message[0].tenant_id,
                    upload,
                    None,
                    result=IngestResult.FAILED,
                    detail=reason,
                )
            except Exception:
                log.exception("digest: the failed upload could not be kept either")
        if self.stream.fail(message[0].id, reason[:_MAX_ERROR_CHARS], 1):
            self.stats.messages_dead_lettered += 1

    def _write_and_ack(self, decoded: list[Decoded]) -> list[StreamMessage]:
        rows = [row for _, digested in decoded for row in digested.batches]
        metadata = [d.metadata for _, d in decoded if d.metadata is not None]
        result = None
        if rows or metadata:
            # Its failure fails this write, and it is tried again with the write's retry.
            self.maintenance.maintain_if_due()
            result = self.writer.write_batches(rows, metadata)
            self.stats.batches_written += result.batches_written
            self.stats.batches_duplicate += result.batches_skipped
            self._after_commit(decoded, rows, result)
        stored = [message for message, _ in decoded]
        self.stream.ack([m.id for m in stored])
        if result is not None and self._on_written is not None:
            # After commit: whoever listens (the live feed) sees only what a query would see.
            try:
                self._on_written(rows, result)
            except Exception:  # a listener's bug must not stop digest (rows are committed)
                log.exception("digest: on_written listener failed")
        return stored

    def _after_commit(
        self, decoded: list[Decoded], rows: list[BatchRows], result: WriteResult
    ) -> None:
        """Uploaded files kept and collectors registered (digest/uploads.py), before the ack:
        a file not kept fails the write, which is retried (the rows are stored once)."""
        engine = self.writer.engine
        register_inventories(engine, rows, result.host_ids)
        offset = 0
        for message, digested in decoded:
            count = len(digested.batches)
            if digested.upload is not None:
                host_ids = [h for h in result.host_ids[offset : offset + count] if h is not None]
                keep_upload(
                    engine, message.tenant_id, digested.upload, host_ids[0] if host_ids else None
                )
            offset += count

    def _roll_up(self) -> None:
        result = self.maintenance.roll_up()
        if result is not None and result.buckets:
            self.stats.buckets_rolled_up += result.buckets
            if self._on_rolled_up is not None:
                self._on_rolled_up(result.buckets)

    def pause_after(self, handled: int) -> float:
        """Seconds run() waits after a batch of `handled` messages: the linger after one that
        was not full; none when idle (the read itself blocked) or when more are waiting."""
        return self.linger_seconds if 0 < handled < self.batch_size else 0.0

    def run(self) -> None:
        """Digest until stop(); back off on database or stream errors instead of dying."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                pause = self.pause_after(self.run_once(block_seconds=0.5))
                backoff = 0.5
                if pause > 0:
                    self._stop.wait(pause)
            except (SQLAlchemyError, StreamUnavailable) as exc:
                log.warning("digest: %s; retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def drain(self, timeout_seconds: float) -> bool:
        """Digest until the stream is empty or time runs out (graceful shutdown)."""
        deadline = time.monotonic() + timeout_seconds
        try:
            while time.monotonic() < deadline:
                if self.stream.depth() == 0:
                    return True
                self.run_once(block_seconds=0.1)
            return self.stream.depth() == 0
        except (SQLAlchemyError, StreamUnavailable) as exc:
            # Whatever was not digested stays in the stream for the next start.
            log.warning("digest could not drain: %s", exc)
            return False

    def stop(self) -> None:
        self._stop.set()
