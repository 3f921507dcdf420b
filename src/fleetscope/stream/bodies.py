"""A message body as the stream keeps it: an agent payload's JSON, or the zstd body the agent
sent, kept as it arrived (an aggregator batch is kept as zstd either way: zstd_encoded).
Ingest decompresses a zstd body to validate it and then enqueues the
compressed bytes it received, not the JSON: a quarter of the bytes through the embedded
stream's INSERT, claim and DELETE (each writes the row's overflow pages) and through Redis.
Digest decompresses it again (docs/deployment.md, issue 17). Both decompress with
`zstd_decoded`, so digest reads exactly the JSON that ingest validated.

A JSON body never starts with the zstd magic (0x28 is "("), so the two are told apart by it.
"""

from __future__ import annotations

import threading

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A body in the stream was at most ingest's max_body_bytes decoded; this bounds what a
# tampered queue could make digest allocate.
MAX_DECODED_BYTES = 1 << 30


class _Decompressors(threading.local):
    """A zstd context per thread, reused: making one per request adds its cost to every
    request's decoding (docs/code-choices.md). Contexts are not thread-safe."""

    def __init__(self) -> None:
        self.zstd = zstandard.ZstdDecompressor()
        # Level 1: an aggregator batch's JSON (TSBS-shaped, 326 KiB) to 3.6 % in 0.13 ms;
        # level 3 made 3.0 % in 0.14 ms (ad hoc timing, docs/deployment.md issue 17).
        self.zstd_out = zstandard.ZstdCompressor(level=1)


_decompressors = _Decompressors()


class DecodedTooLarge(ValueError):
    """The decompressed body exceeds the limit."""


def zstd_decoded(body: bytes, limit: int) -> bytes:
    """All the frames of a zstd body, decompressed, streamed so that a bomb stops at `limit`
    bytes (DecodedTooLarge). zstandard.ZstdError for a body that is not zstd."""
    parts: list[bytes] = []
    size = 0
    with _decompressors.zstd.stream_reader(body) as reader:
        while chunk := reader.read(65536):
            size += len(chunk)
            if size > limit:
                raise DecodedTooLarge(f"decoded body exceeds {limit} bytes")
            parts.append(chunk)
    return b"".join(parts)


def zstd_encoded(body: bytes) -> bytes:
    """A JSON body compressed for the stream, for bodies that arrive uncompressed and are
    large (aggregator batches): the embedded stream's INSERT, claim and DELETE each write the
    row's overflow pages, and for a 326 KiB batch that cost more CPU than compressing it
    (docs/deployment.md, "Issue 17: the aggregator batch door"). json_body reads it back."""
    return _decompressors.zstd_out.compress(body)


def is_zstd(body: bytes) -> bool:
    return body[:4] == ZSTD_MAGIC


def json_body(body: bytes) -> bytes:
    """The JSON of a stream body kept either way (module docstring). ValueError for a zstd
    body that does not decode."""
    if not is_zstd(body):
        return body
    try:
        return zstd_decoded(body, MAX_DECODED_BYTES)
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd body could not be decoded: {exc}") from exc
