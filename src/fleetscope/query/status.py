"""A host's status, from how old its last sample is, measured in the host's own interval (the
median spacing of its recent samples, DEFAULT_INTERVAL_MS until there are two):
* live: the last sample is at most LIVE_INTERVALS intervals old;
* stale: older than that, up to STALE_LIMIT_MS (10 minutes);
* offline: older still, or never sampled.

web/static/app.js applies the same rule to the live feed's points between two fetches."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Literal

Status = Literal["live", "stale", "offline"]
DEFAULT_INTERVAL_MS = 10_000
LIVE_INTERVALS = 2
STALE_LIMIT_MS = 10 * 60_000
# A host's interval is the median gap between its newest this many samples.
INTERVAL_SAMPLES = 11


def status_of(age_ms: int | None, interval_ms: int) -> Status:
    if age_ms is None:
        return "offline"
    if age_ms <= LIVE_INTERVALS * interval_ms:
        return "live"
    if age_ms <= max(STALE_LIMIT_MS, LIVE_INTERVALS * interval_ms):
        return "stale"
    return "offline"


def interval_ms(timestamps: Sequence[int]) -> int:
    """The median gap between the (sorted) sample times; repeated times are not gaps."""
    gaps = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    return round(statistics.median(gaps)) if gaps else DEFAULT_INTERVAL_MS
