"""`fleetscope alerts` against a store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from typer.testing import CliRunner

from fleetscope.cli.main import app
from fleetscope.model.alerts import RuleSpec
from fleetscope.store import accounts
from tests.alerting.test_alert_evaluator import Clock, Outbox, evaluator, setup_rules, write


def test_alerts_lists_firing_as_json_and_text(engine: Engine, database_url: str) -> None:
    setup_rules(engine, RuleSpec("hot", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    write(engine, "web-2", 0, 10.0)
    evaluator(engine, Clock(), Outbox()).run_once()
    cli = CliRunner()
    result = cli.invoke(app, ["alerts", "--database", database_url, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["state"], r["rule"], r["host"], r["value"]) for r in rows] == [
        ("firing", "hot", "web-1", 99.0)
    ]
    text = cli.invoke(app, ["alerts", "--database", database_url, "--history"])
    assert text.exit_code == 0 and "firing" in text.output and "web-1  hot" in text.output
    unknown = cli.invoke(app, ["alerts", "--database", database_url, "--host", "nope"])
    assert unknown.exit_code == 1 and "no host named 'nope'" in unknown.output


def test_alerts_finds_the_default_tenant_by_id_not_name(engine: Engine, database_url: str) -> None:
    setup_rules(engine, RuleSpec("hot", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    evaluator(engine, Clock(), Outbox()).run_once()
    with engine.connect() as conn:
        tenant = accounts.default_tenant_id(conn)
    assert tenant is not None and accounts.rename_tenant(engine, tenant, "acme")
    result = CliRunner().invoke(app, ["alerts", "--database", database_url, "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["host"] for line in result.output.splitlines()] == ["web-1"]
