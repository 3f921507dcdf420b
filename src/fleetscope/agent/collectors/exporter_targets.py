"""Settings of the exporters collector, apart from the collector itself: the agent's settings
load these on every start, while the collector's imports (httpx, asyncio, the exposition
parser: docs/code-choices.md) are paid only by agents that have targets."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from msgspec import Meta

from fleetscope.config.duration import Seconds
from fleetscope.config.settings import HttpUrl, SettingsStruct

# Every kept sample rides in every snapshot as ~100 bytes of JSON, and ingest takes at most
# 16 MiB of JSON per batch (ServerSettings.max_body_bytes), so the default keeps a whole
# node_exporter (a few thousand samples) and asks for a filter beyond that.
DEFAULT_EXPORTER_MAX_SAMPLES = 5_000
MAX_EXPORTER_SAMPLES = 100_000


class ExporterTarget(SettingsStruct, frozen=True):
    """One Prometheus exporter to scrape every cycle ([[agent.exporters]] in the file).

    `include` and `exclude` are regular expressions matched against the whole sample name
    (anchored, as in Prometheus relabelling): a sample is kept when it matches `include` (or
    there is none) and does not match `exclude`. When more than `max_samples` samples are
    left after filtering, the scrape fails, like Prometheus' sample_limit.

    `kind = "process-exporter"` says the target is prometheus-process-exporter: the server
    then also stores its groups as process groups (GET /api/v1/hosts/{id}/processes), as if
    the agent's own grouping had found them. Its samples stay exporter_* series as well.
    """

    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    url: HttpUrl
    timeout_seconds: Annotated[Seconds, Meta(gt=0, le=300)] = 3.0
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    max_samples: Annotated[int, Meta(ge=1, le=MAX_EXPORTER_SAMPLES)] = DEFAULT_EXPORTER_MAX_SAMPLES
    kind: Annotated[
        Literal["generic", "process-exporter"],
        Meta(description='"process-exporter" also stores its groups as process groups'),
    ] = "generic"


class ExportersSettings(SettingsStruct, frozen=True):
    """The targets, from [[agent.exporters]] (AgentSettings.exporters)."""

    targets: tuple[ExporterTarget, ...] = ()
