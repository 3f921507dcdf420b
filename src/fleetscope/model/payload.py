"""The agent's payload: one versioned envelope carrying a batch of snapshots from one host.

This is the contract between the agent, ingest and digest (and the local collection file,
which is JSON Lines of exactly these envelopes). It is published as JSON Schema at
GET /api/v1/schema/payload and committed as model/payload.schema.json.

Versioning: `schema_version` is the major version: it changes only for a breaking change, and
a payload of another one is refused with an error naming both versions. Within it the payload
only grows (new optional fields and sections), and a field this server does not know is
ignored, so agents may be upgraded before the server; ingest logs what it ignored once per
agent version (model/compat.py). The JSON Schema says the same: no model there forbids
additional properties.

The models are msgspec Structs, not pydantic models: the agent ships them and must stay small,
and the server decodes every payload twice (ingest and digest); docs/data-model.md ("Why
msgspec") has what each choice cost. Encoding and decoding live in model/codec.py; the
inventory and exporter records in model/inventory.py and model/exporters.py.
Constraints are checked when JSON is decoded (`decode_payload`, `convert`), not
when Python code builds a Struct: the agent checks each snapshot by decoding its JSON before
spooling it (agent/service.py), and the server validates what it receives. The checks in
`__post_init__` run in both cases.

A check in `__post_init__` raises ValueError("<field>: <why>"); msgspec reports it at the
Struct's path, and PayloadError folds the field name into that path.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta, field

from fleetscope.model.exporters import ExporterScrape
from fleetscope.model.inventory import InventorySection
from fleetscope.model.names import MAX_NAME_LENGTH, check_name
from fleetscope.model.payload_kernel import (
    FileHandlesSection,
    MemoryDetail,
    NetstatCounters,
    SockstatCounts,
    Softirqs,
)
from fleetscope.model.text import NAME_PATTERN, TEXT_PATTERN
from fleetscope.model.wire import (
    AwareDatetime,
    NonNegative,
    Percent,
    Strict,
    Text,
)

SCHEMA_VERSION = 1
MAX_SNAPSHOTS_PER_BATCH = 10_000


class HostIdentity(Strict, frozen=True, kw_only=True):
    """Who sent the batch. `machine_id` (/etc/machine-id, or the OS equivalent) is the stable key;
    `hostname` is what people call the host and may change."""

    machine_id: Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
    hostname: Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]

    def __post_init__(self) -> None:
        try:
            check_name(self.hostname)
        except ValueError as exc:
            raise ValueError(f"hostname: {exc}") from None


class AgentInfo(Strict, frozen=True, kw_only=True):
    version: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]


class CollectorStatus(Strict, frozen=True, kw_only=True):
    """How one collector fared in one cycle, like node_exporter's node_scrape_collector_*."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
    success: bool
    duration_seconds: NonNegative
    error: Text | None = None


class CpuModeSeconds(Strict, frozen=True, kw_only=True):
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


class PressureStall(Strict, frozen=True, kw_only=True):
    """One PSI line: share of wall time stalled over 10/60/300 s, and total stall time."""

    avg10_percent: Percent
    avg60_percent: Percent
    avg300_percent: Percent
    stalled_seconds_total: NonNegative


class Pressure(Strict, frozen=True, kw_only=True):
    """Pressure stall information (Linux 4.20+). `some`: at least one task waited; `full`: all
    non-idle tasks waited at once (None for cpu before 5.13)."""

    some: PressureStall
    full: PressureStall | None = None


class Temperature(Strict, frozen=True, kw_only=True):
    """One temperature sensor. `sensor` identifies it uniquely on the host (hwmon
    `platform_coretemp_0/temp2`, `thermal_zone0`); `label` is what the driver calls it (Core 0,
    x86_pkg_temp) and may repeat."""

    source: Literal["hwmon", "thermal_zone", "psutil"]
    sensor: Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
    label: Annotated[str, Meta(max_length=128, pattern=NAME_PATTERN)]
    celsius: float
    critical_celsius: float | None = None


class CpuCore(Strict, frozen=True, kw_only=True):
    cpu: Annotated[int, Meta(ge=0)]
    seconds_total: CpuModeSeconds
    # None on the first cycle (no previous counters) and after a counter reset.
    utilization_percent: Percent | None = None
    frequency_hz: NonNegative | None = None  # current; None without a cpufreq driver (most VMs)
    frequency_min_hz: NonNegative | None = None
    frequency_max_hz: NonNegative | None = None


