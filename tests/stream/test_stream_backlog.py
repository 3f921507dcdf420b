"""The embedded server's backlog limit: with digest behind (here: not running), ingest answers
429 with Retry-After once the SQLite stream holds stream_max_backlog messages, as it does on
Redis (tests/ingest/test_ingest_redis.py)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import payload, payload_json
from tests.server import start_server


def test_a_full_embedded_backlog_is_429_with_retry_after(tmp_path: Path) -> None:
    for live in start_server(
        tmp_path / "data",
        embedded_digest=False,
        stream_max_backlog=2,
        stream_retry_after_seconds=7,
    ):
        for _ in range(2):
            ok = live.client.post(
                "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
            )
            assert ok.status_code == 202, ok.text
        full = live.client.post(
            "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
        )
        assert full.status_code == 429
        assert full.headers["retry-after"] == "7"
        assert "2 messages wait for digest (limit 2)" in full.json()["detail"]
        metrics = live.client.get("/metrics").text
        assert 'fleetscope_ingest_payloads_rejected_total{reason="backlog"} 1.0' in metrics
        # Digest catches up: accepted again.
        live.server.digest.run_once(block_seconds=0)
        again = live.client.post(
            "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
        )
        assert again.status_code == 202, again.text
