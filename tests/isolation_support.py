"""Two tenants with data of every kind, for the isolation acceptance test
(tests/web/test_tenant_isolation.py): besides tests/accounts_support.py's users of every role
and keys of every scope, each tenant gets, through the real doors, an agent's samples with
process groups and inventory, aggregator samples, pushed exposition, a collection file (and
the analysis with reports made of it), a perfcollector upload (a collector with a file),
remote_write and OTLP series, a collector made by hand, and an alert rule, channel, silence
and firing alerts. Every name a tenant's data carries contains its prefix ("alpha", "bravo"),
so "nothing of B" can be checked as "no 'bravo' in the answer"."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cramjam
import msgspec
from msgspec.structs import replace
from sqlalchemy import select

from fleetscope.alerting.evaluator import AlertEvaluator
from fleetscope.ingest.prompb.remote_pb2 import WriteRequest
from fleetscope.model.codec import encode
from fleetscope.model.inventory import InventorySection
from fleetscope.model.payload import ProcessesSection, ProcessGroup
from fleetscope.store.schema import metadata
from tests.accounts_support import Tenant
from tests.helpers import payload
from tests.perfcollector_capture import capture
from tests.server import LiveServer
from tests.synthetic_host import Scenario, snapshots, write_collection

# A value only this tenant's aggregator sample has: seen anywhere else, it leaked.
MARKS = {"alpha": 1111.25, "bravo": 7357.75}
REMOTE_WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


@dataclass(frozen=True)
class Target:
    """One tenant's objects by id and by name, as the isolation recipes ask for them."""

    tenant_id: int
    tenant_name: str
    host_id: int
    host_name: str
    machine_id: str
    user_id: int
    username: str
    key_id: int
    collector_id: int  # the perfcollector upload's, which has a file
    collector_machine: str  # the collector made by hand
    site: str
    pc_machine: str
    file_id: int
    collection_id: int
    analysis_id: int
    rule_id: int
    silence_id: int
    channel_id: int
    metric: str
    group: str
    device_names: tuple[str, ...]  # every host name, whichever door made it


def ghost(like: Target) -> Target:
    """A target of ids and names that exist nowhere: B's answers must not differ from its."""
    values: dict[str, Any] = {}
    for n, f in enumerate(fields(Target)):
        value = getattr(like, f.name)
        if isinstance(value, int):
            values[f.name] = 2**31 - 1 - n  # the largest ids a route takes
        elif isinstance(value, tuple):
            values[f.name] = tuple(f"ghost-{name.split('-', 1)[1]}" for name in value)
        else:
            values[f.name] = f"ghost-{f.name.replace('_', '-')}"
    values["metric"] = "ghost_metric_total"
    return Target(**values)


def remote_write_body(metric: str, instance: str, value: float, at_ms: int) -> bytes:
    series = {
        "labels": [
            {"name": "__name__", "value": metric},
            {"name": "instance", "value": f"{instance}:9100"},
            {"name": "job", "value": "node"},
        ],
        "samples": [{"timestamp": at_ms, "value": value}],
    }
    request = WriteRequest(timeseries=[series])
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def otlp_body(host: str, metric: str, value: float, at: datetime) -> bytes:
    point = {"timeUnixNano": str(round(at.timestamp() * 1e9)), "asDouble": value}
    return json.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [{"key": "host.name", "value": {"stringValue": host}}]
                    },
                    "scopeMetrics": [
                        {"metrics": [{"name": metric, "gauge": {"dataPoints": [point]}}]}
                    ],
                }
            ]
        }
    ).encode()


def agent_payload(prefix: str, machine_id: str, hostname: str, start: datetime) -> bytes:
    """Three snapshots with a process group of the tenant's name, the first with inventory."""
    group = ProcessGroup(
        name=f"{prefix}-proc",
        num_procs=2,
        num_threads=4,
        cpu_user_seconds_total=10.0,
        cpu_system_seconds_total=1.0,
        read_bytes_total=0.0,
        write_bytes_total=0.0,
        resident_bytes=5e8,
        virtual_bytes=1e9,
    )
    inventory = msgspec.convert(
        {
            "content_sha256": hashlib.sha256(prefix.encode()).hexdigest(),
            "agent_version": "test",
            "hostname": hostname,
            "machine_id": machine_id,
            "os": {"id": "debian", "pretty_name": f"{prefix} linux"},
        },
        InventorySection,
    )
    p = payload(n=3, hostname=hostname, machine_id=machine_id, start=start)
    snaps = [replace(s, processes=ProcessesSection(count=9, groups=[group])) for s in p.snapshots]
    snaps[0] = replace(snaps[0], inventory=inventory)
    return encode(replace(p, snapshots=snaps))


