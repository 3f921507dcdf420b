"""Pure transforms: a stream message body becomes the rows to store. No I/O here."""

from __future__ import annotations

from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.model.payload import Payload
from fleetscope.model.series import flatten_snapshot
from fleetscope.store.writer import BatchRows, FrameRow

__all__ = ["AGENT_PAYLOAD", "agent_payload_rows"]


def agent_payload_rows(tenant_id: int, body: bytes) -> BatchRows:
    """Raises pydantic.ValidationError for a body that is not a valid payload (ingest validated
    it already, so that means a bug or a tampered queue: the message is dead-lettered)."""
    payload = Payload.model_validate_json(body)
    frames = []
    for snapshot in payload.snapshots:
        flat = flatten_snapshot(snapshot)
        frames.append(
            FrameRow(
                ts_ms=round(snapshot.timestamp.timestamp() * 1000),
                series=tuple(key for key, _ in flat),
                values=tuple(value for _, value in flat),
            )
        )
    return BatchRows(
        tenant_id=tenant_id,
        machine_id=payload.host.machine_id,
        hostname=payload.host.hostname,
        agent_version=payload.agent.version,
        batch_id=str(payload.batch_id),
        frames=tuple(frames),
    )
