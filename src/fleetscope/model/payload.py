"""The agent's payload: one versioned envelope carrying a batch of snapshots from one host.

This is the contract between the agent, ingest and digest (and the local collection file,
which is JSON Lines of exactly these envelopes). It is published as JSON Schema at
GET /api/v1/schema/payload and committed as model/payload.schema.json.

Versioning: `schema_version` changes only for a breaking change. Every model forbids unknown
keys, so a misspelt field is an error that names it instead of data silently dropped; upgrade
servers before agents when a new optional section appears.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

SCHEMA_VERSION = 1
MAX_SNAPSHOTS_PER_BATCH = 10_000

NonNegative = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostIdentity(_Strict):
    """Who sent the batch. `machine_id` (/etc/machine-id, or the OS equivalent) is the stable key;
    `hostname` is what people call the host and may change."""

    machine_id: Annotated[str, Field(min_length=1, max_length=128)]
    hostname: Annotated[str, Field(min_length=1, max_length=255)]


class AgentInfo(_Strict):
    version: Annotated[str, Field(min_length=1, max_length=64)]


class CollectorStatus(_Strict):
    """How one collector fared in one cycle, like node_exporter's node_scrape_collector_*."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    success: bool
    duration_seconds: NonNegative
    error: str | None = None


class CpuModeSeconds(_Strict):
    """Seconds spent per mode since boot (a counter). user/nice include guest/guest_nice, as the
    Linux kernel reports them. A mode the platform does not report is None."""

    user: NonNegative
    nice: NonNegative | None = None
    system: NonNegative
    idle: NonNegative
    iowait: NonNegative | None = None
    irq: NonNegative | None = None
    softirq: NonNegative | None = None
    steal: NonNegative | None = None
    guest: NonNegative | None = None
    guest_nice: NonNegative | None = None


class CpuCore(_Strict):
    cpu: Annotated[int, Field(ge=0)]
    seconds_total: CpuModeSeconds
    # None on the first cycle (no previous counters) and after a counter reset.
    utilization_percent: Percent | None = None


class CpuSection(_Strict):
    seconds_total: CpuModeSeconds
    utilization_percent: Percent | None = None
    cores: list[CpuCore] = Field(default_factory=list)
    load1: NonNegative | None = None
    load5: NonNegative | None = None
    load15: NonNegative | None = None
    context_switches_total: NonNegative | None = None
    interrupts_total: NonNegative | None = None
    procs_running: NonNegative | None = None
    procs_blocked: NonNegative | None = None


class MemorySection(_Strict):
    """Bytes. `used` is total - available where the kernel reports MemAvailable (the figure
    `free` and htop show), otherwise total - free - buffers - cached."""

    total_bytes: NonNegative
    used_bytes: NonNegative
    free_bytes: NonNegative
    available_bytes: NonNegative | None = None
    cached_bytes: NonNegative | None = None
    buffers_bytes: NonNegative | None = None
    shared_bytes: NonNegative | None = None
    slab_bytes: NonNegative | None = None
    swap_total_bytes: NonNegative | None = None
    swap_used_bytes: NonNegative | None = None
    swap_free_bytes: NonNegative | None = None
    swap_in_bytes_total: NonNegative | None = None
    swap_out_bytes_total: NonNegative | None = None


class AgentSelf(_Strict):
    """The agent's own cost, so users can see what monitoring costs them."""

    cpu_seconds_total: NonNegative
    resident_bytes: NonNegative


class Snapshot(_Strict):
    """Everything one collection cycle saw at one instant. A section is absent (None) when its
    collector is disabled, failed, or the host has no such thing."""

    timestamp: AwareDatetime
    collectors: list[CollectorStatus] = Field(default_factory=list)
    agent: AgentSelf | None = None
    cpu: CpuSection | None = None
    memory: MemorySection | None = None
    exporters: list[ExporterScrape] | None = None

    @field_validator("timestamp")
    @classmethod
    def _plausible(cls, value: AwareDatetime) -> AwareDatetime:
        # Reject the zero time and far-future clocks, which would poison range queries.
        if not 2000 <= value.year <= 2200:
            raise ValueError("timestamp must be between the years 2000 and 2200")
        return value


class Payload(_Strict):
    schema_version: Literal[1]
    batch_id: UUID
    agent: AgentInfo
    host: HostIdentity
    snapshots: Annotated[list[Snapshot], Field(min_length=1, max_length=MAX_SNAPSHOTS_PER_BATCH)]


# --- exporters ---------------------------------------------------------------------------

# JSON has no NaN or infinities, yet exporters expose them (a summary quantile without
# observations is NaN; a histogram bound is +Inf). On the wire they travel as the strings the
# exposition formats spell them with; in Python the value is always a float.
_NON_FINITE_FROM_WIRE = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def _value_from_wire(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return _NON_FINITE_FROM_WIRE[value]
        except KeyError:
            raise ValueError(
                f"{value!r} is not a sample value: a number, or one of 'NaN', '+Inf', '-Inf'"
            ) from None
    return value


def _value_to_wire(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


SampleValue = Annotated[
    float,
    BeforeValidator(_value_from_wire),
    PlainSerializer(_value_to_wire, return_type=float | str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": ["NaN", "+Inf", "-Inf"]}]}),
]


class ExporterSample(_Strict):
    """One sample as the exporter exposed it: the sample name (e.g. `x_bucket`, `y_total`),
    its labels, its value, and its own timestamp in seconds since the epoch when it had one."""

    name: Annotated[str, Field(min_length=1, max_length=512)]
    labels: dict[str, str] = Field(default_factory=dict)
    value: SampleValue
    timestamp: Annotated[float, Field(allow_inf_nan=False)] | None = None


class ExporterScrape(_Strict):
    """One scrape of one Prometheus exporter in one cycle, like Prometheus' `up` and
    `scrape_duration_seconds`. A failed scrape has `error` and no samples."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    success: bool
    duration_seconds: NonNegative
    error: str | None = None
    samples: list[ExporterSample] = Field(default_factory=list)
