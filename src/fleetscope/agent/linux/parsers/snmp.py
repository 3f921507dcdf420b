"""Parsers for /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6 (protocol MIB counters).

/proc/net/snmp and /proc/net/netstat come in line pairs, a header naming the counters and a
line with their values (`Tcp: ActiveOpens ...` then `Tcp: 58 ...`; net/ipv4/proc.c).
/proc/net/snmp6 has one `Ip6InReceives  7` pair per line (net/ipv6/proc.c).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.namevalue import parse_name_values


@dataclass(frozen=True, slots=True)
class TcpCounters:
    """RFC 1213 tcp group. `curr_estab` is a gauge (ESTABLISHED + CLOSE_WAIT sockets now)."""

    active_opens_total: int
    passive_opens_total: int
    attempt_fails_total: int
    estab_resets_total: int
    curr_estab: int
    in_segs_total: int
    out_segs_total: int
    retrans_segs_total: int
    in_errs_total: int
    out_rsts_total: int | None  # added to the Tcp line in 2.6.x; kept optional
    in_csum_errors_total: int | None  # 3.10+


@dataclass(frozen=True, slots=True)
class UdpCounters:
    in_datagrams_total: int
    no_ports_total: int
    in_errors_total: int
    out_datagrams_total: int
    rcvbuf_errors_total: int | None  # 2.6.18+
    sndbuf_errors_total: int | None  # 2.6.18+
    in_csum_errors_total: int | None  # 3.10+


@dataclass(frozen=True, slots=True)
class Snmp:
    """Typed Tcp/Udp groups (None when the file has no such group) and every group by the
    kernel's names, e.g. by_group["Ip"]["Forwarding"] (node_exporter's node_netstat_Ip_...)."""

    tcp: TcpCounters | None
    udp: UdpCounters | None
    by_group: dict[str, dict[str, int]]


def parse_mib_pairs(text: str, source: str) -> dict[str, dict[str, int]]:
    """The header/value line pairs of /proc/net/snmp and /proc/net/netstat."""
    groups: dict[str, dict[str, int]] = {}
    header: tuple[int, str, list[str]] | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        group, sep, rest = line.partition(":")
        if not sep:
            raise ParseError(source, line_no, line, "expected 'Group: ...'")
        fields = rest.split()
        if header is None:
            header = (line_no, group, fields)
            continue
        _, header_group, names = header
        header = None
        if group != header_group:
            raise ParseError(
                source, line_no, line, f"values for {group}, header was {header_group}"
            )
        if len(fields) != len(names):
            raise ParseError(source, line_no, line, f"{len(fields)} values for {len(names)} names")
        try:
            groups[group] = {name: int(value) for name, value in zip(names, fields, strict=True)}
        except ValueError as exc:
            raise ParseError(source, line_no, line, "value is not an integer") from exc
    if header is not None:
        line_no, group, _ = header
        raise ParseError(source, line_no, group, "header line without a value line")
    return groups


def parse_snmp(text: str, source: str = "/proc/net/snmp") -> Snmp:
    groups = parse_mib_pairs(text, source)
    tcp = groups.get("Tcp")
    udp = groups.get("Udp")
    try:
        tcp_counters = (
            None
            if tcp is None
            else TcpCounters(
                active_opens_total=tcp["ActiveOpens"],
                passive_opens_total=tcp["PassiveOpens"],
                attempt_fails_total=tcp["AttemptFails"],
                estab_resets_total=tcp["EstabResets"],
                curr_estab=tcp["CurrEstab"],
                in_segs_total=tcp["InSegs"],
                out_segs_total=tcp["OutSegs"],
                retrans_segs_total=tcp["RetransSegs"],
                in_errs_total=tcp["InErrs"],
                out_rsts_total=tcp.get("OutRsts"),
                in_csum_errors_total=tcp.get("InCsumErrors"),
            )
        )
        udp_counters = (
            None
            if udp is None
            else UdpCounters(
                in_datagrams_total=udp["InDatagrams"],
                no_ports_total=udp["NoPorts"],
                in_errors_total=udp["InErrors"],
                out_datagrams_total=udp["OutDatagrams"],
                rcvbuf_errors_total=udp.get("RcvbufErrors"),
                sndbuf_errors_total=udp.get("SndbufErrors"),
                in_csum_errors_total=udp.get("InCsumErrors"),
            )
        )
    except KeyError as exc:
        raise ParseError(source, 0, text[:80], f"no {exc.args[0]} counter") from exc
    return Snmp(tcp=tcp_counters, udp=udp_counters, by_group=groups)


def parse_netstat(text: str, source: str = "/proc/net/netstat") -> dict[str, dict[str, int]]:
    """TcpExt, IpExt, MPTcpExt ... groups by the kernel's names."""
    return parse_mib_pairs(text, source)


