"""Payloads from agents newer than this server (model/payload.py, "Versioning").

Within one schema_version the payload only grows: a newer agent may send fields this server
does not know, and decoding ignores them, so agents can be upgraded before the server.
unknown_fields names what was ignored, for a log line once per agent version (ingest); it
walks the decoded JSON against the Structs' declared fields, which costs a full parse, so it
is not run for every payload.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

from fleetscope.model.payload import Payload


def unknown_fields(data: Any, into: type[msgspec.Struct] = Payload) -> list[str]:
    """Dotted paths of the keys in `data` (JSON as dicts and lists) that `into` does not
    declare, list items as `[]`: ["snapshots[].gpu"]. Sorted, each once."""
    found: set[str] = set()
    _walk(data, mi.type_info(into), "", found)
    return sorted(found)


def _walk(data: Any, kind: mi.Type, path: str, found: set[str]) -> None:
    if isinstance(kind, mi.UnionType):
        for option in kind.types:
            as_dict = isinstance(data, dict) and isinstance(option, mi.StructType | mi.DictType)
            if as_dict or (isinstance(data, list) and isinstance(option, mi.ListType)):
                _walk(data, option, path, found)
    elif isinstance(kind, mi.StructType) and isinstance(data, dict):
        fields = {f.encode_name: f.type for f in kind.fields}
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key in fields:
                _walk(value, fields[key], where, found)
            else:
                found.add(where)
    elif isinstance(kind, mi.ListType) and isinstance(data, list):
        for item in data:
            _walk(item, kind.item_type, f"{path}[]", found)
    elif isinstance(kind, mi.DictType) and isinstance(data, dict):
        for value in data.values():
            _walk(value, kind.value_type, f"{path}{{}}", found)
