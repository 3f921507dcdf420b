"""`fleetscope export csv`: series as CSV (query/csvexport.py), from a collection file with no
server at all, or from a server's reporting API over a time range.

The HTTP client is an argument, so tests hand in the in-process app's TestClient (an
httpx.Client) instead of patching the network. query/csvexport.py is imported when an export
runs: every command (the agent too) imports this module to register `export`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO
from urllib.parse import quote

import typer

from fleetscope.cli.options import EXPORT_ENV
from fleetscope.model.codec import PayloadError, decode_payload

if TYPE_CHECKING:
    import httpx

    from fleetscope.query.csvexport import CsvPoint

export_app = typer.Typer(
    no_args_is_help=True, help="Export series for other tools.", rich_markup_mode=None
)


class ExportError(Exception):
    """The message is shown to the user as-is."""


def collection_points(path: Path, metrics: frozenset[str] | None) -> Iterator[CsvPoint]:
    """Every series value in a collection file (JSON Lines of model.payload.Payload), line by
    line, so a large file is never held whole."""
    from fleetscope.query.csvexport import payload_points

    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    payload = decode_payload(line)
                except PayloadError as exc:
                    raise ExportError(
                        f"{path}:{number}: not a fleetscope payload ({exc}): {line[:80]!r}"
                    ) from exc
                yield from payload_points(payload, metrics)
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc


def export_file(path: Path, metrics: frozenset[str] | None, out: TextIO) -> int:
    """Write the CSV of a collection file; the number of rows written."""
    from fleetscope.query.csvexport import csv_lines

    rows = -1  # the header is not a row
    for line in csv_lines(collection_points(path, metrics)):
        out.write(line)
        rows += line.count("\n")
    return max(rows, 0)


def export_server(
    client: httpx.Client,
    *,
    device: str,
    start: str,
    end: str | None,
    metrics: str | None,
    username: str,
    password: str,
    out: TextIO,
) -> None:
    """Log in, then stream GET /api/v1/reports/metrics/{device}?format=csv into `out`."""
    login = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if login.status_code != HTTPStatus.OK:
        raise ExportError(f"login failed ({login.status_code}): {_detail(login)}")
    params = {"start_time": start, "format": "csv"}
    if end is not None:
        params["end_time"] = end
    if metrics is not None:
        params["metrics"] = metrics
    headers = {"Authorization": f"Bearer {login.json()['token']}", "Accept": "text/csv"}
    with client.stream(
        "GET", f"/api/v1/reports/metrics/{quote(device, safe='')}", params=params, headers=headers
    ) as response:
        if response.status_code != HTTPStatus.OK:
            response.read()
            raise ExportError(f"export failed ({response.status_code}): {_detail(response)}")
        # The server's CSV already ends lines in CRLF; newline="" on `out` keeps them.
        for chunk in response.iter_text():
            out.write(chunk)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


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
    import httpx  # here, not at the top: every command, the agent too, imports this module

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
