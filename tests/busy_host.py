"""A host with every section the host page draws, its counters advancing as a real one's do:
used by the chart tests, the host-page browser test and bench/bench_host_page.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from fleetscope.model.payload import (
    CpuCore,
    CpuModeSeconds,
    CpuSection,
    DiskDevice,
    DiskSection,
    FilesystemMount,
    FilesystemSection,
    MemorySection,
    NetworkInterface,
    NetworkSection,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
    Temperature,
)

GROUPS = ("postgres", "nginx", "python3", "sshd")
INTERVAL_SECONDS = 10.0
ROOT_SIZE = 100e9
# "/" fills at this rate: the fill trend and days to full are checked against it.
FILL_BYTES_PER_SECOND = 2_000.0


@dataclass(frozen=True)
class BusyHost:
    cores: int = 4
    disks: tuple[str, ...] = ("sda",)
    interfaces: tuple[str, ...] = ("eth0", "lo")
    errors: bool = False  # eth0 counts receive errors
    temperatures: bool = True

    def snapshot(self, at: datetime, i: int) -> Snapshot:
        """The i-th snapshot, INTERVAL_SECONDS after the one before."""
        elapsed = i * INTERVAL_SECONDS
        wave = 0.5 + 0.4 * math.sin(i / 20)  # how busy, 0.1 .. 0.9
        # Mode seconds per core: user 60 %, system 20 %, iowait 10 %, steal 10 % of `wave`.
        busy = elapsed * self.cores
        modes = CpuModeSeconds(
            user=busy * 0.6 * 0.5 + 1000,
            system=busy * 0.2 * 0.5 + 500,
            idle=busy * 0.5 + 9000,
            iowait=busy * 0.1 * 0.5 + 10,
            steal=busy * 0.1 * 0.5,
            nice=0.0,
            irq=0.0,
            softirq=0.0,
        )
        cores = [
            CpuCore(
                cpu=c,
                seconds_total=CpuModeSeconds(user=elapsed / 2, system=0, idle=elapsed / 2),
                utilization_percent=min(100.0, 100 * wave * (c + 1) / self.cores),
                frequency_hz=2.0e9 + 1e8 * c,
                frequency_min_hz=8e8,
                frequency_max_hz=3.5e9,
            )
            for c in range(self.cores)
        ]
        cpu = CpuSection(
            seconds_total=modes,
            utilization_percent=100 * wave,
            cores=cores,
            load1=self.cores * wave,
            load5=self.cores * 0.5,
            load15=self.cores * 0.4,
            procs_running=3,
            procs_blocked=1,
            temperatures=[
                Temperature(source="hwmon", sensor="coretemp/temp1", label="Package", celsius=55)
            ]
            if self.temperatures
            else [],
        )
        memory = MemorySection(
            total_bytes=16e9,
            used_bytes=8e9 * wave,
            free_bytes=16e9 - 8e9 * wave,
            available_bytes=16e9 - 8e9 * wave,
            cached_bytes=4e9,
            buffers_bytes=2e8,
            swap_total_bytes=2e9,
            swap_used_bytes=1e8,
        )
        network = NetworkSection(
            interfaces=[
                NetworkInterface(
                    device=name,
                    receive_bytes_total=1e6 * elapsed,
                    receive_packets_total=1e3 * elapsed,
                    transmit_bytes_total=5e5 * elapsed,
                    transmit_packets_total=5e2 * elapsed,
                    receive_bytes_per_second=1e6 * wave,
                    transmit_bytes_per_second=5e5 * wave,
                    receive_errors_per_second=2.0 if self.errors and name == "eth0" else 0.0,
                    transmit_errors_per_second=0.0,
                    receive_drops_per_second=0.0,
                    transmit_drops_per_second=0.0,
                    speed_bits_per_second=1e9,
                    up=True,
                )
                for name in self.interfaces
            ],
            tcp_connections_by_state={"ESTABLISHED": 40 + i % 5, "TIME_WAIT": 7},
        )
        disk = DiskSection(
            devices=[
                DiskDevice(
                    device=name,
                    reads_completed_total=100 * elapsed,
                    read_bytes_total=4096 * 100 * elapsed,
                    writes_completed_total=50 * elapsed,
                    written_bytes_total=4096 * 50 * elapsed,
                    read_iops=100 * wave,
                    write_iops=50 * wave,
                    read_bytes_per_second=4096 * 100 * wave,
                    written_bytes_per_second=4096 * 50 * wave,
                    read_await_seconds=0.002,
                    write_await_seconds=0.004,
                    await_seconds=0.003,
                    utilization_percent=30 * wave,
                )
                for name in self.disks
            ]
        )
        used = 40e9 + FILL_BYTES_PER_SECOND * elapsed
        filesystem = FilesystemSection(
            mounts=[
                FilesystemMount(
                    device="/dev/sda1",
                    mountpoint="/",
                    fstype="ext4",
                    readonly=False,
                    size_bytes=ROOT_SIZE,
                    used_bytes=used,
                    free_bytes=ROOT_SIZE - used,
                    avail_bytes=ROOT_SIZE - used,
                )
            ]
        )
        processes = ProcessesSection(
            count=150,
            groups=[
                ProcessGroup(
                    name=name,
                    num_procs=n + 1,
                    num_threads=2 * (n + 1),
                    # group n uses (n + 1) / 10 of a core
                    cpu_user_seconds_total=elapsed * (n + 1) / 10,
                    cpu_system_seconds_total=0.0,
                    read_bytes_total=0,
                    write_bytes_total=0,
                    resident_bytes=1e8 * (n + 1),
                    virtual_bytes=1e9,
                )
                for n, name in enumerate(GROUPS)
            ],
        )
        return Snapshot(
            timestamp=at,
            cpu=cpu,
            memory=memory,
            network=network,
            disk=disk,
            filesystem=filesystem,
            processes=processes,
        )