def _ok(answer: Any, status: int = 202) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def send_everything(live: LiveServer, tenant: Tenant, prefix: str, tmp: Path) -> None:
    """Every door's data of the tenant, sent with its ingest key."""
    c, key = live.client, tenant.headers["ingest"]
    now = datetime.now(UTC).replace(microsecond=0)
    _ok(
        c.post(
            "/api/v1/ingest",
            content=agent_payload(
                prefix, f"m-{prefix}", f"{prefix}-host", now - timedelta(minutes=3)
            ),
            headers={**key, "Content-Type": "application/json"},
        )
    )
    sample = {
        "device_name": f"{prefix}-ups",
        "metric_name": f"{prefix}_marker",
        "value": MARKS[prefix],
        "timestamp": (now - timedelta(minutes=1)).isoformat(),
    }
    _ok(c.post("/api/v1/aggregator/metrics/batch/", json={"metrics": [sample]}, headers=key))
    _ok(
        c.post(
            "/api/v1/ingest/prometheus",
            params={"device_name": f"{prefix}-edge", "timestamp": now.isoformat()},
            content=f'{prefix}_temp_celsius{{sensor="{prefix}-sensor"}} 21.5\n',
            headers={**key, "Content-Type": "text/plain; version=0.0.4"},
        )
    )
    lines = snapshots(Scenario(), 120, 10.0, now - timedelta(hours=1))
    path = write_collection(tmp / f"{prefix}.jsonl", lines, f"{prefix}-coll")
    files = {"file": ("c.jsonl", path.read_bytes(), "application/x-ndjson")}
    _ok(c.post("/api/v1/collections", files=files, headers=key))
    upload = {"file": ("capture.json", capture(start=now - timedelta(minutes=5)), "text/plain")}
    _ok(c.post("/v1/upload", files=upload, data={"machine_id": f"{prefix}-pc"}, headers=key), 200)
    body = remote_write_body(
        f"{prefix}_rw_total", f"{prefix}-rw", 42.0, round(now.timestamp() * 1000)
    )
    _ok(
        c.post("/prometheus/api/v1/write", content=body, headers={**key, **REMOTE_WRITE_HEADERS}),
        204,
    )
    _ok(
        c.post(
            "/v1/metrics",
            content=otlp_body(f"{prefix}-otel", f"{prefix}_otel_gauge", 3.5, now),
            headers={**key, "Content-Type": "application/json"},
        ),
        200,
    )


def make_alerting(live: LiveServer, tenant: Tenant, prefix: str) -> tuple[int, int, int]:
    """A rule that fires for every host, a channel and a silence of the tenant's names."""
    c, admin = live.client, tenant.headers["admin"]
    rule = _ok(
        c.post(
            "/api/v1/alerts/rules",
            json={"name": f"{prefix}-rule", "signal": "cpu_percent", "op": ">", "threshold": 0},
            headers=admin,
        ),
        201,
    )
    channel = _ok(
        c.post(
            "/api/v1/alerts/channels",
            json={
                "name": f"{prefix}-channel",
                "kind": "webhook",
                "config": {"url": f"http://127.0.0.1:9/{prefix}"},
            },
            headers=admin,
        ),
        201,
    )
    silence = _ok(
        c.post(
            "/api/v1/silences",
            json={
                "rule_id": rule["id"],
                "host_pattern": f"{prefix}-quiet-*",
                "ends_at": "2099-01-01T00:00:00Z",
                "reason": f"{prefix}-silence",
            },
            headers=admin,
        ),
        201,
    )
    return rule["id"], channel["id"], silence["id"]


def wait_analysed(
    live: LiveServer, headers: dict[str, str], timeout: float = 60.0
) -> dict[str, Any]:
    """The tenant's analysis of its collection file, with reports, once every analysis of the
    tenant (its host's and those of its uploads) has ended."""
    deadline = time.monotonic() + timeout
    while True:
        found = live.client.get("/api/v1/analyses", headers=headers).json()
        ended = [a for a in found if a["state"] in {"done", "failed"}]
        if len(found) >= 3 and len(ended) == len(found):
            analysis: dict[str, Any] = next(
                a for a in found if a["state"] == "done" and a["host"].endswith("-coll")
            )
            return analysis
        assert time.monotonic() < deadline, f"analyses not done: {found}"
        time.sleep(0.1)


