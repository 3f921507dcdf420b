"""stream/bodies.py: a body kept in the stream is the JSON or the zstd body as the agent sent
it; digest's json_body reads exactly what ingest's decoding (ingest/body.py) validated, frame
for frame, and refuses what ingest refuses."""

from __future__ import annotations

import io

import pytest
import zstandard

from fleetscope.ingest.body import BadEncoding, BodyTooLarge, decode
from fleetscope.stream.bodies import DecodedTooLarge, is_zstd, json_body, zstd_decoded
from tests.helpers import payload, payload_json

JSON = payload_json(payload(3))


def _streamed(data: bytes) -> bytes:
    """A zstd frame without the content size in its header (a streaming compressor's)."""
    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as writer:
        writer.write(data)
    return out.getvalue()


BODIES = {
    "one frame": zstandard.ZstdCompressor(level=3).compress(JSON),
    "no content size": _streamed(JSON),
    "two frames": (
        zstandard.ZstdCompressor().compress(JSON[:100])
        + zstandard.ZstdCompressor().compress(JSON[100:])
    ),
    "checksum": zstandard.ZstdCompressor(write_checksum=True).compress(JSON),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_digest_reads_what_ingest_decoded(name: str) -> None:
    body = BODIES[name]
    assert is_zstd(body)
    assert json_body(body) == decode(body, "zstd", 1 << 20) == JSON


def test_json_is_kept_as_it_is() -> None:
    assert not is_zstd(JSON)
    assert json_body(JSON) is JSON
    assert json_body(b"") == b""


def test_a_bad_zstd_body_is_a_value_error() -> None:
    broken = BODIES["one frame"][:4] + b"\xff" * 40
    with pytest.raises(ValueError, match="zstd body could not be decoded"):
        json_body(broken)
    with pytest.raises(BadEncoding):  # ingest's 400 for the same body
        decode(broken, "zstd", 1 << 20)


def test_the_decoded_size_is_bounded_while_streaming() -> None:
    bomb = zstandard.ZstdCompressor().compress(b"a" * 100_000)
    with pytest.raises(DecodedTooLarge, match="exceeds 1000 bytes"):
        zstd_decoded(bomb, 1000)
    with pytest.raises(BodyTooLarge, match="exceeds 1000 bytes"):
        decode(bomb, "zstd", 1000)
    assert zstd_decoded(bomb, 100_000) == b"a" * 100_000
