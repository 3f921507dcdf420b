"""Where the agent's payloads go: a `Sink` takes one payload and says how that went.

`uploader.Uploader` (trickle mode) posts to a server; `FileSink` (local mode) appends to a
collection file. The service loop treats both alike: a batch leaves the spool only when its
sink says DELIVERED. A sink takes the payload as JSON bytes: the spool holds snapshots as JSON,
and `encode_payload` wraps them in the envelope without parsing them again.

Local mode goes through the spool too: one loop, the same bounds and the same status. A crash
between a line's fsync and the spool's delete writes that batch again on the next start, as a
second line with the same batch id, which the server stores once when the file is replayed.

The collection file is JSON Lines: each line is exactly one `model.payload.Payload`, the body
POST /api/v1/ingest accepts, so a file collected offline can be replayed line by line. Each
line is flushed and fsync'd before send() returns, so a crash loses at most the line being
written; a torn last line left by such a crash is cut off when the file is opened again.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from fleetscope.agent.uploader import Outcome, UploadResult
from fleetscope.model.codec import encode
from fleetscope.model.payload import SCHEMA_VERSION, AgentInfo, HostIdentity

log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, body: bytes) -> UploadResult:
        """Take one payload (the JSON of a model.payload.Payload)."""
        ...


def encode_payload(
    batch_id: uuid.UUID,
    agent: AgentInfo,
    host: HostIdentity,
    snapshots_json: Sequence[bytes],
) -> bytes:
    """The Payload JSON around snapshots already serialised by model.codec.encode();
    tests check that it validates as a Payload. Assembled by hand: decoding 100 spooled
    snapshots only to encode them again would cost a decode and an encode each."""
    head = f'{{"schema_version":{SCHEMA_VERSION},"batch_id":"{batch_id}","agent":'.encode()
    return (
        b"".join((head, encode(agent), b',"host":', encode(host), b',"snapshots":['))
        + b",".join(snapshots_json)
        + b"]}"
    )


class FileSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: a line is either handed to the kernel whole before fsync, or the failed
        # write is undone; nothing lingers in a user-space buffer to be flushed half later.
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by close())
        self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        size = self._file.seek(0, os.SEEK_END)
        if size == 0:
            return
        with open(self.path, "rb") as reader:
            # Lines are small next to this window, except a payload of many snapshots; read
            # backwards in steps until a newline or the start of the file.
            end, step = size, 64 * 1024
            while end > 0:
                start = max(0, end - step)
                reader.seek(start)
                chunk = reader.read(end - start)
                if end == size and chunk.endswith(b"\n"):
                    return
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                end = start
            else:
                keep = 0
        log.warning(
            "%s ended in a torn line (%d bytes, from an interrupted write): cut off",
            self.path,
            size - keep,
        )
        self._file.truncate(keep)
        os.fsync(self._file.fileno())

    def send(self, body: bytes) -> UploadResult:
        line = body + b"\n"
        before = self._file.seek(0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[self._file.write(view) :]
            os.fsync(self._file.fileno())
        except OSError as exc:
            # Disk full or gone: keep the batch and retry later, as for a server that is down,
            # without leaving half a line in front of the retried one.
            self._undo(before)
            return UploadResult(Outcome.RETRY, None, f"writing {self.path}: {exc}")
        return UploadResult(Outcome.DELIVERED, None, "written")

    def _undo(self, size: int) -> None:
        try:
            self._file.truncate(size)
        except OSError as exc:
            log.warning(
                "could not cut a partial line off %s (cut at next start): %s", self.path, exc
            )

    def close(self) -> None:
        self._file.close()
