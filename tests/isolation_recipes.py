"""How the isolation test (tests/web/test_tenant_isolation.py) asks for another tenant's
objects on each route: one recipe per route of the OpenAPI document and per route outside it
(pages, the live feed, /metrics). A recipe turns a Target (tests/isolation_support.py: B's
ids and names, or a ghost's that exist nowhere) into the requests to send; path parameters
are filled from the target by name (path_values) unless a request fills them itself.

A route without a recipe fails the test: whoever adds a route says here how to ask it for
another tenant's data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.accounts_support import PASSWORD
from tests.helpers import T0, payload, payload_json
from tests.isolation_support import (
    REMOTE_WRITE_HEADERS,
    Target,
    agent_payload,
    otlp_body,
    remote_write_body,
)
from tests.perfcollector_capture import capture

# Routes run phase by phase, so that what A makes under B's names (a rule for B's host
# pattern, data sent for B's machine id) lands in A only after every read has been checked.
READ, WRITE, INGEST, LOGOUT = range(4)


@dataclass(frozen=True)
class Call:
    path: dict[str, Any] = field(default_factory=dict)  # path parameters the target's don't
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    suffix: str = ""  # after the filled path: a file under a mounted directory
    # B's names the request sends where the text cannot show them (a compressed body); an
    # answer may repeat what the request said.
    echo: tuple[str, ...] = ()
    # Whether A's own objects asked for alike get an answer of their own (the test's
    # control); not where A has nothing there either.
    control: bool = True


Recipe = Callable[[Target, Target], list[Call]]  # (theirs, ours) -> the requests


@dataclass(frozen=True)
class Route:
    recipe: Recipe
    kind: str | None = None  # the table an answer's "id" fields are ids of
    phase: int = READ


def path_values(t: Target) -> dict[str, Any]:
    return {
        "host_id": t.host_id,
        "user_id": t.user_id,
        "key_id": t.key_id,
        "tenant_id": t.tenant_id,
        "analysis_id": t.analysis_id,
        "collector_id": t.collector_id,
        "file_id": t.file_id,
        "rule_id": t.rule_id,
        "silence_id": t.silence_id,
        "channel_id": t.channel_id,
        "device_name": t.host_name,
        "name": "host",
    }


_unique = iter(range(10**9))


def unique() -> int:
    return next(_unique)


def once(**call: Any) -> Recipe:
    return lambda t, own: [Call(**call)]


def each_param(*choices: Callable[[Target], dict[str, Any]]) -> Recipe:
    return lambda t, own: [Call(params=choice(t)) for choice in choices]


def device(t: Target, kind: str) -> str:
    """The tenant's host that a door made: ups (aggregator), edge (pushed exposition), coll
    (collection file), pc (perfcollector), rw (remote_write), otel."""
    return next(name for name in t.device_names if name.endswith(f"-{kind}"))


def selectors(t: Target) -> list[str]:
    """Series selectors naming B's hosts and metrics, and one asking for everything."""
    return [
        *(f'{{host="{name}"}}' for name in t.device_names),
        t.metric,
        f'{t.metric}{{host="{device(t, "ups")}"}}',
        f'{{instance=~"{t.host_name[:3]}.*"}}',
        '{__name__=~".+"}',
    ]


def queries(t: Target) -> list[str]:
    """PromQL over B's series, and over everything."""
    return [
        *(f"last_over_time({s}[2h])" for s in selectors(t)),
        f'count by (host) ({{host="{t.host_name}"}})',
        'count by (host, __name__) ({__name__=~".+"})',
        f"sum by (host) ({t.metric}) or vector(0)",
    ]


# Fixed, so that the same request for B's and for a ghost's names says the same times. The
# data is sent after this module is imported: ranges run to an hour past it.
NOW = int(time.time())


def promql(kind: str, post: bool) -> Recipe:
    def make(t: Target, own: Target) -> list[Call]:
        now = NOW
        extra = {"start": str(now - 7200), "end": str(now + 3600), "step": "60"}
        calls = []
        for text in queries(t) if kind.startswith("query") else selectors(t):
            if kind == "query":
                values = {"query": text}
            elif kind == "query_range":
                values = {"query": text, **extra}
            else:
                values = {"match[]": text, "start": str(now - 86400 * 30)}
            calls.append(Call(data=values) if post else Call(params=values))
        if kind == "labels":
            calls.append(Call())
        return calls

    return make


def label_values(t: Target, own: Target) -> list[Call]:
    calls = []
    prefix = t.host_name.split("-")[0]
    for name in ("host", "__name__", "instance", "job", "sensor"):
        calls.append(Call(path={"name": name}))
        calls.append(Call(path={"name": name}, params={"match[]": f'{{host=~"{prefix}.*"}}'}))
    return calls


