from __future__ import annotations

import json
import math
from datetime import datetime

import pytest

from fleetscope.model.codec import PayloadError, decode_payload, decode_snapshot, encode
from fleetscope.model.exporters import ExporterSample
from fleetscope.model.payload import Snapshot
from fleetscope.model.schema import SCHEMA_FILE, payload_json_schema, render
from tests.helpers import payload, raw


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == render(), (
        "model/payload.schema.json is stale: run `python -m fleetscope.model.schema --write`"
    )


def test_schema_keeps_the_constraints() -> None:
    schema = payload_json_schema()
    assert schema["properties"]["schema_version"] == {"enum": [1]}
    assert schema["properties"]["snapshots"]["minItems"] == 1
    memory = schema["$defs"]["MemorySection"]["properties"]
    assert memory["total_bytes"] == {"type": "number", "minimum": 0}
    sample = schema["$defs"]["ExporterSample"]["properties"]["value"]
    assert sample == {"anyOf": [{"type": "number"}, {"enum": ["+Inf", "-Inf", "NaN"]}]}


def test_payload_round_trips() -> None:
    original = payload(3)
    assert decode_payload(encode(original)) == original


# Unknown fields within schema_version 1 are accepted and ignored:
# tests/model/test_payload_versions.py.


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(schema_version=2), "schema_version"),
        (
            lambda d: d["snapshots"][0].update(timestamp="2026-11-22T08:00:00"),
            "snapshots.0.timestamp",
        ),
        (
            lambda d: d["snapshots"][0].update(timestamp="1970-01-01T00:00:00Z"),
            "snapshots.0.timestamp",
        ),
        (
            lambda d: d["snapshots"][0]["memory"].update(total_bytes=-1),
            "snapshots.0.memory.total_bytes",
        ),
        (lambda d: d.update(snapshots=[]), "snapshots"),
        (lambda d: d["host"].update(machine_id=""), "host.machine_id"),
        (lambda d: d["host"].pop("hostname"), "host.hostname"),
        (
            lambda d: d["snapshots"][0]["cpu"].update(cores=[{"cpu": 0}]),
            "snapshots.0.cpu.cores.0.seconds_total",
        ),
    ],
)
def test_schema_violations_name_the_field(mutate: object, where: str) -> None:
    data = raw(payload(1))
    assert callable(mutate)
    mutate(data)
    with pytest.raises(PayloadError) as info:
        decode_payload(json.dumps(data))
    assert info.value.field == where
    assert str(info.value).startswith(f"{where}: ")


def test_constraint_violation_says_what_is_wrong() -> None:
    data = raw(payload(1))
    data["snapshots"][0]["cpu"]["utilization_percent"] = 101
    with pytest.raises(PayloadError) as info:
        decode_payload(json.dumps(data))
    assert info.value.field == "snapshots.0.cpu.utilization_percent"
    assert info.value.message == "Expected `float` <= 100.0"


def test_naive_datetime_is_refused_when_decoded_and_when_built() -> None:
    data = raw(payload(1))
    data["snapshots"][0]["timestamp"] = "2026-11-22T08:00:00"
    with pytest.raises(PayloadError, match="timezone") as info:
        decode_payload(json.dumps(data))
    assert info.value.field == "snapshots.0.timestamp"
    with pytest.raises(ValueError, match=r"^timestamp: needs an offset"):
        Snapshot(timestamp=datetime(2026, 11, 22, 8, 0))


def test_malformed_json_is_a_body_error() -> None:
    with pytest.raises(PayloadError) as info:
        decode_payload(b'{"schema_version": 1,,}')
    assert info.value.field == "" and info.value.type == "json_invalid"
    assert "malformed" in info.value.message


def test_non_finite_exporter_values_round_trip_as_strings() -> None:
    samples = [
        ExporterSample(name="nan", value=math.nan),
        ExporterSample(name="up", value=math.inf),
        ExporterSample(name="down", value=-math.inf),
        ExporterSample(name="fine", value=2.5),
    ]
    wire = encode(samples)
    assert json.loads(wire) == [
        {"name": "nan", "value": "NaN"},
        {"name": "up", "value": "+Inf"},
        {"name": "down", "value": "-Inf"},
        {"name": "fine", "value": 2.5},
    ]
    scrape = b'{"name":"e","url":"http://e/","success":true,"duration_seconds":0.1,"samples":'
    snapshot = decode_snapshot(
        b'{"timestamp":"2026-11-22T08:00:00Z","exporters":[' + scrape + wire + b"}]}"
    )
    assert snapshot.exporters is not None
    back = [s.value for s in snapshot.exporters[0].samples]
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf, 2.5]
    assert all(isinstance(v, float) for v in back)
    assert encode(snapshot.exporters[0].samples) == wire
