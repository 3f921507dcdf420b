"""Issue 6's reporting pieces: top process groups (a LAG window over counters, across resets),
inventory in the host detail and its history, and CSV from the API and `fleetscope export csv`,
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from msgspec.structs import replace
from sqlalchemy import Engine
from typer.testing import CliRunner

from fleetscope.cli.export import ExportError, export_file, export_server
from fleetscope.cli.main import app
from fleetscope.digest.transform import agent_payload_rows
from fleetscope.model.inventory import InventorySection, OsInventory
from fleetscope.model.payload import Payload, ProcessesSection, ProcessGroup
from fleetscope.query.csvexport import HEADER
from fleetscope.query.processes import ProcessQueries
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, free_port, payload, payload_json
from tests.processes import FLEETSCOPE, credentials, login, running, wait_ready
from tests.server import ADMIN_PASSWORD, LiveServer, start_server

MS0 = round(T0.timestamp() * 1000)
# cpu_seconds_total of "app" at T0 + 0, 10, 20, 30 s: the agent restarted between 10 and 20 s.
APP_CPU = [100.0, 110.0, 5.0, 15.0]
APP_CPU_USED = 10.0 + 5.0 + 10.0  # the reset counts the new value (5) from zero
APP_MEMORY = [1e8, 3e8, 2e8, 2e8]


def group(name: str, cpu: float, resident: float) -> ProcessGroup:
    return ProcessGroup(
        name=name,
        num_procs=1,
        num_threads=1,
        cpu_user_seconds_total=cpu,
        cpu_system_seconds_total=0,
        read_bytes_total=0,
        write_bytes_total=0,
        resident_bytes=resident,
        virtual_bytes=resident,
    )


def with_processes(hostname: str = "web-1") -> Payload:
    p = payload(4, hostname=hostname, machine_id=f"m-{hostname}", start=T0)
    shots = [
        replace(
            s,
            processes=ProcessesSection(
                count=3,
                groups=[
                    group("app", APP_CPU[i], APP_MEMORY[i]),
                    group("cron", 1.0 + i, 9e8),  # 1 s each 10 s, the most memory
                ],
            ),
        )
        for i, s in enumerate(p.snapshots)
    ]
    return replace(p, snapshots=shots)


def test_cpu_is_summed_with_lag_across_a_counter_reset(engine: Engine) -> None:
    StoreWriter(engine).write_batches([agent_payload_rows(1, payload_json(with_processes()))])
    queries = ProcessQueries(engine)
    top = queries.top_groups(1, MS0, MS0 + 30_000, by="cpu")
    assert [(g.group_name, g.cpu_seconds, g.samples) for g in top] == [
        ("app", APP_CPU_USED, 4),
        ("cron", 3.0, 4),
    ]
    app_usage = top[0]
    assert app_usage.avg_memory_bytes == sum(APP_MEMORY) / 4
    assert app_usage.max_memory_bytes == 300_000_000
    by_memory = queries.top_groups(1, MS0, MS0 + 30_000, by="memory", limit=1)
    assert [g.group_name for g in by_memory] == ["cron"]
    # From 10 s on the first sample in range is 110: only the reset (5) and +10 count.
    later = queries.top_groups(1, MS0 + 10_000, MS0 + 30_000)
    assert later[0].cpu_seconds == 15.0
    assert queries.top_groups(1, MS0 + 60_000, MS0 + 90_000) == []  # an empty range
    assert queries.top_groups(2, MS0, MS0 + 30_000) == []  # another tenant's view


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def ingest(live: LiveServer, body: Payload) -> None:
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(body), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()


def host_id(live: LiveServer, headers: dict[str, str], name: str = "web-1") -> int:
    hosts = live.client.get("/api/v1/hosts", headers=headers).json()
    return int(next(h["id"] for h in hosts if h["name"] == name))


def test_processes_endpoint(live: LiveServer) -> None:
    ingest(live, with_processes())
    headers = live.user_headers()
    hid = host_id(live, headers)
    url = f"/api/v1/hosts/{hid}/processes"
    start, end = T0.isoformat(), (T0 + timedelta(seconds=50)).isoformat()
    got = live.client.get(url, params={"start_time": start, "end_time": end}, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["host_name"] == "web-1" and body["sort"] == "cpu"
    app_group = body["groups"][0]
    assert app_group["name"] == "app"
    assert app_group["cpu_seconds"] == APP_CPU_USED
    assert app_group["covered_seconds"] == 30  # its samples span 30 s of the 50 asked
    assert app_group["cpu_cores"] == pytest.approx(APP_CPU_USED / 30)
    assert app_group["cpu_percent"] == pytest.approx(100 * APP_CPU_USED / 30)
    assert app_group["memory_max_bytes"] == 300_000_000
    memory = live.client.get(
        url,
        params={"start_time": start, "end_time": end, "sort": "memory", "limit": "1"},
        headers=headers,
    ).json()
    assert [g["name"] for g in memory["groups"]] == ["cron"]
    for bad, word in (
        ({"start_time": start, "sort": "io"}, "sort"),
        ({}, "start_time"),
        ({"start_time": end, "end_time": start}, "before"),
    ):
        response = live.client.get(url, params=bad, headers=headers)
        assert response.status_code == 400, bad
        assert word in response.json()["detail"]
    # limit is a typed query parameter (1 to 100): a validation error names it, as for every
    # other typed parameter (it was hand-parsed into a 400 before).
    for limit in ("0", "101", "ten"):
        response = live.client.get(
            url, params={"start_time": start, "limit": limit}, headers=headers
        )
        assert response.status_code == 422, limit
        assert [e["field"] for e in response.json()["errors"]] == ["query.limit"]
    missing = live.client.get(
        "/api/v1/hosts/999999/processes", params={"start_time": start}, headers=headers
    )
    assert missing.status_code == 404
    live.client.cookies.clear()  # the login's session cookie
    assert live.client.get(url, params={"start_time": start}).status_code == 401


def audit(kernel: str) -> InventorySection:
    return InventorySection(
        content_sha256=hashlib.sha256(kernel.encode()).hexdigest(),
        agent_version="test",
        hostname="web-1",
        os=OsInventory(id="debian", kernel=kernel),
        memory_total_bytes=8e9,
    )


def with_audit(at: datetime, section: InventorySection) -> Payload:
    p = payload(1, start=at)
    return replace(p, snapshots=[replace(p.snapshots[0], inventory=section)])


def test_host_detail_inventory_and_history(live: LiveServer) -> None:
    ingest(live, payload(1))
    headers = live.user_headers()
    hid = host_id(live, headers)
    assert "inventory" not in live.client.get(f"/api/v1/hosts/{hid}", headers=headers).json()
    history_url = f"/api/v1/hosts/{hid}/inventory/history"
    assert live.client.get(history_url, headers=headers).json() == []
    for hours, kernel in ((1, "6.1"), (2, "6.2"), (3, "6.8")):
        ingest(live, with_audit(T0 + timedelta(hours=hours), audit(kernel)))
    detail = live.client.get(f"/api/v1/hosts/{hid}", headers=headers).json()
    assert detail["inventory"]["audit"]["os"]["kernel"] == "6.8"
    assert detail["inventory"]["content_sha256"] == audit("6.8").content_sha256
    assert detail["inventory"]["updated_at"] == "2026-11-22T11:00:00Z"
    history = live.client.get(history_url, headers=headers).json()
    assert [(r["at"], r["changes"]) for r in history] == [
        (
            "2026-11-22T11:00:00Z",
            [{"path": "os.kernel", "old": "6.2", "new": "6.8", "values_omitted": False}],
        ),
        (
            "2026-11-22T10:00:00Z",
            [{"path": "os.kernel", "old": "6.1", "new": "6.2", "values_omitted": False}],
        ),
    ]
    assert history[0]["previous_sha256"] == audit("6.2").content_sha256
    one = live.client.get(history_url, params={"limit": 1}, headers=headers).json()
    assert len(one) == 1
    assert (
        live.client.get("/api/v1/hosts/999999/inventory/history", headers=headers).status_code
        == 404
    )


def parse(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return rows


def test_metrics_report_as_csv(live: LiveServer) -> None:
    ingest(live, payload(3))
    headers = live.user_headers()
    url = "/api/v1/reports/metrics/web-1"
    params = {"start_time": T0.isoformat(), "end_time": (T0 + timedelta(minutes=1)).isoformat()}
    as_json = live.client.get(url, params=params, headers=headers).json()
    by_query = live.client.get(url, params={**params, "format": "csv"}, headers=headers)
    by_accept = live.client.get(url, params=params, headers={**headers, "Accept": "text/csv"})
    for response in (by_query, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "web-1-metrics.csv" in response.headers["content-disposition"]
    assert by_query.text == by_accept.text
    assert by_query.text.splitlines()[0] == ",".join(HEADER)
    rows = parse(by_query.text)
    points = sum(len(s["points"]) for s in as_json["series"])
    assert len(rows) == points > 0
    util = [r for r in rows if r["metric"] == "cpu_utilization_percent"]
    assert [(r["timestamp"], r["value"]) for r in util] == [
        ("2026-11-22T08:00:00.000Z", "10.0"),
        ("2026-11-22T08:00:10.000Z", "11.0"),
        ("2026-11-22T08:00:20.000Z", "12.0"),
    ]
    user = next(r for r in rows if r["metric"] == "cpu_seconds_total" and '"user"' in r["labels"])
    assert json.loads(user["labels"]) == {"mode": "user"}
    assert user["value"] == "100.0"
    assert util[0]["labels"] == "{}"
    json_anyway = live.client.get(
        url, params={**params, "format": "json"}, headers={**headers, "Accept": "text/csv"}
    )
    assert json_anyway.json()["device_name"] == "web-1"
    bad = live.client.get(url, params={**params, "format": "xml"}, headers=headers)
    assert bad.status_code == 400


def test_export_csv_from_a_collection_file(tmp_path: Path) -> None:
    collection = tmp_path / "collection.jsonl"
    first, second = payload(2), payload(1, start=T0 + timedelta(seconds=20))
    collection.write_bytes(payload_json(first) + b"\n\n" + payload_json(second) + b"\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "csv",
            "--from-file",
            str(collection),
            "--metrics",
            "cpu_utilization_percent,memory_used_bytes",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = parse(out.read_text(encoding="utf-8"))
    assert [(r["timestamp"], r["metric"], r["value"]) for r in rows] == [
        ("2026-11-22T08:00:00.000Z", "cpu_utilization_percent", "10.0"),
        ("2026-11-22T08:00:00.000Z", "memory_used_bytes", "1000000000.0"),
        ("2026-11-22T08:00:10.000Z", "cpu_utilization_percent", "11.0"),
        ("2026-11-22T08:00:10.000Z", "memory_used_bytes", "1000000000.0"),
        ("2026-11-22T08:00:20.000Z", "cpu_utilization_percent", "10.0"),
        ("2026-11-22T08:00:20.000Z", "memory_used_bytes", "1000000000.0"),
    ]
    everything = io.StringIO()
    assert export_file(collection, None, everything) > len(rows)
    collection.write_text("{not json}\n")
    with pytest.raises(ExportError, match=r"collection.jsonl:1"):
        export_file(collection, None, io.StringIO())
    broken = CliRunner().invoke(app, ["export", "csv", "--from-file", str(collection)])
    assert broken.exit_code == 1
    assert CliRunner().invoke(app, ["export", "csv"]).exit_code == 2


def test_export_csv_from_a_server(live: LiveServer) -> None:
    ingest(live, payload(3))
    out = io.StringIO(newline="")
    export_server(
        live.client,
        device="web-1",
        start=T0.isoformat(),
        end=(T0 + timedelta(minutes=1)).isoformat(),
        metrics="cpu_utilization_percent",
        username="admin",
        password=ADMIN_PASSWORD,
        out=out,
    )
    rows = parse(out.getvalue())
    assert [r["value"] for r in rows] == ["10.0", "11.0", "12.0"]
    with pytest.raises(ExportError, match="login failed"):
        export_server(
            live.client,
            device="web-1",
            start=T0.isoformat(),
            end=None,
            metrics=None,
            username="admin",
            password="wrong",
            out=io.StringIO(),
        )
    with pytest.raises(ExportError, match="404"):
        export_server(
            live.client,
            device="nope",
            start=T0.isoformat(),
            end=None,
            metrics=None,
            username="admin",
            password=ADMIN_PASSWORD,
            out=io.StringIO(),
        )


@pytest.mark.slow
def test_export_csv_command_against_a_running_server(tmp_path: Path) -> None:
    server_dir, port = tmp_path / "server", free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = ["server", "--data-dir", str(server_dir), "--port", str(port)]
    # FLEETSCOPE_PASSWORD (export's login) in the server's environment must not stop it.
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_PASSWORD": "pw"}
    with running(cmd, server_dir, env) as server:
        wait_ready(base, server)
        key = credentials(server_dir)["agent_api_key"]
        sent = httpx.post(
            f"{base}/api/v1/ingest",
            content=payload_json(payload(3)),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert sent.status_code == 202, sent.text
        query = f"{base}/api/v1/reports/metrics/web-1?start_time={T0.timestamp()}"
        deadline = time.monotonic() + 30
        while httpx.get(query, headers=login(base, "pw")).status_code != 200:
            assert time.monotonic() < deadline, "the payload was not digested in time"
            time.sleep(0.1)
        out = tmp_path / "server.csv"
        args = ["export", "csv", "--server", base, "--device", "web-1", "--start"]
        # An explicit end: "now" would make the range (and so the tier read) depend on the clock;
        # past 6 hours after T0 the export is answered from the 1-minute tier.
        args += [T0.isoformat(), "--end", (T0 + timedelta(minutes=1)).isoformat()]
        args += ["--metrics", "cpu_utilization_percent", "--output", str(out)]
        done = subprocess.run(
            [*FLEETSCOPE, *args],
            env={**os.environ, "FLEETSCOPE_PASSWORD": "pw"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert [r["value"] for r in parse(out.read_text(encoding="utf-8"))] == ["10.0", "11.0", "12.0"]