def metrics_by_name(t: Target, own: Target) -> list[Call]:
    calls = [
        Call(path={"device_name": name}, params={"start_time": "0"}) for name in t.device_names
    ]
    calls.append(Call(params={"start_time": "0", "format": "csv"}))
    calls.append(Call(params={"start_time": "0", "metrics": t.metric}))
    calls.append(
        Call(path={"device_name": own.host_name}, params={"start_time": "0", "metrics": t.metric})
    )
    return calls


def analyses_started(t: Target, own: Target) -> list[Call]:
    window = {"start": str(T0.timestamp()), "end": str(time.time())}
    calls = [Call(json={"host": name, **window}) for name in t.device_names]
    return [*calls, Call(json={"collection_file": t.collection_id})]


def rule(t: Target) -> dict[str, Any]:
    return {
        "name": f"iso-rule-{unique()}",
        "signal": "cpu_percent",
        "op": ">",
        "threshold": 1,
        "host_pattern": t.host_name,
    }


def device_sample(t: Target) -> dict[str, Any]:
    return {
        "device_name": device(t, "ups"),
        "metric_name": t.metric,
        "value": 1.0,
        "timestamp": T0.isoformat(),
    }


def collection(t: Target) -> bytes:
    return payload_json(payload(1, hostname=t.host_name, machine_id=t.machine_id)) + b"\n"


