"""The agent's loop: collect every interval, commit each snapshot to the spool, and send the
spool's oldest batches to the sink (an Uploader to a server, or a FileSink in local mode).

A snapshot is in the spool (agent/spool/) before the sink sees it, and leaves only after the
sink says delivered, so a server outage or an agent crash loses nothing; a batch keeps its id
across retries and restarts, so a resend after a lost response is stored once. Between
collections the loop replays the backlog, oldest first, until the next cycle is due.

Failures: network errors, 5xx and 429 back off (exponential, full jitter, Retry-After);
400/413/415/422 move the batch to the spool's dead letters with the server's message;
401/403 stop uploading until restart (the key is wrong or revoked) while the spool fills.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from fleetscope import __version__
from fleetscope.agent.runner import CollectorRunner
from fleetscope.agent.sink import Sink, encode_payload
from fleetscope.agent.spool import Spool, SpoolBatch, SpoolError
from fleetscope.agent.uploader import Backoff, Outcome, UploadResult
from fleetscope.model.codec import PayloadError, decode_snapshot, encode
from fleetscope.model.payload import AgentInfo, HostIdentity, Snapshot

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024  # of snapshot JSON; ingest takes up to 16 MiB decoded


@dataclass
class AgentStatus:
    """This run's counters; what outlives a restart is in the spool's status."""

    snapshots_collected: int = 0
    snapshots_delivered: int = 0
    snapshots_not_spooled: int = 0  # the spool refused them (disk full, I/O error)
    snapshots_invalid: int = 0  # the server would refuse them (a collector's bug): not spooled
    key_rejected: bool = False


class AgentService:
    def __init__(
        self,
        runner: CollectorRunner,
        identity: HostIdentity,
        sink: Sink,
        spool: Spool,
        *,
        interval_seconds: float,
        batch_size: int = 100,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        backoff: Backoff | None = None,
        sleep: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.identity = identity
        self.sink = sink
        self.spool = spool
        self.interval = interval_seconds
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.backoff = backoff or Backoff(interval_seconds, MAX_BACKOFF_SECONDS)
        self.status = AgentStatus()
        self._agent = AgentInfo(version=__version__)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._clock = clock
        self._monotonic = monotonic
        self._next_upload_at = 0.0

    def collect_once(self) -> Snapshot:
        snapshot = self._with_spool_figures(self.runner.collect())
        self.status.snapshots_collected += 1
        body = encode(snapshot)
        try:
            # Collectors build Structs, which msgspec checks only when decoding; the server
            # refuses a whole batch over one bad value, so that value is caught here, by the
            # same decode the server runs.
            decode_snapshot(body)
        except PayloadError as exc:
            self.status.snapshots_invalid += 1
            log.error("snapshot of %s not spooled, invalid: %s", snapshot.timestamp, exc)
            return snapshot
        try:
            self.spool.append(snapshot.timestamp.timestamp(), body)
        except SpoolError as exc:
            self.status.snapshots_not_spooled += 1
            log.error("snapshot of %s lost: %s", snapshot.timestamp.isoformat(), exc)
        return snapshot

    def _with_spool_figures(self, snapshot: Snapshot) -> Snapshot:
        if snapshot.agent is None:
            return snapshot
        try:
            spool = self.spool.status()
        except SpoolError as exc:
            log.warning("spool figures left out of this snapshot: %s", exc)
            return snapshot
        agent = msgspec.structs.replace(
            snapshot.agent,
            spool_depth=spool.depth,
            spool_oldest_age_seconds=spool.oldest_age_seconds(self._clock()),
            spool_dropped_total=spool.dropped_total,
            spool_dead_letters_total=spool.dead_letters_total,
        )
        return msgspec.structs.replace(snapshot, agent=agent)

    def upload_pending(self, deadline: float | None = None) -> None:
        """Send the oldest batches until the spool is empty, an upload fails, or the deadline
        passes."""
        if self.status.key_rejected or self._monotonic() < self._next_upload_at:
            return
        while deadline is None or self._monotonic() <= deadline:
            try:
                batch = self.spool.take(self.batch_size, self.batch_bytes)
            except SpoolError as exc:
                log.error("cannot read the spool: %s", exc)
                return
            if batch is None:
                return
            body = encode_payload(
                batch.batch_id, self._agent, self.identity, [e.snapshot_json for e in batch.entries]
            )
            log.debug("sending batch %s: %d snapshots", batch.batch_id, len(batch.entries))
            result = self.sink.send(body)
            if not self._settle(batch, result):
                return

    def _settle(self, batch: SpoolBatch, result: UploadResult) -> bool:
        """Update the spool after a send; True when the next batch may go now."""
        try:
            if result.outcome is Outcome.DELIVERED:
                self.spool.delivered(batch.batch_id)
                self.status.snapshots_delivered += len(batch.entries)
                self.backoff.succeeded()
                log.debug(
                    "delivered batch %s: %d snapshots, %.3f..%.3f",
                    batch.batch_id,
                    len(batch.entries),
                    batch.entries[0].timestamp,
                    batch.entries[-1].timestamp,
                )
                return True
            error = f"{result.status_code or 'network'}: {result.message}"
            self.spool.record_error(error)
            if result.outcome is Outcome.REJECTED:
                # The payload itself is bad; retrying cannot help. Kept with the reason.
                self.spool.dead_letter(batch.batch_id, result.status_code, result.message)
                log.error(
                    "server rejected batch %s of %d snapshots (%s), moved to dead letters: %s",
                    batch.batch_id,
                    len(batch.entries),
                    result.status_code,
                    result.message,
                )
                return True
        except SpoolError as exc:
            log.error("spool update after an upload failed: %s", exc)
            return False
        if result.outcome is Outcome.UNAUTHORIZED:
            self.status.key_rejected = True
            log.error(
                "uploads stopped (%s): %s. Snapshots keep spooling; set the right key and "
                "restart the agent",
                result.status_code,
                result.message,
            )
            return False
        delay = self.backoff.failed(result.retry_after_seconds)
        self._next_upload_at = self._monotonic() + delay
        log.warning("upload failed (%s), next try in %.1f s", error, delay)
        return False

    def run(self, cycles: int | None = None, duration_seconds: float | None = None) -> None:
        """Collect on a fixed cadence until stop(), for `cycles` cycles or for
        `duration_seconds` (whichever comes first), then flush."""
        next_cycle = self._monotonic()
        end = math.inf if duration_seconds is None else next_cycle + duration_seconds
        done = 0
        while (
            not self._stop.is_set()
            and (cycles is None or done < cycles)
            and self._monotonic() < end
        ):
            self.collect_once()
            self.upload_pending(deadline=next_cycle + self.interval)
            done += 1
            next_cycle += self.interval
            delay = next_cycle - self._monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip missed cycles, don't burst
                next_cycle = self._monotonic()
                delay = 0
            if self._sleep(max(0.0, min(delay, end - self._monotonic()))):
                break
        self.flush(timeout_seconds=5.0)

    def flush(self, timeout_seconds: float) -> None:
        """Try to send what waits now, for at most timeout_seconds; the rest stays spooled."""
        self._next_upload_at = 0.0
        self.upload_pending(deadline=self._monotonic() + timeout_seconds)
        try:
            waiting = self.spool.status().depth
        except SpoolError as exc:
            log.warning("spool status: %s", exc)
            return
        if waiting:
            log.warning("%d snapshots stay in the spool for the next start", waiting)

    def stop(self) -> None:
        self._stop.set()
