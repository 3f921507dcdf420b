"""An unreachable database or stream answers 503 with Retry-After on every route (ingest, the
read API, login, pages), never 500: the client, or the person, is told to come back, and
nothing is left half done (every write is one transaction or one enqueue). The cause goes to
the log; the answer names only which dependency is down.

Plain ASGI middleware rather than exception handlers: ingest's fast path (ingest/router.py,
IngestFastPath) answers before FastAPI's exception handling, and errors raised there would
reach Starlette's 500 handler."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetscope.digest.worker import is_outage
from fleetscope.edge.problem import problem_response
from fleetscope.stream.base import StreamUnavailable

log = logging.getLogger(__name__)


class OutageGuard:
    def __init__(self, app: ASGIApp, *, retry_after_seconds: int) -> None:
        self.app = app
        self.retry_after = str(retry_after_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            which = "stream" if isinstance(exc, StreamUnavailable) else "database"
            log.warning(
                "%s %s answered 503: the %s is unavailable: %s",
                scope["method"],
                scope["path"],
                which,
                exc,
            )
            response = problem_response(
                503,
                f"the {which} is unavailable; retry in {self.retry_after} s",
                headers={"Retry-After": self.retry_after},
            )
            await response(scope, receive, send)
