"""The agent's payload: one versioned envelope carrying a batch of snapshots from one host.

This is the contract between the agent, ingest and digest (and the local collection file,
which is JSON Lines of exactly these envelopes). It is published as JSON Schema at
GET /api/v1/schema/payload and committed as model/payload.schema.json.

Versioning: `schema_version` changes only for a breaking change. Every model forbids unknown
keys, so a misspelt field is an error that names it instead of data silently dropped; upgrade
servers before agents when a new optional section appears.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

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


class NetworkInterface(_Strict):
    """One interface from /proc/net/dev (or psutil) and /sys/class/net/<device>.

    Counters are since the interface was created. fifo/frame/compressed/multicast/collisions/
    carrier are what /proc/net/dev shows (node_exporter: receive_fifo_total, receive_frame_total,
    transmit_colls_total, transmit_carrier_total ...) and None where the platform has no such
    counter. Rates are per second over the interval since the previous snapshot and None on first
    sight and in an interval where the counter went down (reset or wrap, agent/rates.py)."""

    device: Annotated[str, Field(min_length=1, max_length=64)]
    receive_bytes_total: NonNegative
    receive_packets_total: NonNegative
    receive_errors_total: NonNegative | None = None
    receive_drops_total: NonNegative | None = None
    receive_fifo_errors_total: NonNegative | None = None
    receive_frame_errors_total: NonNegative | None = None
    receive_compressed_total: NonNegative | None = None
    receive_multicast_total: NonNegative | None = None
    transmit_bytes_total: NonNegative
    transmit_packets_total: NonNegative
    transmit_errors_total: NonNegative | None = None
    transmit_drops_total: NonNegative | None = None
    transmit_fifo_errors_total: NonNegative | None = None
    transmit_collisions_total: NonNegative | None = None
    transmit_carrier_errors_total: NonNegative | None = None
    transmit_compressed_total: NonNegative | None = None
    receive_bytes_per_second: NonNegative | None = None
    receive_packets_per_second: NonNegative | None = None
    receive_errors_per_second: NonNegative | None = None
    receive_drops_per_second: NonNegative | None = None
    transmit_bytes_per_second: NonNegative | None = None
    transmit_packets_per_second: NonNegative | None = None
    transmit_errors_per_second: NonNegative | None = None
    transmit_drops_per_second: NonNegative | None = None
    # The kernel's RFC 2863 operational state (up, down, unknown, dormant, lowerlayerdown,
    # notpresent, testing). `up` is operstate == "up", as node_exporter's node_network_up, so a
    # loopback ("unknown") is not up; psutil platforms give `up` (isup) and no operstate.
    operstate: Annotated[str, Field(max_length=32)] | None = None
    up: bool | None = None
    carrier: bool | None = None
    # None when the driver does not know (sysfs -1, psutil 0) or the link is down.
    speed_bits_per_second: NonNegative | None = None
    mtu_bytes: NonNegative | None = None


class NetworkSection(_Strict):
    """Interfaces and socket counts of the network namespace the agent's /proc shows (the
    host's, unless the agent runs in a container without host networking).

    The tcp_* and udp_* counts come from /proc/net/sockstat{,6} and /proc/net/snmp, which the
    kernel keeps as counters (cheap). `tcp_connections_by_state` walks every socket in
    /proc/net/tcp{,6} (or psutil.net_connections), which costs ~10 ms per cycle at many
    connections (shared/MEASURED.md); it is None when the `network_tcp_states` setting is off.
    """

    interfaces: list[NetworkInterface] = Field(default_factory=list)
    # Kernel state name (ESTABLISHED, TIME_WAIT, ...) -> sockets, IPv4 and IPv6 together.
    tcp_connections_by_state: (
        dict[Annotated[str, Field(min_length=1, max_length=32)], Annotated[int, Field(ge=0)]] | None
    ) = None
    tcp_in_use: NonNegative | None = None
    tcp_time_wait: NonNegative | None = None
    tcp_orphans: NonNegative | None = None
    # RFC 1213 tcpCurrEstab: ESTABLISHED plus CLOSE_WAIT, IPv4 and IPv6.
    tcp_curr_estab: NonNegative | None = None
    udp_in_use: NonNegative | None = None


class DiskDevice(_Strict):
    """One block device from /proc/diskstats (Documentation/admin-guide/iostats.rst) or psutil.

    Counters are since boot; times are seconds the kernel spent. discard_* and flush_* are None
    before Linux 4.18 and 5.5 and off Linux. The derived fields cover the interval since the
    previous snapshot and are None on first sight or when a counter went down:
    * read_iops / write_iops: completed requests per second;
    * await_seconds: (delta read + write time) / (delta reads + writes completed), the
      average time a read or write took, queueing included (iostat's await; discards and
      flushes are left out). None when no read or write completed;
    * utilization_percent: 100 * delta io_time / elapsed seconds (iostat's %util), capped at
      100 because the agent's clock and the kernel's accounting are not read at one instant.
    """

    device: Annotated[str, Field(min_length=1, max_length=64)]
    reads_completed_total: NonNegative
    reads_merged_total: NonNegative | None = None
    read_bytes_total: NonNegative
    read_time_seconds_total: NonNegative | None = None
    writes_completed_total: NonNegative
    writes_merged_total: NonNegative | None = None
    written_bytes_total: NonNegative
    write_time_seconds_total: NonNegative | None = None
    io_in_progress: NonNegative | None = None
    io_time_seconds_total: NonNegative | None = None
    io_time_weighted_seconds_total: NonNegative | None = None
    discards_completed_total: NonNegative | None = None
    discards_merged_total: NonNegative | None = None
    discarded_bytes_total: NonNegative | None = None
    discard_time_seconds_total: NonNegative | None = None
    flush_requests_total: NonNegative | None = None
    flush_time_seconds_total: NonNegative | None = None
    read_iops: NonNegative | None = None
    write_iops: NonNegative | None = None
    read_bytes_per_second: NonNegative | None = None
    written_bytes_per_second: NonNegative | None = None
    read_await_seconds: NonNegative | None = None
    write_await_seconds: NonNegative | None = None
    await_seconds: NonNegative | None = None
    utilization_percent: Percent | None = None


class DiskSection(_Strict):
    devices: list[DiskDevice] = Field(default_factory=list)


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
    network: NetworkSection | None = None
    disk: DiskSection | None = None

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
