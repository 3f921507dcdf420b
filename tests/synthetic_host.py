"""Synthetic hosts with known behaviour, as the agent would report them, for the analysis
tests and bench/bench_analysis.py. Every counter is integrated from the rates asked for, so
the truth (e.g. a filesystem's fill rate) is known exactly."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetscope.model.codec import encode
from fleetscope.model.payload import (
    AgentInfo,
    CpuCore,
    CpuModeSeconds,
    CpuSection,
    DiskDevice,
    DiskSection,
    FilesystemMount,
    FilesystemSection,
    HostIdentity,
    MemorySection,
    NetworkInterface,
    NetworkSection,
    Payload,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
)

GIB = 2**30
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)

Curve = Callable[[float], float]  # seconds since start -> value


def const(value: float) -> Curve:
    return lambda _t: value


@dataclass
class Scenario:
    cpus: int = 4
    busy: Curve = field(default_factory=lambda: const(0.03))  # share of every CPU busy
    iowait: Curve = field(default_factory=lambda: const(0.0))
    load_per_cpu: Curve = field(default_factory=lambda: const(0.05))
    memory_total: float = 16 * GIB
    memory_used: Curve = field(default_factory=lambda: const(3 * GIB))
    swap_total: float = 4 * GIB
    swap_used: Curve = field(default_factory=lambda: const(0.0))
    swap_out_per_second: Curve = field(default_factory=lambda: const(0.0))
    fs_size: float = 200 * GIB
    fs_used: Curve = field(default_factory=lambda: const(40 * GIB))
    link_up: Callable[[int], bool] = lambda _i: True
    link_bits_per_second: float = 1e9
    rx_bytes_per_second: Curve = field(default_factory=lambda: const(20_000.0))
    disk_iops: Curve = field(default_factory=lambda: const(5.0))
    disk_busy: Curve = field(default_factory=lambda: const(0.01))
    app_cpu_share: float = 0.9  # the share of busy CPU the "app" group uses
    app_resident: Curve = field(default_factory=lambda: const(1 * GIB))


def snapshots(
    s: Scenario, count: int, interval: float = 10.0, start: datetime = START
) -> Iterator[Snapshot]:
    user = idle = iowait = 0.0
    core_user = [0.0] * s.cpus
    core_idle = [0.0] * s.cpus
    swap_out = rx = tx = reads = io_time = read_time = 0.0
    app_cpu = other_cpu = 0.0
    for i in range(count):
        t = i * interval
        if i:
            busy, wait = s.busy(t), s.iowait(t)
            user += busy * s.cpus * interval
            iowait += wait * s.cpus * interval
            idle += max(0.0, 1 - busy - wait) * s.cpus * interval
            # One core hotter than the rest, as real hosts are, yet balanced on average.
            for c in range(s.cpus):
                core_user[c] += busy * interval
                core_idle[c] += max(0.0, 1 - busy - wait) * interval
            swap_out += s.swap_out_per_second(t) * interval
            rx += s.rx_bytes_per_second(t) * interval
            tx += s.rx_bytes_per_second(t) / 4 * interval
            ops = s.disk_iops(t) * interval
            reads += ops
            read_time += ops * 0.002
            io_time += s.disk_busy(t) * interval
            app_cpu += busy * s.cpus * interval * s.app_cpu_share
            other_cpu += busy * s.cpus * interval * (1 - s.app_cpu_share)
        used = s.memory_used(t)
        fs_used = s.fs_used(t)
        yield Snapshot(
            timestamp=start + timedelta(seconds=t),
            cpu=CpuSection(
                seconds_total=CpuModeSeconds(user=user, system=0.0, idle=idle, iowait=iowait),
                cores=[
                    CpuCore(
                        cpu=c,
                        seconds_total=CpuModeSeconds(
                            user=core_user[c], system=0.0, idle=core_idle[c], iowait=0.0
                        ),
                    )
                    for c in range(s.cpus)
                ],
                load1=s.load_per_cpu(t) * s.cpus,
            ),
            memory=MemorySection(
                total_bytes=s.memory_total,
                used_bytes=used,
                free_bytes=s.memory_total - used,
                available_bytes=s.memory_total - used,
                swap_total_bytes=s.swap_total,
                swap_used_bytes=s.swap_used(t),
                swap_free_bytes=s.swap_total - s.swap_used(t),
                swap_in_bytes_total=0.0,
                swap_out_bytes_total=swap_out,
            ),
            network=NetworkSection(
                interfaces=[
                    NetworkInterface(
                        device="eth0",
                        receive_bytes_total=rx,
                        receive_packets_total=rx / 1000,
                        receive_errors_total=0,
                        receive_drops_total=0,
                        transmit_bytes_total=tx,
                        transmit_packets_total=tx / 1000,
                        transmit_errors_total=0,
                        transmit_drops_total=0,
                        up=s.link_up(i),
                        carrier=s.link_up(i),
                        speed_bits_per_second=s.link_bits_per_second if s.link_up(i) else None,
                    )
                ]
            ),
            disk=DiskSection(
                devices=[
                    DiskDevice(
                        device="sda",
                        reads_completed_total=reads,
                        read_bytes_total=reads * 4096,
                        read_time_seconds_total=read_time,
                        writes_completed_total=0,
                        written_bytes_total=0,
                        write_time_seconds_total=0,
                        io_time_seconds_total=io_time,
                        io_time_weighted_seconds_total=read_time,
                    )
                ]
            ),
            filesystem=FilesystemSection(
                mounts=[
                    FilesystemMount(
                        device="/dev/sda1",
                        mountpoint="/",
                        fstype="ext4",
                        readonly=False,
                        size_bytes=s.fs_size,
                        used_bytes=fs_used,
                        free_bytes=s.fs_size - fs_used,
                        avail_bytes=s.fs_size - fs_used,
                    )
                ]
            ),
            processes=ProcessesSection(
                count=200,
                groups=[
                    ProcessGroup(
                        name=name,
                        num_procs=3,
                        num_threads=10,
                        cpu_user_seconds_total=cpu,
                        cpu_system_seconds_total=0.0,
                        read_bytes_total=0.0,
                        write_bytes_total=0.0,
                        resident_bytes=resident,
                        virtual_bytes=resident * 2,
                    )
                    for name, cpu, resident in (
                        ("app", app_cpu, s.app_resident(t)),
                        ("system", other_cpu, 0.2 * GIB),
                    )
                ],
            ),
        )


def write_collection(path: Path, snaps: Iterator[Snapshot], hostname: str = "synthetic-1") -> Path:
    """The snapshots as a local-mode collection file, 360 to a line like the agent's batches."""
    host = HostIdentity(machine_id="synthetic-" + hostname, hostname=hostname)
    batch: list[Snapshot] = []
    with path.open("wb") as out:

        def flush() -> None:
            payload = Payload(
                schema_version=1,
                batch_id=uuid.UUID(int=len(batch) + out.tell()),
                agent=AgentInfo(version="test"),
                host=host,
                snapshots=list(batch),
            )
            out.write(encode(payload) + b"\n")
            batch.clear()

        for snap in snaps:
            batch.append(snap)
            if len(batch) == 360:
                flush()
        if batch:
            flush()
    return path
