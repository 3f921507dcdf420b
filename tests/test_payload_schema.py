from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from fleetscope.model.payload import Payload
from fleetscope.model.schema import SCHEMA_FILE, payload_json_schema, render
from tests.helpers import payload, raw


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == render(), (
        "model/payload.schema.json is stale: run `python -m fleetscope.model.schema --write`"
    )


def test_schema_forbids_unknown_keys_everywhere() -> None:
    schema = payload_json_schema()
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, name


def test_payload_round_trips() -> None:
    original = payload(3)
    assert Payload.model_validate_json(original.model_dump_json()) == original


def test_unknown_field_is_named() -> None:
    data = raw(payload(1))
    data["snapshots"][0]["cpu"]["utilisation"] = 5
    with pytest.raises(ValidationError) as info:
        Payload.model_validate(data)
    assert ("snapshots", 0, "cpu", "utilisation") in [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(schema_version=2), ("schema_version",)),
        (
            lambda d: d["snapshots"][0].update(timestamp="2026-11-22T08:00:00"),
            ("snapshots", 0, "timestamp"),
        ),
        (
            lambda d: d["snapshots"][0].update(timestamp="1970-01-01T00:00:00Z"),
            ("snapshots", 0, "timestamp"),
        ),
        (
            lambda d: d["snapshots"][0]["memory"].update(total_bytes=-1),
            ("snapshots", 0, "memory", "total_bytes"),
        ),
        (lambda d: d.update(snapshots=[]), ("snapshots",)),
        (lambda d: d["host"].update(machine_id=""), ("host", "machine_id")),
    ],
)
def test_schema_violations_name_the_field(mutate: object, where: tuple[object, ...]) -> None:
    data = raw(payload(1))
    assert callable(mutate)
    mutate(data)
    with pytest.raises(ValidationError) as info:
        Payload.model_validate_json(json.dumps(data))
    assert where in [e["loc"] for e in info.value.errors()]
