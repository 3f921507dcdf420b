"""What a long-running command does before it serves: own its data directory (one process per
directory: two digests or two agents on one stream and spool would race), keep what it writes
there private, and turn the start-up failures a person can fix into one line and an exit code.

Kept free of heavy imports: the lean agent uses it too."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from fleetscope.cli.settings import ServerSettings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

LOCK_FILE = "fleetscope.lock"
# The data directory holds password and key hashes, agent keys and every metric: readable by
# the owner only. A umask, so every file SQLite makes later (-wal, -shm, journals) is too.
PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


class DataDirInUse(RuntimeError):
    pass


class DataDirLock:
    """An exclusive flock on <data_dir>/fleetscope.lock, held while the file stays open (the
    kernel drops it when the process dies, so a crash leaves no stale lock). The file holds
    the owner's PID and role, for the message the next one prints."""

    def __init__(self, data_dir: Path, role: str) -> None:
        self.path = data_dir / LOCK_FILE
        # No truncation before the lock is ours: the owner's PID must stay readable.
        self._file: IO[str] = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            raise DataDirInUse(
                f"data directory {data_dir} is in use by {owner}; stop it, or give this "
                "one another --data-dir"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"process {os.getpid()} (fleetscope {role})\n")
        self._file.flush()

    def release(self) -> None:
        self._file.close()

    def __del__(self) -> None:
        # A command that ends by an exception before its own release (an in-process test's
        # CliRunner, a start-up error) still lets go, without an unclosed-file warning.
        opened = getattr(self, "_file", None)  # absent when the open itself failed
        if opened is not None:
            opened.close()


def make_private(data_dir: Path) -> None:
    """Create data_dir (0700), set the private umask for what this process creates from now
    on, and tighten what an earlier version or a careless copy left readable to others."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in [data_dir, *data_dir.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:  # a journal SQLite removed meanwhile
            continue
        if stat.S_ISLNK(info.st_mode):
            continue  # the target is not ours to change
        wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
        mode = stat.S_IMODE(info.st_mode)
        if mode & ~wanted & 0o077:
            path.chmod(mode & ~0o077)
            log.warning(
                "tightened the permissions of %s from %04o to %04o (readable by others)",
                path,
                mode,
                mode & ~0o077,
            )


def own_data_dir(data_dir: Path, role: str) -> DataDirLock:
    """make_private, then the lock; or one line naming the owner and exit code 1."""
    try:
        make_private(data_dir)
        return DataDirLock(data_dir, role)
    except DataDirInUse as exc:
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"fleetscope: cannot use data directory {data_dir}: {exc}", err=True)
        raise typer.Exit(1) from None


def check_stream(settings: ServerSettings) -> None:
    """Raise StreamUnavailable when the configured stream cannot be reached."""
    from fleetscope.cli.wiring import make_stream

    stream = make_stream(settings)
    try:
        stream.ping()
    finally:
        stream.close()


def check_tls(settings: ServerSettings) -> None:
    """One line and exit code 1 when the certificate or key cannot be used (uvicorn would
    fail with a traceback once the app had started)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert_file, settings.tls_key_file
        )
    except (OSError, ssl.SSLError) as exc:
        typer.echo(
            f"fleetscope: cannot serve HTTPS with certificate {settings.tls_cert_file} and key "
            f"{settings.tls_key_file}: {exc}",
            err=True,
        )
        raise typer.Exit(1) from None


@contextlib.contextmanager
def start_errors(database_url: str | None = None) -> Iterator[None]:
    """Around start-up: a database or stream that cannot be reached, or a URL that is not one,
    becomes one line naming it (no traceback) and exit code 1."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from fleetscope.stream.base import StreamUnavailable

    try:
        yield
    except DBAPIError as exc:
        where = f" at {redacted(database_url)}" if database_url else ""
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        typer.echo(f"fleetscope: cannot use the database{where}: {reason}", err=True)
        raise typer.Exit(1) from None
    except (ArgumentError, NoSuchModuleError) as exc:
        typer.echo(f"fleetscope: the database URL is not usable: {exc}", err=True)
        raise typer.Exit(1) from None
    except StreamUnavailable as exc:
        typer.echo(f"fleetscope: cannot use the stream: {exc}", err=True)
        raise typer.Exit(1) from None


def redacted(url: str) -> str:
    """A URL fit for a log line: the password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def uvicorn_server(app: Any, settings: ServerSettings, **config: Any) -> uvicorn.Server:
    """The uvicorn server of `fleetscope server`/`up` and `fleetscope ingest`: the settings'
    address and TLS files, quiet access log, lifespan on; `config` adds to uvicorn's Config.
    uvicorn is imported here, not at the top: the lean agent imports this module too."""
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=settings.tls_cert_file,
            ssl_keyfile=settings.tls_key_file,
            **config,
        )
    )
