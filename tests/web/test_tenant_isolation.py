"""Issue 12's acceptance test: tenant A asks for everything of tenant B, and gets nothing.

Both tenants hold data of every kind (tests/isolation_support.py). Every route of the live
OpenAPI document and every route outside it (the pages, /metrics, the live feed) is asked,
as each of A's callers (admin, editor, viewer, an ingest key, a read key), for B's objects by
id and by name, following a recipe per route (tests/isolation_recipes.py; a route without
one fails the test). Each answer must

- say nothing of B: none of B's names, key prefixes, file digests or marker value (beyond
  what the request itself said), and no id of B's in an id field;
- be the answer a nonexistent object gets (the same request for a ghost's ids and names):
  a 404 where the ghost gets a 404, never a 403, 409 or 422 that confirms B's object exists;
- not be a server error.

Afterwards B's admin sees B exactly as before: nothing A sent changed it. On SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from fleetscope.web import live as live_feed
from tests.accounts_support import TwoTenants, login, two_tenants
from tests.helpers import payload, payload_json
from tests.isolation_recipes import (
    OPENAPI,
    PAGES,
    READ,
    WEBSOCKET,
    Call,
    Route,
    path_values,
)
from tests.isolation_support import (
    Target,
    evaluate_alerts,
    fill,
    ghost,
    ids_by_table,
    secrets_of,
    state_of,
)
from tests.server import LiveServer, start_server

CALLERS = ("admin", "editor", "viewer", "ingest", "read")
THEIRS, OURS = "bravo", "alpha"
# The table of the ids an answer's field holds, by the field's name.
ID_FIELDS = {
    "host_id": "hosts", "collector_id": "collectors", "rule_id": "alert_rules",
    "user_id": "users", "tenant_id": "tenants", "created_by": "users",
    "collection_file": "collections", "collection_id": "collections",
    "channel_id": "alert_channels", "silence_id": "silences", "analysis_id": "analyses",
    "file_id": "collection_files", "key_id": "api_keys",
}  # fmt: skip
ECHO = re.compile(rf"[\w.:-]*{THEIRS}[\w.:-]*")


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url, alerts_evaluate=False)


def routes_of(live: LiveServer) -> dict[str, Route]:
    """Every route the app has, each with its recipe; fails naming the routes without one."""
    doc = live.client.get("/openapi.json").json()
    served = {f"{m.upper()} {path}" for path, ops in doc["paths"].items() for m in ops}
    contexts = list(iter_route_contexts(live.server.app.routes))
    feeds = {c.path for c in contexts if isinstance(c.original_route, APIWebSocketRoute)}
    assert feeds == {WEBSOCKET}, "a WebSocket route without an isolation test"
    for context in contexts:
        if isinstance(context.original_route, Mount):
            served.add(f"GET {context.path}")
        elif not getattr(context, "include_in_schema", True):
            served |= {f"{m} {context.path}" for m in context.methods or () if m != "HEAD"}
    recipes = {**OPENAPI, **PAGES}
    assert served - recipes.keys() == set(), "routes without an isolation recipe"
    assert recipes.keys() - served == set(), "recipes of routes the app no longer has"
    return recipes


def _top_objects(answer: Any) -> list[Any]:
    """The objects whose "id" is of the route's kind: the answer, its items, its lists' items."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        inner = [x for v in answer.values() if isinstance(v, list) for x in v]
        return [answer, *inner]
    return []


