"""POST /api/v1/ingest answered by IngestFastPath (plain ASGI, before FastAPI's routing) says
exactly what the FastAPI route says: the same requests, good and bad, through both give the
same status, headers, problem details, stored messages and ingest metrics. The route stays in
the OpenAPI schema."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zstandard
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from fleetscope.edge.headers import SecurityHeaders
from fleetscope.edge.problem import install_problem_handlers
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
LIMIT = 64 * 1024
BACKLOG = 3  # messages the stream holds before it answers 429
SETTINGS = IngestSettings(max_body_bytes=LIMIT, max_future_seconds=600, max_age_seconds=30 * 86400)
AUTH = {"Authorization": "Bearer k7"}


def metrics(registry: CollectorRegistry | None = None) -> IngestMetrics:
    return IngestMetrics(registry or CollectorRegistry())


def route_only_app(
    stream: SQLiteStream,
    registry: CollectorRegistry | None = None,
    settings: IngestSettings = SETTINGS,
) -> FastAPI:
    """The standalone app (ingest/app.py) without the fast path: what FastAPI's route alone
    answers, with the same problem handlers and headers."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(build_router(IngestDeps(settings, stream, KEYS.get, metrics(registry))))
    app.add_middleware(SecurityHeaders)
    return app


class AnsweredBy:
    """Records which route answered: the fast path names its own (IngestFastPath), FastAPI's
    router puts its APIRoute in the scope."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.routes: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.routes.append(type(scope.get("route")).__name__)


def _now_payload(**kwargs: Any) -> bytes:
    return payload_json(payload(2, start=datetime.now(UTC) - timedelta(minutes=5), **kwargs))


def _with(body: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(body)
    change(document)
    return json.dumps(document).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()
Send = tuple[bytes, dict[str, str] | list[tuple[str, str]]]


def cases() -> list[tuple[str, list[Send], list[int]]]:
    """(name, requests sent in order, the status of each)."""
    good = _now_payload()
    zstd = zstandard.ZstdCompressor().compress(good)
    bomb = gzip.compress(b'{"x": "' + b"a" * (LIMIT * 4) + b'"}')
    future = payload_json(payload(1, start=datetime.now(UTC) + timedelta(hours=2)))
    old = payload_json(payload(1, start=datetime.now(UTC) - timedelta(days=60)))
    return [
        ("valid", [(good, AUTH)], [202]),
        (
            "valid-charset",
            [(good, {**AUTH, "Content-Type": "application/json; charset=utf-8"})],
            [202],
        ),
        ("gzip", [(gzip.compress(good), {**AUTH, "Content-Encoding": "gzip"})], [202]),
        ("zstd", [(zstd, {**AUTH, "Content-Encoding": "zstd"})], [202]),
        ("duplicate", [(good, AUTH), (good, AUTH)], [202, 202]),  # digest skips the second
        (
            "backlog-full",
            [(_now_payload(), AUTH) for _ in range(BACKLOG + 1)],
            [202] * BACKLOG + [429],
        ),
        ("extra-header", [(good, {**AUTH, "X-Extra": "1"})], [202]),
        # A repeated header: the first one counts, as with Starlette's Headers.get.
        ("repeated-key", [(good, [("Authorization", "Bearer nope"), *AUTH.items()])], [401]),
        ("no-key", [(good, {})], [401]),
        ("wrong-key", [(good, {"Authorization": "Bearer nope"})], [401]),
        ("not-bearer", [(good, {"Authorization": "Basic azc6"})], [401]),
        ("session-token", [(good, {"Authorization": "Bearer session"})], [403]),
        ("content-type", [(good, {**AUTH, "Content-Type": "text/plain"})], [415]),
        ("bad-json", [(b"{not json", AUTH)], [422]),
        ("empty-body", [(b"", AUTH)], [422]),
        ("schema-value", [(_with(good, _set("snapshots.0.cpu.load1", -1)), AUTH)], [422]),
        ("schema-missing", [(_with(good, _set("host.machine_id", _DELETE)), AUTH)], [422]),
        ("schema-type", [(_with(good, _set("snapshots", "none")), AUTH)], [422]),
        ("future", [(future, AUTH)], [422]),
        ("past-retention", [(old, AUTH)], [422]),
        ("too-large", [(b"x" * (LIMIT + 1), AUTH)], [413]),
        ("decoded-too-large", [(bomb, {**AUTH, "Content-Encoding": "gzip"})], [413]),
        ("bad-gzip", [(b"not gzip", {**AUTH, "Content-Encoding": "gzip"})], [400]),
        ("bad-zstd", [(b"not zstd", {**AUTH, "Content-Encoding": "zstd"})], [400]),
        ("unknown-encoding", [(good, {**AUTH, "Content-Encoding": "br"})], [400]),
    ]


CASES = cases()


def answers(app: Any, sends: list[Send]) -> list[tuple[int, dict[str, str], Any]]:
    """Status, the headers that say something (not the date), and the JSON body of each."""
    out = []
    with TestClient(app) as client:
        for body, headers in sends:
            response = client.post("/api/v1/ingest", content=body, headers=headers)
            kept = {k: v for k, v in response.headers.items() if k not in {"date", "server"}}
            out.append((response.status_code, kept, response.json()))
    return out


def stored(stream: SQLiteStream) -> list[tuple[str, int, bytes]]:
    return [(m.kind, m.tenant_id, m.body) for m in stream.read("check", 100, 0)]


def counters(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.parametrize(("sends", "statuses"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_path_answers_as_the_route(
    tmp_path: Path, sends: list[Send], statuses: list[int]
) -> None:
    fast_stream = SQLiteStream(tmp_path / "fast.db", max_backlog=BACKLOG, retry_after_seconds=7)
    route_stream = SQLiteStream(tmp_path / "route.db", max_backlog=BACKLOG, retry_after_seconds=7)
    fast_registry, route_registry = CollectorRegistry(), CollectorRegistry()
    fast_app = AnsweredBy(create_app(SETTINGS, fast_stream, KEYS.get, fast_registry))
    route_app = AnsweredBy(route_only_app(route_stream, route_registry))

    fast, route = answers(fast_app, sends), answers(route_app, sends)

    assert fast_app.routes == ["_RouteName"] * len(sends)  # IngestFastPath answered
    assert route_app.routes == ["APIRoute"] * len(sends)  # FastAPI's route answered
    assert fast == route  # status, headers and body, byte for byte as JSON
    assert [status for status, _, _ in fast] == statuses
    for status, headers, body in fast:
        if status == 202:
            assert headers["content-type"] == "application/json"
            assert set(body) == {"status", "batch_id", "snapshots"}
        else:  # problem details (RFC 9457)
            assert headers["content-type"] == "application/problem+json"
            assert {"type", "title", "status", "detail"} <= set(body)
            assert body["status"] == status
    messages = stored(fast_stream)  # read once: a read claims what it returns
    assert messages == stored(route_stream)
    assert len(messages) == statuses.count(202)  # each committed to the stream before its 202
    assert counters(fast_registry) == counters(route_registry)
    fast_stream.close()
    route_stream.close()


def test_what_the_sender_reads(tmp_path: Path) -> None:
    """A few answers of the cases above, read once (the test above shows both paths agree)."""
    stream = SQLiteStream(tmp_path / "s.db", max_backlog=BACKLOG, retry_after_seconds=7)
    by_name = {name: sends for name, sends, _ in CASES}
    app = create_app(SETTINGS, stream, KEYS.get)
    field = answers(app, by_name["schema-value"])[0][2]["errors"][0]["field"]
    assert field == "snapshots.0.cpu.load1"
    future = answers(app, by_name["future"])[0][2]["errors"][0]["field"]
    assert future == "snapshots.0.timestamp"
    *_, (status, headers, _) = answers(app, by_name["backlog-full"])
    assert (status, headers["retry-after"]) == (429, "7")
    stream.close()


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
