"""The server's HTTP plumbing (cli/server.py): the API-key cache (a verified key is not looked
up again for KEY_CACHE_SECONDS, so a revoked one is refused within that time; a key that failed
is asked again every time) and the request metrics middleware."""

from __future__ import annotations

import gc
from pathlib import Path

from sqlalchemy import Engine

from fleetscope.cli.wiring import GC_GEN0_THRESHOLD, CachedKeys
from fleetscope.model.auth import Principal
from fleetscope.store import auth
from tests.helpers import payload, payload_json
from tests.server import start_server


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(
    engine: Engine, tmp_path: Path
) -> None:
    key = auth.local_agent_key(engine, tmp_path)
    now = [1000.0]
    lookups: list[str] = []

    def verify(k: str) -> Principal | None:
        lookups.append(k)
        return auth.verify_api_key(engine, k)

    keys = CachedKeys(verify, ttl_seconds=10, clock=lambda: now[0])
    assert keys.known(key) is None  # not verified yet: ingest asks verify in a thread
    first = keys(key)
    assert first is not None and first.tenant_id == 1
    assert auth.revoke_api_key(engine, key)
    now[0] += 9.9
    assert keys(key) == first  # still cached: no lookup
    assert keys.known(key) == first
    assert len(lookups) == 1
    now[0] += 0.2
    assert keys.known(key) is None  # expired: never answered from memory, never a lookup
    assert len(lookups) == 1
    assert keys(key) is None
    assert keys(key) is None  # refusals are not cached: asked again
    assert len(lookups) == 3
    assert keys("not-a-key") is None


def test_requests_are_counted_by_route_template_and_status(tmp_path: Path) -> None:
    for live in start_server(tmp_path / "data", embedded_digest=False):
        assert live.client.get("/livez").status_code == 200
        for headers in (live.agent_headers(), {"Authorization": "Bearer wrong"}):
            live.client.post("/api/v1/ingest", content=payload_json(payload(1)), headers=headers)
        live.client.get("/no/such/page")
        metrics = live.client.get("/metrics").text
        for labels in (
            'method="GET",route="/livez",status="200"',
            'method="POST",route="/api/v1/ingest",status="202"',
            'method="POST",route="/api/v1/ingest",status="401"',
            'method="GET",route="unmatched",status="404"',
        ):
            assert f"fleetscope_http_requests_total{{{labels}}} 1.0" in metrics, labels
        assert 'fleetscope_http_request_seconds_count{route="/api/v1/ingest"} 2.0' in metrics


def test_gc_is_tuned_while_serving_and_restored_after(tmp_path: Path) -> None:
    before = gc.get_threshold()
    for live in start_server(tmp_path / "data", embedded_digest=False):
        assert live.client.get("/livez").status_code == 200
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0  # what start-up built is out of every collection
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
