"""Builders for test payloads and small process utilities shared by the tests."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetscope.model.codec import encode
from fleetscope.model.payload import (
    AgentInfo,
    CollectorStatus,
    CpuModeSeconds,
    CpuSection,
    HostIdentity,
    MemorySection,
    Payload,
    Snapshot,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def snapshot(at: datetime, cpu_percent: float = 12.5, used: float = 1e9) -> Snapshot:
    return Snapshot(
        timestamp=at,
        collectors=[CollectorStatus(name="cpu", success=True, duration_seconds=0.001)],
        cpu=CpuSection(
            seconds_total=CpuModeSeconds(user=100, system=50, idle=1000),
            utilization_percent=cpu_percent,
            load1=0.5,
        ),
        memory=MemorySection(total_bytes=8e9, used_bytes=used, free_bytes=8e9 - used),
    )


def payload(
    n: int = 3,
    hostname: str = "web-1",
    machine_id: str = "m-web-1",
    start: datetime = T0,
    batch_id: uuid.UUID | None = None,
) -> Payload:
    return Payload(
        schema_version=1,
        batch_id=batch_id or uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id=machine_id, hostname=hostname),
        snapshots=[
            snapshot(start + timedelta(seconds=10 * i), cpu_percent=10 + i) for i in range(n)
        ],
    )


def payload_json(p: Payload) -> bytes:
    return encode(p)


def raw(p: Payload) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(encode(p))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
