"""The dashboard's API: fleet overview, summary report, host detail, session cookie, logout and
the live WebSocket, against the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from msgspec.structs import replace
from pydantic import TypeAdapter
from starlette.websockets import WebSocketDisconnect

from fleetscope.model.payload import (
    AgentInfo,
    FilesystemMount,
    FilesystemSection,
    HostIdentity,
    NetworkInterface,
    NetworkSection,
    Payload,
    Snapshot,
)
from fleetscope.query.fleet import status_of
from fleetscope.web.schemas import FleetHostOut
from fleetscope.web.services import SESSION_COOKIE
from tests.helpers import payload_json, snapshot
from tests.server import ADMIN_PASSWORD, LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def full_snapshot(at: datetime, cpu: float) -> Snapshot:
    base = snapshot(at, cpu_percent=cpu, used=2e9)
    return replace(
        base,
        filesystem=FilesystemSection(
            mounts=[
                FilesystemMount(
                    device="/dev/sda1",
                    mountpoint="/",
                    fstype="ext4",
                    readonly=False,
                    size_bytes=100e9,
                    used_bytes=60e9,
                    free_bytes=40e9,
                    avail_bytes=20e9,
                ),
                FilesystemMount(  # full by design: never the "fullest" filesystem
                    device="/dev/loop0",
                    mountpoint="/snap/core",
                    fstype="squashfs",
                    readonly=True,
                    size_bytes=1e8,
                    used_bytes=1e8,
                    free_bytes=0,
                    avail_bytes=0,
                ),
            ]
        ),
        network=NetworkSection(
            interfaces=[
                NetworkInterface(
                    device="eth0",
                    receive_bytes_total=1e6,
                    receive_packets_total=10,
                    transmit_bytes_total=2e6,
                    transmit_packets_total=20,
                    receive_bytes_per_second=1000,
                    transmit_bytes_per_second=500,
                ),
                NetworkInterface(
                    device="lo",
                    receive_bytes_total=1e6,
                    receive_packets_total=10,
                    transmit_bytes_total=1e6,
                    transmit_packets_total=10,
                    receive_bytes_per_second=99999,
                    transmit_bytes_per_second=99999,
                ),
            ]
        ),
    )


def send(live: LiveServer, host: str, snapshots: list[Snapshot]) -> None:
    body = Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id=f"m-{host}", hostname=host),
        snapshots=snapshots,
    )
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(body), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_dashboard_endpoints_need_a_login(live: LiveServer) -> None:
    for path in ("/api/v1/fleet", "/api/v1/hosts/1", "/api/v1/reports/summary?time_range=24"):
        assert live.client.get(path).status_code == 401, path
    page = live.client.get("/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/"
    assert live.client.get("/hosts/1", follow_redirects=False).status_code == 303
    assert live.client.get("/login").status_code == 200
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        live.client.websocket_connect("/api/v1/ws/metrics") as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4401


def test_an_agent_key_may_send_but_not_read(live: LiveServer) -> None:
    # Known but not allowed: 403, with what to do instead; a wrong token stays 401.
    agent = live.agent_headers()
    for path in ("/api/v1/fleet", "/api/v1/hosts", "/api/v1/reports/summary?time_range=24"):
        refused = live.client.get(path, headers=agent)
        assert refused.status_code == 403, path
        assert "log in as a user" in refused.json()["detail"]
    wrong = live.client.get("/api/v1/fleet", headers={"Authorization": "Bearer fsk_wrong"})
    assert wrong.status_code == 401
    assert live.client.get("/api/v1/fleet", headers=live.user_headers()).status_code == 200


def test_fleet_overview_status_and_headline(live: LiveServer) -> None:
    t = now()
    send(
        live,
        "fresh",
        [full_snapshot(t - timedelta(seconds=10 * (5 - i)), 10 + i) for i in range(6)],
    )
    send(live, "old", [snapshot(t - timedelta(hours=2, seconds=10 * (2 - i))) for i in range(3)])
    live.wait_digested()
    headers = live.user_headers()
    fleet = {h["name"]: h for h in live.client.get("/api/v1/fleet", headers=headers).json()}
    fresh, old = fleet["fresh"], fleet["old"]
    assert fresh["status"] == "live" and old["status"] == "offline"
    assert fresh["interval_seconds"] == 10
    assert fresh["latest"] == {
        "cpu_percent": 15.0,
        "memory_percent": 25.0,
        "disk_percent": 75.0,  # used / (used + avail) of /, the read-only squashfs left out
        "network_bytes_per_second": 1500.0,  # eth0 both ways, lo left out
    }
    assert fresh["spark"]["cpu_percent"] == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert old["latest"]["disk_percent"] is None  # no filesystem data: absent, not 0


def test_fleet_json_is_the_documented_model_and_follows_new_samples(live: LiveServer) -> None:
    """GET /api/v1/fleet writes its JSON itself (web/fleetjson.py): it must still be exactly
    FleetHostOut, and a cached sparkline must give way when the host sends a new sample."""
    t = now()
    send(live, "json-host", [full_snapshot(t - timedelta(seconds=20), 10)])
    live.wait_digested()
    headers = live.user_headers()
    first = live.client.get("/api/v1/fleet", headers=headers)
    assert first.headers["content-type"] == "application/json"
    [host] = TypeAdapter(list[FleetHostOut]).validate_json(first.content)
    assert host.spark.cpu_percent == [10.0] and host.last_seen == t - timedelta(seconds=20)
    assert first.json()[0]["last_seen"] == (t - timedelta(seconds=20)).isoformat().replace(
        "+00:00", "Z"
    )
    again = live.client.get("/api/v1/fleet", headers=headers)
    assert again.content == first.content
    send(live, "json-host", [full_snapshot(t - timedelta(seconds=10), 20)])
    live.wait_digested()
    [moved] = live.client.get("/api/v1/fleet", headers=headers).json()
    assert moved["spark"]["cpu_percent"] == [10.0, 20.0]
    assert moved["latest"]["cpu_percent"] == 20.0
    schema = live.client.get("/openapi.json").json()
    answer = schema["paths"]["/api/v1/fleet"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["items"]["$ref"].endswith("FleetHostOut")


def test_status_thresholds() -> None:
    assert status_of(20_000, 10_000) == "live"
    assert status_of(20_001, 10_000) == "stale"
    assert status_of(600_000, 10_000) == "stale"
    assert status_of(600_001, 10_000) == "offline"
    assert status_of(None, 10_000) == "offline"
    assert status_of(1_000_000, 600_000) == "live"  # a 10-minute agent is live for 20


def test_summary_counts_averages_and_worst(live: LiveServer) -> None:
    t = now()
    send(live, "busy", [full_snapshot(t - timedelta(seconds=10 * i), 90) for i in range(3)])
    send(live, "idle", [full_snapshot(t - timedelta(seconds=10 * i), 10) for i in range(3)])
    send(live, "gone", [snapshot(t - timedelta(hours=30), cpu_percent=100)])  # outside 24 h
    live.wait_digested()
    headers = live.user_headers()
    summary = live.client.get("/api/v1/reports/summary?time_range=24", headers=headers).json()
    assert summary["hosts"] == {"live": 2, "stale": 0, "offline": 1}
    assert summary["averages"]["cpu_percent"] == 50.0
    assert [h["name"] for h in summary["worst"]["cpu_percent"]] == ["busy", "idle"]
    assert summary["worst"]["cpu_percent"][0]["averages"]["cpu_percent"] == 90.0
    one_hour = live.client.get("/api/v1/reports/summary?time_range=1", headers=headers).json()
    assert one_hour["hosts"]["offline"] == 1
    bad = live.client.get("/api/v1/reports/summary?time_range=0", headers=headers)
    assert bad.status_code == 422


def test_host_detail_has_only_sections_with_data(live: LiveServer) -> None:
    t = now()
    send(live, "full", [full_snapshot(t, 42)])
    send(live, "small", [snapshot(t, cpu_percent=7)])
    live.wait_digested()
    headers = live.user_headers()
    fleet = {h["name"]: h["id"] for h in live.client.get("/api/v1/fleet", headers=headers).json()}
    full = live.client.get(f"/api/v1/hosts/{fleet['full']}", headers=headers).json()
    assert set(full["sections"]) == {"cpu", "memory", "filesystem", "network"}
    assert full["sections"]["cpu"]["values"]["utilization_percent"] == 42.0
    assert full["sections"]["memory"]["values"]["used_bytes"] == 2e9
    assert set(full["sections"]["filesystem"]["items"]) == {"/", "/snap/core"}
    assert full["sections"]["network"]["items"]["eth0"]["receive_bytes_per_second"] == 1000.0
    assert full["sampled_at"] == t.isoformat().replace("+00:00", "Z")
    small = live.client.get(f"/api/v1/hosts/{fleet['small']}", headers=headers).json()
    assert set(small["sections"]) == {"cpu", "memory"}
    missing = live.client.get("/api/v1/hosts/999999", headers=headers)
    assert missing.status_code == 404


def test_host_detail_carries_the_headline_the_overview_shows(live: LiveServer) -> None:
    """The host page's big numbers come from `latest` (web/static/host.js), computed by the same
    rules as the overview's, so the page spells no series names."""
    t = now()
    send(live, "full", [full_snapshot(t - timedelta(seconds=10), 41), full_snapshot(t, 42)])
    send(live, "small", [snapshot(t, cpu_percent=7, used=2e9)])
    live.wait_digested()
    headers = live.user_headers()
    fleet = {h["name"]: h for h in live.client.get("/api/v1/fleet", headers=headers).json()}
    full = live.client.get(f"/api/v1/hosts/{fleet['full']['id']}", headers=headers).json()
    assert (
        full["latest"]
        == fleet["full"]["latest"]
        == {
            "cpu_percent": 42.0,
            "memory_percent": 25.0,
            "disk_percent": 75.0,
            "network_bytes_per_second": 1500.0,
        }
    )
    small = live.client.get(f"/api/v1/hosts/{fleet['small']['id']}", headers=headers).json()
    assert small["latest"] == {
        "cpu_percent": 7.0,
        "memory_percent": 25.0,
        "disk_percent": None,
        "network_bytes_per_second": None,
    }


