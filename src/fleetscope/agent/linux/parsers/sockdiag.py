"""Parser for NETLINK_SOCK_DIAG replies to an inet_diag dump (SOCK_DIAG_BY_FAMILY with an
inet_diag_req_v2), as `ss` sends it; it counts sockets per TCP state.

The kernel answers a dump with datagrams that each hold whole netlink messages
(include/uapi/linux/netlink.h): a 16-byte nlmsghdr (u32 length, u16 type, u16 flags, u32
seq, u32 pid), then the payload, padded to 4 bytes. Each socket is one SOCK_DIAG_BY_FAMILY
message whose payload starts with an inet_diag_msg (include/uapi/linux/inet_diag.h: u8
family, u8 state, ...); the dump ends with NLMSG_DONE, and a failure is an NLMSG_ERROR whose
payload starts with a negative errno. Host byte order throughout, as netlink uses.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass, field

from fleetscope.agent.linux.errors import ParseError

NETLINK_SOCK_DIAG = 4
# The original inet_diag request (struct inet_diag_req), still served by inet_diag_rcv_compat:
# it dumps IPv4 and IPv6 sockets in one walk of the hash tables (AF_UNSPEC), where
# SOCK_DIAG_BY_FAMILY needs a walk per family.
TCPDIAG_GETSOCK = 18
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
# Set on a message of a dump whose hash table changed while it was walked: counts are still
# a fair picture, as /proc/net/tcp's walk without a lock is.
NLM_F_DUMP_INTR = 0x10
ALL_STATES = 0xFFFFFFFF

_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_LENGTH_KIND = struct.Struct("=IH")  # its first two fields
_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2 with an all-zero inet_diag_sockid
# inet_diag_req: family, src_len, dst_len, ext, inet_diag_sockid (zero), states, dbs
_COMPAT_REQUEST = struct.Struct("=BBBB48xII")
_SOCKET_MESSAGES = frozenset({SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK})
_ERRNO = struct.Struct("=i")
_STATE_OFFSET = _HEADER.size + 1  # inet_diag_msg.idiag_state
_SOURCE = "NETLINK_SOCK_DIAG reply"


def inet_diag_request(family: int, protocol: int, sequence: int) -> bytes:
    """A dump request for every socket of `family` and `protocol` in every state."""
    body = _REQUEST.pack(family, protocol, 0, 0, ALL_STATES)
    header = _HEADER.pack(
        _HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0
    )
    return header + body


def tcpdiag_compat_request(sequence: int) -> bytes:
    """The original TCPDIAG_GETSOCK dump request for TCP sockets of both families in every
    state; the replies carry the same inet_diag_msg, with message type TCPDIAG_GETSOCK."""
    body = _COMPAT_REQUEST.pack(0, 0, 0, 0, ALL_STATES, 0)
    header = _HEADER.pack(
        _HEADER.size + len(body), TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0
    )
    return header + body


class NetlinkError(OSError):
    """The kernel answered the request with NLMSG_ERROR (errno set)."""


@dataclass(slots=True)
class DiagCounts:
    """Sockets per kernel state number (include/net/tcp_states.h), summed over the datagrams
    of one dump; `done` once NLMSG_DONE has been seen."""

    by_state: dict[int, int] = field(default_factory=dict)
    done: bool = False


def parse_inet_diag_datagram(data: bytes, counts: DiagCounts) -> DiagCounts:
    """Add the sockets of one received datagram to `counts` and return it. Raises
    NetlinkError with the kernel's errno for an NLMSG_ERROR, ParseError for bytes that are
    not netlink messages."""
    # The loop runs once per socket: locals and a two-field header struct, faster than
    # unpacking the whole nlmsghdr per message (docs/code-choices.md).
    by_state = counts.by_state
    unpack = _LENGTH_KIND.unpack_from
    header, state_offset, messages = _HEADER.size, _STATE_OFFSET, _SOCKET_MESSAGES
    offset = 0
    end = len(data)
    while offset < end:
        if end - offset < header:
            raise ParseError(_SOURCE, 0, data[offset:].hex(), "truncated netlink header")
        length, kind = unpack(data, offset)
        if length < header or offset + length > end:
            raise ParseError(_SOURCE, 0, data[offset : offset + 32].hex(), f"bad length {length}")
        if kind in messages:
            if length <= state_offset:
                raise ParseError(_SOURCE, 0, data[offset:].hex(), "inet_diag_msg too short")
            state = data[offset + state_offset]
            by_state[state] = by_state.get(state, 0) + 1
        elif kind == NLMSG_DONE:
            counts.done = True
            return counts
        elif kind == NLMSG_ERROR:
            (code,) = _ERRNO.unpack_from(data, offset + header)
            number = -code if code < 0 else errno.EIO
            raise NetlinkError(number, f"sock_diag dump failed: {os.strerror(number)}")
        offset += (length + 3) & ~3
    return counts
