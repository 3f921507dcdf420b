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

The models are msgspec Structs, not pydantic models: the agent ships them and must stay small
(importing this module peaked at ~31 MB resident with pydantic models, ~18 MB with Structs;
bare Python is 8.5 MB), and the server decodes every payload twice (ingest and digest), which
msgspec does about five times faster (bench/bench_digest_transform.py, run before and after
the change). Constraints are checked when JSON is decoded (`decode_payload`, `convert`), not
when Python code builds a Struct: the agent checks each snapshot by decoding its JSON before
spooling it (agent/service.py), and the server validates what it receives. The checks in
`__post_init__` run in both cases.

A check in `__post_init__` raises ValueError("<field>: <why>"); msgspec reports it at the
Struct's path, and PayloadError folds the field name into that path.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from uuid import UUID

import msgspec
from msgspec import Meta, field

from fleetscope.model.names import MAX_NAME_LENGTH, check_name
from fleetscope.model.payload_kernel import (
    FileHandlesSection,
    MemoryDetail,
    NetstatCounters,
    SockstatCounts,
    Softirqs,
)
from fleetscope.model.text import NAME_PATTERN, TEXT_PATTERN

SCHEMA_VERSION = 1
MAX_SNAPSHOTS_PER_BATCH = 10_000

NonNegative = Annotated[float, Meta(ge=0)]
Percent = Annotated[float, Meta(ge=0, le=100)]


# Every string carries the rules of model/text.py: names no control characters, free text no
# U+0000 (PostgreSQL refuses it).
Text = Annotated[str, Meta(pattern=TEXT_PATTERN)]
LabelName = Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
LabelValue = Annotated[str, Meta(max_length=1024, pattern=NAME_PATTERN)]


# Times on the wire are RFC 3339 with an offset; a naive time would be read in the server's
# zone, so it is refused.
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Metric sections. A field at its default (None, an empty list, False) is left out of the
    JSON, which decoding fills in again; it keeps the spool and the uploads smaller.

    msgspec does not inherit kw_only (which keeps the fields in wire order, optional ones
    between required ones) and mypy does not see frozen inherited, so every Struct repeats
    both."""


class _Audit(msgspec.Struct, frozen=True, kw_only=True):
    """The inventory is stored and served as the agent sent it (web/api.py, store/inventory.py
    diffs it key by key), so its JSON keeps every key, absent parts as null."""


class HostIdentity(_Strict, frozen=True, kw_only=True):
    """Who sent the batch. `machine_id` (/etc/machine-id, or the OS equivalent) is the stable key;
    `hostname` is what people call the host and may change."""

    machine_id: Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
    hostname: Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]

    def __post_init__(self) -> None:
        try:
            check_name(self.hostname)
        except ValueError as exc:
            raise ValueError(f"hostname: {exc}") from None


class AgentInfo(_Strict, frozen=True, kw_only=True):
    version: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]


class CollectorStatus(_Strict, frozen=True, kw_only=True):
    """How one collector fared in one cycle, like node_exporter's node_scrape_collector_*."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
    success: bool
    duration_seconds: NonNegative
    error: Text | None = None


class CpuModeSeconds(_Strict, frozen=True, kw_only=True):
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


class PressureStall(_Strict, frozen=True, kw_only=True):
    """One PSI line: share of wall time stalled over 10/60/300 s, and total stall time."""

    avg10_percent: Percent
    avg60_percent: Percent
    avg300_percent: Percent
    stalled_seconds_total: NonNegative


class Pressure(_Strict, frozen=True, kw_only=True):
    """Pressure stall information (Linux 4.20+). `some`: at least one task waited; `full`: all
    non-idle tasks waited at once (None for cpu before 5.13)."""

    some: PressureStall
    full: PressureStall | None = None


class Temperature(_Strict, frozen=True, kw_only=True):
    """One temperature sensor. `sensor` identifies it uniquely on the host (hwmon
    `platform_coretemp_0/temp2`, `thermal_zone0`); `label` is what the driver calls it (Core 0,
    x86_pkg_temp) and may repeat."""

    source: Literal["hwmon", "thermal_zone", "psutil"]
    sensor: Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
    label: Annotated[str, Meta(max_length=128, pattern=NAME_PATTERN)]
    celsius: float
    critical_celsius: float | None = None


class CpuCore(_Strict, frozen=True, kw_only=True):
    cpu: Annotated[int, Meta(ge=0)]
    seconds_total: CpuModeSeconds
    # None on the first cycle (no previous counters) and after a counter reset.
    utilization_percent: Percent | None = None
    frequency_hz: NonNegative | None = None  # current; None without a cpufreq driver (most VMs)
    frequency_min_hz: NonNegative | None = None
    frequency_max_hz: NonNegative | None = None