def test_login_sets_an_http_only_cookie_and_logout_ends_the_session(live: LiveServer) -> None:
    response = live.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert live.client.get("/api/v1/fleet").status_code == 200  # by cookie alone
    assert live.client.get("/", follow_redirects=False).status_code == 200
    token = response.json()["token"]
    assert live.client.post("/api/v1/auth/logout").status_code == 204
    live.client.cookies.clear()
    gone = live.client.get("/api/v1/fleet", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401


def test_websocket_pushes_points_after_digest_commits(live: LiveServer) -> None:
    token = live.user_headers()["Authorization"].split()[1]
    live.client.cookies.clear()
    t = now()
    send(live, "ws-host", [full_snapshot(t - timedelta(seconds=10), 1)])
    live.wait_digested()
    host_id = live.client.get("/api/v1/fleet", headers={"Authorization": f"Bearer {token}"}).json()[
        0
    ]["id"]
    with live.client.websocket_connect(f"/api/v1/ws/metrics?token={token}&host_id={host_id}") as ws:
        assert ws.receive_json() == {"type": "hello", "host_id": host_id}
        started = time.monotonic()
        send(live, "other-host", [full_snapshot(t, 50)])  # another host: not for this socket
        send(live, "ws-host", [full_snapshot(t, 77)])
        message = ws.receive_json()
        assert time.monotonic() - started < 2.0
    assert message["type"] == "points"
    [point] = message["points"]
    assert point["host_id"] == host_id and point["host"] == "ws-host"
    assert point["t"] == t.timestamp()
    assert point["cpu_percent"] == 77.0 and point["disk_percent"] == 75.0


def test_websocket_with_cookie_checks_the_origin(live: LiveServer) -> None:
    live.user_headers()  # the client now holds the session cookie
    with live.client.websocket_connect(
        "/api/v1/ws/metrics", headers={"origin": "http://testserver"}
    ) as ws:
        assert ws.receive_json()["type"] == "hello"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        live.client.websocket_connect(
            "/api/v1/ws/metrics", headers={"origin": "http://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4401
