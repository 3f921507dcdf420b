"""POST /api/v1/ingest answered by IngestFastPath (plain ASGI, before FastAPI's routing) says
exactly what the FastAPI route says, stays in the OpenAPI schema, and is counted by the
server's request metrics."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from fleetscope.ingest.app import create_app
from fleetscope.ingest.intake import IngestDeps, IngestMetrics, IngestSettings
from fleetscope.ingest.router import IngestFastPath, build_router
from fleetscope.model.auth import Principal
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json

KEYS = {
    "k7": Principal(7, "agent_key", "seven"),
    "session": Principal(7, "session", "admin"),
}


def route_only_app(stream: SQLiteStream) -> FastAPI:
    """The same router without the fast path: what FastAPI alone answers."""
    app = FastAPI()
    deps = IngestDeps(IngestSettings(max_body_bytes=64 * 1024), stream, KEYS.get, metrics())
    app.include_router(build_router(deps))
    return app


def metrics() -> IngestMetrics:
    return IngestMetrics(CollectorRegistry())


def requests() -> list[tuple[bytes, dict[str, str]]]:
    good = payload_json(payload(2))
    bad = json.loads(good)
    bad["snapshots"][0]["cpu"]["load1"] = -1
    auth = {"Authorization": "Bearer k7"}
    return [
        (good, auth),
        (good, {}),
        (good, {"Authorization": "Bearer nope"}),
        (good, {"Authorization": "Bearer session"}),
        (good, {**auth, "Content-Type": "text/plain"}),
        (json.dumps(bad).encode(), auth),
        (b"{not json", auth),
        (gzip.compress(good), {**auth, "Content-Encoding": "gzip"}),
        (good, {**auth, "Content-Encoding": "br"}),
        (b"x" * (64 * 1024 + 1), auth),
        (good, {**auth, "Authorization": "Bearer k7", "X-Extra": "1"}),
    ]


def answers(app: Any, sends: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, Any]]:
    with TestClient(app) as client:
        out = []
        for body, headers in sends:
            response = client.post("/api/v1/ingest", content=body, headers=headers)
            out.append((response.status_code, response.json()))
        return out


def test_fast_path_answers_as_the_route(tmp_path: Path) -> None:
    fast_stream = SQLiteStream(tmp_path / "fast.db")
    route_stream = SQLiteStream(tmp_path / "route.db")
    fast_app = create_app(IngestSettings(max_body_bytes=64 * 1024), fast_stream, KEYS.get)
    sends = requests()
    fast, route = answers(fast_app, sends), answers(route_only_app(route_stream), sends)
    assert fast == route
    statuses = [status for status, _ in fast]
    assert statuses == [202, 401, 401, 403, 415, 422, 422, 202, 400, 413, 202]
    (detail,) = fast[5][1]["errors"]
    assert detail["field"] == "snapshots.0.cpu.load1"
    # Three accepted, each committed to the stream before its 202.
    assert fast_stream.depth() == route_stream.depth() == 3
    fast_stream.close()
    route_stream.close()


def test_fast_path_route_stays_in_the_openapi_schema(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    app = create_app(IngestSettings(), stream, KEYS.get)
    with TestClient(app) as client:
        operation = client.get("/openapi.json").json()["paths"]["/api/v1/ingest"]["post"]
    assert operation["summary"] == "Accept an agent payload batch"
    stream.close()


def test_fast_path_client_gone_before_the_body(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    deps = IngestDeps(IngestSettings(), stream, KEYS.get, metrics())

    async def unreachable(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the fast path handles POST /api/v1/ingest itself")

    fast = IngestFastPath(unreachable, deps=deps)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/ingest",
        "headers": [(b"authorization", b"Bearer k7")],
    }
    asyncio.run(fast(scope, receive, send))
    assert sent == []  # no one to answer
    assert stream.depth() == 0
    assert scope["route"].path == "/api/v1/ingest"
    stream.close()


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/ingest"), ("POST", "/api/v1/x")])
def test_fast_path_passes_other_requests_on(tmp_path: Path, method: str, path: str) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    deps = IngestDeps(IngestSettings(), stream, KEYS.get, metrics())
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    async def never() -> dict[str, Any]:
        raise AssertionError("not read")

    async def no_send(message: Any) -> None:
        raise AssertionError("not answered here")

    asyncio.run(
        IngestFastPath(inner, deps=deps)(
            {"type": "http", "method": method, "path": path, "headers": []}, never, no_send
        )
    )
    assert seen == [path]
    stream.close()