class CpuSection(_Strict, frozen=True, kw_only=True):
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


class MemorySection(_Strict, frozen=True, kw_only=True):
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


class ProcessGroup(_Strict, frozen=True, kw_only=True):
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


class TopProcess(_Strict, frozen=True, kw_only=True):
    pid: Annotated[int, Meta(ge=0)]
    name: Annotated[str, Meta(max_length=256, pattern=TEXT_PATTERN)]
    cmdline: Annotated[str, Meta(max_length=1024, pattern=TEXT_PATTERN)]
    username: Text | None = None
    # Share of one core over the interval (200 = two cores busy); None on first sight.
    cpu_percent: NonNegative | None = None
    resident_bytes: NonNegative


class ProcessesSection(_Strict, frozen=True, kw_only=True):
    count: Annotated[int, Meta(ge=0)]
    groups: list[ProcessGroup] = field(default_factory=list)
    top_cpu: list[TopProcess] = field(default_factory=list)
    top_memory: list[TopProcess] = field(default_factory=list)


class NetworkInterface(_Strict, frozen=True, kw_only=True):
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


class NetworkSection(_Strict, frozen=True, kw_only=True):
    """Interfaces and socket counts of the network namespace the agent's /proc shows (the
    host's, unless the agent runs in a container without host networking).

    The tcp_* and udp_* counts come from /proc/net/sockstat{,6} and /proc/net/snmp, which the
    kernel keeps as counters (cheap). `tcp_connections_by_state` walks every socket in
    /proc/net/tcp{,6} (or psutil.net_connections), which costs ~10 ms per cycle at many
    connections (shared/MEASURED.md); it is None when the `network_tcp_states` setting is off.
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


class DiskDevice(_Strict, frozen=True, kw_only=True):
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


class DiskSection(_Strict, frozen=True, kw_only=True):
    devices: list[DiskDevice] = field(default_factory=list)
    pressure: Pressure | None = None  # I/O stalls (PSI), all devices


class AgentSelf(_Strict, frozen=True, kw_only=True):
    """The agent's own cost, so users can see what monitoring costs them."""

    cpu_seconds_total: NonNegative
    resident_bytes: NonNegative
    # The spool as this snapshot was taken (absent from agents without one): snapshots waiting,
    # the age of the oldest, and those lost to the spool's bounds or rejected by the server.
    spool_depth: NonNegative | None = None
    spool_oldest_age_seconds: NonNegative | None = None
    spool_dropped_total: NonNegative | None = None
    spool_dead_letters_total: NonNegative | None = None


class Snapshot(_Strict, frozen=True, kw_only=True):
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


class Payload(_Strict, frozen=True, kw_only=True):
    schema_version: Literal[1]
    batch_id: UUID
    agent: AgentInfo
    host: HostIdentity
    snapshots: Annotated[list[Snapshot], Meta(min_length=1, max_length=MAX_SNAPSHOTS_PER_BATCH)]


class FilesystemMount(_Strict, frozen=True, kw_only=True):
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


class FilesystemSection(_Strict, frozen=True, kw_only=True):
    mounts: list[FilesystemMount] = field(default_factory=list)


class OsInventory(_Audit, frozen=True, kw_only=True):
    """os-release(5) fields, the running kernel and the machine architecture."""

    id: Text | None = None
    name: Text | None = None
    pretty_name: Text | None = None
    version: Text | None = None
    version_id: Text | None = None
    kernel: Text | None = None
    architecture: Text | None = None


class CpuInventory(_Audit, frozen=True, kw_only=True):
    model: Text | None = None
    vendor: Text | None = None
    packages: Annotated[int, Meta(ge=0)] | None = None
    cores: Annotated[int, Meta(ge=0)] | None = None
    threads: Annotated[int, Meta(ge=0)] | None = None


class MemoryModule(_Audit, frozen=True, kw_only=True):
    """A DIMM as the kernel's EDAC driver describes it (readable without root, unlike the DMI
    type 17 tables dmidecode reads)."""

    label: Text | None = None
    location: Text | None = None
    size_bytes: NonNegative | None = None
    type: Text | None = None


class DmiInventory(_Audit, frozen=True, kw_only=True):
    """/sys/class/dmi/id fields; a field the firmware leaves empty or the agent may not read
    (serials and the UUID are root-only) is None."""

    bios_vendor: Text | None = None
    bios_version: Text | None = None
    bios_date: Text | None = None
    board_vendor: Text | None = None
    board_name: Text | None = None
    board_version: Text | None = None
    board_serial: Text | None = None
    system_vendor: Text | None = None
    product_family: Text | None = None
    product_name: Text | None = None
    product_version: Text | None = None
    product_serial: Text | None = None
    product_uuid: Text | None = None
    chassis_vendor: Text | None = None
    chassis_serial: Text | None = None


