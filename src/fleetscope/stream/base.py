"""The queue between ingest and digest: one interface, several backends, one contract suite
(tests/stream/test_stream_contract.py).

Delivery is at-least-once: a message read but not acknowledged comes back after the
visibility timeout (to this or another consumer). Digest makes that exactly-once in effect by
writing idempotently and acknowledging only after its commit.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


def unique_consumer_name() -> str:
    """hostname-pid-random: a consumer name no other process uses, even where hostnames and
    pids repeat (containers whose worker is pid 1 on every host). A shared name would share
    one lease on Redis, so a dead process's batches would wait for the visibility timeout."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamUnavailable(RuntimeError):
    """The backend cannot take or give messages right now (ingest answers 503)."""


class StreamBacklogFull(StreamUnavailable):
    """The stream holds more unacknowledged messages than its limit: digest is behind, and the
    backend refuses new messages rather than drop old ones (ingest answers 429 with
    Retry-After). A subclass, so code that only knows StreamUnavailable stays correct."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class NewMessage:
    kind: str  # what the body is: "agent_payload", later "aggregator_metrics", ...
    tenant_id: int
    body: bytes
    # What a sharded backend spreads by and keeps in order: the host's machine id for agent
    # payloads. None: the tenant.
    key: str | None = None
    # The body as the enqueuer decoded it, handed to a consumer in the same process that
    # claims the message first (the embedded stream's handoff, stream/sqlite.py), so that it
    # is not decoded twice. Never stored: a message read after a restart, from another
    # process or a second time has none, and is decoded from its body.
    decoded: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    id: str
    kind: str
    tenant_id: int
    body: bytes
    attempts: int  # deliveries so far, including this one
    enqueued_at: float  # unix seconds
    decoded: object | None = field(default=None, compare=False, repr=False)  # NewMessage's


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    kind: str
    tenant_id: int
    body: bytes
    error: str
    failed_at: float


class Stream(Protocol):
    def enqueue(self, messages: Sequence[NewMessage]) -> list[str]:
        """Append durably; return only once the messages survive a crash of this process."""
        ...

    def read(self, consumer: str, max_count: int, block_seconds: float) -> list[StreamMessage]:
        """Up to max_count messages not held by another consumer, oldest first; waits up to
        block_seconds when there are none."""
        ...

    def ack(self, ids: Sequence[str]) -> None:
        """Forget messages whose effects are committed."""
        ...

    def fail(self, message_id: str, error: str, max_attempts: int) -> bool:
        """Record a failed attempt. After max_attempts the message moves to the dead letters,
        with the error, and True is returned; before that it is released for another try."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def dead_letter_count(self) -> int: ...

    def replay_dead_letter(self, message_id: str) -> str | None:
        """Put a dead letter back in the stream (after the cause was fixed); returns the new
        message id, None when there is no dead letter of that id."""
        ...

    def drop_dead_letter(self, message_id: str) -> bool:
        """Forget a dead letter for good; False when there is none of that id."""
        ...

    def depth(self) -> int:
        """Messages not yet acknowledged."""
        ...

    def oldest_age_seconds(self) -> float | None:
        """Age of the oldest unacknowledged message: the digest lag."""
        ...

    def ping(self) -> None:
        """Raise StreamUnavailable when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Submits(Protocol):
    """A stream whose enqueue can be awaited without a thread of the caller's own: the embedded
    stream's group-commit thread does the writing (stream/sqlite.py)."""

    def submit(self, messages: Sequence[NewMessage]) -> Future[list[str]]:
        """enqueue without waiting: the future's result (the ids) is set once the messages
        survive a crash of this process, as enqueue's return. Raises what enqueue raises for
        a stream that refuses at once (closed, backlog full)."""
        ...
