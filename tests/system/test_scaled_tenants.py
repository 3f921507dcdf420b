"""Issue 12's tenancy in the scaled layout, with real processes on this machine's PostgreSQL and
Redis: a `fleetscope server` in scaled mode (--stream redis://… --database postgresql://…, no
digest in process) for the accounts' REST, a `fleetscope ingest` (the standalone ingest app,
ingest/app.py, as cli/wiring.py standalone_ingest_app builds it) in front of the same stream,
and a `fleetscope worker`.

Two tenants are made through the REST API, each with an admin and an ingest key; both ingest
front ends take payloads of both; a perfcollector client uploads a capture to `fleetscope
ingest`. The worker stores each tenant's hosts in its own tenant (each admin's /api/v1/hosts
lists only its own), the capture lands as a collection file of the uploading tenant's
collector, linked to the `collections` record of its samples, and a revoked key is refused by
the standalone ingest once its key cache's lifetime has passed: in process with the cache's
clock moved, and by the `fleetscope ingest` process within that lifetime of real time.

A database of its own (dropped afterwards), a Redis key prefix of its own (deleted
afterwards); only the processes it started are stopped, by PID."""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.wiring import KEY_CACHE_SECONDS, make_stream, standalone_ingest_app
from fleetscope.store.engine import make_engine
from tests.conftest import private_database
from tests.helpers import free_port, payload, payload_json
from tests.perfcollector_capture import capture
from tests.processes import running, wait_ready
from tests.redis_support import REDIS_URL

pytestmark = pytest.mark.slow

PASSWORD = "tenant-b-password"


