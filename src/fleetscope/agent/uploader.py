"""Posting payloads to the server's ingest endpoint.

The outcome is classified for the caller: delivered (2xx), retry later (network error, 5xx,
429, with the server's Retry-After), rejected (400/413/415/422: the payload itself is bad) or
unauthorized (401/403: the key is wrong or revoked). The HTTP transport is injected
(agent/http.py), so tests pass a fake one instead of patching the network. `Backoff` says how
long to wait after a failure that is worth retrying.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import time
from dataclasses import dataclass, field
from enum import Enum

import zstandard

from fleetscope.agent.http import HttpResponse, HttpTransport

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
_REJECTED = {400, 413, 415, 422}
_UNAUTHORIZED = {401, 403}
# A Retry-After beyond this is taken as a broken header rather than a plan.
MAX_RETRY_AFTER_SECONDS = 3600.0


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True, slots=True)
class UploadResult:
    outcome: Outcome
    status_code: int | None
    message: str
    retry_after_seconds: float | None = None


class Uploader:
    def __init__(
        self, transport: HttpTransport, server_url: str, api_key: str, compress: bool = True
    ) -> None:
        self.transport = transport
        self.url = server_url.rstrip("/") + INGEST_PATH
        self.api_key = api_key
        self.compress = compress
        self._zstd = zstandard.ZstdCompressor(level=3)

    def send(self, body: bytes) -> UploadResult:
        """Post one payload (its JSON, model.payload.Payload) and classify the answer."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        if self.compress:
            body = self._zstd.compress(body)
            headers["Content-Encoding"] = "zstd"
        try:
            response = self.transport.post(self.url, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            return UploadResult(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        return classify(response)

    def close(self) -> None:
        self.transport.close()


def classify(response: HttpResponse) -> UploadResult:
    code = response.status
    text = response.body[:500].decode("utf-8", errors="replace")
    if 200 <= code < 300:
        return UploadResult(Outcome.DELIVERED, code, "ok")
    if code in _UNAUTHORIZED:
        return UploadResult(Outcome.UNAUTHORIZED, code, "the API key is wrong or revoked: " + text)
    if code in _REJECTED:
        return UploadResult(Outcome.REJECTED, code, text)
    return UploadResult(Outcome.RETRY, code, text, retry_after(response.headers.get("retry-after")))


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Backoff:
    """Exponential back-off with full jitter (a uniform draw between 0 and base * 2^failures,
    capped), so agents that lost the same server do not come back in step. The server's
    Retry-After wins when it is longer. The random source is injected for tests."""

    base_seconds: float
    max_seconds: float
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def failed(self, retry_after_seconds: float | None = None) -> float:
        """Count a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(self.failures, 30))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_seconds is not None:
            delay = max(delay, min(retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
        return delay

    def succeeded(self) -> None:
        self.failures = 0
