"""The series a host's headline is computed from: the four numbers the fleet overview, the
summary, the live feed and the host page show per host (CPU busy, memory used, the fullest
filesystem, network traffic). They are names the agent's snapshot flattens to (model/series.py);
tests/model/test_headline_series.py collects real fixture trees and checks each one is there."""

from __future__ import annotations

CPU_UTILIZATION_PERCENT = "cpu_utilization_percent"
MEMORY_USED_BYTES = "memory_used_bytes"
MEMORY_TOTAL_BYTES = "memory_total_bytes"
# Per mount, labelled MOUNTPOINT_LABEL; used / (used + avail) as df's Use%.
FILESYSTEM_USED_BYTES = "filesystem_used_bytes"
FILESYSTEM_AVAIL_BYTES = "filesystem_avail_bytes"
# Mounts that are full by design (squashfs snaps, ISO images) would always be the "fullest".
FILESYSTEM_READONLY = "filesystem_readonly"
MOUNTPOINT_LABEL = "mountpoint"
# Per interface, labelled DEVICE_LABEL; receive + transmit of every interface but loopback.
NETWORK_RECEIVE_BYTES_PER_SECOND = "network_receive_bytes_per_second"
NETWORK_TRANSMIT_BYTES_PER_SECOND = "network_transmit_bytes_per_second"
DEVICE_LABEL = "device"
LOOPBACK_DEVICES = frozenset({"lo"})

NETWORK_TRAFFIC = frozenset({NETWORK_RECEIVE_BYTES_PER_SECOND, NETWORK_TRANSMIT_BYTES_PER_SECOND})
HEADLINE_SERIES = frozenset(
    {
        CPU_UTILIZATION_PERCENT,
        MEMORY_USED_BYTES,
        MEMORY_TOTAL_BYTES,
        FILESYSTEM_USED_BYTES,
        FILESYSTEM_AVAIL_BYTES,
        FILESYSTEM_READONLY,
        *NETWORK_TRAFFIC,
    }
)