@pytest.fixture
def own_database() -> Iterator[str]:
    with private_database("fleetscope_tenants") as url:
        yield sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _login(base: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _created(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


def _until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def _hosts(base: str, headers: dict[str, str]) -> set[str]:
    response = httpx.get(f"{base}/api/v1/hosts", headers=headers)
    assert response.status_code == 200, response.text
    return {h["machine_id"] for h in response.json()}


def test_two_tenants_through_ingest_redis_worker_and_postgresql(
    tmp_path: Path, redis_prefix: str, own_database: str
) -> None:
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_STREAM_PREFIX": redis_prefix}
    stores = ["--stream", REDIS_URL, "--database", own_database]
    port, ingest_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    now = datetime.now(UTC) - timedelta(minutes=5)
    with ExitStack() as stack:
        server_dir = tmp_path / "server" / "data"
        server_dir.mkdir(parents=True)
        server = stack.enter_context(
            running(
                ["server", "--data-dir", str(server_dir), "--port", str(port), *stores],
                server_dir,
                env,
            )
        )
        wait_ready(base, server)

        # Accounts through the scaled server's REST: tenant b, its first admin, a key each.
        root = _login(base, "admin", "pw")
        b = _created(httpx.post(f"{base}/api/v1/tenants", json={"name": "b"}, headers=root))
        _created(
            httpx.post(
                f"{base}/api/v1/users",
                json={"username": "b-admin", "password": PASSWORD, "role": "admin",
                      "tenant_id": b["id"]},
                headers=root,
            )
        )  # fmt: skip
        b_admin = _login(base, "b-admin", PASSWORD)
        me = httpx.get(f"{base}/api/v1/me", headers=b_admin).json()
        assert (me["tenant_id"], me["tenant_name"], me["role"]) == (b["id"], "b", "admin")
        keys = {
            name: _created(
                httpx.post(
                    f"{base}/api/v1/keys", json={"name": "agents", "scope": "ingest"}, headers=h
                )
            )
            for name, h in (("a", root), ("b", b_admin))
        }
        made = _created(
            httpx.post(f"{base}/api/v1/collectors", json={"machine": "lab-1"}, headers=b_admin)
        )
        assert [
            c["id"] for c in httpx.get(f"{base}/api/v1/collectors", headers=b_admin).json()
        ] == [made["id"]]
        assert httpx.get(f"{base}/api/v1/collectors", headers=root).json() == []
        audited = httpx.get(f"{base}/api/v1/audit", headers=b_admin).json()["entries"]
        assert {"key.created", "collector.created"} <= {e["action"] for e in audited}

        # `fleetscope ingest` in front of the same stream, and the same app in process with its
        # key cache on our clock.
        ingest_dir = tmp_path / "ingest" / "data"
        ingest_dir.mkdir(parents=True)
        ingest_process = stack.enter_context(
            running(["ingest", "--port", str(ingest_port), *stores], ingest_dir, env)
        )
        wait_ready(f"http://127.0.0.1:{ingest_port}", ingest_process)
        settings = ServerSettings(
            data_dir=tmp_path / "ingest",
            database_url=own_database,
            stream_url=REDIS_URL,
            stream_prefix=redis_prefix,
        )
        engine = make_engine(own_database)
        stack.callback(engine.dispose)
        stream = make_stream(settings)
        stack.callback(stream.close)
        clock = [1000.0]
        in_process = stack.enter_context(
            TestClient(standalone_ingest_app(settings, engine, stream, key_clock=lambda: clock[0]))
        )
        ingest = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{ingest_port}"))

        def send(client: TestClient | httpx.Client, tenant: str, machine_id: str) -> int:
            body = payload_json(payload(2, hostname=machine_id, machine_id=machine_id, start=now))
            return client.post(
                "/api/v1/ingest",
                content=body,
                headers={"Authorization": f"Bearer {keys[tenant]['key']}",
                         "Content-Type": "application/json"},
            ).status_code  # fmt: skip

        server_client = stack.enter_context(httpx.Client(base_url=base))
        assert send(ingest, "a", "a-1") == 202
        assert send(ingest, "b", "b-1") == 202
        assert send(server_client, "a", "a-2") == 202  # the scaled server's own ingest
        assert send(server_client, "b", "b-2") == 202
        data = capture(3, start=now)
        upload = ingest.post(
            "/v1/upload",
            headers={"Authorization": f"Bearer {keys['b']['key']}"},
            files={"file": ("capture.json", data, "application/octet-stream")},
            data={"machine_id": "pcc-b"},
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()["snapshots"] == 3

        worker_dir = tmp_path / "worker" / "data"
        worker_dir.mkdir(parents=True)
        worker = stack.enter_context(
            running(["worker", *stores, "--consumer", "w0", "--data-dir", str(worker_dir)],
                    worker_dir, env)
        )  # fmt: skip
        _until(lambda: stream.depth() == 0, "the worker digested everything")
        assert _hosts(base, root) == {"a-1", "a-2"}
        assert _hosts(base, b_admin) == {"b-1", "b-2", "pcc-b"}
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT machine_id, tenant_id FROM hosts")).all()
        assert {m: t for m, t in stored} == {
            "a-1": 1, "a-2": 1, "b-1": b["id"], "b-2": b["id"], "pcc-b": b["id"]
        }  # fmt: skip

        # The capture: a collection file of tenant b's collector for pcc-b, linked to the
        # collections record its samples were digested into.
        [collector] = [
            c
            for c in httpx.get(f"{base}/api/v1/collectors", headers=b_admin).json()
            if c["machine_id"] == "pcc-b"
        ]
        files = httpx.get(f"{base}/api/v1/collectors/{collector['id']}/files", headers=b_admin)
        [kept] = files.json()
        assert kept["result"] == "ingested"
        assert kept["content_sha256"] == hashlib.sha256(data).hexdigest()
        with engine.connect() as conn:
            collection = conn.execute(
                sa.text("SELECT id, tenant_id, snapshots FROM collections")
            ).one()
        assert kept["collection_id"] == collection.id
        assert (collection.tenant_id, collection.snapshots) == (b["id"], 3)
        download = httpx.get(f"{base}{kept['download']}", headers=b_admin)
        assert download.content == data
        assert (
            httpx.get(f"{base}/api/v1/collectors/{collector['id']}/files", headers=root).status_code
            == 404
        )

        # Revoking b's key: the standalone ingest keeps it for its cache's lifetime, then
        # refuses it; the other tenant's key is untouched.
        assert send(in_process, "b", "b-1") == 202  # cached from here on, in both
        assert send(ingest, "b", "b-1") == 202
        revoked = httpx.delete(f"{base}/api/v1/keys/{keys['b']['id']}", headers=b_admin)
        assert revoked.status_code == 204
        revoked_at = time.monotonic()
        clock[0] += KEY_CACHE_SECONDS - 0.5
        assert send(in_process, "b", "b-1") == 202
        clock[0] += 1.0
        assert send(in_process, "b", "b-1") == 401
        assert send(in_process, "a", "a-1") == 202
        _until(lambda: send(ingest, "b", "b-1") == 401, "refused", KEY_CACHE_SECONDS + 2)
        assert time.monotonic() - revoked_at <= KEY_CACHE_SECONDS + 1
        assert send(ingest, "a", "a-1") == 202

        for process in (ingest_process, worker, server):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0


def test_servers_started_together_on_a_new_database_both_come_up(
    tmp_path: Path, redis_prefix: str, own_database: str
) -> None:
    """The scaled layout's servers (deploy/docker-compose.yml runs two) started at the same
    moment on an empty database take turns at the migrations and the first start's accounts
    (store/startup.py): both serve, one admin and one initial key were made, and only one data
    directory holds the initial credentials. Before, one of them exited 1 in the migrations."""
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_STREAM_PREFIX": redis_prefix}
    ports = [free_port(), free_port()]
    dirs = [tmp_path / f"server{n}" / "data" for n in range(2)]
    with ExitStack() as stack:
        servers = []
        for port, data_dir in zip(ports, dirs, strict=True):
            data_dir.mkdir(parents=True)
            args = ["server", "--data-dir", str(data_dir), "--port", str(port),
                    "--stream", REDIS_URL, "--database", own_database]  # fmt: skip
            servers.append(stack.enter_context(running(args, data_dir, env)))
        for port, server in zip(ports, servers, strict=True):
            wait_ready(f"http://127.0.0.1:{port}", server, timeout=60)
            assert httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=_login(
                f"http://127.0.0.1:{port}", "admin", "pw")).json()["superuser"] is True  # fmt: skip
        assert sum((d / "initial-credentials").exists() for d in dirs) == 1
        engine = make_engine(own_database)
        with engine.connect() as conn:
            users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
            keys = conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar_one()
        engine.dispose()
        assert (users, keys) == (1, 1)
        for server in servers:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