def parse_snmp6(text: str, source: str = "/proc/net/snmp6") -> dict[str, int]:
    """Counters by the kernel's names (Ip6InReceives, Udp6InDatagrams, ...)."""
    return parse_name_values(text, source)


# (header line, wanted names) -> (how many names the header has, (index, name) of the wanted
# ones). A kernel's headers do not change while it runs, so each is split once. Bounded for
# callers that parse many different texts.
_PICKS: dict[tuple[str, frozenset[str]], tuple[int, tuple[tuple[int, str], ...]]] = {}
_MAX_PICKS = 256


def parse_mib_selected(
    text: str, source: str, wanted: Mapping[str, frozenset[str]]
) -> dict[str, dict[str, int]]:
    """parse_mib_pairs for the `wanted` counters of the `wanted` groups only: a collector
    sending a few dozen counters each cycle need not convert the ~300 others
    (/proc/net/netstat's TcpExt alone has over 100). A wanted group's lines are checked as
    parse_mib_pairs checks them; a wanted counter the kernel lacks is left out."""
    groups: dict[str, dict[str, int]] = {}
    lines = text.splitlines()
    for index in range(0, len(lines) - 1, 2):
        header, values = lines[index], lines[index + 1]
        group, sep, rest = header.partition(":")
        names_wanted = wanted.get(group)
        if names_wanted is None:
            continue
        line_no = index + 2
        value_group, value_sep, value_rest = values.partition(":")
        if not sep or not value_sep or value_group != group:
            raise ParseError(source, line_no, values, f"expected the values of {group}")
        picks = _PICKS.get((rest, names_wanted))
        if picks is None:
            names = rest.split()
            picks = (len(names), tuple((i, n) for i, n in enumerate(names) if n in names_wanted))
            if len(_PICKS) >= _MAX_PICKS:
                _PICKS.clear()
            _PICKS[(rest, names_wanted)] = picks
        count, wanted_at = picks
        fields = value_rest.split()
        if len(fields) != count:
            raise ParseError(source, line_no, values, f"{len(fields)} values for {count} names")
        try:
            groups[group] = {name: int(fields[i]) for i, name in wanted_at}
        except ValueError as exc:
            raise ParseError(source, line_no, values, "value is not an integer") from exc
    return groups


def parse_snmp6_selected(
    text: str, names: Collection[str], source: str = "/proc/net/snmp6"
) -> dict[str, int]:
    """parse_snmp6 for the named counters only, each found directly (net/ipv6/proc.c prints
    `%-32s\t%lu`, one per line); a name the kernel lacks is left out."""
    values: dict[str, int] = {}
    padded = "\n" + text
    for name in names:
        start = 0
        while (at := padded.find("\n" + name, start)) >= 0:
            start = at + 1
            end = padded.find("\n", start)
            line = padded[start:] if end < 0 else padded[start:end]
            rest = line[len(name) :]
            if rest[:1] not in (" ", "\t"):
                continue  # a longer name that begins with this one
            try:
                values[name] = int(rest)
            except ValueError as exc:
                line_no = padded.count("\n", 0, start)
                raise ParseError(source, line_no, line, "value is not an integer") from exc
            break
    return values
