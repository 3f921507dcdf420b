"""Parser for /proc/net/sockstat and /proc/net/sockstat6 (socket counts per protocol).

Both files share one format (net/ipv4/proc.c sockstat_seq_show, net/ipv6/proc.c):
`TCP: inuse 4 orphan 0 tw 4 alloc 17 mem 1`. They are the cheap way to count connections: the
kernel keeps the counters, whereas /proc/net/tcp walks every socket.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError


@dataclass(frozen=True, slots=True)
class ProtocolSockets:
    """One protocol line; each key the kernel did not print is None. `mem` is in pages for
    TCP/UDP (converted with the page size) and `memory` in bytes for FRAG."""

    in_use: int | None
    orphan: int | None
    time_wait: int | None
    alloc: int | None
    mem_bytes: int | None
    mem_pages: int | None
    frag_memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class SockStat:
    """`sockets_used` is only in /proc/net/sockstat, so it is None for sockstat6."""

    sockets_used: int | None
    # By the kernel's protocol name: TCP, UDP, UDPLITE, RAW, FRAG (or TCP6, ... in sockstat6).
    protocols: dict[str, ProtocolSockets]


_KEYS = {
    "inuse": "in_use",
    "orphan": "orphan",
    "tw": "time_wait",
    "alloc": "alloc",
    "mem": "mem_pages",
    "memory": "frag_memory_bytes",
}


def parse_sockstat(text: str, page_size: int, source: str = "/proc/net/sockstat") -> SockStat:
    """`page_size` is the page size of the kernel that wrote the file (TCP/UDP `mem` counts
    pages); node_exporter uses os.Getpagesize() of the scraping host for the same purpose."""
    sockets_used: int | None = None
    protocols: dict[str, ProtocolSockets] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        protocol, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) % 2:
            raise ParseError(source, line_no, line, "expected 'PROTO: key value ...'")
        values: dict[str, int] = {}
        for key, value in zip(fields[::2], fields[1::2], strict=True):
            try:
                values[key] = int(value)
            except ValueError as exc:
                raise ParseError(source, line_no, line, f"{key} is not an integer") from exc
        if protocol == "sockets":
            if "used" not in values:
                raise ParseError(source, line_no, line, "sockets line without 'used'")
            sockets_used = values["used"]
            continue
        typed = {_KEYS[k]: v for k, v in values.items() if k in _KEYS}
        mem_pages = typed.get("mem_pages")
        protocols[protocol] = ProtocolSockets(
            in_use=typed.get("in_use"),
            orphan=typed.get("orphan"),
            time_wait=typed.get("time_wait"),
            alloc=typed.get("alloc"),
            mem_bytes=None if mem_pages is None else mem_pages * page_size,
            mem_pages=mem_pages,
            frag_memory_bytes=typed.get("frag_memory_bytes"),
        )
    return SockStat(sockets_used=sockets_used, protocols=protocols)


def parse_sockstat_protocol(
    text: str, protocol: str, source: str = "/proc/net/sockstat"
) -> dict[str, int] | None:
    """One protocol's line as the kernel names its keys (`TCP` gives {"inuse": 4, "orphan":
    0, "tw": 4, "alloc": 17, "mem": 1}), None when the file has no such line. Finds the line
    directly: the network collector needs two lines of each file every cycle, and
    parse_sockstat builds a record for all of them. Agrees with parse_sockstat (tested on the
    fixtures and this host)."""
    prefix = protocol + ":"
    if text.startswith(prefix):
        at = 0
    else:
        at = text.find("\n" + prefix)
        if at < 0:
            return None
        at += 1
    end = text.find("\n", at)
    line = text[at:] if end < 0 else text[at:end]
    fields = line[len(prefix) :].split()
    if len(fields) % 2:
        line_no = text.count("\n", 0, at) + 1
        raise ParseError(source, line_no, line, "expected 'PROTO: key value ...'")
    values: dict[str, int] = {}
    for key, value in zip(fields[::2], fields[1::2], strict=True):
        try:
            values[key] = int(value)
        except ValueError as exc:
            line_no = text.count("\n", 0, at) + 1
            raise ParseError(source, line_no, line, f"{key} is not an integer") from exc
    return values
