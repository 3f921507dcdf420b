"""Each request starts behind the tenant wall (store/tenancy.py): on PostgreSQL it sees no
tenant's rows until its principal is verified, so a read that forgot its tenant filter finds
nothing of anyone else's. Plain ASGI, outermost, so ingest's fast path, the WebSocket and the
pages are inside it too."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fleetscope.store.tenancy import request_wall


class TenantWall:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan: the server's own, privileged
            return
        with request_wall():
            await self.app(scope, receive, send)
