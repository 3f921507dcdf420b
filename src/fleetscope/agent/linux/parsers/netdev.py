"""Parser for /proc/net/dev (per-interface receive and transmit counters)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_SOURCE = "/proc/net/dev"
_COUNTERS = 16


@dataclass(frozen=True, slots=True)
class NetDevStats:
    """The 16 counters in the kernel's column order (net/core/net-procfs.c dev_seq_printf_stats).
    Field names follow the header (`errs`, `colls`, ...), which are also node_exporter's names."""

    device: str
    receive_bytes_total: int
    receive_packets_total: int
    receive_errs_total: int
    receive_drop_total: int
    receive_fifo_total: int
    receive_frame_total: int
    receive_compressed_total: int
    receive_multicast_total: int
    transmit_bytes_total: int
    transmit_packets_total: int
    transmit_errs_total: int
    transmit_drop_total: int
    transmit_fifo_total: int
    transmit_colls_total: int
    transmit_carrier_total: int
    transmit_compressed_total: int


def parse_net_dev(text: str) -> dict[str, NetDevStats]:
    """Interfaces by name, in file order."""
    devices: dict[str, NetDevStats] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        # The two header lines have '|' and no counters.
        if line_no <= 2 or not line.strip():
            continue
        # The name is padded to the left and may touch its first counter ("eth0:123"); names
        # can hold ':' (aliases), so split on the last one, as prometheus/procfs does.
        name, sep, rest = line.rpartition(":")
        name = name.strip()
        if not sep or not name:
            raise ParseError(_SOURCE, line_no, line, "expected 'interface: counters'")
        fields = rest.split()
        if len(fields) != _COUNTERS:
            raise ParseError(_SOURCE, line_no, line, f"expected 16 counters, got {len(fields)}")
        try:
            n = [int(field) for field in fields]
        except ValueError as exc:
            raise ParseError(_SOURCE, line_no, line, "counter is not an integer") from exc
        devices[name] = NetDevStats(name, *n)
    return devices
