"""`fleetscope`: the command line, and the composition root that wires settings into parts.

Heavy imports (FastAPI, SQLAlchemy) happen inside the commands that need them, so
`fleetscope agent` and `collect` start fast and lean on a monitored host."""

from __future__ import annotations

import json
import logging
import math
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import typer

from fleetscope import __version__
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.admin import admin_app
from fleetscope.cli.alerts import alerts_command
from fleetscope.cli.report import report_command
from fleetscope.cli.startup import check_stream, check_tls, own_data_dir, start_errors
from fleetscope.config.settings import (
    ConfigError,
    FleetscopeSettings,
    SettingsStruct,
    check_environment,
    foreign_variables,
    setting_description,
)

app = typer.Typer(
    name="fleetscope",
    help="Fleet performance monitoring: agent, server, dashboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain: as Rich markup, "[server]" or "[default: 10s]" would vanish.
    rich_markup_mode=None,
)
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


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request and per migration plugin drowns what matters.
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


# `fleetscope export csv --server`'s login: known here, so a shell that exports them can still
# run the server and the agent (check_environment refuses unknown FLEETSCOPE_* variables).
EXPORT_ENV = ("FLEETSCOPE_USERNAME", "FLEETSCOPE_PASSWORD")


def _load(cls: type[S], config: Path | None, **overrides: Any) -> S:
    """Settings or a clear message and exit code 2: bad configuration is the user's to fix."""
    from fleetscope.cli.settings import ServerSettings

    try:
        check_environment([ServerSettings, AgentSettings], EXPORT_ENV)
        return cls.load(config, **overrides)
    except ConfigError as exc:  # names the setting and the file, variable or option
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(2) from exc


def _runner(settings: AgentSettings) -> Any:
    from fleetscope.agent.collectors.base import CollectorContext
    from fleetscope.agent.linux.procfs import ProcFS, SysFS
    from fleetscope.agent.registry import UnknownCollector, select_collectors
    from fleetscope.agent.runner import CollectorRunner

    try:
        specs = select_collectors(
            settings.collectors, configured=("exporters",) if settings.exporters else ()
        )
    except UnknownCollector as exc:
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(2) from exc
    context = CollectorContext(
        ProcFS(settings.procfs),
        SysFS(settings.sysfs),
        settings.rootfs,
        settings=settings.collector_settings(),
    )
    return CollectorRunner(specs, context, timeout_seconds=settings.collector_timeout_seconds)


def _agent_service(settings: AgentSettings, sink: Any) -> Any:
    from fleetscope.agent.identity import host_identity
    from fleetscope.agent.service import AgentService
    from fleetscope.agent.spool import SpoolLimits, open_spool
    from fleetscope.agent.uploader import Backoff

    spool = open_spool(
        settings.data_dir,
        SpoolLimits(settings.spool.max_bytes, settings.spool.max_age_seconds),
    )
    waiting = spool.status()
    if waiting.depth:
        log.info("the spool holds %d snapshots from before: sending them first", waiting.depth)
    return AgentService(
        _runner(settings),
        host_identity(settings.rootfs, settings.data_dir, settings.hostname),
        sink,
        spool,
        interval_seconds=settings.interval_seconds,
        batch_size=settings.max_snapshots_per_upload,
        batch_bytes=settings.max_upload_bytes,
        backoff=Backoff(settings.interval_seconds, settings.upload_backoff_max_seconds),
    )


def _uploader(
    settings: AgentSettings, api_key: str, server_url: str, ca_file: Path | None = None
) -> Any:
    from fleetscope.agent.http import StdlibTransport, tls_context
    from fleetscope.agent.uploader import Uploader

    if settings.insecure and server_url.startswith("https:"):
        log.warning("INSECURE: the certificate of %s is NOT verified (--insecure)", server_url)
    context = tls_context(settings.ca_file or ca_file, settings.insecure)
    transport = StdlibTransport(settings.upload_timeout_seconds, context)
    return Uploader(transport, server_url, api_key)


