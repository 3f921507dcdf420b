"""`fleetscope export csv`: series as CSV (query/csvexport.py), from a collection file with no
server at all, or from a server's reporting API over a time range.

The HTTP client is an argument, so tests hand in the in-process app's TestClient (an
httpx.Client) instead of patching the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import httpx

from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.query.csvexport import CsvPoint, csv_lines, payload_points


class ExportError(Exception):
    """The message is shown to the user as-is."""


def collection_points(path: Path, metrics: frozenset[str] | None) -> Iterator[CsvPoint]:
    """Every series value in a collection file (JSON Lines of model.payload.Payload), line by
    line, so a large file is never held whole."""
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
    if login.status_code != httpx.codes.OK:
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
        if response.status_code != httpx.codes.OK:
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
