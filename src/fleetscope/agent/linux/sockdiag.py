"""The only code that opens a netlink socket: TCP connections per state through
NETLINK_SOCK_DIAG, the interface `ss` uses.

Counting states from /proc/net/tcp{,6} makes the kernel format a text line per socket (about
10 ms a cycle on a 2-core VM, shared/MEASURED.md); an inet_diag dump hands over a binary
record per socket and cost about 1 ms for both families on the same machine.

Netlink answers for the network namespace of the socket's creator, the agent's own; this is
the host's only when the agent shares the host's network namespace (as /proc/net/tcp is the
reading process's namespace too: /proc/net links to /proc/self/net).
"""

from __future__ import annotations

import socket

from fleetscope.agent.linux.parsers.sockdiag import (
    NETLINK_SOCK_DIAG,
    DiagCounts,
    inet_diag_request,
    parse_inet_diag_datagram,
)

# The kernel answers a dump at once; a bound keeps a wedged socket from hanging the cycle.
_TIMEOUT_SECONDS = 2.0
# A dump datagram carries up to about 32 KiB of messages (netlink_dump's allocation); a
# larger buffer never truncates one.
_RECEIVE_BYTES = 65536


class SockDiag:
    """Owns one netlink socket, opened on first use and kept between dumps. Raises OSError
    when netlink is unavailable (a seccomp profile or LSM denying AF_NETLINK, a kernel without
    inet_diag): the caller falls back to /proc/net/tcp."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._sequence = 0

    def tcp_states(self, family: int) -> dict[int, int]:
        """Sockets per state number for AF_INET or AF_INET6."""
        sock = self._open()
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        try:
            sock.send(inet_diag_request(family, socket.IPPROTO_TCP, self._sequence))
            counts = DiagCounts()
            while not counts.done:
                parse_inet_diag_datagram(sock.recv(_RECEIVE_BYTES), counts)
        except BaseException:
            # Unread replies of a broken dump would be taken for the next one's.
            self.close()
            raise
        return counts.by_state

    def _open(self) -> socket.socket:
        if self._socket is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
            sock.settimeout(_TIMEOUT_SECONDS)
            self._socket = sock
        return self._socket

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
