"""Parser for /proc/net/{tcp,tcp6,udp,udp6} (one line per socket).

These files walk every socket, so they cost time proportional to the connection count; use
/proc/net/sockstat and /proc/net/snmp for cheap totals and these only for per-state counts.
Format: net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv4/udp.c udp4_format_sock.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# The `st` column is the kernel's enum (include/net/tcp_states.h), written in hex. UDP reuses
# ESTABLISHED (connected) and CLOSE (unconnected); 0x0C is TCP_NEW_SYN_RECV (4.1+), which
# request sockets carry.
TCP_STATES = {
    0x01: "ESTABLISHED",
    0x02: "SYN_SENT",
    0x03: "SYN_RECV",
    0x04: "FIN_WAIT1",
    0x05: "FIN_WAIT2",
    0x06: "TIME_WAIT",
    0x07: "CLOSE",
    0x08: "CLOSE_WAIT",
    0x09: "LAST_ACK",
    0x0A: "LISTEN",
    0x0B: "CLOSING",
    0x0C: "NEW_SYN_RECV",
}

_STATE_COLUMN = 3


@dataclass(frozen=True, slots=True)
class SocketTable:
    """Sockets in one table. `by_state` uses the kernel's state names and lists only states
    that occur; a state number missing from TCP_STATES is kept as `UNKNOWN_0x..`."""

    sockets: int
    by_state: dict[str, int]


def parse_socket_table(text: str, source: str = "/proc/net/tcp") -> SocketTable:
    counts: dict[int, int] = {}
    total = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split(maxsplit=_STATE_COLUMN + 1)
        if line_no == 1 or not parts:
            # The first line is the column header ("sl local_address rem_address st ...").
            continue
        if len(parts) <= _STATE_COLUMN or not parts[0].endswith(":"):
            raise ParseError(source, line_no, line, "expected 'sl: local remote st ...'")
        try:
            state = int(parts[_STATE_COLUMN], 16)
        except ValueError as exc:
            raise ParseError(source, line_no, line, "state is not hexadecimal") from exc
        counts[state] = counts.get(state, 0) + 1
        total += 1
    by_state = {TCP_STATES.get(st, f"UNKNOWN_0x{st:02X}"): n for st, n in sorted(counts.items())}
    return SocketTable(sockets=total, by_state=by_state)
