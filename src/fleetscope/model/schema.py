"""The published JSON Schema of the payload. `python -m fleetscope.model.schema --write`
regenerates the committed copy (model/payload.schema.json); a test fails when it is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fleetscope.model.payload import SCHEMA_VERSION, Payload

SCHEMA_FILE = Path(__file__).with_name("payload.schema.json")


def payload_json_schema() -> dict[str, Any]:
    schema = Payload.model_json_schema()
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
