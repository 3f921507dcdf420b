"""Reading a local-mode collection file (JSON Lines of model.payload.Payload) for analysis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.payload import Snapshot
from fleetscope.report.frame import HostFrame, frame_from_snapshots


class CollectionError(ValueError):
    """Names the file, the line and what was wrong; shown to the user as-is."""


def payload_snapshots(
    path: Path, hosts: list[str], progress: Callable[[int], None] | None = None
) -> Iterator[Snapshot]:
    """Every snapshot of the file, line by line; the hostnames seen are appended to `hosts`.
    `progress` gets the bytes of each line read."""
    machine: str | None = None
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if progress is not None:
                    progress(len(line))
                if not line.strip():
                    continue
                try:
                    payload = decode_payload(line)
                except PayloadError as exc:
                    raise CollectionError(
                        f"{path}:{number}: not a fleetscope payload ({exc}): {line[:80]!r}"
                    ) from exc
                if machine is None:
                    machine = payload.host.machine_id
                    hosts.append(payload.host.hostname)
                elif payload.host.machine_id != machine:
                    raise CollectionError(
                        f"{path}:{number}: machine_id {payload.host.machine_id!r} differs from the"
                        f" first line's {machine!r}; a collection file holds one host"
                    )
                yield from payload.snapshots
    except OSError as exc:
        raise CollectionError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_collection(path: Path, progress: Callable[[int], None] | None = None) -> HostFrame:
    hosts: list[str] = []
    frame = frame_from_snapshots("", payload_snapshots(path, hosts, progress))
    if not hosts:
        raise CollectionError(f"{path}: holds no payloads")
    frame.hostname = hosts[0]
    return frame