class CpuSection(Strict, frozen=True, kw_only=True):
    seconds_total: CpuModeSeconds
    utilization_percent: Percent | None = None
    cores: list[CpuCore] = field(default_factory=list)
    load1: NonNegative | None = None
    load5: NonNegative | None = None
    load15: NonNegative | None = None
    context_switches_total: NonNegative | None = None
    interrupts_total: NonNegative | None = None
    procs_running: NonNegative | None = None
    procs_blocked: NonNegative | None = None
    forks_total: NonNegative | None = None
    boot_time_seconds: NonNegative | None = None  # since the epoch
    softirqs_total: Softirqs | None = None
    # Empty where the host exposes no sensor (VMs): absent, not zero degrees.
    temperatures: list[Temperature] = field(default_factory=list)
    pressure: Pressure | None = None


class MemorySection(Strict, frozen=True, kw_only=True):
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
    hugepages_total: NonNegative | None = None
    hugepages_free: NonNegative | None = None
    hugepages_reserved: NonNegative | None = None
    hugepage_size_bytes: NonNegative | None = None
    # /proc/vmstat: page faults (major ones needed I/O), paging I/O, OOM kills.
    page_faults_total: NonNegative | None = None
    major_page_faults_total: NonNegative | None = None
    paged_in_bytes_total: NonNegative | None = None
    paged_out_bytes_total: NonNegative | None = None
    oom_kills_total: NonNegative | None = None
    detail: MemoryDetail | None = None
    pressure: Pressure | None = None


class ProcessGroup(Strict, frozen=True, kw_only=True):
    """A group of processes named by the agent's rules (like process-exporter's namedprocess).
    Counters count only what happened while the agent watched, and never go down, even when
    processes exit. Gauges describe the group's live processes; a group whose processes all
    exited has num_procs 0."""

    name: Annotated[str, Meta(min_length=1, max_length=256, pattern=NAME_PATTERN)]
    num_procs: Annotated[int, Meta(ge=0)]
    num_threads: Annotated[int, Meta(ge=0)]
    cpu_user_seconds_total: NonNegative
    cpu_system_seconds_total: NonNegative
    read_bytes_total: NonNegative
    write_bytes_total: NonNegative
    resident_bytes: NonNegative
    virtual_bytes: NonNegative
    swap_bytes: NonNegative | None = None
    open_fds: NonNegative | None = None
    worst_fd_ratio: NonNegative | None = None
    oldest_start_time_seconds: NonNegative | None = None


class TopProcess(Strict, frozen=True, kw_only=True):
    pid: Annotated[int, Meta(ge=0)]
    name: Annotated[str, Meta(max_length=256, pattern=TEXT_PATTERN)]
    cmdline: Annotated[str, Meta(max_length=1024, pattern=TEXT_PATTERN)]
    username: Text | None = None
    # Share of one core over the interval (200 = two cores busy); None on first sight.
    cpu_percent: NonNegative | None = None
    resident_bytes: NonNegative


class ProcessesSection(Strict, frozen=True, kw_only=True):
    count: Annotated[int, Meta(ge=0)]
    groups: list[ProcessGroup] = field(default_factory=list)
    top_cpu: list[TopProcess] = field(default_factory=list)
    top_memory: list[TopProcess] = field(default_factory=list)


class NetworkInterface(Strict, frozen=True, kw_only=True):
    """One interface from /proc/net/dev (or psutil) and /sys/class/net/<device>.

    Counters are since the interface was created. fifo/frame/compressed/multicast/collisions/
    carrier are what /proc/net/dev shows (node_exporter: receive_fifo_total, receive_frame_total,
    transmit_colls_total, transmit_carrier_total ...) and None where the platform has no such
    counter. Rates are per second over the interval since the previous snapshot and None on first
    sight and in an interval where the counter went down (reset or wrap, agent/rates.py)."""

    device: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
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
    operstate: Annotated[str, Meta(max_length=32, pattern=NAME_PATTERN)] | None = None
    up: bool | None = None
    carrier: bool | None = None
    # None when the driver does not know (sysfs -1, psutil 0) or the link is down.
    speed_bits_per_second: NonNegative | None = None
    mtu_bytes: NonNegative | None = None


