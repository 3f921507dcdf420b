"""`fleetscope server`, `fleetscope worker`, `fleetscope ingest` and `fleetscope up`: settings →
the server (cli/server.py) under uvicorn, digest workers (cli/worker.py), ingest alone
(cli/ingest.py), and the order in which
`up` starts and stops its parts: the local agent starts once the server listens and, on
SIGINT or SIGTERM, stops and flushes to the still-running server before the server stops
and digest drains."""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from fleetscope import __version__
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.agent import agent_service, agent_uploader
from fleetscope.cli.options import (
    ConfigFile,
    Database,
    DataDir,
    Host,
    Interval,
    LogLevel,
    Port,
    StreamUrl,
    TlsCert,
    TlsKey,
    load_settings,
    setup_logging,
)
from fleetscope.cli.startup import (
    check_stream,
    check_tls,
    own_data_dir,
    redacted,
    start_errors,
    uvicorn_server,
)


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
    setup_logging(log_level)
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


def worker(
    stream: StreamUrl = None,
    database: Database = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            "--consumer", help="consumer name in the group [default: hostname-pid-random]"
        ),
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

    setup_logging(log_level)
    settings = load_settings(
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


def ingest(
    stream: StreamUrl = None,
    database: Database = None,
    host: Host = None,
    port: Port = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
) -> None:
    """Run ingest alone in front of a shared Redis stream: agents, uploads and perfcollector
    clients send here, keys are checked in --database, `fleetscope worker`s digest. No read
    API. Start `fleetscope server` first: it migrates the database."""
    from fleetscope.cli.ingest import serve_ingest
    from fleetscope.cli.settings import ServerSettings

    setup_logging(log_level)
    settings = load_settings(
        ServerSettings,
        config,
        data_dir=data_dir,
        host=host,
        port=port,
        database_url=database,
        stream_url=stream,
        tls_cert_file=tls_cert,
        tls_key_file=tls_key,
    )
    if settings.stream_url is None:
        typer.echo(
            "fleetscope ingest: --stream redis://… (or FLEETSCOPE_STREAM_URL) is required; "
            "with the embedded stream, `fleetscope server` is the ingest",
            err=True,
        )
        raise typer.Exit(2)
    with start_errors(settings.database_url):
        check_tls(settings)
        serve_ingest(settings)


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
    setup_logging(log_level)
    agent_settings = load_settings(
        AgentSettings, config, data_dir=data_dir, interval_seconds=interval
    )
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
    from fleetscope.cli.server import build_server
    from fleetscope.cli.settings import ServerSettings
    from fleetscope.store.auth import CREDENTIALS_FILE, local_agent_key

    settings = load_settings(
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
    uv_server = uvicorn_server(
        built.app,
        settings,
        timeout_keep_alive=server_keep_alive_seconds(
            None if agent_settings is None else agent_settings.interval_seconds
        ),
    )
    scheme = "http" if settings.tls_cert_file is None else "https"
    address = f"{scheme}://{settings.host}:{settings.port}"
    agent_thread: threading.Thread | None = None
    service = None
    if agent_settings is not None:
        key = local_agent_key(built.engine, settings.data_dir)
        # Over TLS, the local agent trusts the server's own certificate (self-signed or not).
        uploader = agent_uploader(agent_settings, key, address, settings.tls_cert_file)
        service = agent_service(agent_settings, uploader)
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
