"""`fleetscope`: the command line. This module only assembles the typer app; each command
group lives in a module of its own (cli/agent.py, cli/up.py, cli/config.py, cli/export.py,
cli/admin.py, cli/alerts.py, cli/report.py).

Heavy imports (FastAPI, SQLAlchemy) happen inside the commands that need them, so
`fleetscope agent` and `collect` start fast and lean on a monitored host."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetscope import __version__
from fleetscope.cli.admin import admin_app
from fleetscope.cli.agent import agent_app, collect, list_collectors
from fleetscope.cli.alerts import alerts_command
from fleetscope.cli.config import config_cmd
from fleetscope.cli.export import export_app
from fleetscope.cli.report import report_command
from fleetscope.cli.up import ingest, server, up, worker

app = typer.Typer(
    name="fleetscope",
    help="Fleet performance monitoring: agent, server, dashboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain: as Rich markup, "[server]" or "[default: 10s]" would vanish.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleetscope {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """fleetscope command line."""


# In the order `fleetscope --help` lists them.
app.add_typer(agent_app, name="agent")
app.command()(collect)
app.command("collectors")(list_collectors)
app.command()(server)
app.command()(worker)
app.command()(ingest)
app.command()(up)
app.command("alerts")(alerts_command)
app.command("report")(report_command)
app.add_typer(export_app, name="export")
app.add_typer(admin_app, name="admin")
app.command("config")(config_cmd)


def main() -> None:
    app()
