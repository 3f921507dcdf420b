"""`fleetscope admin`: operator commands on a server's data, run beside it on the same
settings. `admin dead-letters list|replay|drop`: the messages digest could not store (a
payload the database refused, digest/worker.py), each with the error that stopped it; replay
puts one back in the stream once the cause is fixed, drop forgets it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import ConfigError
from fleetscope.stream.base import Stream, StreamUnavailable

admin_app = typer.Typer(
    no_args_is_help=True, help="Operator commands on a server's data.", rich_markup_mode=None
)
dead_letters_app = typer.Typer(
    no_args_is_help=True,
    help="Messages digest could not store, each with its error: list, replay or drop them.",
    rich_markup_mode=None,
)
admin_app.add_typer(dead_letters_app, name="dead-letters")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="the server's data directory [default: data]")
]
StreamUrl = Annotated[
    str | None,
    typer.Option("--stream", help="redis://… of a scaled server [default: SQLite in --data-dir]"),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="the server's TOML settings file")
]
Ids = Annotated[list[str] | None, typer.Argument(help="dead-letter ids, as `list` shows them")]
All = Annotated[bool, typer.Option("--all", help="every dead letter")]

# Error texts can quote a whole SQL statement; the list shows their start (--json: whole).
_ERROR_EXCERPT = 160
_ALL_AT_ONCE = 100_000


def _stream(data_dir: Path | None, stream_url: str | None, config: Path | None) -> Stream:
    from fleetscope.cli.wiring import make_stream  # heavy imports: only when run

    try:
        settings = ServerSettings.load(config, data_dir=data_dir, stream_url=stream_url)
    except ConfigError as exc:
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(2) from exc
    if settings.stream_url is None and not (settings.data_dir / "stream.db").exists():
        typer.echo(f"fleetscope: no embedded stream in {settings.data_dir}", err=True)
        raise typer.Exit(2)
    return make_stream(settings)


def _chosen(stream: Stream, ids: list[str] | None, every: bool) -> list[str]:
    if every == bool(ids):
        typer.echo("fleetscope: name dead-letter ids, or --all (not both)", err=True)
        raise typer.Exit(2)
    return [d.id for d in stream.dead_letters(_ALL_AT_ONCE)] if every else list(ids or [])


def _unavailable(exc: StreamUnavailable) -> typer.Exit:
    typer.echo(f"fleetscope: {exc}", err=True)
    return typer.Exit(1)


@dead_letters_app.command("list")
def list_dead_letters(
    data_dir: DataDir = None,
    stream_url: StreamUrl = None,
    config: ConfigFile = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, whole errors")] = False,
) -> None:
    """The dead letters, oldest first: id, when, kind, tenant, size and the error."""
    stream = _stream(data_dir, stream_url, config)
    try:
        dead = stream.dead_letters(limit)
        total = stream.dead_letter_count()
    except StreamUnavailable as exc:
        raise _unavailable(exc) from exc
    finally:
        stream.close()
    for letter in dead:
        when = datetime.fromtimestamp(letter.failed_at, UTC).isoformat(timespec="seconds")
        if as_json:
            record = {
                "id": letter.id,
                "failed_at": when,
                "kind": letter.kind,
                "tenant_id": letter.tenant_id,
                "bytes": len(letter.body),
                "error": letter.error,
            }
            typer.echo(json.dumps(record))
            continue
        error = " ".join(letter.error.split())
        if len(error) > _ERROR_EXCERPT:
            error = error[: _ERROR_EXCERPT - 1] + "…"
        typer.echo(
            f"{letter.id}  {when}  {letter.kind}  tenant {letter.tenant_id}"
            f"  {len(letter.body)} bytes  {error}"
        )
    if not as_json:
        typer.echo(f"{total} dead letters" + (f" ({len(dead)} shown)" if total > len(dead) else ""))


@dead_letters_app.command("replay")
def replay_dead_letters(
    ids: Ids = None,
    every: All = False,
    data_dir: DataDir = None,
    stream_url: StreamUrl = None,
    config: ConfigFile = None,
) -> None:
    """Put dead letters back in the stream for digest to try again (fix the cause first)."""
    stream = _stream(data_dir, stream_url, config)
    missing = []
    try:
        for message_id in _chosen(stream, ids, every):
            new_id = stream.replay_dead_letter(message_id)
            if new_id is None:
                missing.append(message_id)
            else:
                typer.echo(f"replayed {message_id} as {new_id}")
    except StreamUnavailable as exc:
        raise _unavailable(exc) from exc
    finally:
        stream.close()
    if missing:
        typer.echo(f"fleetscope: no dead letter {', '.join(missing)}", err=True)
        raise typer.Exit(1)


@dead_letters_app.command("drop")
def drop_dead_letters(
    ids: Ids = None,
    every: All = False,
    data_dir: DataDir = None,
    stream_url: StreamUrl = None,
    config: ConfigFile = None,
) -> None:
    """Forget dead letters for good."""
    stream = _stream(data_dir, stream_url, config)
    missing = []
    try:
        for message_id in _chosen(stream, ids, every):
            if stream.drop_dead_letter(message_id):
                typer.echo(f"dropped {message_id}")
            else:
                missing.append(message_id)
    except StreamUnavailable as exc:
        raise _unavailable(exc) from exc
    finally:
        stream.close()
    if missing:
        typer.echo(f"fleetscope: no dead letter {', '.join(missing)}", err=True)
        raise typer.Exit(1)
