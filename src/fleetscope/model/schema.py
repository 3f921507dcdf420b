"""The published JSON Schema of the payload. `python -m fleetscope.model.schema --write`
regenerates the committed copy (model/payload.schema.json); a test fails when it is stale."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from fleetscope.model.payload import SCHEMA_VERSION, Payload

SCHEMA_FILE = Path(__file__).with_name("payload.schema.json")


def payload_json_schema() -> dict[str, Any]:
    # msgspec answers {"$ref": "#/$defs/Payload", "$defs": {...}}; the payload's own definition
    # goes to the top level, as a schema of one document reads best.
    generated = msgspec.json.schema(Payload)
    definitions = generated["$defs"]
    schema: dict[str, Any] = definitions.pop(Payload.__name__)
    schema["$defs"] = definitions
    for definition in (schema, *definitions.values()):
        if "description" in definition:  # msgspec copies docstrings with their indentation
            definition["description"] = inspect.cleandoc(definition["description"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://fleetscope.dev/schema/payload/v{SCHEMA_VERSION}.json"
    return schema


def render() -> str:
    return json.dumps(payload_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        SCHEMA_FILE.write_text(render())
    else:
        sys.stdout.write(render())
