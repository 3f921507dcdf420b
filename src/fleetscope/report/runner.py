"""Runs stored analyses in the server process, in one worker thread: never on the event loop,
so a request is never kept waiting by an analysis (numpy, matplotlib and WeasyPrint hold the
GIL for parts of a run; one thread keeps that to a single core's share at most).

Rows left queued or running by a restart are run again at start. With `analyse_uploads`,
uploaded collection files are analysed as digest records them: the thread looks for
recorded uploads without an analysis every `poll_seconds`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import msgspec

from fleetscope.model.inventory import InventorySection
from fleetscope.query.analyses import AnalysisQueries, Job
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.metrics import MetricQueries
from fleetscope.report.analysis import analyse, findings_json
from fleetscope.report.frame import ANALYSED_METRICS, frame_from_series
from fleetscope.report.thresholds import Thresholds

log = logging.getLogger(__name__)
_STOP = -1


class _Stopped(Exception):
    """The server is stopping: the row stays `running` and runs again at the next start."""


class AnalysisRunner:
    def __init__(
        self,
        analyses: AnalysisQueries,
        metrics: MetricQueries,
        inventory: InventoryQueries,
        *,
        thresholds: Thresholds | None = None,
        analyse_uploads: bool = True,
        poll_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.analyses, self.metrics, self.inventory = analyses, metrics, inventory
        self.thresholds = thresholds or Thresholds()
        self.analyse_uploads = analyse_uploads
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Uploads received before this start are not analysed automatically.
        self._uploads_since_ms = round(clock() * 1000)

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def submit(self, analysis_id: int) -> None:
        self._queue.put(analysis_id)

    def start(self) -> None:
        self._stopping.clear()
        for analysis_id in self.analyses.pending():
            self._queue.put(analysis_id)
        self._thread = threading.Thread(target=self._run, name="analyses", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                analysis_id = self._queue.get(timeout=self.poll_seconds)
            except queue.Empty:
                self._queue_uploads()
                continue
            if analysis_id != _STOP:
                self.run_one(analysis_id)

    def _queue_uploads(self) -> None:
        if not self.analyse_uploads:
            return
        try:
            for tenant_id, collection_id in self.analyses.unanalysed_collections(
                self._uploads_since_ms
            ):
                self.submit(
                    self.analyses.create_for_collection(tenant_id, collection_id, self.now_ms())
                )
        except Exception:  # the thread must outlive a database hiccup; the next poll retries
            log.exception("looking for uploaded collection files to analyse failed")

    def run_one(self, analysis_id: int) -> None:
        """Analyse one stored row to done or failed; never raises (it runs in a thread)."""
        try:
            job = self.analyses.job(analysis_id)
            if job is not None:
                self._analyse(job)
        except _Stopped:
            log.info(
                "analysis %d interrupted by shutdown; it runs again at the next start", analysis_id
            )
        except Exception as exc:
            log.exception("analysis %d failed", analysis_id)
            try:
                self.analyses.fail(analysis_id, self.now_ms(), f"{type(exc).__name__}: {exc}")
            except Exception:  # the database itself is failing: the row runs again at start
                log.exception("analysis %d: recording the failure failed too", analysis_id)

    def _step(self, job: Job, progress: int) -> None:
        if self._stopping.is_set():
            raise _Stopped
        self.analyses.set_progress(job.id, "running", progress)

    def _analyse(self, job: Job) -> None:
        # matplotlib and WeasyPrint load at the first analysis, in this thread, not while the
        # server starts (a second or more of imports, and most servers may never need them).
        from fleetscope.report.document import render_html, render_pdf  # noqa: PLC0415

        self._step(job, 5)
        found = self.metrics.host_series(
            job.tenant_id, job.host_id, job.start_ms, job.end_ms, ANALYSED_METRICS
        )
        latest = self.inventory.latest(job.tenant_id, job.host_id)
        inventory = None
        if latest is not None:
            try:
                inventory = msgspec.convert(latest.audit, InventorySection)
            except msgspec.ValidationError:
                log.warning("analysis %d: stored inventory does not decode; left out", job.id)
        frame = frame_from_series(job.host_name, found, inventory)
        self._step(job, 40)
        result = analyse(frame, self.thresholds)
        self._step(job, 50)
        html = render_html(result)
        self._step(job, 75)
        pdf = render_pdf(html)
        if self._stopping.is_set():
            raise _Stopped
        self.analyses.finish(
            job.id,
            self.now_ms(),
            status=result.status,
            fit=result.fit,
            snapshots=result.snapshots,
            findings=findings_json(result),
            html=html.encode(),
            pdf=pdf,
        )