JSON = {"Content-Type": "application/json"}
OPENAPI: dict[str, Route] = {
    # perfcollector's and the server's own
    "GET /v1/ping": Route(once()),
    "GET /v1/version": Route(once()),
    "GET /api/v1/schema/payload": Route(once()),
    "GET /livez": Route(once()),
    "GET /readyz": Route(once()),
    # the fleet and its hosts
    "GET /api/v1/fleet": Route(once(), "hosts"),
    "GET /api/v1/reports/summary": Route(once(params={"time_range": "48"}), "hosts"),
    "GET /api/v1/hosts": Route(once(), "hosts"),
    "GET /api/v1/hosts/{host_id}": Route(once(), "hosts"),
    "GET /api/v1/hosts/{host_id}/inventory/history": Route(once()),
    "GET /api/v1/hosts/{host_id}/charts": Route(
        lambda t, own: [
            Call(params={"start_time": "0"}),
            Call(params={"start_time": "0", "group": t.group}),
            Call(path={"host_id": own.host_id}, params={"start_time": "0", "group": t.group}),
        ]
    ),
    "GET /api/v1/hosts/{host_id}/processes": Route(
        each_param(lambda t: {"start_time": "0"}, lambda t: {"start_time": "0", "sort": "memory"})
    ),
    "GET /api/v1/reports/metrics/{device_name}": Route(metrics_by_name),
    # accounts
    "GET /api/v1/me": Route(once(), "users"),
    "GET /api/v1/tenants": Route(once(), "tenants"),
    "GET /api/v1/tenants/{tenant_id}": Route(once(), "tenants"),
    "GET /api/v1/users": Route(once(), "users"),
    "GET /api/v1/users/{user_id}": Route(once(), "users"),
    "GET /api/v1/keys": Route(once(), "api_keys"),
    "GET /api/v1/audit": Route(
        each_param(
            lambda t: {"limit": 1000},
            lambda t: {"tenant_id": t.tenant_id},
            lambda t: {"actor": t.username},
            lambda t: {"action": "login.failed", "limit": 1000},
        ),
        "audit_log",
    ),
    # analyses and collectors
    "GET /api/v1/analyses": Route(
        lambda t, own: [
            Call(),
            Call(params={"host_id": t.host_id}),
            # A has analyses of its agent's host and of its uploads only
            *(
                Call(params={"host": name}, control=name.endswith(("-host", "-coll", "-pc")))
                for name in t.device_names
            ),
        ],
        "analyses",
    ),
    "GET /api/v1/analyses/{analysis_id}": Route(once(), "analyses"),
    "GET /api/v1/analyses/{analysis_id}/report.html": Route(once()),
    "GET /api/v1/analyses/{analysis_id}/report.pdf": Route(once()),
    "GET /api/v1/collectors": Route(
        each_param(lambda t: {}, lambda t: {"site": t.site}), "collectors"
    ),
    "GET /api/v1/collectors/{collector_id}": Route(once(), "collectors"),
    "GET /api/v1/collectors/{collector_id}/files": Route(
        lambda t, own: [
            Call(),
            Call(  # A's files listed from B's file's id down: A's, whoever's the id
                path={"collector_id": own.collector_id},
                params={"before_id": t.file_id + 1},
                control=False,
            ),
        ],
        "collection_files",
    ),
    "GET /api/v1/collectors/{collector_id}/files/{file_id}": Route(
        lambda t, own: [Call(), Call(path={"collector_id": own.collector_id})]
    ),
    # the Prometheus API
    "GET /prometheus/api/v1/query": Route(promql("query", post=False)),
    "POST /prometheus/api/v1/query": Route(promql("query", post=True)),
    "GET /prometheus/api/v1/query_range": Route(promql("query_range", post=False)),
    "POST /prometheus/api/v1/query_range": Route(promql("query_range", post=True)),
    "GET /prometheus/api/v1/series": Route(promql("series", post=False)),
    "POST /prometheus/api/v1/series": Route(promql("series", post=True)),
    "GET /prometheus/api/v1/labels": Route(promql("labels", post=False)),
    "POST /prometheus/api/v1/labels": Route(promql("labels", post=True)),
    "GET /prometheus/api/v1/label/{name}/values": Route(label_values),
    "GET /prometheus/api/v1/metadata": Route(
        each_param(lambda t: {}, lambda t: {"metric": t.metric})
    ),
    "GET /prometheus/api/v1/query_exemplars": Route(  # fleetscope keeps none
        lambda t, own: [Call(params={"query": t.metric}, control=False)]
    ),
    "GET /prometheus/api/v1/status/buildinfo": Route(once()),
    # alerting
    "GET /api/v1/alerts/rules": Route(once(), "alert_rules"),
    "GET /api/v1/alerts/rules/{rule_id}": Route(once(), "alert_rules"),
    "GET /api/v1/alerts": Route(
        each_param(
            lambda t: {"state": "pending,firing,resolved,inactive"},
            lambda t: {"host_id": t.host_id, "state": "pending,firing,resolved,inactive"},
        )
    ),
    "GET /api/v1/alerts/history": Route(each_param(lambda t: {}, lambda t: {"host_id": t.host_id})),
    "GET /api/v1/silences": Route(each_param(lambda t: {"include_ended": "true"}), "silences"),
    "GET /api/v1/alerts/channels": Route(once(), "alert_channels"),
    # changes: every one names B's object, so each must be a 404 (or the role's 403)
    "POST /api/v1/auth/login": Route(
        lambda t, own: [Call(json={"username": t.username, "password": "not the password"})],
        phase=WRITE,
    ),
    "POST /api/v1/me/password": Route(
        once(json={"current_password": "not the password", "new_password": PASSWORD + " 2"}),
        phase=WRITE,
    ),
    "POST /api/v1/tenants": Route(lambda t, own: [Call(json={"name": t.tenant_name})], phase=WRITE),
    "PATCH /api/v1/tenants/{tenant_id}": Route(
        lambda t, own: [Call(json={"name": f"renamed-{unique()}"}), Call(json={"active": False})],
        phase=WRITE,
    ),
    "POST /api/v1/users": Route(
        lambda t, own: [
            Call(
                json={
                    "username": f"iso-user-{unique()}",
                    "password": PASSWORD,
                    "role": "admin",
                    "tenant_id": t.tenant_id,
                }
            )
        ],
        phase=WRITE,
    ),
    "PATCH /api/v1/users/{user_id}": Route(
        lambda t, own: [Call(json={"role": "admin"}), Call(json={"disabled": True})], phase=WRITE
    ),
    "POST /api/v1/users/{user_id}/password": Route(
        once(json={"password": "taken over 123"}), phase=WRITE
    ),
    "POST /api/v1/keys": Route(
        lambda t, own: [
            Call(
                json={"name": f"iso-key-{unique()}", "scope": "ingest", "machine_id": t.machine_id}
            )
        ],
        phase=WRITE,
    ),
    "DELETE /api/v1/keys/{key_id}": Route(once(), phase=WRITE),
    "POST /api/v1/analyses": Route(analyses_started, phase=WRITE),
    "POST /api/v1/collectors": Route(
        lambda t, own: [
            Call(json={"machine": t.collector_machine, "site": t.site, "machine_id": t.pc_machine})
        ],
        "collectors",
        WRITE,
    ),
    "PATCH /api/v1/collectors/{collector_id}": Route(
        lambda t, own: [
            Call(json={"owner": "intruder"}),
            Call(json={"machine": t.collector_machine}),
        ],
        "collectors",
        WRITE,
    ),
    "POST /api/v1/alerts/rules": Route(lambda t, own: [Call(json=rule(t))], "alert_rules", WRITE),
    "PUT /api/v1/alerts/rules/{rule_id}": Route(
        lambda t, own: [Call(json=rule(t))], "alert_rules", WRITE
    ),
    "PATCH /api/v1/alerts/rules/{rule_id}": Route(
        once(json={"threshold": 99, "enabled": False}), "alert_rules", WRITE
    ),
    "DELETE /api/v1/alerts/rules/{rule_id}": Route(once(), phase=WRITE),
    "POST /api/v1/silences": Route(
        lambda t, own: [
            Call(
                json={
                    "rule_id": rule_id,
                    "host_pattern": t.host_name,
                    "ends_at": "2099-01-01T00:00:00Z",
                    "reason": "isolation",
                }
            )
            for rule_id in (t.rule_id, None)
        ],
        "silences",
        WRITE,
    ),
    "DELETE /api/v1/silences/{silence_id}": Route(once(), phase=WRITE),
    "POST /api/v1/alerts/channels": Route(
        once(
            json={
                "name": "iso-channel",
                "kind": "webhook",
                "config": {"url": "http://127.0.0.1:9/iso"},
            }
        ),
        "alert_channels",
        WRITE,
    ),
    "DELETE /api/v1/alerts/channels/{channel_id}": Route(once(), phase=WRITE),
    "POST /api/v1/alerts/channels/{channel_id}/test": Route(once(), phase=WRITE),
    # the doors: data sent under B's machine ids and names lands in the sender's tenant
    "POST /api/v1/ingest": Route(
        lambda t, own: [
            Call(content=agent_payload("iso", t.machine_id, t.host_name, T0), headers=JSON)
        ],
        phase=INGEST,
    ),
    "POST /api/v1/aggregator/metrics/": Route(
        lambda t, own: [Call(json=device_sample(t))], phase=INGEST
    ),
    "POST /api/v1/aggregator/metrics/batch/": Route(
        lambda t, own: [Call(json={"metrics": [device_sample(t)]})], phase=INGEST
    ),
    "POST /api/v1/ingest/prometheus": Route(
        lambda t, own: [
            Call(
                params={"device_name": t.host_name, "timestamp": T0.isoformat()},
                content=f"{t.metric} 1\n".encode(),
                headers={"Content-Type": "text/plain; version=0.0.4"},
            )
        ],
        phase=INGEST,
    ),
    "POST /api/v1/collections": Route(
        lambda t, own: [
            Call(content=collection(t), headers={"Content-Type": "application/x-ndjson"})
        ],
        phase=INGEST,
    ),
    "POST /prometheus/api/v1/write": Route(
        lambda t, own: [
            Call(
                content=remote_write_body(t.metric, t.host_name, 1.0, round(T0.timestamp() * 1000)),
                headers=REMOTE_WRITE_HEADERS,
                echo=(t.metric, t.host_name),
            )
        ],
        phase=INGEST,
    ),
    "POST /v1/metrics": Route(
        lambda t, own: [
            Call(
                content=otlp_body(t.host_name, t.metric, 1.0, T0),
                headers=JSON,
                echo=(t.metric, t.host_name),
            )
        ],
        phase=INGEST,
    ),
    "POST /v1/upload": Route(
        lambda t, own: [
            Call(
                files={"file": ("capture.json", capture(1, start=T0), "text/plain")},
                data={"machine_id": t.pc_machine},
            )
        ],
        phase=INGEST,
    ),
    "POST /api/v1/auth/logout": Route(once(), phase=LOGOUT),
}

# Outside the OpenAPI document: the dashboard's pages, its static files, the document itself
# and the server's own metrics. The live feed (/api/v1/ws/metrics) has a test of its own.
PAGES: dict[str, Route] = {
    "GET /": Route(once()),
    "GET /login": Route(once()),
    "GET /analyses": Route(once()),
    # Static shells too: what a section shows comes from the API routes above.
    "GET /settings": Route(once()),
    "GET /settings/{section}": Route(
        lambda t, own: [
            Call(path={"section": section})
            for section in ("account", "users", "keys", "collectors", "tenants", "audit")
        ]
    ),
    "GET /docs": Route(once()),
    "GET /redoc": Route(once()),
    "GET /hosts/{host_id}": Route(once(control=False)),  # a static shell, whoever's host
    "GET /metrics": Route(once()),
    "GET /openapi.json": Route(once()),
    "GET /static": Route(lambda t, own: [Call(suffix="/app.js"), Call(suffix="/host.js")]),
}
WEBSOCKET = "/api/v1/ws/metrics"