class Sweep:
    """Sends every recipe's requests as each of A's callers and keeps what was wrong."""

    def __init__(
        self, live: LiveServer, world: TwoTenants, b: Target, a: Target, secrets: set[str]
    ) -> None:
        self.live, self.callers = live, world.a.headers
        self.b, self.a, self.spirit = b, a, ghost(b)
        self.secrets = secrets
        self.their_ids = ids_by_table(live, b.tenant_id)
        self.pairs = self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.problems: list[str] = []

    def path(self, key: str, call: Call, t: Target) -> str:
        template = key.split(" ", 1)[1]
        try:
            return template.format(**{**path_values(t), **call.path}) + call.suffix
        except KeyError as exc:
            raise AssertionError(f"{key}: no recipe fills {{{exc.args[0]}}}") from exc

    def send(self, key: str, call: Call, t: Target, caller: str) -> httpx.Response:
        options = {
            name: value
            for name in ("params", "json", "content", "data", "files")
            if (value := getattr(call, name)) is not None
        }
        self.live.client.cookies.clear()  # a caller is its header alone
        self.requests += 1
        return self.live.client.request(
            key.split(" ", 1)[0], self.path(key, call, t),
            headers={**self.callers[caller], **call.headers}, follow_redirects=False, **options,
        )  # fmt: skip

    def route(self, key: str, route: Route) -> None:
        for caller in CALLERS:
            self.pairs += 1
            calls, ghosts = route.recipe(self.b, self.a), route.recipe(self.spirit, self.a)
            assert len(calls) == len(ghosts), key
            for call, spirit in zip(calls, ghosts, strict=True):
                answer = self.send(key, call, self.b, caller)
                self.statuses[answer.status_code] += 1
                said = _said(self.path(key, call, self.b), call)
                where = f"{key} as {caller} with {said}"
                if said != _said(self.path(key, spirit, self.spirit), spirit):
                    # It names B's objects: one that does not exist must be answered alike.
                    other = self.send(key, spirit, self.spirit, caller)
                    if other.status_code != answer.status_code:
                        self.problems.append(
                            f"{where}: {answer.status_code} for B's, {other.status_code} "
                            f"for one that does not exist: {answer.text[:200]}"
                        )
                self.check(where, said, call, answer, route.kind)
            if caller == "admin" and route.phase == READ:
                self.control(key, route, calls)

    def control(self, key: str, route: Route, calls: list[Call]) -> None:
        """The same requests for A's own objects, as A's admin: where B's got a 404, A's get
        theirs, and where B's got an answer, A's get another (their data, where B's got none):
        the requests are sound, and what B's get is for being B's."""
        for theirs, ours in zip(calls, route.recipe(self.a, self.a), strict=True):
            said = _said(self.path(key, theirs, self.b), theirs)
            if said == _said(self.path(key, ours, self.a), ours):
                continue  # it does not name B
            answer = self.send(key, theirs, self.b, "admin")
            own = self.send(key, ours, self.a, "admin")
            where = f"{key} as admin for A's own {_said(self.path(key, ours, self.a), ours)}"
            if answer.status_code == 404 and not own.is_success:
                self.problems.append(f"{where}: {own.status_code} {own.text[:200]}")
            if answer.is_success and own.content == answer.content and ours.control:
                self.problems.append(f"{where}: the same as B's: {own.text[:200]}")

    def check(
        self, where: str, said: str, call: Call, answer: httpx.Response, kind: str | None
    ) -> None:
        if answer.status_code >= 500:
            self.problems.append(f"{where}: {answer.status_code} {answer.text[:200]}")
        text = " ".join(
            [answer.content.decode("utf-8", "replace"), answer.headers.get("location", ""),
             answer.headers.get("content-disposition", "")]
        )  # fmt: skip
        for word in sorted(set(ECHO.findall(said)) | set(call.echo), key=len, reverse=True):
            text = text.replace(word, "")  # the request's own words, repeated back
        leaked = sorted(s for s in self.secrets if s in text)
        if leaked:
            at = text.find(leaked[0])
            self.problems.append(f"{where}: says {leaked}: ...{text[max(0, at - 80) : at + 80]}")
        if answer.content and answer.headers.get("content-type", "").startswith("application/json"):
            self.problems += [f"{where}: {found}" for found in self.ids_in(answer.json(), kind)]

    def ids_in(self, answer: Any, kind: str | None) -> list[str]:
        found = []
        tops = {id(x) for x in _top_objects(answer)}

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for item in value:
                    walk(item)
            elif isinstance(value, dict):
                for name, item in value.items():
                    table = kind if name == "id" and id(value) in tops else ID_FIELDS.get(name)
                    theirs = self.their_ids.get(table or "", set())
                    if isinstance(item, int) and not isinstance(item, bool) and item in theirs:
                        found.append(f"{name}={item} is B's ({table})")
                    walk(item)

        walk(answer)
        return found


