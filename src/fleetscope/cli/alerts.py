"""`fleetscope alerts`: the alerts firing and pending now, or their history, read from the
server's database (the same services as the REST API, query/alerts.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer


def alerts_command(
    history: Annotated[
        bool, typer.Option("--history", help="state changes, newest first, instead")
    ] = False,
    host: Annotated[str | None, typer.Option("--host", help="only this host (its name)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="history rows at most")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="the server's data directory")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="the server's database URL")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="settings file")] = None,
) -> None:
    """Alerts firing and pending now (firing first), or --history."""
    from sqlalchemy import select

    from fleetscope.cli.settings import ServerSettings
    from fleetscope.config.settings import ConfigError
    from fleetscope.query.alerts import AlertQueries
    from fleetscope.store.accounts import default_tenant_id
    from fleetscope.store.engine import make_engine, sqlite_url
    from fleetscope.store.tables import hosts

    try:
        settings = ServerSettings.load(config, data_dir=data_dir, database_url=database)
    except ConfigError as exc:
        typer.echo(f"fleetscope alerts: {exc}", err=True)
        raise typer.Exit(2) from exc
    url = settings.database_url or sqlite_url(settings.data_dir)
    if settings.database_url is None and not (settings.data_dir / "fleetscope.db").exists():
        typer.echo(f"fleetscope alerts: no database in {settings.data_dir}", err=True)
        raise typer.Exit(2)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # The first tenant, whatever it is called now (a rename keeps it the default).
            tenant_id = default_tenant_id(conn)
            if tenant_id is None:
                typer.echo("fleetscope alerts: the database has no tenant yet", err=True)
                raise typer.Exit(2)
            host_id = None
            if host is not None:
                host_id = conn.execute(
                    select(hosts.c.id).where(hosts.c.tenant_id == tenant_id, hosts.c.name == host)
                ).scalar()
                if host_id is None:
                    typer.echo(f"fleetscope alerts: no host named {host!r}", err=True)
                    raise typer.Exit(1)
        queries = AlertQueries(engine)
        if history:
            for h in queries.history(tenant_id, host_id, limit):
                row = {
                    "at": h.at.isoformat(),
                    "state": h.state,
                    "rule": h.rule_name,
                    "host": h.host_name,
                    "value": h.value,
                }
                typer.echo(json.dumps(row) if as_json else _line(row, ("at", "state")))
            return
        current = queries.alerts(tenant_id, host_id=host_id)
        if not current and not as_json:
            typer.echo("no alerts firing or pending")
        for a in current:
            row = {
                "state": a.state,
                "since": a.since.isoformat(),
                "rule": a.rule_name,
                "severity": a.severity,
                "host": a.host_name,
                "value": a.value,
                **a.detail,
            }
            typer.echo(json.dumps(row) if as_json else _line(row, ("state", "since")))
    finally:
        engine.dispose()


def _line(row: Mapping[str, object], first: tuple[str, str]) -> str:
    value = row["value"]
    shown = "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    extra = " ".join(
        f"{k}={v}" for k, v in row.items() if k not in {*first, "rule", "host", "value", "severity"}
    )
    head = f"{row[first[0]]!s:<8} {row[first[1]]}  {row['host']}  {row['rule']}"
    return f"{head}  value={shown} {extra}".rstrip()
