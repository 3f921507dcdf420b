"""A message that the database refuses must not hold back the others read with it: digest
retries the batch, then splits it until exactly the offending message is dead-lettered (with
its error), and every other message is stored once. The poisoned message is put straight into
the stream, past ingest's validation, as a tampered queue or an older server would."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleetscope.digest.transform import AGENT_PAYLOAD
from fleetscope.digest.worker import DigestWorker
from fleetscope.store.engine import make_engine, migrate
from fleetscope.store.tables import ingested_batches
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage, Stream
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream
from tests.conftest import private_database
from tests.helpers import T0, payload, payload_json
from tests.redis_support import REDIS_URL
from tests.snapshots import count_snapshots

# SQLite stores a NUL in text; a trigger makes it refuse one host's row instead, as
# PostgreSQL refuses the NUL.
_SQLITE_POISON = (
    "CREATE TRIGGER poison BEFORE INSERT ON hosts WHEN NEW.name = 'poison' "
    "BEGIN SELECT RAISE(ABORT, 'poisoned host refused'); END"
)
# The door now refuses a NUL in a hostname (model/names.py), so the database's refusal of a
# row is made by a trigger on both backends: what digest must survive is any refused write.
_POSTGRES_POISON = (
    "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned host refused'; END IF; "
    "RETURN NEW; END $$; "
    "CREATE TRIGGER poison BEFORE INSERT ON hosts FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
)


@pytest.fixture(params=["embedded", "scaled"])
def layout(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Stream, sa.Engine, str]]:
    """(stream, engine, the poisoned hostname): SQLite + SQLite, or Redis + PostgreSQL."""
    stack = contextlib.ExitStack()
    if request.param == "embedded":
        stream: Stream = SQLiteStream(tmp_path / "stream.db", visibility_timeout_seconds=60)
        engine = make_engine(f"sqlite:///{tmp_path / 'fleetscope.db'}")
        migrate(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(_SQLITE_POISON)
        bad = "poison"
    else:
        prefix = request.getfixturevalue("redis_prefix")
        url = stack.enter_context(private_database("fleetscope_poison"))
        stream = RedisStream.from_url(
            REDIS_URL, prefix=prefix, shards=2, visibility_timeout_seconds=60
        )
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(_POSTGRES_POISON)
        bad = "poison"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO tenants (name, created_ms) SELECT 't', 0"
            " WHERE NOT EXISTS (SELECT 1 FROM tenants)"
        )
    yield stream, engine, bad
    stream.close()
    engine.dispose()
    stack.close()


def _wait(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_poisoned_message_is_dead_lettered_alone(
    layout: tuple[Stream, sa.Engine, str],
) -> None:
    stream, engine, bad = layout
    good = [
        payload(2, hostname=f"h-{i}", machine_id=f"m-{i}", start=T0 + timedelta(minutes=i))
        for i in range(11)
    ]
    poisoned = payload(2, hostname=bad, machine_id="m-bad")
    bodies = [payload_json(p) for p in good[:5]] + [payload_json(poisoned)]
    bodies += [payload_json(p) for p in good[5:]]
    stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, body) for body in bodies])
    worker = DigestWorker(stream, StoreWriter(engine), batch_size=16, linger_seconds=0)
    thread = threading.Thread(target=worker.run, name="digest")
    thread.start()
    try:
        _wait(lambda: stream.depth() == 0, 20, "digest to get past the poisoned message")
    finally:
        worker.stop()
        thread.join(timeout=10)
    dead = stream.dead_letters()
    assert [d.body for d in dead] == [payload_json(poisoned)]
    assert dead[0].error  # the database's refusal, for the operator
    assert stream.dead_letter_count() == 1
    assert worker.stats.messages_dead_lettered == 1
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(ingested_batches.c.batch_id).order_by(ingested_batches.c.batch_id)
        ).scalars()
        assert sorted(str(b) for b in stored) == sorted(str(p.batch_id) for p in good)
        frames = count_snapshots(conn)
        assert frames == 2 * len(good)  # each stored exactly once
