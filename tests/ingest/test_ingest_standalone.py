"""The ingest app on its own: no database, the key check injected, messages land in the stream."""

from __future__ import annotations

import gzip
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard
from fastapi.testclient import TestClient

from fleetscope.agent.perfcollector import capture_snapshots
from fleetscope.ingest.app import create_app
from fleetscope.ingest.intake import IngestSettings
from fleetscope.model.auth import Principal
from fleetscope.model.codec import decode_payload
from fleetscope.model.devices import split_upload
from fleetscope.model.kinds import AGENT_PAYLOAD, PERFCOLLECTOR_UPLOAD
from fleetscope.model.payload import Payload
from fleetscope.stream.bodies import json_body
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json
from tests.perfcollector_capture import capture


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


def test_a_perfcollector_upload_needs_the_capture_reader(tmp_path: Path) -> None:
    """Without the reader cli hands in (the agent's parsers) /v1/upload is a 501; with it, the
    capture goes on the stream as one message of the key's tenant."""
    data = capture(2, start=datetime.now(UTC) - timedelta(minutes=5))
    keys = {"k7": Principal(7, "agent_key", "seven")}
    stream = SQLiteStream(tmp_path / "s.db")
    for reader, status in ((None, 501), (capture_snapshots, 200)):
        app = create_app(IngestSettings(), stream, keys.get, read_capture=reader)
        with TestClient(app) as client:
            answer = client.post(
                "/v1/upload",
                headers={"Authorization": "Bearer k7"},
                files={"file": ("capture.json", data, "application/octet-stream")},
                data={"machine_id": "pc-7"},
            )
        assert answer.status_code == status, answer.text
    (message,) = stream.read("t", 10, 0)
    assert (message.kind, message.tenant_id) == (PERFCOLLECTOR_UPLOAD, 7)
    header, content, lines = split_upload(message.body)
    assert (header.machine_id, content, len(lines)) == ("pc-7", data, 1)
    stream.close()


def test_a_key_bound_to_one_machine_sends_only_that_machines_data(tmp_path: Path) -> None:
    """docs/accounts.md: an ingest key optionally bound to one host's machine_id; the agent's
    payloads (fast path), a collection file and a capture of another machine are 403."""
    stream = SQLiteStream(tmp_path / "s.db")
    keys = {"kb": Principal(7, "agent_key", "laptop", bound_machine_id="m-own")}
    app = create_app(IngestSettings(), stream, keys.get, read_capture=capture_snapshots)
    auth = {"Authorization": "Bearer kb"}
    with TestClient(app) as client:

        def send(machine_id: str) -> int:
            body = payload_json(payload(1, machine_id=machine_id))
            return client.post("/api/v1/ingest", content=body, headers=auth).status_code

        def collection(machine_id: str) -> int:
            body = payload_json(payload(1, machine_id=machine_id))
            return client.post(
                "/api/v1/collections",
                content=body + b"\n",
                headers={**auth, "Content-Type": "application/x-ndjson"},
            ).status_code

        def upload(machine_id: str) -> int:
            return client.post(
                "/v1/upload",
                headers=auth,
                files={"file": ("c.json", capture(1), "application/octet-stream")},
                data={"machine_id": machine_id},
            ).status_code

        assert [send("m-other"), collection("m-other"), upload("m-other")] == [403] * 3
        assert [send("m-own"), collection("m-own"), upload("m-own")] == [202, 202, 200]
    assert len(stream.read("t", 10, 0)) == 3
    stream.close()


def test_a_zstd_body_is_enqueued_as_received_other_encodings_decoded(tmp_path: Path) -> None:
    """The stream keeps a zstd body as the agent sent it (stream/bodies.py); a gzip or plain
    one as its JSON."""
    stream = SQLiteStream(tmp_path / "s.db")
    keys = {"k7": Principal(7, "agent_key", "seven")}
    app = create_app(IngestSettings(), stream, keys.get)
    plain = [payload_json(payload(n)) for n in (1, 2, 3, 4)]
    # A zstd body that starts with a skippable frame: no zstd magic first, so its JSON is kept.
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
    sent = [
        ("zstd", zstandard.ZstdCompressor(level=3).compress(plain[0])),
        ("gzip", gzip.compress(plain[1])),
        ("identity", plain[2]),
        ("zstd", skippable + zstandard.ZstdCompressor().compress(plain[3])),
    ]
    with TestClient(app) as client:
        for encoding, body in sent:
            headers = {"Authorization": "Bearer k7", "Content-Encoding": encoding}
            assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 202
    kept = [m.body for m in stream.read("t", 10, 0)]
    assert kept == [sent[0][1], plain[1], plain[2], plain[3]]
    assert [json_body(body) for body in kept] == plain
    stream.close()


def test_the_payload_ingest_decoded_is_handed_over_with_its_message(tmp_path: Path) -> None:
    """With the embedded stream's handoff the message carries ingest's Payload: equal to what
    decoding the body kept in the stream gives, so digest may use it instead."""
    stream = SQLiteStream(tmp_path / "s.db", handoff_max=10)
    keys = {"k7": Principal(7, "agent_key", "seven")}
    app = create_app(IngestSettings(), stream, keys.get)
    bodies = [
        zstandard.ZstdCompressor().compress(payload_json(payload(2))),
        payload_json(payload(3)),
    ]
    with TestClient(app) as client:
        for body, encoding in zip(bodies, ("zstd", "identity"), strict=True):
            headers = {"Authorization": "Bearer k7", "Content-Encoding": encoding}
            assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 202
    messages = stream.read("t", 10, 0)
    assert [m.body for m in messages] == bodies
    for message in messages:
        assert isinstance(message.decoded, Payload)
        assert message.decoded == decode_payload(json_body(message.body))
    stream.close()