def fill(live: LiveServer, tenant: Tenant, prefix: str, tenant_name: str, tmp: Path) -> Target:
    """Send and make everything of the tenant; answer its Target."""
    c, admin = live.client, tenant.headers["admin"]
    send_everything(live, tenant, prefix, tmp)
    made = _ok(
        c.post(
            "/api/v1/collectors",
            json={
                "machine": f"{prefix}-collector",
                "site": f"{prefix}-site",
                "owner": f"{prefix}-owner",
            },
            headers=admin,
        ),
        201,
    )
    rule_id, channel_id, silence_id = make_alerting(live, tenant, prefix)
    live.wait_digested()
    window = {"start": str(time.time() - 600), "end": str(time.time())}
    _ok(c.post("/api/v1/analyses", json={"host": f"{prefix}-host", **window}, headers=admin))
    hosts = {h["name"]: h["id"] for h in c.get("/api/v1/hosts", headers=admin).json()}
    collectors = c.get("/api/v1/collectors", headers=admin).json()
    pc = next(x for x in collectors if x["machine_id"] == f"{prefix}-pc")
    files = _ok(c.get(f"/api/v1/collectors/{pc['id']}/files", headers=admin), 200)
    analysis = wait_analysed(live, admin)
    assert made["machine"] == f"{prefix}-collector" and files
    return Target(
        tenant_id=tenant.id,
        tenant_name=tenant_name,
        host_id=hosts[f"{prefix}-host"],
        host_name=f"{prefix}-host",
        machine_id=f"m-{prefix}",
        user_id=tenant.user_ids["viewer"],
        username=f"{prefix}-admin",
        key_id=tenant.key_ids["read"],
        collector_id=pc["id"],
        collector_machine=f"{prefix}-collector",
        site=f"{prefix}-site",
        pc_machine=f"{prefix}-pc",
        file_id=files[0]["id"],
        collection_id=analysis["collection_file"],
        analysis_id=analysis["id"],
        rule_id=rule_id,
        silence_id=silence_id,
        channel_id=channel_id,
        metric=f"{prefix}_marker",
        group=f"{prefix}-proc",
        device_names=tuple(sorted(hosts)),
    )


def evaluate_alerts(live: LiveServer) -> None:
    AlertEvaluator(live.server.engine, holder="isolation-test").run_once()


def ids_by_table(live: LiveServer, tenant_id: int) -> dict[str, set[int]]:
    """Every id the tenant owns, per table."""
    found: dict[str, set[int]] = {"tenants": {tenant_id}}
    with live.server.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if {"id", "tenant_id"} <= set(table.c.keys()):
                rows = conn.execute(select(table.c.id).where(table.c.tenant_id == tenant_id))
                found[table.name] = {int(r) for r in rows.scalars()}
    return found


def secrets_of(live: LiveServer, tenant_id: int, admin: dict[str, str], prefix: str) -> set[str]:
    """Strings only the tenant's data has: its names' prefix, its key prefixes, the digests
    of its files and inventory, its marker value."""
    keys = live.client.get("/api/v1/keys", headers=admin).json()
    tables = {t.name: t for t in metadata.sorted_tables}
    found = {prefix, str(MARKS[prefix])} | {k["prefix"] for k in keys}
    with live.server.engine.connect() as conn:
        for name in ("collection_files", "inventory"):
            table = tables[name]
            rows = conn.execute(
                select(table.c.content_sha256).where(table.c.tenant_id == tenant_id)
            )
            found |= set(rows.scalars())
    return found


STATE_READS = (
    "/api/v1/hosts",
    "/api/v1/users",
    "/api/v1/keys",
    "/api/v1/collectors",
    "/api/v1/analyses",
    "/api/v1/alerts/rules",
    "/api/v1/alerts/channels",
    "/api/v1/silences?include_ended=true",
    "/api/v1/alerts?state=pending,firing,resolved,inactive",
    "/api/v1/alerts/history",
)
# Volatile by nature, not by anything another tenant does.
_VOLATILE = {"last_used", "last_seen", "status", "since", "active_since", "value", "at"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def state_of(live: LiveServer, t: Target, admin: dict[str, str], su: dict[str, str]) -> Any:
    """What B's admin (and the superuser, for B's tenant row) sees of B, for a before/after
    comparison: another tenant's requests must change none of it."""
    c = live.client
    state: dict[str, Any] = {p: _stable(c.get(p, headers=admin).json()) for p in STATE_READS}
    for collector in state["/api/v1/collectors"]:
        path = f"/api/v1/collectors/{collector['id']}/files"
        state[path] = c.get(path, headers=admin).json()
    state["tenant"] = c.get(f"/api/v1/tenants/{t.tenant_id}", headers=su).json()
    for name in t.device_names:
        answer = c.get(f"/api/v1/reports/metrics/{name}", params={"start_time": "0"}, headers=admin)
        state[name] = [
            (s["metric"], s["labels"], len(s["points"])) for s in answer.json()["series"]
        ]
    # B's audit log: login failures under B's usernames are recorded in B's log by design
    # (docs/accounts.md, "The audit log"), whoever tried them; nothing else may appear.
    entries = c.get("/api/v1/audit?limit=1000", headers=admin).json()["entries"]
    state["audit"] = [e for e in entries if e["action"] != "login.failed"]
    return state
