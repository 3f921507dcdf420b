"""Exporters: scrape Prometheus exporters (node_exporter, a database's exporter, an app's
/metrics) every cycle and carry what they expose, per target, in `Snapshot.exporters`.

Like a Prometheus scrape: all targets are fetched at once, each within its own
`timeout_seconds` (the whole request, not one read); a target that times out, answers with a
status other than 200, or exposes invalid text is reported as failed with its error and
duration, and the others are unaffected. The Accept header asks for OpenMetrics first and the
response's Content-Type decides the parser (model.exposition.parse_exposition).

The collector owns one asyncio event loop and the httpx.AsyncClient it is given (or makes):
asyncio.wait_for bounds a request in total, which httpx's per-read timeouts do not, and the
runner never calls collect() twice at once, so one loop reused across cycles is safe and keeps
the client's connections alive between scrapes. close() closes both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from fleetscope.agent.collectors.base import CollectorContext, collector_settings
from fleetscope.agent.collectors.exporter_targets import ExportersSettings, ExporterTarget
from fleetscope.exposition.parse import (
    DEFAULT_MAX_SAMPLES,
    ExpositionError,
    ExpositionSample,
    parse_exposition,
)
from fleetscope.model.codec import PayloadError, convert
from fleetscope.model.exporters import ExporterSample, ExporterScrape
from fleetscope.model.text import escape_controls

log = logging.getLogger(__name__)

# What Prometheus 2.x sends, minus the protobuf alternative we cannot parse.
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
# A body larger than this is a broken or wrong endpoint; node_exporter on a big host sends
# well under 1 MiB.
MAX_BODY_BYTES = 64 * 1024 * 1024


class ScrapeError(Exception):
    """A scrape failed for a reason the message states in full."""


@dataclass(frozen=True, slots=True)
class _Fetched:
    body: bytes
    content_type: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class _FetchFailed:
    error: str
    seconds: float


class ExportersCollector:
    def __init__(
        self,
        targets: Sequence[ExporterTarget],
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.targets = tuple(targets)
        self._clock = clock
        self._loop = asyncio.new_event_loop()
        # Redirects are not followed (httpx's default), as Prometheus does not follow them by
        # default either: a /metrics that redirects is usually a login page.
        self._client = client or httpx.AsyncClient()

    def collect(self) -> list[ExporterScrape]:
        return self._loop.run_until_complete(self._scrape_all())

    async def _scrape_all(self) -> list[ExporterScrape]:
        fetched = await asyncio.gather(
            *(self._fetch_within_timeout(t) for t in self.targets), return_exceptions=True
        )
        # Parsing waits until every fetch is done, so a large body being parsed cannot eat
        # into another target's timeout.
        return [self._scrape(t, f) for t, f in zip(self.targets, fetched, strict=True)]

    async def _fetch_within_timeout(self, target: ExporterTarget) -> _Fetched | _FetchFailed:
        started = self._clock()
        try:
            body, content_type = await asyncio.wait_for(self._fetch(target), target.timeout_seconds)
        except TimeoutError:
            error = f"timed out after {target.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except ScrapeError as exc:
            error = str(exc)
        else:
            return _Fetched(body, content_type, self._clock() - started)
        return _FetchFailed(error, self._clock() - started)

    async def _fetch(self, target: ExporterTarget) -> tuple[bytes, str | None]:
        async with self._client.stream(
            "GET", str(target.url), headers={"Accept": ACCEPT}, timeout=target.timeout_seconds
        ) as response:
            if response.status_code != httpx.codes.OK:
                raise ScrapeError(f"HTTP {response.status_code} {response.reason_phrase}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise ScrapeError(f"body larger than {MAX_BODY_BYTES} bytes")
            return bytes(body), response.headers.get("content-type")

    def _scrape(
        self, target: ExporterTarget, fetched: _Fetched | _FetchFailed | BaseException
    ) -> ExporterScrape:
        if isinstance(fetched, BaseException):
            # Not a scrape failure but a bug: the runner reports the whole collector failed.
            raise fetched
        if isinstance(fetched, _FetchFailed):
            return self._result(target, fetched.seconds, error=fetched.error)
        started = self._clock()
        try:
            samples = select_samples(target, fetched.body, fetched.content_type)
        except (ExpositionError, PayloadError) as exc:
            error = f"bad exposition: {exc}"
        except ScrapeError as exc:
            error = str(exc)
        else:
            seconds = fetched.seconds + self._clock() - started
            return self._result(target, seconds, samples=samples)
        return self._result(target, fetched.seconds + self._clock() - started, error=error)

    @staticmethod
    def _result(
        target: ExporterTarget,
        seconds: float,
        samples: list[ExporterSample] | None = None,
        error: str | None = None,
    ) -> ExporterScrape:
        if error is not None:
            log.warning("exporter %s (%s): %s", target.name, target.url, error)
        return ExporterScrape(
            name=target.name,
            url=str(target.url),
            success=error is None,
            duration_seconds=max(0.0, seconds),
            error=error,
            samples=samples or [],
            kind=None if target.kind == "generic" else target.kind,
        )

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._client.aclose())
        finally:
            self._loop.close()


def select_samples(
    target: ExporterTarget, body: bytes, content_type: str | None
) -> list[ExporterSample]:
    """Parse a scrape body and keep what the target's include/exclude allow, within its
    max_samples. Pure: the body and Content-Type in, samples out."""
    filtered = target.include is not None or target.exclude is not None
    # Without a filter every parsed sample is kept, so the parser's own guard enforces the
    # limit before it builds anything; with one, the limit applies to what is kept.
    guard = DEFAULT_MAX_SAMPLES if filtered else target.max_samples
    try:
        parsed = parse_exposition(body, content_type, max_samples=guard)
    except ExpositionError as exc:
        if exc.reason == f"more than {guard} samples" and not filtered:
            raise ScrapeError(f"more than max_samples={target.max_samples} samples") from exc
        raise
    kept = [s for s in parsed if _wanted(target, s)]
    if len(kept) > target.max_samples:
        raise ScrapeError(
            f"{len(kept)} samples after filtering, more than max_samples={target.max_samples}"
        )
    # Converted, not constructed: an exporter's text is untrusted, and a sample the server
    # would refuse (a name over 512 characters) fails this scrape here instead of the batch.
    # Label values may hold escaped newlines in exposition text; the server takes no control
    # characters in names, so they are spelt \xNN rather than losing the scrape.
    return convert(
        [
            {
                "name": s.name,
                "labels": {k: escape_controls(v) for k, v in s.labels},
                "value": s.value,
                "timestamp": s.timestamp,
            }
            for s in kept
        ],
        list[ExporterSample],
    )


def _wanted(target: ExporterTarget, sample: ExpositionSample) -> bool:
    if target.include is not None and not target.include.fullmatch(sample.name):
        return False
    return target.exclude is None or not target.exclude.fullmatch(sample.name)


def make_exporters_collector(context: CollectorContext) -> ExportersCollector:
    return ExportersCollector(collector_settings(context, "exporters", ExportersSettings).targets)
