"""The only code that opens a netlink socket: TCP connections per state through
NETLINK_SOCK_DIAG, the interface `ss` uses.

Counting states from /proc/net/tcp{,6} makes the kernel format a text line per socket; an
inet_diag dump hands over a binary record per socket, which costs less, and one
TCPDIAG_GETSOCK dump of both families costs less again than two SOCK_DIAG_BY_FAMILY dumps
(docs/code-choices.md, tcp-states-one-dump).

Netlink answers for the network namespace of the socket's creator, the agent's own; this is
the host's only when the agent shares the host's network namespace (as /proc/net/tcp is the
reading process's namespace too: /proc/net links to /proc/self/net).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from fleetscope.agent.linux.parsers.sockdiag import (
    NETLINK_SOCK_DIAG,
    DiagCounts,
    NetlinkError,
    inet_diag_request,
    parse_inet_diag_datagram,
    tcpdiag_compat_request,
)

log = logging.getLogger(__name__)

# The kernel answers a dump at once; a bound keeps a wedged socket from hanging the cycle.
_TIMEOUT_SECONDS = 2.0
# A dump datagram carries up to about 32 KiB of messages (netlink_dump's allocation); a
# larger buffer never truncates one.
_RECEIVE_BYTES = 65536


class SockDiag:
    """Owns one netlink socket, opened on first use and kept between dumps. Raises OSError
    when netlink is unavailable (a seccomp profile or LSM denying AF_NETLINK, a kernel without
    inet_diag): the caller falls back to /proc/net/tcp. `open_socket` is for tests."""

    def __init__(self, open_socket: Callable[[], socket.socket] | None = None) -> None:
        self._open_socket = open_socket or _netlink_socket
        self._socket: socket.socket | None = None
        self._sequence = 0
        # TCPDIAG_GETSOCK dumps both families in one walk, cheaper than two
        # SOCK_DIAG_BY_FAMILY dumps (module doc). It is the older interface; a kernel that
        # refuses it gets the per-family requests from then on.
        self._compat = True

    def tcp_states(self) -> dict[int, int]:
        """TCP sockets of both families per state number."""
        if self._compat:
            try:
                return self._dump(tcpdiag_compat_request(self._next()))
            except NetlinkError as exc:
                log.info("TCPDIAG_GETSOCK refused (%s); dumping per family", exc)
                self._compat = False
        counts = self._dump(inet_diag_request(socket.AF_INET, socket.IPPROTO_TCP, self._next()))
        request6 = inet_diag_request(socket.AF_INET6, socket.IPPROTO_TCP, self._next())
        for state, count in self._dump(request6).items():
            counts[state] = counts.get(state, 0) + count
        return counts

    def _next(self) -> int:
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        return self._sequence

    def _dump(self, request: bytes) -> dict[int, int]:
        if self._socket is None:
            self._socket = self._open_socket()
        sock = self._socket
        try:
            sock.send(request)
            counts = DiagCounts()
            while not counts.done:
                parse_inet_diag_datagram(sock.recv(_RECEIVE_BYTES), counts)
        except BaseException:
            # Unread replies of a broken dump would be taken for the next one's.
            self.close()
            raise
        return counts.by_state

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _netlink_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    sock.settimeout(_TIMEOUT_SECONDS)
    return sock
