"""Runs the selected collectors once per cycle and assembles a Snapshot.

Each collector that can block (CollectorSpec.blocking) runs in its own worker thread with a
deadline; one that overruns is reported as timed out and is not started again until its
previous call returns, so a hung read (a dead NFS mount, a wedged exporter) cannot pile up
threads or delay the others. Collectors that only read kernel counters run inline in the
caller's thread while the workers run, which saves a thread hand-off each; so does a blocking
collector whose may_block() says its next call only reads kernel memory (cpu without sensors,
filesystem with only local mounts, inventory between its checks). One that raises,
inline or not, is reported as failed and the others carry on. Every snapshot carries every
collector's duration and success. A collector that returns None succeeded with nothing to
report (the inventory between its changes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from fleetscope.agent.collectors.base import (
    Collector,
    CollectorContext,
    CollectorSpec,
    Section,
    close_collector,
    collector_may_block,
)
from fleetscope.agent.selfmetrics import agent_self
from fleetscope.model.payload import CollectorStatus, Snapshot

log = logging.getLogger(__name__)


class CollectorRunner:
    def __init__(
        self,
        specs: list[CollectorSpec],
        context: CollectorContext,
        timeout_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.timeout = timeout_seconds
        self._clock = clock
        self._collectors: dict[str, tuple[CollectorSpec, Collector]] = {}
        self._failed_to_start: dict[str, str] = {}
        for spec in specs:
            try:
                self._collectors[spec.name] = (spec, spec.factory(context))
            except Exception as exc:  # noqa: BLE001 (one broken collector must not stop the agent)
                log.error("collector %s could not start: %s", spec.name, exc)
                self._failed_to_start[spec.name] = f"could not start: {exc}"
        workers = sum(1 for spec, _ in self._collectors.values() if spec.blocking)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collector")
        self._in_flight: dict[str, tuple[Future[tuple[Section | None, float]], float]] = {}

    def collect(self) -> Snapshot:
        timestamp = self._clock()
        statuses = [
            CollectorStatus(name=n, success=False, duration_seconds=0, error=e)
            for n, e in self._failed_to_start.items()
        ]
        sections: dict[str, Section] = {}
        started: dict[str, Future[tuple[Section | None, float]]] = {}
        here: list[tuple[str, Collector]] = []
        for name, (spec, collector) in self._collectors.items():
            if name in self._in_flight:
                continue  # its previous call has not returned: never two calls at once
            if spec.blocking and collector_may_block(collector):
                started[name] = self._pool.submit(_timed, collector)
            else:
                here.append((name, collector))
        deadline = time.monotonic() + self.timeout
        inline = {name: _run_inline(collector) for name, collector in here}
        wait(started.values(), timeout=max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for name, (spec, _) in self._collectors.items():
            outcome = inline.get(name)
            if outcome is None:
                status, section = self._outcome(name, started.get(name), now)
            else:
                status, section = _status(name, outcome)
            statuses.append(status)
            if section is not None:
                sections[spec.section] = section
        # Each collector's spec names the Snapshot field its section goes to; mypy cannot
        # follow that pairing through a dict.
        fields: dict[str, Any] = sections
        return Snapshot(timestamp=timestamp, collectors=statuses, agent=agent_self(), **fields)

    def _outcome(
        self, name: str, future: Future[tuple[Section | None, float]] | None, now: float
    ) -> tuple[CollectorStatus, Section | None]:
        if future is None:  # still running from an earlier cycle
            pending, since = self._in_flight[name]
            if not pending.done():
                return CollectorStatus(
                    name=name,
                    success=False,
                    duration_seconds=now - since,
                    error="still running from an earlier cycle",
                ), None
            del self._in_flight[name]
            return CollectorStatus(
                name=name,
                success=False,
                duration_seconds=now - since,
                error="skipped: was still running",
            ), None
        if not future.done():
            self._in_flight[name] = (future, now - self.timeout)
            log.warning("collector %s timed out after %.1f s", name, self.timeout)
            return CollectorStatus(
                name=name,
                success=False,
                duration_seconds=self.timeout,
                error=f"timed out after {self.timeout:g} s",
            ), None
        try:
            outcome: _Outcome = future.result()
        except Exception as exc:  # noqa: BLE001 (reported in the snapshot, like an inline one)
            outcome = exc
        return _status(name, outcome)

    def close(self) -> None:
        for _, collector in self._collectors.values():
            try:
                close_collector(collector)
            except Exception as exc:  # noqa: BLE001 (closing the rest matters more)
                log.warning("closing a collector failed: %s", exc)
        self._pool.shutdown(wait=False, cancel_futures=True)


# A collector's section and duration, or what it raised.
_Outcome = tuple[Section | None, float] | Exception


def _run_inline(collector: Collector) -> _Outcome:
    """Call in this thread. The outcome as is, not in a done Future like a worker's: a Future
    builds a Condition and an RLock, per inline collector per cycle."""
    try:
        return _timed(collector)
    except Exception as exc:  # noqa: BLE001 (reported in the snapshot, like a worker's)
        return exc


def _status(name: str, outcome: _Outcome) -> tuple[CollectorStatus, Section | None]:
    if isinstance(outcome, Exception):
        log.warning("collector %s failed: %s", name, outcome)
        return CollectorStatus(
            name=name,
            success=False,
            duration_seconds=0,
            error=f"{type(outcome).__name__}: {outcome}",
        ), None
    section, duration = outcome
    return CollectorStatus(name=name, success=True, duration_seconds=duration), section


def _timed(collector: Collector) -> tuple[Section | None, float]:
    started = time.perf_counter()
    section = collector.collect()
    return section, time.perf_counter() - started
