"""The embedded stream hands what ingest decoded to the in-process digest (keep_decoded), once,
on the first delivery; digest then stores the same rows as from the body."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetscope.cli.server import SOFT_BACKLOG_BATCHES, make_stream
from fleetscope.cli.settings import ServerSettings
from fleetscope.digest.transform import message_rows
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.model.payload import decode_payload
from fleetscope.model.settings import settings_from
from fleetscope.stream.base import NewMessage
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json


def test_decoded_is_handed_over_on_the_first_delivery_only(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", visibility_timeout_seconds=0, keep_decoded=True)
    body = payload_json(payload(2))
    decoded = decode_payload(body)
    stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, body, decoded=decoded)])
    (first,) = stream.read("digest", 10, 0)
    assert first.decoded is decoded and first.body == body
    stream.fail(first.id, "retry", 5)
    (again,) = stream.read("digest", 10, 0)
    assert again.id == first.id and again.decoded is None  # redelivered: decode the body
    stream.close()


def test_not_kept_unless_asked(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    body = payload_json(payload(1))
    stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, body, decoded=decode_payload(body))])
    (message,) = stream.read("digest", 10, 0)
    assert message.decoded is None
    stream.close()


def test_rows_from_the_decoded_payload_equal_rows_from_the_body() -> None:
    body = payload_json(payload(3))
    assert message_rows(AGENT_PAYLOAD, 4, body, decode_payload(body)) == message_rows(
        AGENT_PAYLOAD, 4, body
    )


@pytest.mark.parametrize("in_process", [True, False])
def test_the_embedded_stream_is_set_up_for_an_in_process_digest(
    tmp_path: Path, in_process: bool
) -> None:
    settings = settings_from(ServerSettings, {"data_dir": tmp_path, "embedded_digest": in_process})
    stream = make_stream(settings)
    assert isinstance(stream, SQLiteStream)
    assert stream.keep_decoded is in_process
    assert stream.soft_backlog == (
        SOFT_BACKLOG_BATCHES * settings.digest_batch_size if in_process else None
    )
    stream.close()
