"""The ingest app on its own: no database, the key check injected, messages land in the stream."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from fleetscope.ingest.app import create_app
from fleetscope.ingest.intake import IngestSettings
from fleetscope.model.auth import Principal
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json


def test_ingest_enqueues_for_the_keys_tenant(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    keys = {"k7": Principal(7, "agent_key", "seven")}
    app = create_app(IngestSettings(), stream, keys.get)
    with TestClient(app) as client:
        body = payload_json(payload(2))
        ok = client.post("/api/v1/ingest", content=body, headers={"Authorization": "Bearer k7"})
        assert ok.status_code == 202
        assert (
            client.post(
                "/api/v1/ingest", content=body, headers={"Authorization": "Bearer k8"}
            ).status_code
            == 401
        )
        assert client.get("/api/v1/schema/payload").json()["title"] == "Payload"
    (message,) = stream.read("t", 10, 0)
    assert (message.kind, message.tenant_id, message.body) == (AGENT_PAYLOAD, 7, body)
    stream.close()
