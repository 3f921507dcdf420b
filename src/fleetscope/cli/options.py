"""What every `fleetscope` command group shares: the typer options spelled once, loading the
settings (a bad setting is exit code 2), logging, and the signals that stop a loop.

Kept free of heavy imports: `fleetscope agent` and `collect` import it on a monitored host."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import ConfigError, FleetscopeSettings, check_environment

log = logging.getLogger("fleetscope")
S = TypeVar("S", bound=FleetscopeSettings)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="where state lives [default: data]")
]
Host = Annotated[
    str | None, typer.Option("--host", help="address to listen on [default: 127.0.0.1]")
]
Port = Annotated[int | None, typer.Option("--port", help="port to listen on [default: 8080]")]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML settings file with [server] and [agent] tables"),
]
Interval = Annotated[
    str | None,
    typer.Option("--interval", help="time between collections: 10s, 5m or seconds [default: 10s]"),
]
ProcRoot = Annotated[Path | None, typer.Option("--procfs", help="proc root [default: /proc]")]
SysRoot = Annotated[Path | None, typer.Option("--sysfs", help="sys root [default: /sys]")]
RootFs = Annotated[Path | None, typer.Option("--rootfs", help="root filesystem [default: /]")]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")]
Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL: sqlite:///path or postgresql://… [default: SQLite in --data-dir]",
    ),
]
StreamUrl = Annotated[
    str | None,
    typer.Option(
        "--stream",
        help="redis://host:6379/0 for Redis/Valkey Streams [default: SQLite in --data-dir]",
    ),
]
TlsCert = Annotated[
    Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (with --tls-key)")
]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert")]

# `fleetscope export csv --server`'s login: known here, so a shell that exports them can still
# run the server and the agent (check_environment refuses unknown FLEETSCOPE_* variables).
EXPORT_ENV = ("FLEETSCOPE_USERNAME", "FLEETSCOPE_PASSWORD")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request and per migration plugin drowns what matters.
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


def load_settings(cls: type[S], config: Path | None, **overrides: Any) -> S:
    """Settings or a clear message and exit code 2: bad configuration is the user's to fix."""
    from fleetscope.cli.settings import ServerSettings

    try:
        check_environment([ServerSettings, AgentSettings], EXPORT_ENV)
        return cls.load(config, **overrides)
    except ConfigError as exc:  # names the setting and the file, variable or option
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(2) from exc


def on_signals(handler: Any) -> None:
    """`handler` for SIGINT and SIGTERM."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