def _said(path: str, call: Call) -> str:
    """What a request says, as text: its path, parameters and body."""
    body = call.content.decode("latin-1") if call.content is not None else ""
    files = {k: (v[0], len(v[1])) for k, v in (call.files or {}).items()}
    return json.dumps([path, call.params, call.json, call.data, files, body])


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def _queued(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """The messages the server has sent that the test has not read, without waiting for more:
    whether a socket got nothing cannot be read with the blocking receive_json. The session's
    stream is private to Starlette's test client, hence this one helper."""
    messages = []
    while True:
        try:
            message = ws.portal.call(ws._send_rx.receive_nowait)
        except anyio.WouldBlock:
            return messages
        messages.append(json.loads(message["text"]))


def _points_of(ws: WebSocketTestSession, host: str) -> list[dict[str, Any]]:
    """Messages up to the first with a point of `host`."""
    seen = []
    while True:
        message = ws.receive_json()
        seen.append(message)
        if any(p["host"] == host for p in message.get("points", [])):
            return seen


def live_feed_problems(
    live: LiveServer, world: TwoTenants, a: Target, b: Target, secrets: set[str]
) -> list[str]:
    """Each of A's callers subscribes to B's host and to A's whole fleet while B's host sends;
    the ingest key is refused (4401), the others get none of B's points."""
    problems = []
    tokens = {c: _token(world.a.headers[c]) for c in CALLERS}
    with contextlib.ExitStack() as stack:
        theirs = stack.enter_context(
            live.client.websocket_connect(f"{WEBSOCKET}?token={_token(world.b.headers['viewer'])}")
        )
        assert theirs.receive_json()["type"] == "hello"
        sockets: dict[str, tuple[WebSocketTestSession, WebSocketTestSession]] = {}
        for caller, token in tokens.items():
            if caller == "ingest":
                with (
                    pytest.raises(WebSocketDisconnect) as refused,
                    live.client.websocket_connect(f"{WEBSOCKET}?token={token}") as ws,
                ):
                    ws.receive_json()
                if refused.value.code != live_feed.UNAUTHORIZED:
                    problems.append(f"live feed as ingest: closed with {refused.value.code}")
                continue
            only_b, fleet = (
                stack.enter_context(live.client.websocket_connect(f"{WEBSOCKET}?token={token}{q}"))
                for q in (f"&host_id={b.host_id}", "")
            )
            for ws in (only_b, fleet):
                assert ws.receive_json()["type"] == "hello"
            sockets[caller] = (only_b, fleet)
        now = datetime.now(UTC).replace(microsecond=0)
        for tenant, host, machine in (
            (world.b, b.host_name, b.machine_id),
            (world.a, a.host_name, a.machine_id),
        ):
            sent = live.client.post(
                "/api/v1/ingest", content=payload_json(payload(1, host, machine, start=now)),
                headers={**tenant.headers["ingest"], "Content-Type": "application/json"},
            )  # fmt: skip
            assert sent.status_code == 202, sent.text
            if host == b.host_name:  # B's point has reached every subscriber once B's has it
                _points_of(theirs, host)
        for caller, (only_b, fleet) in sockets.items():
            queued = _queued(only_b)
            got = _points_of(fleet, a.host_name) + queued
            text = json.dumps(got)
            if any(s in text for s in secrets) or any(m["type"] == "points" for m in queued):
                problems.append(f"live feed as {caller}: {text[:300]}")
            if any(p["host_id"] == b.host_id for m in got for p in m.get("points", [])):
                problems.append(f"live feed as {caller}: a point of B's host")
    return problems


def same_names_problems(live: LiveServer, sweep: Sweep, headers: dict[str, str]) -> list[str]:
    """After the sweep A has hosts of B's names (it sent data under them through every door):
    asked for by those names, A's answers are A's own, never B's, whatever looks up or keeps
    things by name."""
    secrets, start = sweep.secrets - {THEIRS}, datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    every = f'{{host=~"{THEIRS}.*"}}'
    asks: list[tuple[str, dict[str, Any], str | None]] = [
        ("/api/v1/fleet", {}, "hosts"),
        ("/api/v1/hosts", {}, "hosts"),
        ("/api/v1/reports/summary", {"time_range": "8760"}, "hosts"),
        *(
            (f"/api/v1/reports/metrics/{n}", {"start_time": "0"}, None)
            for n in sweep.b.device_names
        ),
        ("/prometheus/api/v1/series", {"match[]": every, "start": str(start)}, None),
        (
            "/prometheus/api/v1/query_range",
            {"query": every, "start": str(start), "end": str(start + 86400 * 400), "step": "3600"},
            None,
        ),
    ]
    problems = []
    for path, params, kind in asks:
        answer = live.client.get(path, params=params, headers=headers)
        found = [s for s in secrets if s in answer.text]
        if answer.headers.get("content-type", "").startswith("application/json"):
            found += sweep.ids_in(answer.json(), kind)
        if found or answer.status_code >= 500:
            problems.append(f"{path} {params}: {answer.status_code} {found} {answer.text[:200]}")
    return problems


def test_tenant_a_gets_nothing_of_tenant_b(live: LiveServer, tmp_path: Path) -> None:
    world = two_tenants(live, OURS, THEIRS, f"tenant-{THEIRS}")
    runner = live.server.app.state.analysis_runner
    runner.poll_seconds = 0.2
    runner.submit(0)  # wakes the thread so that the shorter poll takes effect
    a = fill(live, world.a, OURS, "default", tmp_path)
    b = fill(live, world.b, THEIRS, f"tenant-{THEIRS}", tmp_path)
    runner.analyse_uploads = False  # what A uploads under B's names needs no analysis
    evaluate_alerts(live)
    for t, tenant in ((a, world.a), (b, world.b)):  # both have one of everything
        alerts = live.client.get("/api/v1/alerts", headers=tenant.headers["viewer"]).json()
        assert {x["host_name"] for x in alerts} >= {t.host_name}, alerts
        assert len(t.device_names) == 7, t.device_names
    secrets = secrets_of(live, b.tenant_id, world.b.headers["admin"], THEIRS)
    before = state_of(live, b, world.b.headers["admin"], world.superuser)
    routes = routes_of(live)
    sweep = Sweep(live, world, b, a, secrets)
    for key, route in sorted(routes.items(), key=lambda item: item[1].phase):
        sweep.route(key, route)
    live.wait_digested()
    assert not sweep.problems, "\n".join(sweep.problems)
    assert state_of(live, b, world.b.headers["admin"], world.superuser) == before
    for caller in ("admin", "editor", "viewer"):  # the sweep's logout ended their sessions
        world.a.headers[caller] = login(live, f"{OURS}-{caller}")
    # A's rules, the ones made for B's host names too, fire for A's hosts only.
    evaluate_alerts(live)
    for path in ("/api/v1/alerts?state=pending,firing,resolved,inactive", "/api/v1/alerts/history"):
        answer = live.client.get(path, headers=world.a.headers["admin"]).json()
        assert answer and sweep.ids_in(answer, None) == [], path
    assert same_names_problems(live, sweep, world.a.headers["admin"]) == []
    assert live_feed_problems(live, world, a, b, secrets) == []
    pairs = sweep.pairs + len(CALLERS)  # the live feed's
    print(
        f"isolation: {pairs} route x caller pairs tried, {len(routes) + 1} routes, "
        f"{len(CALLERS)} callers ({sweep.requests} requests; statuses "
        f"{dict(sorted(sweep.statuses.items()))})"
    )
    assert pairs == (len(routes) + 1) * len(CALLERS)
