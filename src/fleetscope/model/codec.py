"""Encoding and decoding of payloads: the one encoder that spells NaN/±Inf sample values as the
wire does, the decoders that check every constraint, and the error that names the bad field."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from fleetscope.model.exporters import NonFinite, value_to_wire
from fleetscope.model.payload import SCHEMA_VERSION, Payload, Snapshot


def _enc_hook(value: Any) -> Any:
    if isinstance(value, NonFinite):
        return value_to_wire(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__} in a payload")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_payload_decoder = msgspec.json.Decoder(Payload)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)


def encode(value: Any) -> bytes:
    """The wire JSON of a payload, a snapshot or any part of one (compact, UTF-8). Use this,
    not msgspec.json.encode, which cannot write NaN/±Inf sample values."""
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """The wire form as dicts, lists, strings and numbers (what json.loads(encode(x)) gives)."""
    return msgspec.to_builtins(value, enc_hook=_enc_hook)


class PayloadError(ValueError):
    """JSON that does not decode into the type asked for. `field` is the dotted path of the bad
    value ("" for the body as a whole), `message` says what is wrong, `type` is a short code:
    json_invalid, extra_forbidden, missing, value_error or invalid."""

    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.type = field, message, kind


# msgspec says where as " - at `$.snapshots[0].cpu`", or " - at `key` in `$.labels`" for a key.
_AT = re.compile(r"^(?P<message>.*?) - at (?:`key` in )?`\$(?P<path>[^`]*)`$", re.DOTALL)
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_NAMED = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<field>[^`]+)`$")
_POST_INIT = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): (?P<message>.+)$", re.DOTALL)


def payload_error(exc: msgspec.MsgspecError) -> PayloadError:
    """msgspec's error as a dotted field path and a message, the way people (and the ingest
    API's 422 details) name a field: `snapshots.0.cpu.load1`."""
    if not isinstance(exc, msgspec.ValidationError):
        return PayloadError("", str(exc), "json_invalid")
    message, steps = str(exc), []
    if at := _AT.match(message):
        message = at["message"]
        steps = [m[1] or m[2] for m in _STEP.finditer(at["path"]) if m[1] or m[2]]
    kind = "invalid"
    if named := _NAMED.match(message):
        steps.append(named["field"])
        kind = "missing" if "missing" in message else "extra_forbidden"
    elif post_init := _POST_INIT.match(message):
        steps.append(post_init["field"])
        message, kind = post_init["message"], "value_error"
    return PayloadError(".".join(steps), message, kind)


class _Version(msgspec.Struct):
    schema_version: Any = None


_version_decoder = msgspec.json.Decoder(_Version)


def decode_payload(data: bytes | str) -> Payload:
    """Decode and validate a Payload's JSON; PayloadError names the first bad field, or the
    schema_version when the payload is of another major version than this server's."""
    try:
        return _payload_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        other = _other_version(data)
        if other is not None:
            raise other from exc
        raise payload_error(exc) from exc


def _other_version(data: bytes | str) -> PayloadError | None:
    """The error for a payload of another major version: whatever else failed to decode in
    it, the version is what to say."""
    try:
        version = _version_decoder.decode(data).schema_version
    except msgspec.MsgspecError:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version == SCHEMA_VERSION:
        return None
    fix = "upgrade the server" if version > SCHEMA_VERSION else "upgrade the agent"
    return PayloadError(
        "schema_version",
        f"the payload is schema_version {version}; this server reads schema_version "
        f"{SCHEMA_VERSION} only ({fix})",
        "value_error",
    )


def decode_snapshot(data: bytes | str) -> Snapshot:
    try:
        return _snapshot_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise payload_error(exc) from exc


_T = TypeVar("_T")


def convert(data: Any, into: type[_T]) -> _T:
    """Build a Struct from dicts and lists with every constraint checked (the agent's
    counterpart of decoding); PayloadError names the first bad field."""
    try:
        return msgspec.convert(data, into)
    except msgspec.MsgspecError as exc:
        raise payload_error(exc) from exc
