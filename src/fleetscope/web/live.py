"""GET /api/v1/ws/metrics: the live feed over a WebSocket. Digest publishes committed points to
the LiveHub (query/live.py); each connection subscribes to one host (`?host_id=`) or the whole
fleet, and receives `{"type": "points", "points": [...]}` messages as they come. No polling:
the connection waits on an event the hub sets from the digest thread.

Authenticated by the session cookie (the dashboard) or `?token=` (scripts; a header cannot be
set on a browser WebSocket). With the cookie, the Origin must be this server's own, so another
site cannot open the feed with the user's cookie. A refused connection is accepted and closed
with code 4401, which the client can tell from a network failure (and send the user to log in)."""

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from fleetscope.model.auth import Principal
from fleetscope.query.live import LivePoint
from fleetscope.web.services import SESSION_COOKIE, ReadServices

UNAUTHORIZED = 4401
KEEPALIVE_SECONDS = 25.0


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser: no cookie-riding to fear
        return True
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def _point(p: LivePoint) -> dict[str, Any]:
    v = p.values
    return {
        "host_id": p.host_id,
        "host": p.host_name,
        "t": p.ts,
        "cpu_percent": v.cpu_percent,
        "memory_percent": v.memory_percent,
        "disk_percent": v.disk_percent,
        "network_bytes_per_second": v.network_bytes_per_second,
    }


def build_live_router(services: ReadServices) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def authenticate(ws: WebSocket, token: str | None) -> Principal | None:
        if token:
            return services.auth.verify_token(token)
        if SESSION_COOKIE in ws.cookies and not _same_origin(ws):
            return None
        found = services.session(ws)
        return None if found is None else found[0]

    @router.websocket("/ws/metrics")
    async def ws_metrics(
        ws: WebSocket, token: str | None = None, host_id: int | None = None
    ) -> None:
        user = await run_in_threadpool(authenticate, ws, token)
        await ws.accept()
        if user is None:
            await ws.close(UNAUTHORIZED, "log in first")
            return
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a late publish
                loop.call_soon_threadsafe(ready.set)

        subscription = services.live.subscribe(user.tenant_id, host_id, wake)

        async def until_closed() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await ws.receive_text()  # the client sends nothing we need; read to see it go

        closed = asyncio.create_task(until_closed())
        try:
            await ws.send_json({"type": "hello", "host_id": host_id})
            while not closed.done():
                waiter = asyncio.create_task(ready.wait())
                done, _ = await asyncio.wait(
                    {waiter, closed}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if closed in done:
                    waiter.cancel()
                    break
                if waiter not in done:
                    waiter.cancel()
                    await ws.send_json({"type": "keepalive"})
                    continue
                ready.clear()
                points = subscription.drain()
                if points:
                    await ws.send_json(
                        {
                            "type": "points",
                            "points": [_point(p) for p in points],
                            "dropped": subscription.dropped,
                        }
                    )
        except WebSocketDisconnect:
            pass
        finally:
            subscription.close()
            closed.cancel()

    return router