class NetworkSection(Strict, frozen=True, kw_only=True):
    """Interfaces and socket counts of the network namespace the agent's /proc shows (the
    host's, unless the agent runs in a container without host networking).

    The tcp_* and udp_* counts come from /proc/net/sockstat{,6} and /proc/net/snmp, which the
    kernel keeps as counters (cheap). `tcp_connections_by_state` walks every socket in
    /proc/net/tcp{,6} (or psutil.net_connections), the costliest part of a cycle on a host with
    many connections (docs/architecture.md, the agent's cycle costs); it is None when the
    `network_tcp_states` setting is off.
    """

    interfaces: list[NetworkInterface] = field(default_factory=list)
    # Kernel state name (ESTABLISHED, TIME_WAIT, ...) -> sockets, IPv4 and IPv6 together.
    tcp_connections_by_state: (
        dict[
            Annotated[str, Meta(min_length=1, max_length=32, pattern=NAME_PATTERN)],
            Annotated[int, Meta(ge=0)],
        ]
        | None
    ) = None
    tcp_in_use: NonNegative | None = None
    tcp_time_wait: NonNegative | None = None
    tcp_orphans: NonNegative | None = None
    # RFC 1213 tcpCurrEstab: ESTABLISHED plus CLOSE_WAIT, IPv4 and IPv6.
    tcp_curr_estab: NonNegative | None = None
    udp_in_use: NonNegative | None = None
    netstat: NetstatCounters | None = None
    sockstat: SockstatCounts | None = None


class DiskDevice(Strict, frozen=True, kw_only=True):
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

    device: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
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


class DiskSection(Strict, frozen=True, kw_only=True):
    devices: list[DiskDevice] = field(default_factory=list)
    pressure: Pressure | None = None  # I/O stalls (PSI), all devices


class AgentSelf(Strict, frozen=True, kw_only=True):
    """The agent's own cost, so users can see what monitoring costs them."""

    cpu_seconds_total: NonNegative
    resident_bytes: NonNegative
    # The spool as this snapshot was taken (absent from agents without one): snapshots waiting,
    # the age of the oldest, and those lost to the spool's bounds or rejected by the server.
    spool_depth: NonNegative | None = None
    spool_oldest_age_seconds: NonNegative | None = None
    spool_dropped_total: NonNegative | None = None
    spool_dead_letters_total: NonNegative | None = None


class Snapshot(Strict, frozen=True, kw_only=True):
    """Everything one collection cycle saw at one instant. A section is absent (None) when its
    collector is disabled, failed, or the host has no such thing."""

    timestamp: AwareDatetime
    collectors: list[CollectorStatus] = field(default_factory=list)
    agent: AgentSelf | None = None
    cpu: CpuSection | None = None
    memory: MemorySection | None = None
    network: NetworkSection | None = None
    disk: DiskSection | None = None
    processes: ProcessesSection | None = None
    filesystem: FilesystemSection | None = None
    # Sent at start, when its content changes and at least daily; None on the cycles between.
    inventory: InventorySection | None = None
    exporters: list[ExporterScrape] | None = None
    filefd: FileHandlesSection | None = None

    def __post_init__(self) -> None:
        # Decoding refuses naive times already (Meta(tz=True)); this also holds for Snapshots
        # built in Python. Reject the zero time and far-future clocks, which would poison range
        # queries.
        if self.timestamp.tzinfo is None:
            raise ValueError("timestamp: needs an offset (e.g. Z or +00:00)")
        if not 2000 <= self.timestamp.year <= 2200:
            raise ValueError("timestamp: must be between the years 2000 and 2200")


class Payload(Strict, frozen=True, kw_only=True):
    schema_version: Literal[1]
    batch_id: UUID
    agent: AgentInfo
    host: HostIdentity
    snapshots: Annotated[list[Snapshot], Meta(min_length=1, max_length=MAX_SNAPSHOTS_PER_BATCH)]


class FilesystemMount(Strict, frozen=True, kw_only=True):
    """One mounted filesystem, labelled as node_exporter's node_filesystem_* series are.

    Sizes come from statvfs in f_frsize units (df's rule); `used` is size - free, as df shows it;
    `avail` is what unprivileged users may still write. All sizes are None when statvfs failed
    (`device_error`) or has not returned within the mount timeout (`stuck`, a dead NFS server)."""

    device: Text
    mountpoint: Text
    fstype: Text
    readonly: bool  # the `ro` mount option, as node_exporter 1.5.0 decides it
    size_bytes: NonNegative | None = None
    used_bytes: NonNegative | None = None
    free_bytes: NonNegative | None = None
    avail_bytes: NonNegative | None = None
    files: NonNegative | None = None
    files_free: NonNegative | None = None
    device_error: bool = False
    stuck: bool = False


class FilesystemSection(Strict, frozen=True, kw_only=True):
    mounts: list[FilesystemMount] = field(default_factory=list)
