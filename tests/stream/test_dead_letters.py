"""Dead letters: both stream backends list, count, replay and drop them; the server reports
them on /metrics and /readyz; `fleetscope admin dead-letters` lists, replays and drops them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscope.cli.main import app
from fleetscope.digest.transform import AGENT_PAYLOAD
from fleetscope.stream.base import NewMessage, Stream
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json
from tests.redis_support import REDIS_URL
from tests.server import LiveServer, start_server


@pytest.fixture(params=["sqlite", "redis"])
def stream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stream]:
    opened: Stream
    if request.param == "sqlite":
        opened = SQLiteStream(tmp_path / "stream.db", visibility_timeout_seconds=30)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        opened = RedisStream.from_url(REDIS_URL, prefix=prefix, shards=3)
    yield opened
    opened.close()


def test_dead_letters_are_counted_replayed_and_dropped(stream: Stream) -> None:
    stream.enqueue([NewMessage("agent_payload", 1, f"b{i}".encode(), f"k{i}") for i in range(3)])
    messages = stream.read("c", 10, 1)
    for message in messages:
        assert stream.fail(message.id, f"refused {message.body!r}", 1)
    assert stream.depth() == 0
    assert stream.dead_letter_count() == 3
    first, second, third = stream.dead_letters()
    assert first.error == f"refused {first.body!r}"

    new_id = stream.replay_dead_letter(first.id)
    assert new_id is not None
    assert stream.dead_letter_count() == 2
    again = stream.read("c", 10, 1)
    assert [(m.id, m.body, m.kind, m.tenant_id) for m in again] == [
        (new_id, first.body, first.kind, first.tenant_id)
    ]
    stream.ack([new_id])

    assert stream.drop_dead_letter(second.id)
    assert not stream.drop_dead_letter(second.id)
    assert stream.replay_dead_letter(second.id) is None
    assert [d.id for d in stream.dead_letters()] == [third.id]
    assert stream.depth() == 0


_POISON = (
    "CREATE TRIGGER poison BEFORE INSERT ON hosts WHEN NEW.name = 'poison' "
    "BEGIN SELECT RAISE(ABORT, 'poisoned host refused'); END"
)


def _wait(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_server_reports_dead_letters_and_the_cli_replays_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for live in start_server(data):
        _report_and_replay(live, data)


def _report_and_replay(live: LiveServer, data: Path) -> None:
    runner = CliRunner()
    with live.server.engine.begin() as conn:
        conn.exec_driver_sql(_POISON)
    bad = payload(1, hostname="poison", machine_id="m-poison")
    good = payload(1, hostname="fine", machine_id="m-fine")
    live.server.stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, payload_json(p)) for p in (bad, good)])
    live.wait_digested()
    metrics = live.client.get("/metrics").text
    assert "fleetscope_dead_letters 1.0" in metrics
    ready = live.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["dead_letters"] == 1

    listed = runner.invoke(app, ["admin", "dead-letters", "list", "--data-dir", str(data)])
    assert listed.exit_code == 0, listed.output
    assert "poisoned host refused" in listed.output
    assert "1 dead letters" in listed.output
    (dead,) = live.server.stream.dead_letters()
    assert listed.output.startswith(dead.id + "  ")

    with live.server.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER poison")  # the cause, fixed
    replayed = runner.invoke(
        app, ["admin", "dead-letters", "replay", dead.id, "--data-dir", str(data)]
    )
    assert replayed.exit_code == 0, replayed.output
    headers = live.user_headers()
    _wait(
        lambda: (
            "poison"
            in {h["name"] for h in live.client.get("/api/v1/hosts", headers=headers).json()}
        )
    )
    assert "fleetscope_dead_letters 0.0" in live.client.get("/metrics").text

    missing = runner.invoke(
        app, ["admin", "dead-letters", "drop", dead.id, "--data-dir", str(data)]
    )
    assert missing.exit_code == 1
    assert f"no dead letter {dead.id}" in missing.output
