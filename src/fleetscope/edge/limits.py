"""One request-size limit for every route, enforced while the body is read: a declared
Content-Length over the limit is answered 413 before the app runs, and a body that streams past
it (chunked, or a lying Content-Length) stops being read at the limit. Routes that bound their
own bodies (ingest: a larger limit, applied before and after decompression) are exempt."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetscope.edge.problem import problem_response

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt: Callable[[str], bool] = lambda _: False
    ) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await problem_response(413, str(BodyTooLarge(limit).detail))(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watch_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watch_send)
        except BodyTooLarge as exc:
            # Read outside the app's exception handlers (a plain ASGI route, a middleware).
            if started:
                raise
            await problem_response(413, str(exc.detail))(scope, receive, send)


def paths_of(router: APIRouter) -> set[str]:
    """The paths a router serves, its included routers' too. FastAPI keeps an included router
    as a private object without a path, so the paths are read from the OpenAPI document of an
    app that holds only this router."""
    probe = FastAPI()
    probe.include_router(router)
    return set(probe.openapi()["paths"])
