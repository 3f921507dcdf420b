"""`fleetscope agent` (and `agent status`), `fleetscope collect` and `fleetscope collectors`:
the agent's wiring, collectors → runner → spool → sink, from its settings.

Heavy imports (FastAPI, SQLAlchemy) stay out: this runs on a monitored host, lean."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.options import (
    ConfigFile,
    DataDir,
    Interval,
    LogLevel,
    ProcRoot,
    RootFs,
    SysRoot,
    load_settings,
    log,
    on_signals,
    setup_logging,
)
from fleetscope.cli.startup import own_data_dir
from fleetscope.config.settings import foreign_variables


def collector_runner(settings: AgentSettings) -> Any:
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


def agent_service(settings: AgentSettings, sink: Any) -> Any:
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
        collector_runner(settings),
        host_identity(settings.rootfs, settings.data_dir, settings.hostname),
        sink,
        spool,
        interval_seconds=settings.interval_seconds,
        batch_size=settings.max_snapshots_per_upload,
        batch_bytes=settings.max_upload_bytes,
        backoff=Backoff(settings.interval_seconds, settings.upload_backoff_max_seconds),
    )


def agent_uploader(
    settings: AgentSettings, api_key: str, server_url: str, ca_file: Path | None = None
) -> Any:
    from fleetscope.agent.http import StdlibTransport, tls_context
    from fleetscope.agent.uploader import Uploader

    if settings.insecure and server_url.startswith("https:"):
        log.warning("INSECURE: the certificate of %s is NOT verified (--insecure)", server_url)
    context = tls_context(settings.ca_file or ca_file, settings.insecure)
    transport = StdlibTransport(settings.upload_timeout_seconds, context)
    return Uploader(transport, server_url, api_key)


def agent_sink(settings: AgentSettings) -> Any:
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
    return agent_uploader(settings, settings.api_key.get_secret_value(), str(settings.server_url))


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


agent_app = typer.Typer(
    rich_markup_mode=None,
    help="Collect this host's metrics and stream them to a server, or write them to a file. "
    "`fleetscope agent status` shows what waits in its spool.",
)


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
    settings = load_settings(
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
    setup_logging(settings.log_level)
    log.debug("settings: %r", settings)
    ignored = foreign_variables([AgentSettings])
    if ignored:
        log.info("PCC_* variables fleetscope does not use: %s", ", ".join(ignored))
    lock = own_data_dir(settings.data_dir, "agent")
    sink = agent_sink(settings)
    service = agent_service(settings, sink)
    on_signals(lambda _sig, _frame: service.stop())
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
    settings = load_settings(
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
    setup_logging(log_level)
    names = [n.strip() for n in collectors.split(",") if n.strip()] if collectors else None
    settings = load_settings(
        AgentSettings,
        config,
        collectors=names,
        procfs=procfs,
        sysfs=sysfs,
        rootfs=rootfs,
        interval_seconds=interval,
    )
    runner = collector_runner(settings)
    try:
        if once:
            typer.echo(_snapshot_json(runner.collect(), indent=2))
            return
        stop = threading.Event()
        on_signals(lambda _sig, _frame: stop.set())
        while not stop.is_set():
            typer.echo(_snapshot_json(runner.collect()))
            stop.wait(settings.interval_seconds)
    finally:
        runner.close()


def list_collectors() -> None:
    """List every collector, whether it runs by default, and what it reports."""
    from fleetscope.agent.registry import REGISTRY

    width = max(len(name) for name in REGISTRY)
    for name, spec in REGISTRY.items():
        default = "default" if spec.enabled_by_default else "off    "
        typer.echo(f"{name:<{width}}  {default}  {spec.description}")