def _sink(settings: AgentSettings) -> Any:
    """The uploader (trickle mode) or the collection file (local mode), or exit 2 saying
    which setting is missing."""
    if settings.mode == "local":
        if settings.output is None:
            typer.echo(
                "fleetscope agent: --mode local needs --output FILE "
                "(or FLEETSCOPE_OUTPUT, PCC_COLLECTION)",
                err=True,
            )
            raise typer.Exit(2)
        from fleetscope.agent.sink import FileSink

        try:
            return FileSink(settings.output)
        except OSError as exc:
            typer.echo(f"fleetscope agent: cannot open {settings.output}: {exc}", err=True)
            raise typer.Exit(2) from exc
    if settings.server_url is None or settings.api_key is None:
        typer.echo(
            "fleetscope agent: --server and --api-key (or FLEETSCOPE_API_KEY) are required",
            err=True,
        )
        raise typer.Exit(2)
    return _uploader(settings, settings.api_key.get_secret_value(), str(settings.server_url))


def _snapshot_json(snapshot: Any, indent: int | None = None) -> str:
    """A snapshot's wire JSON without the absent (None) fields, for people to read."""
    from fleetscope.model.codec import to_builtins

    def present(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: present(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [present(v) for v in value]
        return value

    separators = None if indent else (",", ":")
    return json.dumps(
        present(to_builtins(snapshot)), indent=indent, separators=separators, ensure_ascii=False
    )


def _on_signals(handler: Any) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


TlsCert = Annotated[
    Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (with --tls-key)")
]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert")]


agent_app = typer.Typer(
    rich_markup_mode=None,
    help="Collect this host's metrics and stream them to a server, or write them to a file. "
    "`fleetscope agent status` shows what waits in its spool.",
)
app.add_typer(agent_app, name="agent")


@agent_app.callback(invoke_without_command=True)
def agent(
    ctx: typer.Context,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="trickle: upload to --server; local: write a collection file [default: trickle]",
        ),
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="server URL, e.g. http://host:8080")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="agent API key [env FLEETSCOPE_API_KEY]")
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="PEM CA to verify an https server by [default: system's]"),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="do NOT verify the server's certificate (tests only)"),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="local mode: the collection file (JSON Lines, appended)"),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="stop after this long: 3s, 5m, 24h, 1d [default: never]"),
    ] = None,
    interval: Interval = None,
    data_dir: DataDir = None,
    procfs: ProcRoot = None,
    sysfs: SysRoot = None,
    rootfs: RootFs = None,
    config: ConfigFile = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning, error [default: info]")
    ] = None,
) -> None:
    """Collect this host's metrics and stream them to a server, or write them to a file."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"data_dir": data_dir, "config": config}
        return
    settings = _load(
        AgentSettings,
        config,
        procfs=procfs,
        sysfs=sysfs,
        rootfs=rootfs,
        mode=mode,
        server_url=server,
        api_key=api_key,
        ca_file=ca_file,
        insecure=insecure or None,
        output=output,
        duration_seconds=duration,
        interval_seconds=interval,
        data_dir=data_dir,
        log_level=log_level,
    )
    _setup_logging(settings.log_level)
    log.debug("settings: %r", settings)
    ignored = foreign_variables([AgentSettings])
    if ignored:
        log.info("PCC_* variables fleetscope does not use: %s", ", ".join(ignored))
    lock = own_data_dir(settings.data_dir, "agent")
    sink = _sink(settings)
    service = _agent_service(settings, sink)
    _on_signals(lambda _sig, _frame: service.stop())
    target = settings.output if settings.mode == "local" else settings.server_url
    until = f" for {settings.duration_seconds:g} s" if settings.duration_seconds else ""
    log.info("agent writing to %s every %g s%s", target, settings.interval_seconds, until)
    try:
        service.run(duration_seconds=settings.duration_seconds)
    finally:
        service.runner.close()
        service.spool.close()
        close = getattr(sink, "close", None)
        if callable(close):
            close()
        lock.release()


@agent_app.command("status")
def agent_status(
    ctx: typer.Context,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Show the agent's spool: depth, oldest entry, dropped, dead letters, last success and
    error. Reads the spool file read-only, beside a running agent or after it stopped."""
    import time

    from fleetscope.agent.spool import SPOOL_FILE, SpoolError
    from fleetscope.agent.spool.sqlite import open_read_only, read_dead_letters, read_status

    given = ctx.obj or {}
    settings = _load(
        AgentSettings, config or given.get("config"), data_dir=data_dir or given.get("data_dir")
    )
    path = settings.data_dir / SPOOL_FILE
    try:
        conn = open_read_only(path)
        try:
            status = read_status(conn)
            dead = read_dead_letters(conn, 5)
        finally:
            conn.close()
    except SpoolError as exc:
        typer.echo(f"fleetscope agent status: {exc}", err=True)
        raise typer.Exit(1) from exc
    now = time.time()
    if as_json:
        figures = {
            "spool": str(path),
            "depth": status.depth,
            "stored_bytes": status.stored_bytes,
            "oldest_age_seconds": status.oldest_age_seconds(now),
            "appended_total": status.appended_total,
            "dropped_total": status.dropped_total,
            "dead_letters_total": status.dead_letters_total,
            "last_success_at": status.last_success_at,
            "last_error": status.last_error,
            "last_error_at": status.last_error_at,
        }
        typer.echo(json.dumps(figures, indent=2))
        return
    oldest = status.oldest_age_seconds(now)
    rows = [
        ("spool", str(path)),
        (
            "waiting",
            f"{status.depth} snapshots ({status.stored_bytes / 1024:.0f} KiB stored)"
            + ("" if oldest is None else f", oldest {_ago(oldest)}"),
        ),
        ("collected", f"{status.appended_total} since the spool was created"),
        (
            "dropped",
            f"{status.dropped_total} (bounds: [agent.spool] max_bytes "
            f"{settings.spool.max_bytes}, max_age_seconds {settings.spool.max_age_seconds:g})",
        ),
        ("dead letters", f"{status.dead_letters_total} snapshots rejected by the server"),
        ("last success", _when(status.last_success_at, now)),
        (
            "last error",
            _when(status.last_error_at, now)
            + (f": {status.last_error}" if status.last_error else ""),
        ),
    ]
    rows += [
        (
            "rejected batch",
            f"{d.batch_id} ({d.snapshots} snapshots, {d.status_code}): {d.message[:200]}",
        )
        for d in dead
    ]
    for name, value in rows:
        typer.echo(f"{name:<15}{value}")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _when(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({_ago(now - at)})"


@app.command()
def collect(
    once: Annotated[bool, typer.Option("--once", help="print one snapshot and exit")] = False,
    collectors: Annotated[
        str | None, typer.Option("--collectors", help="comma-separated names")
    ] = None,
    procfs: ProcRoot = None,
    sysfs: SysRoot = None,
    rootfs: RootFs = None,
    interval: Interval = None,
    config: ConfigFile = None,
    log_level: LogLevel = "warning",
) -> None:
    """Print snapshots as JSON (one with --once, else one JSON line per interval)."""
    _setup_logging(log_level)
    names = [n.strip() for n in collectors.split(",") if n.strip()] if collectors else None
    settings = _load(
        AgentSettings,
        config,
        collectors=names,
        procfs=procfs,
        sysfs=sysfs,
        rootfs=rootfs,
        interval_seconds=interval,
    )
    runner = _runner(settings)
    try:
        if once:
            typer.echo(_snapshot_json(runner.collect(), indent=2))
            return
        stop = threading.Event()
        _on_signals(lambda _sig, _frame: stop.set())
        while not stop.is_set():
            typer.echo(_snapshot_json(runner.collect()))
            stop.wait(settings.interval_seconds)
    finally:
        runner.close()


@app.command("collectors")
def list_collectors() -> None:
    """List every collector, whether it runs by default, and what it reports."""
    from fleetscope.agent.registry import REGISTRY

    width = max(len(name) for name in REGISTRY)
    for name, spec in REGISTRY.items():
        default = "default" if spec.enabled_by_default else "off    "
        typer.echo(f"{name:<{width}}  {default}  {spec.description}")


@app.command()
def server(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database: Database = None,
    stream: StreamUrl = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run the server: ingest, stream, digest and the reporting API, on SQLite in --data-dir.
    With --stream redis://…, digest is left to `fleetscope worker` processes."""
    _setup_logging(log_level)
    _serve(
        data_dir,
        host,
        port,
        config,
        agent_settings=None,
        database_url=database,
        stream_url=stream,
        tls=(tls_cert, tls_key),
    )


@app.command()
def worker(
    stream: StreamUrl = None,
    database: Database = None,
    consumer: Annotated[
        str | None,
        typer.Option("--consumer", help="consumer name in the group [default: hostname-pid]"),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=64, help="digest threads [default: 1]"),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
) -> None:
    """Digest a shared Redis stream into the database, apart from ingest. SIGTERM finishes the
    batches in hand, acknowledges them and exits 0."""
    from fleetscope.cli.settings import ServerSettings
    from fleetscope.cli.worker import run_workers

    _setup_logging(log_level)
    settings = _load(
        ServerSettings, config, data_dir=data_dir, database_url=database, stream_url=stream
    )
    if settings.stream_url is None:
        typer.echo(
            "fleetscope worker: --stream redis://… (or FLEETSCOPE_STREAM_URL) is required; "
            "the embedded stream is digested by `fleetscope server` itself",
            err=True,
        )
        raise typer.Exit(2)
    with start_errors(settings.database_url):
        healthy = run_workers(settings, consumer, concurrency)
    if not healthy:
        raise typer.Exit(1)


@app.command()
def up(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    interval: Interval = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run everything on this machine: the server plus a local agent reporting this host."""
    _setup_logging(log_level)
    agent_settings = _load(AgentSettings, config, data_dir=data_dir, interval_seconds=interval)
    _serve(data_dir, host, port, config, agent_settings=agent_settings, tls=(tls_cert, tls_key))


def _serve(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    config: Path | None,
    agent_settings: AgentSettings | None,
    database_url: str | None = None,
    stream_url: str | None = None,
    tls: tuple[Path | None, Path | None] = (None, None),
) -> None:
    import uvicorn

    from fleetscope.cli.server import build_server
    from fleetscope.cli.settings import ServerSettings
    from fleetscope.store.auth import CREDENTIALS_FILE, local_agent_key

    settings = _load(
        ServerSettings,
        config,
        data_dir=data_dir,
        host=host,
        port=port,
        database_url=database_url,
        stream_url=stream_url,
        tls_cert_file=tls[0],
        tls_key_file=tls[1],
    )
    lock = own_data_dir(settings.data_dir, "server" if agent_settings is None else "up")
    with start_errors(settings.database_url):
        check_tls(settings)
        check_stream(settings)  # before anything is written to the database
        built = build_server(settings)
    uv_server = uvicorn.Server(
        uvicorn.Config(
            built.app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=server_keep_alive_seconds(
                None if agent_settings is None else agent_settings.interval_seconds
            ),
            ssl_certfile=settings.tls_cert_file,
            ssl_keyfile=settings.tls_key_file,
        )
    )
    scheme = "http" if settings.tls_cert_file is None else "https"
    address = f"{scheme}://{settings.host}:{settings.port}"
    agent_thread: threading.Thread | None = None
    service = None
    if agent_settings is not None:
        key = local_agent_key(built.engine, settings.data_dir)
        # Over TLS, the local agent trusts the server's own certificate (self-signed or not).
        uploader = _uploader(agent_settings, key, address, settings.tls_cert_file)
        service = _agent_service(agent_settings, uploader)
        agent_thread = threading.Thread(target=service.run, name="agent", daemon=True)

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        # Stop the agent first and let it flush to the still-running server; only then shut
        # the server down (which drains digest). Done off the signal handler's thread, because
        # the server that must receive the flush runs on this one. The flags are set directly
        # rather than through uvicorn's handler, which re-raises the signal after shutdown:
        # a graceful stop exits 0. A second Ctrl-C forces the exit.
        if uv_server.should_exit and sig == signal.SIGINT:
            uv_server.force_exit = True
            return

        def ordered() -> None:
            if service is not None and agent_thread is not None:
                service.stop()
                if agent_thread.is_alive():
                    agent_thread.join(timeout=15)
            uv_server.should_exit = True

        threading.Thread(target=ordered, name="shutdown", daemon=True).start()

    uv_server.handle_exit = handle_exit  # type: ignore[method-assign]
    credentials = settings.data_dir / CREDENTIALS_FILE
    banner = [
        f"fleetscope {__version__} is up: dashboard at {address}/, API at {address}/api/v1"
        f" (docs: {address}/docs)",
        f"  credentials: {credentials.resolve()} (admin password and agent key)",
    ]
    if agent_settings is not None:
        banner.append(
            f"  local agent: reporting this host every {agent_settings.interval_seconds:g} s"
        )
    if settings.stream_url is not None:
        from fleetscope.cli.startup import redacted

        where = "in this process" if settings.digest_in_process else "in `fleetscope worker`s"
        banner.append(f"  stream: {redacted(settings.stream_url)}; digest runs {where}")
    banner.append(
        "  stop with Ctrl-C (or SIGTERM): the agent flushes, digest drains, then it exits"
    )
    _when_listening(uv_server, lambda: _announce(banner, agent_thread))
    uv_server.run()
    lock.release()


def server_keep_alive_seconds(agent_interval_seconds: float | None) -> int:
    """How long the server keeps an idle connection: uvicorn's 5 s, or longer than our own
    local agent waits between uploads, so its kept-alive connection is still open then."""
    if agent_interval_seconds is None:
        return 5
    return max(5, math.ceil(agent_interval_seconds) + 5)


def _when_listening(uv_server: Any, action: Any) -> None:
    """Run `action` once the server accepts connections (never, if it fails to start)."""

    def wait_then_act() -> None:
        while not uv_server.started and not uv_server.should_exit:
            threading.Event().wait(0.05)
        if uv_server.started:
            action()

    threading.Thread(target=wait_then_act, name="on-listening", daemon=True).start()


def _announce(banner: list[str], agent_thread: threading.Thread | None) -> None:
    typer.echo("\n".join(banner))
    # The local agent starts only now, so its first upload lands.
    if agent_thread is not None:
        agent_thread.start()


SAMPLE_SUBTABLES = {
    "processes": """\
# process_names = [
#   { name = "{{.Matches.app}}", cmdline = ['java .* -jar (?P<app>\\S+)'] },
#   { name = "postgres", comm = ["postgres"] },
# ]
# track_children = true""",
}

SAMPLE_CONFIG_HEADER = """\
# fleetscope settings. Every key may also be set as an environment variable
# FLEETSCOPE_<KEY> (e.g. FLEETSCOPE_API_KEY), and command-line options win over both.
# Unknown keys are errors.
"""


app.command("alerts")(alerts_command)
app.command("report")(report_command)

export_app = typer.Typer(
    no_args_is_help=True, help="Export series for other tools.", rich_markup_mode=None
)
app.add_typer(export_app, name="export")
app.add_typer(admin_app, name="admin")


@export_app.command("csv")
def export_csv(
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="a collection file (agent --output), read offline"),
    ] = None,
    server_url: Annotated[
        str | None, typer.Option("--server", help="server URL, e.g. http://host:8080")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="host name (with --server)")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="ISO-8601 or epoch seconds (with --server)")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="default now (with --server)")] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="comma-separated metric names [default: all]")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file to write [default: stdout]")
    ] = None,
    username: Annotated[
        str, typer.Option("--username", envvar=EXPORT_ENV[0], help="with --server")
    ] = "admin",
    password: Annotated[
        str | None,
        typer.Option("--password", envvar=EXPORT_ENV[1], help="with --server"),
    ] = None,
) -> None:
    """Series as CSV: columns timestamp (ISO-8601 UTC), metric, labels (JSON), value."""
    import httpx

    from fleetscope.cli.export import ExportError, export_file, export_server

    if (from_file is None) == (server_url is None):
        typer.echo("fleetscope export csv: give either --from-file or --server", err=True)
        raise typer.Exit(2)
    if server_url is not None and (device is None or start is None or password is None):
        typer.echo(
            "fleetscope export csv: --server needs --device, --start and --password "
            "(or FLEETSCOPE_PASSWORD)",
            err=True,
        )
        raise typer.Exit(2)
    out = (
        sys.stdout
        if output is None
        else output.open("w", encoding="utf-8", newline="")  # the CSV carries its CRLFs
    )
    try:
        if from_file is not None:
            wanted = {m.strip() for m in metrics.split(",") if m.strip()} if metrics else None
            export_file(from_file, None if wanted is None else frozenset(wanted), out)
        else:
            assert device is not None and start is not None and password is not None
            with httpx.Client(base_url=server_url or "", timeout=60) as client:
                export_server(
                    client,
                    device=device,
                    start=start,
                    end=end,
                    metrics=metrics,
                    username=username,
                    password=password,
                    out=out,
                )
    except (ExportError, httpx.HTTPError) as exc:
        typer.echo(f"fleetscope export csv: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if out is not sys.stdout:
            out.close()


@app.command("config")
def config_cmd(
    sample: Annotated[bool, typer.Option("--sample", help="print a sample settings file")] = False,
) -> None:
    """Configuration helpers."""
    if not sample:
        typer.echo("use: fleetscope config --sample > fleetscope.toml", err=True)
        raise typer.Exit(2)
    import msgspec

    from fleetscope.cli.settings import ServerSettings

    typer.echo(SAMPLE_CONFIG_HEADER)
    for cls in (ServerSettings, AgentSettings):
        typer.echo(f"[{cls.TOML_TABLE}]")
        tables: dict[str, SettingsStruct] = {}
        for field in msgspec.structs.fields(cls):
            factory = field.default_factory
            default = field.default if factory is msgspec.NODEFAULT else factory()
            if isinstance(default, SettingsStruct):  # a collector's settings: its own table
                tables[field.name] = default
                continue
            _sample_key(field.name, setting_description(field.type), default)
        typer.echo("")
        for table, model in tables.items():
            typer.echo(f"[{cls.TOML_TABLE}.{table}]")
            example = SAMPLE_SUBTABLES.get(table, "")
            if example:
                typer.echo(example)
            for field in msgspec.structs.fields(model):
                if f"# {field.name} =" not in example:  # the example shows it already
                    value = getattr(model, field.name)
                    _sample_key(field.name, setting_description(field.type), value)
            typer.echo("")


def _sample_key(name: str, description: str | None, default: object) -> None:
    if description:
        typer.echo(f"# {description}")
    if default is None:
        typer.echo(f"# {name} =")
    else:
        typer.echo(f"{name} = {_toml_value(default)}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, re.Pattern):
        return json.dumps(value.pattern)
    return json.dumps(str(value))


def main() -> None:
    app()
