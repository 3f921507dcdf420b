"""Posting payloads to the server's ingest endpoint.

The outcome is classified for the caller: delivered (2xx), retry later (network error, 5xx,
429, with the server's Retry-After), rejected (400/413/415/422: the payload itself is bad) or
unauthorized (401/403: the key is wrong or revoked). The HTTP transport is injected
(agent/http.py), so tests pass a fake one instead of patching the network.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import time
from dataclasses import dataclass
from enum import Enum

import zstandard

from fleetscope.agent.http import HttpResponse, HttpTransport
from fleetscope.model.payload import Payload

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
_REJECTED = {400, 413, 415, 422}
_UNAUTHORIZED = {401, 403}


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

    def send(self, payload: Payload) -> UploadResult:
        body = payload.model_dump_json().encode()
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
