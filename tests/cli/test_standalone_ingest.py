"""The standalone ingest app as cli/wiring.py builds it for the scaled layout (`fleetscope
ingest`): the database's key check, cached, and a 503 with Retry-After (not a 500) when a key
not in the cache cannot be checked because the database is down; the command's refusals at
start. The process end to end on PostgreSQL and Redis: tests/system/test_scaled_tenants.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from fleetscope.cli.main import app as cli
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.wiring import standalone_ingest_app
from fleetscope.model.auth import Scope
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.store import keys
from fleetscope.store.auth import bootstrap
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.stream.sqlite import SQLiteStream
from fleetscope.web.routes.health import RETRY_AFTER_SECONDS
from tests.helpers import free_port, payload, payload_json


def test_keys_are_checked_in_the_database_and_an_outage_is_503(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    bootstrap(engine, tmp_path, "pw")
    tenant = keys.create_key(engine, 1, "agents", Scope.INGEST)
    stream = SQLiteStream(tmp_path / "stream.db")
    settings = ServerSettings(data_dir=tmp_path)
    body = payload_json(payload(1, start=datetime.now(UTC) - timedelta(minutes=1)))

    def send(app_engine: Engine, key: str) -> tuple[int, str | None]:
        app = standalone_ingest_app(settings, app_engine, stream)
        with TestClient(app) as client:
            answer = client.post(
                "/api/v1/ingest",
                content=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
        return answer.status_code, answer.headers.get("retry-after")

    assert send(engine, tenant.secret) == (202, None)
    assert send(engine, "fsk_" + "x" * 43) == (401, None)
    (message,) = stream.read("t", 10, 0)
    assert (message.kind, message.tenant_id) == (AGENT_PAYLOAD, 1)
    # Nothing listens on that port: the key check cannot reach its database.
    down = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    assert send(down, tenant.secret) == (503, str(RETRY_AFTER_SECONDS))
    down.dispose()
    stream.close()
    engine.dispose()


def test_the_ingest_command_wants_a_shared_stream_and_a_reachable_database() -> None:
    runner = CliRunner()
    alone = runner.invoke(cli, ["ingest", "--database", "sqlite:///x.db"])
    assert alone.exit_code == 2 and "--stream redis://" in alone.output
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    down = runner.invoke(
        cli, ["ingest", "--stream", "redis://127.0.0.1:6379/0", "--database", unreachable]
    )
    assert down.exit_code == 1
    assert down.output.startswith("fleetscope: cannot use the database at ")
    assert "Traceback" not in down.output
