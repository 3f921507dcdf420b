"""Reading a request body safely: a size limit enforced while streaming (413 before the whole
body is in memory), and gzip/zstd decoding with the same limit on the decoded size, so a
small compressed bomb cannot expand without bound."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import zstandard

from fleetscope.stream.bodies import DecodedTooLarge, zstd_decoded


class BodyTooLarge(ValueError):
    pass


class BadEncoding(ValueError):
    pass


SUPPORTED_ENCODINGS = ("identity", "gzip", "zstd")


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding == "gzip":
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out = decompressor.decompress(body, limit + 1)
        except zlib.error as exc:
            raise BadEncoding(f"gzip body could not be decoded: {exc}") from exc
        if len(out) > limit or decompressor.unconsumed_tail:
            raise BodyTooLarge(f"decoded body exceeds {limit} bytes")
        if not decompressor.eof:
            raise BadEncoding("gzip body is truncated")
        return out
    if encoding == "zstd":
        # The same decoding as digest's of a body kept compressed in the stream
        # (stream/bodies.py), so both read the same JSON.
        try:
            return zstd_decoded(body, limit)
        except DecodedTooLarge as exc:
            raise BodyTooLarge(str(exc)) from exc
        except zstandard.ZstdError as exc:
            raise BadEncoding(f"zstd body could not be decoded: {exc}") from exc
    supported = ", ".join(SUPPORTED_ENCODINGS)
    raise BadEncoding(f"unsupported Content-Encoding {encoding!r}; use one of {supported}")