class GpuInventory(_Audit, frozen=True, kw_only=True):
    """A display controller (PCI class 0x03xxxx); NVML adds name, memory and driver for NVIDIA
    GPUs when the driver and nvidia-ml-py are installed."""

    pci_address: Text | None = None
    vendor_id: Text | None = None  # "0x10de"
    device_id: Text | None = None
    class_id: Text | None = None
    name: Text | None = None
    memory_total_bytes: NonNegative | None = None
    driver_version: Text | None = None
    uuid: Text | None = None


class PartitionInventory(_Audit, frozen=True, kw_only=True):
    name: Text
    size_bytes: NonNegative | None = None


class DriveInventory(_Audit, frozen=True, kw_only=True):
    name: Text
    model: Text | None = None
    serial: Text | None = None
    size_bytes: NonNegative | None = None
    rotational: bool | None = None
    removable: bool | None = None
    partitions: list[PartitionInventory] = field(default_factory=list)


class NetworkInterfaceInventory(_Audit, frozen=True, kw_only=True):
    name: Text
    mac: Text | None = None
    addresses: list[Text] = field(default_factory=list)
    speed_mbps: NonNegative | None = None  # None where the driver does not say (virtual NICs)
    mtu: Annotated[int, Meta(ge=0)] | None = None


class UserSession(_Audit, frozen=True, kw_only=True):
    name: Text
    terminal: Text | None = None
    host: Text | None = None
    started: AwareDatetime | None = None


class BatteryInventory(_Audit, frozen=True, kw_only=True):
    percent: Percent | None = None
    plugged: bool | None = None
    seconds_left: NonNegative | None = None  # None while charging or when unknown


class PrinterInventory(_Audit, frozen=True, kw_only=True):
    name: Text
    enabled: bool | None = None


class KernelModuleInventory(_Audit, frozen=True, kw_only=True):
    name: Text
    size_bytes: NonNegative
    used_by: list[Text] = field(default_factory=list)


class InventorySection(_Audit, frozen=True, kw_only=True):
    """What the host is, for audit. Each part is None when it could not be read (that part
    failed alone) or does not apply; an empty list means there are none. `content_sha256`
    identifies the content, so the server can keep one row per version and a history."""

    content_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    agent_version: Text
    hostname: Text | None = None
    machine_id: Text | None = None
    os: OsInventory | None = None
    cpu: CpuInventory | None = None
    memory_total_bytes: NonNegative | None = None
    memory_modules: list[MemoryModule] | None = None
    dmi: DmiInventory | None = None
    gpus: list[GpuInventory] | None = None
    drives: list[DriveInventory] | None = None
    network_interfaces: list[NetworkInterfaceInventory] | None = None
    users: list[UserSession] | None = None
    battery: BatteryInventory | None = None
    printers: list[PrinterInventory] | None = None
    kernel_modules: list[KernelModuleInventory] | None = None


# The sections above are defined after Snapshot, which names them; msgspec resolves the names
# when a Struct is first encoded or decoded.


# --- exporters ---------------------------------------------------------------------------

# JSON has no NaN or infinities, yet exporters expose them (a summary quantile without
# observations is NaN; a histogram bound is +Inf). On the wire they travel as the strings the
# exposition formats spell them with; in Python the value is always a float.
_NON_FINITE_FROM_WIRE = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


class _NonFinite(float):
    """A NaN or infinite sample value. msgspec writes a plain NaN as null; a float subclass
    goes through the encoder's hook instead (`_enc_hook`), which spells it as on the wire."""

    __slots__ = ()


def _value_to_wire(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


if TYPE_CHECKING:
    # __post_init__ turns the wire strings into floats, so code reading a sample sees a float.
    SampleValue = float
else:
    SampleValue = float | Literal["NaN", "+Inf", "-Inf"]


class ExporterSample(_Strict, frozen=True, kw_only=True):
    """One sample as the exporter exposed it: the sample name (e.g. `x_bucket`, `y_total`),
    its labels, its value, and its own timestamp in seconds since the epoch when it had one."""

    name: Annotated[str, Meta(min_length=1, max_length=512, pattern=NAME_PATTERN)]
    labels: dict[LabelName, LabelValue] = field(default_factory=dict)
    value: SampleValue
    timestamp: float | None = None

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, str):
            msgspec.structs.force_setattr(self, "value", _NonFinite(_NON_FINITE_FROM_WIRE[value]))
        elif not math.isfinite(value) and not isinstance(value, _NonFinite):
            msgspec.structs.force_setattr(self, "value", _NonFinite(value))
        if self.timestamp is not None and not math.isfinite(self.timestamp):
            raise ValueError("timestamp: must be a finite number of seconds since the epoch")


