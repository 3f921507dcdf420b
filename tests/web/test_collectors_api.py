"""The collector registry's REST routes, registration from an agent's inventory, and the
perfcollector-compatible /v1/ping, /v1/version and /v1/upload (issue 12), against the real
server on SQLite and PostgreSQL: a real multipart upload of a capture built from the fixture
/proc tree (tests/perfcollector_capture.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from msgspec.structs import replace

from fleetscope import __version__
from fleetscope.model.auth import Role, Scope
from fleetscope.model.codec import encode
from fleetscope.model.inventory import InventorySection
from fleetscope.store.accounts import create_tenant, create_user
from fleetscope.store.audit import list_entries
from fleetscope.store.keys import create_key
from tests.helpers import payload
from tests.perfcollector_capture import capture
from tests.server import LiveServer, start_server

PASSWORD = "a long enough password 1"


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """The real server on SQLite and on PostgreSQL."""
    yield from start_server(tmp_path / "data", database_url=database_url)


def _login(live: LiveServer, username: str) -> dict[str, str]:
    response = live.client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _user(live: LiveServer, tenant_id: int, name: str, role: Role) -> dict[str, str]:
    create_user(live.server.engine, tenant_id, name, PASSWORD, role)
    return _login(live, name)


def _upload(
    live: LiveServer, key: str, data: bytes, machine_id: str | None = "pc-7"
) -> tuple[int, dict[str, object]]:
    form = {} if machine_id is None else {"machine_id": machine_id}
    response = live.client.post(
        "/v1/upload",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("capture.json", data, "application/octet-stream")},
        data=form,
    )
    return response.status_code, response.json()


def test_ping_and_version_answer_as_pcd(live: LiveServer) -> None:
    ping = live.client.get("/v1/ping")
    assert (ping.status_code, ping.text) == (200, "pong")
    version = live.client.get("/v1/version")
    assert (version.status_code, version.text) == (200, __version__)


def test_an_upload_lands_as_a_collection_file_with_its_samples(live: LiveServer) -> None:
    data = capture()
    status, answer = _upload(live, live.agent_key, data)
    assert status == 200, answer
    assert answer["snapshots"] == 3 and answer["bytes"] == len(data)
    live.wait_digested()
    admin = live.user_headers()
    collectors = live.client.get("/api/v1/collectors", headers=admin).json()
    [collector] = [c for c in collectors if c["machine_id"] == "pc-7"]
    assert collector["host_id"] is not None
    files = live.client.get(f"/api/v1/collectors/{collector['id']}/files", headers=admin)
    assert files.status_code == 200
    [kept] = files.json()
    assert kept["size_bytes"] == len(data) and kept["result"] == "ingested"
    with live.server.engine.connect() as conn:  # the collections record its samples became
        assert (
            kept["collection_id"]
            == conn.execute(sa.text("SELECT id FROM collections")).scalar_one()
        )
    assert kept["content_sha256"] == hashlib.sha256(data).hexdigest()
    download = live.client.get(kept["download"], headers=admin)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"].startswith("application/x-ndjson")
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    host = live.client.get(f"/api/v1/hosts/{collector['host_id']}", headers=admin)
    assert host.status_code == 200, host.text
    assert "pc-7" in host.text
    # The same capture again: stored once, kept once.
    assert _upload(live, live.agent_key, data)[0] == 200
    live.wait_digested()
    assert (
        len(live.client.get(f"/api/v1/collectors/{collector['id']}/files", headers=admin).json())
        == 1
    )


def test_upload_refusals_name_the_problem(live: LiveServer) -> None:
    status, answer = _upload(live, live.agent_key, capture(), machine_id=None)
    assert status == 422 and "machine_id" in str(answer["detail"])
    status, answer = _upload(live, live.agent_key, b'{"schema_version": 1}\n')
    assert status == 422 and "not a perfcollector capture" in str(answer["detail"])
    status, answer = _upload(live, live.agent_key, b"")
    assert status == 422 and "empty" in str(answer["detail"])
    status, answer = _upload(live, live.agent_key, capture(), machine_id="bad\x01id")
    assert status == 422 and "machine_id" in str(answer["detail"])
    no_file = live.client.post(
        "/v1/upload",
        headers={"Authorization": f"Bearer {live.agent_key}"},
        data={"machine_id": "pc-7"},
        files={"other": ("x", b"x")},
    )
    assert no_file.status_code == 422 and "file" in no_file.json()["detail"]
    assert _upload(live, "fsk_wrong", capture())[0] == 401
    engine = live.server.engine
    bound = create_key(engine, 1, "laptop", Scope.INGEST, bound_machine_id="pc-8").secret
    status, answer = _upload(live, bound, capture())
    assert status == 403 and "bound" in str(answer["detail"])
    assert _upload(live, bound, capture(), machine_id="pc-8")[0] == 200


def test_upload_over_the_size_limit_is_413(tmp_path: Path) -> None:
    for live in start_server(tmp_path, max_body_bytes=4096):
        status, answer = _upload(live, live.agent_key, capture())
        assert status == 413, answer


def test_registry_roles_and_tenants(live: LiveServer) -> None:
    engine = live.server.engine
    admin = live.user_headers()
    viewer = _user(live, 1, "vera", Role.VIEWER)
    editor = _user(live, 1, "eddie", Role.EDITOR)
    body = {"machine": "db-1", "site": "lab", "platform": "Linux", "cores": 8, "owner": "ops"}
    assert live.client.post("/api/v1/collectors", json=body, headers=viewer).status_code == 403
    made = live.client.post("/api/v1/collectors", json=body, headers=editor)
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    assert live.client.post("/api/v1/collectors", json=body, headers=admin).status_code == 409
    patch = {"memory_bytes": 2**34, "chip_maker": "AMD", "cpu_model": "EPYC"}
    assert (
        live.client.patch(f"/api/v1/collectors/{ident}", json=patch, headers=viewer).status_code
        == 403
    )
    edited = live.client.patch(f"/api/v1/collectors/{ident}", json=patch, headers=admin)
    assert edited.status_code == 200 and edited.json()["memory_bytes"] == 2**34
    assert edited.json()["owner"] == "ops"
    logged = [(e.actor, e.action, e.address) for e in list_entries(engine, 1)]
    # With the client's address, as the account routes log theirs.
    assert ("eddie", "collector.created", "testclient") in logged
    assert ("admin", "collector.updated", "testclient") in logged
    shown = live.client.get(f"/api/v1/collectors/{ident}", headers=viewer).json()
    assert shown["chip_maker"] == "AMD" and shown["site"] == "lab"
    bad = live.client.patch(f"/api/v1/collectors/{ident}", json={"cores": -1}, headers=admin)
    assert bad.status_code == 422
    # Another tenant sees none of it, by list or by id.
    other = create_tenant(engine, "other")
    stranger = _user(live, other.id, "olga", Role.ADMIN)
    assert live.client.get("/api/v1/collectors", headers=stranger).json() == []
    for path in (f"/api/v1/collectors/{ident}", f"/api/v1/collectors/{ident}/files"):
        assert live.client.get(path, headers=stranger).status_code == 404
    patched = live.client.patch(f"/api/v1/collectors/{ident}", json=patch, headers=stranger)
    assert patched.status_code == 404
    # A file of tenant 1, asked for by tenant 2 or under another collector: 404.
    assert _upload(live, live.agent_key, capture())[0] == 200
    live.wait_digested()
    [pc] = [
        c
        for c in live.client.get("/api/v1/collectors", headers=admin).json()
        if c["machine_id"] == "pc-7"
    ]
    [kept] = live.client.get(f"/api/v1/collectors/{pc['id']}/files", headers=admin).json()
    assert live.client.get(kept["download"], headers=stranger).status_code == 404
    wrong = f"/api/v1/collectors/{ident}/files/{kept['id']}"
    assert live.client.get(wrong, headers=admin).status_code == 404
    assert live.client.get(kept["download"], headers=viewer).status_code == 200
    # An agent key reads nothing here.
    agent = {"Authorization": f"Bearer {live.agent_key}"}
    assert live.client.get("/api/v1/collectors", headers=agent).status_code == 403


def _inventory(machine_id: str) -> InventorySection:
    return msgspec.convert(
        {
            "content_sha256": "ab" * 32,
            "agent_version": "test",
            "hostname": "web-9",
            "machine_id": machine_id,
            "os": {"id": "debian", "pretty_name": "Debian 13"},
            "cpu": {"vendor": "GenuineIntel", "model": "Xeon", "cores": 4, "threads": 8},
            "memory_total_bytes": 8 * 2**30,
        },
        InventorySection,
    )


def test_an_agent_inventory_registers_its_collector(live: LiveServer) -> None:
    p = payload(n=1, hostname="web-9", machine_id="m-web-9", start=datetime.now(UTC))
    p = replace(p, snapshots=[replace(p.snapshots[0], inventory=_inventory("m-web-9"))])
    sent = live.client.post("/api/v1/ingest", content=encode(p), headers=live.agent_headers())
    assert sent.status_code == 202, sent.text
    live.wait_digested()
    admin = live.user_headers()
    [found] = [
        c for c in live.client.get("/api/v1/collectors", headers=admin).json()
        if c["machine_id"] == "m-web-9"
    ]  # fmt: skip
    assert found["machine"] == "web-9" and found["platform"] == "Linux"
    assert (found["chip_maker"], found["cpu_model"], found["cores"]) == ("Intel", "Xeon", 4)
    assert found["memory_bytes"] == 8 * 2**30 and found["host_id"] is not None
