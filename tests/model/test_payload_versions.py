"""Mixed-version fleets (issue 14, item 8): within schema_version 1, a field this server does
not know is accepted and ignored, and logged once per agent version; a payload of another
major version is refused with a message naming both versions. The FastAPI route and the
raw-ASGI fast path answer alike, and the published JSON Schema says the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from fleetscope.ingest.app import create_app
from fleetscope.ingest.intake import IngestSettings
from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.compat import unknown_fields
from fleetscope.model.schema import payload_json_schema
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, raw
from tests.ingest.test_ingest_fastpath import KEYS, answers, route_only_app


def newer(version: str = "9.9.0", data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A payload from an agent that knows fields this server does not."""
    data = json.loads(json.dumps(data or raw(payload(2))))
    data["agent"]["version"] = version
    data["compression_hint"] = "zstd"
    data["agent"]["build"] = "abc"
    for snap in data["snapshots"]:
        snap["gpu"] = {"utilization_percent": 3.0}
        snap["cpu"]["steal_percent"] = 0.5
    return data


def test_unknown_fields_are_ignored_within_the_major_version() -> None:
    base = raw(payload(2))
    data = newer("9.9.0", base)
    same_version = base | {"agent": {"version": "9.9.0"}}
    assert decode_payload(json.dumps(data)) == decode_payload(json.dumps(same_version))
    assert unknown_fields(data) == [
        "agent.build",
        "compression_hint",
        "snapshots[].cpu.steal_percent",
        "snapshots[].gpu",
    ]
    assert unknown_fields(raw(payload(2))) == []


def test_another_major_version_is_refused_naming_both() -> None:
    for data in (raw(payload(1)) | {"schema_version": 2}, newer() | {"schema_version": 2}):
        del data["batch_id"]  # whatever else is different, the version is what is said
        with pytest.raises(PayloadError) as info:
            decode_payload(json.dumps(data))
        assert info.value.field == "schema_version"
        assert "schema_version 2" in info.value.message
        assert "schema_version 1" in info.value.message


def test_route_and_fast_path_answer_alike_and_log_once_per_agent_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {"Authorization": "Bearer k7"}
    sends = [
        (json.dumps(newer("9.9.0")).encode(), auth),
        (json.dumps(newer("9.9.0")).encode(), auth),
        (json.dumps(newer("9.10.0")).encode(), auth),
        (json.dumps(raw(payload(1)) | {"schema_version": 2}).encode(), auth),
    ]
    fast_stream = SQLiteStream(tmp_path / "fast.db")
    route_stream = SQLiteStream(tmp_path / "route.db")
    settings = IngestSettings(max_body_bytes=64 * 1024)
    fast_app = create_app(settings, fast_stream, KEYS.get)
    caplog.set_level(logging.INFO, logger="fleetscope.ingest")
    fast = answers(fast_app, sends)
    logged = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
    route = answers(route_only_app(route_stream, settings=settings), sends)
    assert fast == route
    assert [status for status, _, _ in fast] == [202, 202, 202, 422]
    assert "schema_version 2" in json.dumps(fast[3][2])
    assert len(logged) == 2, logged  # one per agent version, not one per payload
    assert "9.9.0" in logged[0] and "snapshots[].gpu" in logged[0]
    assert "9.10.0" in logged[1]
    fast_stream.close()
    route_stream.close()


def test_the_schema_allows_unknown_keys_and_names_the_major_version() -> None:
    schema = payload_json_schema()
    assert schema["properties"]["schema_version"] == {"enum": [1]}
    for name, definition in [("Payload", schema), *schema["$defs"].items()]:
        assert definition.get("additionalProperties", True) is not False, name
