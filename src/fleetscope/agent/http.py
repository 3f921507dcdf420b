"""The agent's HTTP client: one POST at a time to one server, over a kept-alive connection.

Why the standard library and not httpx (which the server side and the exporters collector
use): the agent must stay under 40 MB resident (bench/soak_agent.py), and importing httpx
and creating one client costs a large share of that budget (docs/code-choices.md), for a
single request shape that http.client serves fully. HTTPS
uses the system trust store through ssl.create_default_context().

The transport is injected into the uploader (`HttpTransport`), so tests pass a fake one.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


class HttpTransport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """Raises OSError (or http.client.HTTPException) when no response arrived."""
        ...

    def close(self) -> None: ...


# How a send over a connection the server already closed fails before any byte of an answer:
# the write hits the closed socket (EPIPE / ECONNRESET), or the read finds the connection's
# end instead of a status line (http.client.RemoteDisconnected, a ConnectionResetError).
_CLOSED_WHILE_IDLE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def tls_context(ca_file: Path | None = None, insecure: bool = False) -> ssl.SSLContext | None:
    """How an https server is verified: against ca_file (a private CA); or not at all when
    insecure (its caller says so in the log). None: the system trust store, loaded only when
    an https connection is made (it costs memory an http-only agent does not spend)."""
    if ca_file is None and not insecure:
        return None
    context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class StdlibTransport:
    def __init__(self, timeout_seconds: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout_seconds
        self._ssl_context = ssl_context
        self._connection: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int | None] | None = None

    def _connect(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        if self._connection is not None and self._origin == (scheme, host, port):
            return self._connection
        self.close()
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            self._connection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=context
            )
        elif scheme == "http":
            self._connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        else:
            raise ValueError(f"unsupported URL scheme {scheme!r} (http or https)")
        self._origin = (scheme, host, port)
        return self._connection

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        reused = self._connection is not None
        connection = self._connect(parts.scheme, parts.hostname or "", parts.port)
        try:
            return self._exchange(connection, path, body, headers)
        except _CLOSED_WHILE_IDLE:
            # The server closed the kept-alive connection while it sat idle (uvicorn does after
            # 5 s): nothing of an answer came back, so the request was never handled. Sent
            # again at once on a fresh connection, once; a fresh connection that fails the
            # same way is the caller's to retry (the batch id makes any resend harmless).
            if not reused:
                raise
        connection = self._connect(parts.scheme, parts.hostname or "", parts.port)
        return self._exchange(connection, path, body, headers)

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            # A kept-alive connection the server closed, a refused or timed-out one: start
            # afresh next time.
            self.close()
            raise
        if response.will_close:
            self.close()
        return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._origin = None