class ExporterScrape(_Strict, frozen=True, kw_only=True):
    """One scrape of one Prometheus exporter in one cycle, like Prometheus' `up` and
    `scrape_duration_seconds`. A failed scrape has `error` and no samples."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
    url: Annotated[str, Meta(min_length=1, max_length=2048, pattern=NAME_PATTERN)]
    success: bool
    duration_seconds: NonNegative
    error: Text | None = None
    samples: list[ExporterSample] = field(default_factory=list)
    # What the target is, when it is more than exposition: "process-exporter" makes digest
    # turn its namedprocess_namegroup_* samples into process groups (model/process_exporter.py).
    kind: Literal["process-exporter"] | None = None


# --- encoding and decoding ----------------------------------------------------------------


def _enc_hook(value: Any) -> Any:
    if isinstance(value, _NonFinite):
        return _value_to_wire(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__} in a payload")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_payload_decoder = msgspec.json.Decoder(Payload)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)


def encode(value: Any) -> bytes:
    """The wire JSON of a payload, a snapshot or any part of one (compact, UTF-8). Use this,
    not msgspec.json.encode, which cannot write NaN/±Inf sample values."""
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """The wire form as dicts, lists, strings and numbers (what json.loads(encode(x)) gives)."""
    return msgspec.to_builtins(value, enc_hook=_enc_hook)


class PayloadError(ValueError):
    """JSON that does not decode into the type asked for. `field` is the dotted path of the bad
    value ("" for the body as a whole), `message` says what is wrong, `type` is a short code:
    json_invalid, extra_forbidden, missing, value_error or invalid."""

    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.type = field, message, kind


# msgspec says where as " - at `$.snapshots[0].cpu`", or " - at `key` in `$.labels`" for a key.
_AT = re.compile(r"^(?P<message>.*?) - at (?:`key` in )?`\$(?P<path>[^`]*)`$", re.DOTALL)
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_NAMED = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<field>[^`]+)`$")
_POST_INIT = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): (?P<message>.+)$", re.DOTALL)


def payload_error(exc: msgspec.MsgspecError) -> PayloadError:
    """msgspec's error as a dotted field path and a message, the way people (and the ingest
    API's 422 details) name a field: `snapshots.0.cpu.load1`."""
    if not isinstance(exc, msgspec.ValidationError):
        return PayloadError("", str(exc), "json_invalid")
    message, steps = str(exc), []
    if at := _AT.match(message):
        message = at["message"]
        steps = [m[1] or m[2] for m in _STEP.finditer(at["path"]) if m[1] or m[2]]
    kind = "invalid"
    if named := _NAMED.match(message):
        steps.append(named["field"])
        kind = "missing" if "missing" in message else "extra_forbidden"
    elif post_init := _POST_INIT.match(message):
        steps.append(post_init["field"])
        message, kind = post_init["message"], "value_error"
    return PayloadError(".".join(steps), message, kind)


class _Version(msgspec.Struct):
    schema_version: Any = None


_version_decoder = msgspec.json.Decoder(_Version)


def decode_payload(data: bytes | str) -> Payload:
    """Decode and validate a Payload's JSON; PayloadError names the first bad field, or the
    schema_version when the payload is of another major version than this server's."""
    try:
        return _payload_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        other = _other_version(data)
        if other is not None:
            raise other from exc
        raise payload_error(exc) from exc


def _other_version(data: bytes | str) -> PayloadError | None:
    """The error for a payload of another major version: whatever else failed to decode in
    it, the version is what to say."""
    try:
        version = _version_decoder.decode(data).schema_version
    except msgspec.MsgspecError:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version == SCHEMA_VERSION:
        return None
    fix = "upgrade the server" if version > SCHEMA_VERSION else "upgrade the agent"
    return PayloadError(
        "schema_version",
        f"the payload is schema_version {version}; this server reads schema_version "
        f"{SCHEMA_VERSION} only ({fix})",
        "value_error",
    )


def decode_snapshot(data: bytes | str) -> Snapshot:
    try:
        return _snapshot_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise payload_error(exc) from exc


_T = TypeVar("_T")


def convert(data: Any, into: type[_T]) -> _T:
    """Build a Struct from dicts and lists with every constraint checked (the agent's
    counterpart of decoding); PayloadError names the first bad field."""
    try:
        return msgspec.convert(data, into)
    except msgspec.MsgspecError as exc:
        raise payload_error(exc) from exc
