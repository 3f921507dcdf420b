"""The network collector's protocol counters: the MIB counters node_exporter's netstat
collector keeps by default, and every /proc/net/sockstat{,6} line. The mappings are pure
(parsed files in, payload records out); read_sockstat and read_netstat do the reading."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from fleetscope.agent.linux.parsers.snmp import parse_mib_selected, parse_snmp6_selected
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.model.payload_kernel import NetstatCounters, SockstatCounts

log = logging.getLogger(__name__)
T = TypeVar("T")

# (file, group, kernel counter) -> NetstatCounters field: exactly the counters node_exporter
# 1.5.0's default --collector.netstat.fields regex keeps, `^(.*_(InErrors|InErrs)|Ip_Forwarding
# |Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*
# |TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens
# |RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors
# |SndbufErrors))$`. snmp6 has no groups: its names carry the protocol (Udp6InDatagrams).
NETSTAT_FIELDS: dict[tuple[str, str, str], str] = {
    ("snmp", "Ip", "Forwarding"): "ip_forwarding",
    ("netstat", "IpExt", "InOctets"): "ip_in_bytes_total",
    ("netstat", "IpExt", "OutOctets"): "ip_out_bytes_total",
    ("snmp6", "", "Ip6InOctets"): "ip6_in_bytes_total",
    ("snmp6", "", "Ip6OutOctets"): "ip6_out_bytes_total",
    ("snmp", "Icmp", "InMsgs"): "icmp_in_messages_total",
    ("snmp", "Icmp", "OutMsgs"): "icmp_out_messages_total",
    ("snmp", "Icmp", "InErrors"): "icmp_in_errors_total",
    ("snmp6", "", "Icmp6InMsgs"): "icmp6_in_messages_total",
    ("snmp6", "", "Icmp6OutMsgs"): "icmp6_out_messages_total",
    ("snmp6", "", "Icmp6InErrors"): "icmp6_in_errors_total",
    ("snmp", "Tcp", "ActiveOpens"): "tcp_active_opens_total",
    ("snmp", "Tcp", "PassiveOpens"): "tcp_passive_opens_total",
    ("snmp", "Tcp", "InSegs"): "tcp_in_segments_total",
    ("snmp", "Tcp", "OutSegs"): "tcp_out_segments_total",
    ("snmp", "Tcp", "RetransSegs"): "tcp_retransmitted_segments_total",
    ("snmp", "Tcp", "OutRsts"): "tcp_out_resets_total",
    ("snmp", "Tcp", "InErrs"): "tcp_in_errors_total",
    ("snmp", "Tcp", "CurrEstab"): "tcp_curr_estab",
    ("netstat", "TcpExt", "ListenOverflows"): "tcp_listen_overflows_total",
    ("netstat", "TcpExt", "ListenDrops"): "tcp_listen_drops_total",
    ("netstat", "TcpExt", "SyncookiesSent"): "tcp_syncookies_sent_total",
    ("netstat", "TcpExt", "SyncookiesRecv"): "tcp_syncookies_received_total",
    ("netstat", "TcpExt", "SyncookiesFailed"): "tcp_syncookies_failed_total",
    ("netstat", "TcpExt", "TCPSynRetrans"): "tcp_syn_retransmits_total",
    ("netstat", "TcpExt", "TCPTimeouts"): "tcp_timeouts_total",
    ("snmp", "Udp", "InDatagrams"): "udp_in_datagrams_total",
    ("snmp", "Udp", "OutDatagrams"): "udp_out_datagrams_total",
    ("snmp", "Udp", "NoPorts"): "udp_no_ports_total",
    ("snmp", "Udp", "InErrors"): "udp_in_errors_total",
    ("snmp", "Udp", "RcvbufErrors"): "udp_receive_buffer_errors_total",
    ("snmp", "Udp", "SndbufErrors"): "udp_send_buffer_errors_total",
    ("snmp6", "", "Udp6InDatagrams"): "udp6_in_datagrams_total",
    ("snmp6", "", "Udp6OutDatagrams"): "udp6_out_datagrams_total",
    ("snmp6", "", "Udp6NoPorts"): "udp6_no_ports_total",
    ("snmp6", "", "Udp6InErrors"): "udp6_in_errors_total",
    ("snmp6", "", "Udp6RcvbufErrors"): "udp6_receive_buffer_errors_total",
    ("snmp6", "", "Udp6SndbufErrors"): "udp6_send_buffer_errors_total",
    ("snmp", "UdpLite", "InErrors"): "udplite_in_errors_total",
    ("snmp6", "", "UdpLite6InErrors"): "udplite6_in_errors_total",
}


# file -> group -> the counters kept of it.
_WANTED: dict[str, dict[str, frozenset[str]]] = {}
for _file, _group, _name in NETSTAT_FIELDS:
    _kept = _WANTED.setdefault(_file, {})
    _kept[_group] = _kept.get(_group, frozenset()) | {_name}


def netstat_counters(
    snmp: Mapping[str, Mapping[str, int]] | None,
    netstat: Mapping[str, Mapping[str, int]] | None,
    snmp6: Mapping[str, int] | None,
) -> NetstatCounters | None:
    """The kept counters from the parsed files (None for a file the kernel does not have);
    None when none of them was there."""
    files = {
        "snmp": snmp,
        "netstat": netstat,
        "snmp6": None if snmp6 is None else {"": snmp6},
    }
    if all(groups is None for groups in files.values()):
        return None
    values: dict[str, int] = {}
    for (file, group, name), field_name in NETSTAT_FIELDS.items():
        value = ((files[file] or {}).get(group) or {}).get(name)
        if value is not None:
            values[field_name] = value
    return NetstatCounters(**values)


# sockstat line and the kernel's key -> SockstatCounts field (net/ipv4/proc.c sockstat_seq_show,
# net/ipv6/proc.c sockstat6_seq_show). TCP/UDP `mem` is in pages; FRAG's `memory` in bytes.
SOCKSTAT_FIELDS: dict[tuple[str, str], str] = {
    ("sockets", "used"): "sockets_used",
    ("TCP", "inuse"): "tcp_in_use",
    ("TCP", "orphan"): "tcp_orphans",
    ("TCP", "tw"): "tcp_time_wait",
    ("TCP", "alloc"): "tcp_allocated",
    ("TCP", "mem"): "tcp_memory_bytes",
    ("UDP", "inuse"): "udp_in_use",
    ("UDP", "mem"): "udp_memory_bytes",
    ("UDPLITE", "inuse"): "udplite_in_use",
    ("RAW", "inuse"): "raw_in_use",
    ("FRAG", "inuse"): "frag_in_use",
    ("FRAG", "memory"): "frag_memory_bytes",
    ("TCP6", "inuse"): "tcp6_in_use",
    ("UDP6", "inuse"): "udp6_in_use",
    ("UDPLITE6", "inuse"): "udplite6_in_use",
    ("RAW6", "inuse"): "raw6_in_use",
    ("FRAG6", "inuse"): "frag6_in_use",
    ("FRAG6", "memory"): "frag6_memory_bytes",
}
SOCKSTAT_LINES = ("sockets", "TCP", "UDP", "UDPLITE", "RAW", "FRAG")
SOCKSTAT6_LINES = ("TCP6", "UDP6", "UDPLITE6", "RAW6", "FRAG6")
Lines = Mapping[str, Mapping[str, int] | None]


def sockstat_counts(four: Lines | None, six: Lines | None, page_size: int) -> SockstatCounts | None:
    """The lines of /proc/net/sockstat and sockstat6 (ProcFS.sockstat_protocols: a line the
    kernel lacks is None) as one record; None when neither file exists."""
    if four is None and six is None:
        return None
    lines = {**(four or {}), **(six or {})}
    values: dict[str, int] = {}
    for (protocol, key), field_name in SOCKSTAT_FIELDS.items():
        value = (lines.get(protocol) or {}).get(key)
        if value is not None:
            values[field_name] = value * page_size if key == "mem" else value
    return SockstatCounts(**values)


def optional_file(read: Callable[[], T], what: str) -> T | None:
    """A /proc/net file that a kernel without IPv6 (or without networking MIBs) does not
    have: that part is absent, not an error."""
    try:
        return read()
    except FileNotFoundError as exc:
        log.debug("%s unavailable: %s", what, exc)
        return None


def read_sockstat(procfs: ProcFS) -> SockstatCounts | None:
    return sockstat_counts(
        optional_file(lambda: procfs.sockstat_protocols(SOCKSTAT_LINES), "/proc/net/sockstat"),
        optional_file(
            lambda: procfs.sockstat_protocols(SOCKSTAT6_LINES, True), "/proc/net/sockstat6"
        ),
        procfs.page_size,
    )


def read_netstat(procfs: ProcFS) -> NetstatCounters | None:
    """Only the kept counters are converted (parse_mib_selected, parse_snmp6_selected): the
    files hold ~300 more, and parsing them all was most of this collector's added time."""
    snmp = optional_file(lambda: procfs.read_text("net/snmp"), "/proc/net/snmp")
    netstat = optional_file(lambda: procfs.read_text("net/netstat"), "/proc/net/netstat")
    snmp6 = optional_file(lambda: procfs.read_text("net/snmp6"), "/proc/net/snmp6")
    return netstat_counters(
        None if snmp is None else parse_mib_selected(snmp, "/proc/net/snmp", _WANTED["snmp"]),
        None
        if netstat is None
        else parse_mib_selected(netstat, "/proc/net/netstat", _WANTED["netstat"]),
        None if snmp6 is None else parse_snmp6_selected(snmp6, _WANTED["snmp6"][""]),
    )
