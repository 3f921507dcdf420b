"""The read API's request and response bodies (web/routes/), apart from the query services'
records (query/) and the tables (store/).

No `from __future__ import annotations`: pydantic and FastAPI read these annotations at run
time."""

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from fleetscope.query.fleet import Headline
from fleetscope.web.devices import DeviceSummaryOut


class LoginRequest(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=128)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


class HostOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class SeriesOut(BaseModel):
    metric: str
    labels: dict[str, str]
    points: list[tuple[float, float | None]] = Field(
        description="[unix seconds, value] pairs in time order; null means absent at that instant"
    )


class HeadlineOut(BaseModel):
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None = Field(description="fullest writable filesystem, df's Use%")
    network_bytes_per_second: float | None = Field(description="receive + transmit, all but lo")

    @staticmethod
    def of(h: Headline) -> "HeadlineOut":
        return HeadlineOut(
            cpu_percent=h.cpu_percent,
            memory_percent=h.memory_percent,
            disk_percent=h.disk_percent,
            network_bytes_per_second=h.network_bytes_per_second,
        )


Status = Literal["live", "stale", "offline"]


class SparkOut(BaseModel):
    t: list[float] = Field(description="unix seconds")
    cpu_percent: list[float | None]
    memory_percent: list[float | None]
    disk_percent: list[float | None]


class FleetHostOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    last_seen: AwareDatetime
    status: Status
    interval_seconds: float
    latest: HeadlineOut | None
    spark: SparkOut


class HostAverageOut(BaseModel):
    id: int
    name: str
    status: Status
    averages: HeadlineOut


class SummaryOut(BaseModel):
    start_time: AwareDatetime
    end_time: AwareDatetime
    hosts: dict[Status, int]
    averages: HeadlineOut
    worst: dict[str, list[HostAverageOut]]
    devices: list[DeviceSummaryOut] = Field(
        description="aggregator and pushed devices with data in the range, and their own metrics"
    )


class SectionOut(BaseModel):
    values: dict[str, float | None]
    items: dict[str, dict[str, float | None]]


class InventoryOut(BaseModel):
    updated_at: AwareDatetime = Field(description="time of the snapshot that carried the audit")
    content_sha256: str
    audit: dict[str, Any] = Field(description="the agent's inventory section as sent")


class InventoryChangeOut(BaseModel):
    path: str = Field(description="dotted path of what changed: os.kernel, drives.0.size_bytes")
    old: Any = None
    new: Any = None
    values_omitted: bool = Field(
        description="true when old and new were too large to keep; both are then null"
    )


class InventoryRevisionOut(BaseModel):
    at: AwareDatetime = Field(description="time of the first audit with the new content")
    content_sha256: str
    previous_sha256: str
    changes: list[InventoryChangeOut]


class ProcessGroupOut(BaseModel):
    name: str
    cpu_seconds: float = Field(
        description="CPU time (user + system) used in the range, summed across counter resets"
    )
    covered_seconds: float = Field(
        description="from the group's first to its last sample in the range: the span its "
        "data covers"
    )
    cpu_cores: float | None = Field(
        description="cpu_seconds / covered_seconds: the average number of cores busy while the "
        "group was seen; null when one sample covers no span"
    )
    cpu_percent: float | None = Field(
        description="cpu_cores x 100: percent of one core, as top shows it (may exceed 100)"
    )
    memory_avg_bytes: float = Field(description="resident size, averaged over its samples")
    memory_max_bytes: int = Field(description="largest resident size seen")
    max_num_procs: int
    samples: int = Field(description="snapshots in the range that had the group")


class ProcessesReport(BaseModel):
    host_id: int
    host_name: str
    start_time: AwareDatetime
    end_time: AwareDatetime
    sort: Literal["cpu", "memory"] = Field(
        description="cpu: by cpu_seconds; memory: by memory_avg_bytes; largest first"
    )
    groups: list[ProcessGroupOut]


class HostDetailOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    status: Status
    interval_seconds: float
    sampled_at: AwareDatetime | None
    sections: dict[str, SectionOut] = Field(
        description="cpu, memory, disk, filesystem, network: only those the host has data for"
    )
    latest: HeadlineOut | None = Field(
        description="the newest sample's headline, as the overview shows it; null before any"
    )
    inventory: InventoryOut | None = Field(
        default=None, description="the latest inventory audit; absent when none is stored"
    )


class MetricsReport(BaseModel):
    device_name: str
    host_id: int
    start_time: AwareDatetime
    end_time: AwareDatetime
    tier: str = Field(
        description="raw (up to 6 h), 1m (up to 3 days) or 1h: the stored tier read; "
        "a step picks the coarsest tier no coarser than itself"
    )
    step_seconds: float | None = Field(
        description="spacing of rollup points (bucket starts); null for raw samples"
    )
    agg: str = Field(description="avg, min, max, sum or count of each rollup bucket")
    series: list[SeriesOut]
