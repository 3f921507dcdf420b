"""`fleetscope report`: an analysis report (HTML or PDF) of a collection file, offline, or of a
host over a time range, analysed by a server (POST /api/v1/analyses, then the report file).

The HTTP client is an argument (tests pass the in-process app's TestClient).

numpy, matplotlib and WeasyPrint are imported when a report is made, not when the CLI starts:
every command (the agent too) imports this module to register it, and the agent's memory
budget has no room for them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

    from fleetscope.report.analysis import Analysis
    from fleetscope.report.frame import HostFrame
    from fleetscope.report.thresholds import Thresholds

FORMATS = (".html", ".pdf")
_POLL_SECONDS = 0.5


class ReportError(Exception):
    """Shown to the user as-is."""


def _first_line(path: Path) -> bytes:
    try:
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    return line
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    raise ReportError(f"{path} is empty")


def read_file(path: Path, advance: Callable[[int], None] | None = None) -> HostFrame:
    """A local-mode collection file or a perfcollector capture, told apart by the first line."""
    from fleetscope.agent.perfcollector import (
        CaptureError,
        capture_host,
        looks_like_capture,
        read_capture,
    )
    from fleetscope.report.collection import CollectionError, read_collection
    from fleetscope.report.frame import frame_from_snapshots

    first = _first_line(path)
    try:
        if looks_like_capture(first):
            with path.open("rb") as lines:

                def counted() -> Iterator[bytes]:
                    for line in lines:
                        if advance is not None:
                            advance(len(line))
                        yield line

                snaps = read_capture(counted(), str(path))
                return frame_from_snapshots(capture_host(first), snaps)
        return read_collection(path, advance)
    except (CollectionError, CaptureError) as exc:
        raise ReportError(str(exc)) from exc


def write_report(analysis: Analysis, output: Path) -> None:
    from fleetscope.report.document import render_html, render_pdf

    html = render_html(analysis)
    data = render_pdf(html) if output.suffix.lower() == ".pdf" else html.encode()
    output.write_bytes(data)


def load_thresholds(path: Path | None) -> Thresholds | None:
    """A TOML file of threshold names and numbers (docs/analysis.md), or the defaults."""
    import tomllib

    from fleetscope.report.thresholds import Thresholds

    if path is None:
        return None
    try:
        return Thresholds.from_mapping(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ReportError(f"{path}: {exc}") from exc


def report_file(
    path: Path,
    output: Path,
    progress: Progress | None = None,
    thresholds: Thresholds | None = None,
) -> Analysis:
    from fleetscope.report.analysis import analyse

    size = path.stat().st_size if path.exists() else 0
    task = progress.add_task("reading", total=size) if progress else None

    def advance(count: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, count)

    frame = read_file(path, advance)
    if progress is not None and task is not None:
        progress.update(task, description="analysing and rendering", completed=size)
    analysis = analyse(frame, thresholds)
    write_report(analysis, output)
    return analysis


def report_server(
    client: httpx.Client,
    *,
    host: str,
    start: str,
    end: str,
    username: str,
    password: str,
    output: Path,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Log in, start an analysis, follow its progress, then download its report."""
    login = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if login.status_code != HTTPStatus.OK:
        raise ReportError(f"login failed ({login.status_code}): {_detail(login)}")
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    started = client.post(
        "/api/v1/analyses", json={"host": host, "start": start, "end": end}, headers=headers
    )
    if started.status_code not in {HTTPStatus.OK, HTTPStatus.ACCEPTED}:
        raise ReportError(
            f"could not start the analysis ({started.status_code}): {_detail(started)}"
        )
    analysis_id = started.json()["id"]
    task = progress.add_task("analysing on the server", total=100) if progress else None
    while True:
        shown = client.get(f"/api/v1/analyses/{analysis_id}", headers=headers)
        if shown.status_code != HTTPStatus.OK:
            raise ReportError(f"analysis {analysis_id}: {shown.status_code} {_detail(shown)}")
        body: dict[str, object] = shown.json()
        if progress is not None and task is not None:
            progress.update(task, completed=float(str(body.get("progress") or 0)))
        if body["state"] == "failed":
            raise ReportError(f"analysis {analysis_id} failed: {body.get('error')}")
        if body["state"] == "done":
            break
        time.sleep(_POLL_SECONDS)
    kind = "pdf" if output.suffix.lower() == ".pdf" else "html"
    report = client.get(f"/api/v1/analyses/{analysis_id}/report.{kind}", headers=headers)
    if report.status_code != HTTPStatus.OK:
        raise ReportError(f"report download failed ({report.status_code}): {_detail(report)}")
    output.write_bytes(report.content)
    return body


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def _progress() -> Progress:
    from rich.console import Console  # rich, like httpx, only when a report is made
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),  # stdout carries the result line only
    )


def report_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="a collection file (agent --mode local) or a perfcollector capture"),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="out.pdf or out.html")] = Path(
        "report.pdf"
    ),
    server_url: Annotated[
        str | None, typer.Option("--server", help="server URL: analyse a stored host there")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="host name (with --server)")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="ISO-8601 or epoch seconds (with --server)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601 or epoch seconds")] = None,
    username: Annotated[
        str, typer.Option("--username", envvar="FLEETSCOPE_USERNAME", help="with --server")
    ] = "admin",
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="FLEETSCOPE_PASSWORD", help="with --server"),
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option("--thresholds", help="TOML file of thresholds (docs/analysis.md), with FILE"),
    ] = None,
) -> None:
    """An analysis report: fitness score, findings per subsystem, plots (HTML or PDF)."""
    if output.suffix.lower() not in FORMATS:
        typer.echo(f"fleetscope report: -o {output}: wanted a .pdf or .html file name", err=True)
        raise typer.Exit(2)
    if (file is None) == (server_url is None):
        typer.echo("fleetscope report: give either FILE or --server", err=True)
        raise typer.Exit(2)
    import httpx  # here, not at the top: every command, the agent too, imports this module

    fit: object
    status: object
    try:
        with _progress() as progress:
            if file is not None:
                analysis = report_file(file, output, progress, load_thresholds(thresholds))
                fit, status = analysis.fit, analysis.status
            else:
                if host is None or start is None or end is None or password is None:
                    typer.echo(
                        "fleetscope report: --server needs --host, --from, --to and --password"
                        " (or FLEETSCOPE_PASSWORD)",
                        err=True,
                    )
                    raise typer.Exit(2)
                with httpx.Client(base_url=server_url or "", timeout=120) as client:
                    body = report_server(
                        client,
                        host=host,
                        start=start,
                        end=end,
                        username=username,
                        password=password,
                        output=output,
                        progress=progress,
                    )
                fit, status = body.get("fit"), body.get("status")
    except (ReportError, httpx.HTTPError) as exc:
        typer.echo(f"fleetscope report: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"fitness {fit} ({status}); wrote {output}")
