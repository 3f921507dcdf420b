"""Delivering the outbox: each owed message is marked `sending` (committed) before the
attempt and `sent` after it, so a restart never sends a sent message again. A message found
`sending` at start was interrupted mid-attempt; it is sent again with the same idempotency
key, which the receiver can use to drop it (the one case that can reach a receiver twice).
A failed attempt is retried with a doubling back-off, up to MAX_ATTEMPTS."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update

from fleetscope.alerting.channels import ChannelError
from fleetscope.model.alerts import BadRule, ChannelConfig, parse_channel_config
from fleetscope.store.alert_tables import alert_channels, alert_notifications

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY_MS = 10_000
MAX_RETRY_MS = 3_600_000
BATCH = 100

Send = Callable[[ChannelConfig, dict[str, Any], str], None]


@dataclass
class DeliveryStats:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0


def resume_interrupted(engine: Engine) -> int:
    """Messages left `sending` by a process that died mid-attempt go back to pending."""
    with engine.begin() as conn:
        return conn.execute(
            update(alert_notifications)
            .where(alert_notifications.c.status == "sending")
            .values(status="pending")
        ).rowcount


def deliver_due(engine: Engine, send: Send, now_ms: int, stats: DeliveryStats) -> int:
    """Send every pending message whose time has come; returns how many were attempted."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                alert_notifications.c.id,
                alert_notifications.c.idempotency_key,
                alert_notifications.c.body,
                alert_notifications.c.attempts,
                alert_channels.c.kind,
                alert_channels.c.config,
                alert_channels.c.name,
            )
            .join(alert_channels, alert_channels.c.id == alert_notifications.c.channel_id)
            .where(
                alert_notifications.c.status == "pending",
                alert_notifications.c.next_ms <= now_ms,
            )
            .order_by(alert_notifications.c.id)
            .limit(BATCH)
        ).all()
    for row in rows:
        with engine.begin() as conn:
            claimed = conn.execute(
                update(alert_notifications)
                .where(
                    alert_notifications.c.id == row.id, alert_notifications.c.status == "pending"
                )
                .values(status="sending", attempts=row.attempts + 1)
            ).rowcount
        if not claimed:
            continue
        error = None
        try:
            body = json.loads(row.body)
            body["receiver"] = row.name
            send(parse_channel_config(row.kind, row.config), body, row.idempotency_key)
        except (ChannelError, BadRule) as exc:
            error = str(exc)
        values: dict[str, object]
        if error is None:
            stats.sent += 1
            values = {"status": "sent", "sent_ms": now_ms, "error": None}
        elif row.attempts + 1 >= MAX_ATTEMPTS:
            stats.given_up += 1
            log.error(
                "alert message %s given up after %d attempts: %s", row.id, MAX_ATTEMPTS, error
            )
            values = {"status": "failed", "error": error}
        else:
            stats.failed_attempts += 1
            wait = min(FIRST_RETRY_MS * 2**row.attempts, MAX_RETRY_MS)
            log.warning(
                "alert message %s to %s failed (%s); again in %d s",
                row.id,
                row.name,
                error,
                wait // 1000,
            )
            values = {"status": "pending", "error": error, "next_ms": now_ms + wait}
        with engine.begin() as conn:
            conn.execute(
                update(alert_notifications).where(alert_notifications.c.id == row.id).values(values)
            )
    return len(rows)
