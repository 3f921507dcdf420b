"""Network: per-interface traffic counters and rates, link state, and socket counts.

Linux reads /proc/net/dev (counters), /sys/class/net/<device>/ (operstate, carrier, speed,
mtu), /proc/net/sockstat{,6} and /proc/net/snmp (cheap socket counts kept by the kernel) and,
when the `network_tcp_states` setting is on (the default), counts TCP connections per state.
Those counts come from a NETLINK_SOCK_DIAG dump (agent/linux/sockdiag.py), which sees the
agent's own network namespace; they fall back to /proc/net/tcp{,6} (dearer, as the kernel
formats a line per socket: docs/code-choices.md) when netlink is refused, and are
read from the tcp files under the procfs root when that root is not /proc (a host's /proc
mounted in a container, a fixture tree), since netlink cannot look there. Other systems use
psutil's net_io_counters(pernic=True), net_if_stats() and net_connections().

Interfaces whose name matches the `network_device_exclude` setting are left out; the default,
"", keeps every interface, loopback included (as upstream node_exporter does). Rates are
per second between this snapshot and the previous one (agent/rates.py): None on an
interface's first sight and for a counter that went down in the interval.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import psutil
from msgspec import Meta

from fleetscope.agent.collectors.base import (
    CollectorContext,
    Regex,
    collector_settings,
    device_filter,
)
from fleetscope.agent.collectors.netstat import (
    optional_file,
    read_netstat,
    read_sockstat,
)
from fleetscope.agent.linux.parsers.netclass import BITS_PER_MEGABIT
from fleetscope.agent.linux.parsers.netdev import NetDevStats
from fleetscope.agent.linux.parsers.sockets import TCP_STATES
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sockdiag import SockDiag
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.rates import CounterRates
from fleetscope.config.settings import SettingsStruct
from fleetscope.model.codec import convert
from fleetscope.model.payload import NetworkInterface, NetworkSection

log = logging.getLogger(__name__)

T = TypeVar("T")

# Payload rate field -> the counter it is the rate of.
RATE_FIELDS = {
    f"{direction}_{what}_per_second": f"{direction}_{what}_total"
    for direction in ("receive", "transmit")
    for what in ("bytes", "packets", "errors", "drops")
}


def netdev_counters(stats: NetDevStats) -> dict[str, float | None]:
    """/proc/net/dev's columns under the payload's names (node_exporter's in the comments)."""
    return {
        "receive_bytes_total": stats.receive_bytes_total,
        "receive_packets_total": stats.receive_packets_total,
        "receive_errors_total": stats.receive_errs_total,
        "receive_drops_total": stats.receive_drop_total,
        "receive_fifo_errors_total": stats.receive_fifo_total,
        "receive_frame_errors_total": stats.receive_frame_total,
        "receive_compressed_total": stats.receive_compressed_total,
        "receive_multicast_total": stats.receive_multicast_total,
        "transmit_bytes_total": stats.transmit_bytes_total,
        "transmit_packets_total": stats.transmit_packets_total,
        "transmit_errors_total": stats.transmit_errs_total,
        "transmit_drops_total": stats.transmit_drop_total,
        "transmit_fifo_errors_total": stats.transmit_fifo_total,
        "transmit_collisions_total": stats.transmit_colls_total,  # transmit_colls_total
        "transmit_carrier_errors_total": stats.transmit_carrier_total,
        "transmit_compressed_total": stats.transmit_compressed_total,
    }


# Nothing is left out by default, as upstream node_exporter (Debian's package patches in
# `^lo$`): loopback carries real work (local databases, sidecars, this agent's uploads to a
# server on the same host), and a user comparing with node_exporter finds the same interfaces.
DEFAULT_NETWORK_DEVICE_EXCLUDE = ""


class NetworkSettings(SettingsStruct, frozen=True):
    """[agent.network]"""

    device_exclude: Annotated[
        Regex, Meta(description='interfaces to leave out (regular expression; "" keeps all)')
    ] = DEFAULT_NETWORK_DEVICE_EXCLUDE
    tcp_states: Annotated[
        bool,
        Meta(
            description="count TCP connections per state (a netlink sock_diag dump of every "
            "socket, under 1 ms per cycle; /proc/net/tcp and tcp6, about 10 ms, where netlink "
            "is unavailable); the cheap in-use, time-wait, orphan and established counts are "
            "always collected"
        ),
    ] = True


class InterfaceRates:
    """Turns each cycle's counters and link attributes into NetworkInterface records with
    rates; shared by the Linux and psutil collectors."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._rates: CounterRates[str] = CounterRates(clock)

    def interfaces(
        self,
        counters: Mapping[str, Mapping[str, float | None]],
        links: Mapping[str, Mapping[str, object]],
    ) -> list[NetworkInterface]:
        intervals = self._rates.update(counters)
        result = []
        for device, values in counters.items():
            interval = intervals[device]
            rates = {
                rate: None if interval is None else interval.per_second(counter)
                for rate, counter in RATE_FIELDS.items()
            }
            result.append(
                convert(
                    {"device": device, **values, **rates, **links.get(device, {})},
                    NetworkInterface,
                )
            )
        return result


def _included(names: Mapping[str, T], exclude: re.Pattern[str] | None) -> dict[str, T]:
    return {n: v for n, v in names.items() if exclude is None or not exclude.search(n)}


def _empty_states() -> dict[str, int]:
    # Every state the kernel can report, so the series set stays the same from cycle to cycle.
    return dict.fromkeys(TCP_STATES.values(), 0)


# operstate and carrier follow the link as it goes up and down, so they are read every cycle.
# speed and mtu change only when someone reconfigures the link; reading them once a minute
# saves two sysfs reads per interface per cycle (about a tenth of this collector's cost).
_EVERY_CYCLE = ("operstate", "carrier")
_SLOW_CHANGING = ("speed", "mtu")
SLOW_ATTRIBUTES_SECONDS = 60.0


class LinuxNetworkCollector:
    def __init__(
        self,
        procfs: ProcFS,
        sysfs: SysFS,
        device_exclude: re.Pattern[str] | None,
        tcp_states: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
        tcp_counter: TcpStateCounter | None = None,
        attribute_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.procfs = procfs
        self.sysfs = sysfs
        self.device_exclude = device_exclude
        self.tcp_states = tcp_states
        self.rates = InterfaceRates(clock)
        self.tcp_counter = tcp_counter or TcpStateCounter(procfs)
        self._attribute_clock = attribute_clock
        # device -> (read at, speed, mtu)
        self._slow: dict[str, tuple[float, int | None, int | None]] = {}

    def _slow_attributes(self, name: str) -> tuple[int | None, int | None]:
        now = self._attribute_clock()
        cached = self._slow.get(name)
        if cached is None or now - cached[0] >= SLOW_ATTRIBUTES_SECONDS or now < cached[0]:
            link = self.sysfs.net_class(name, _SLOW_CHANGING)
            cached = (now, link.speed_bits_per_second, link.mtu_bytes)
            self._slow[name] = cached
        return cached[1], cached[2]

    def collect(self) -> NetworkSection:
        # A kernel without networking has no /proc/net/dev; the socket counts may still be
        # there (node_exporter's own fixture tree has sockstat and snmp but no net/dev).
        net_dev = optional_file(self.procfs.net_dev, "/proc/net/dev") or {}
        devices = _included(net_dev, self.device_exclude)
        for gone in self._slow.keys() - devices.keys():
            del self._slow[gone]  # an interface that comes back is read afresh
            self.sysfs.forget_net_class(gone)
        links: dict[str, dict[str, object]] = {}
        for name in devices:
            link = self.sysfs.net_class(name, _EVERY_CYCLE)
            speed, mtu = self._slow_attributes(name)
            links[name] = {
                "operstate": link.operstate,
                "up": None if link.operstate is None else link.operstate == "up",
                "carrier": link.carrier,
                "speed_bits_per_second": speed,
                "mtu_bytes": mtu,
            }
        interfaces = self.rates.interfaces(
            {name: netdev_counters(stats) for name, stats in devices.items()}, links
        )
        by_state = self._by_state() if self.tcp_states else None
        return NetworkSection(
            interfaces=interfaces,
            tcp_connections_by_state=by_state,
            **self._socket_counts(by_state),
        )

    def _socket_counts(self, by_state: Mapping[str, int] | None) -> dict[str, Any]:
        """From sockstat: TCP `inuse` is per address family (sockstat6 has TCP6), while `tw`
        and `orphan` are kept for IPv4 and IPv6 together (net/ipv4/proc.c), as is snmp's
        CurrEstab (one TCP MIB for both). CurrEstab is by definition the connections in
        ESTABLISHED or CLOSE-WAIT (RFC 1213 tcpCurrEstab), so when the per-state counts are
        at hand it is their sum; otherwise snmp's. Both sockstat files and the MIB counters
        are also sent whole (`sockstat`, `netstat`), as node_exporter reports them."""
        sockstat = read_sockstat(self.procfs)
        netstat = read_netstat(self.procfs)
        counts: dict[str, Any] = {"sockstat": sockstat, "netstat": netstat}
        if sockstat is not None:
            counts["tcp_in_use"] = _sum(sockstat.tcp_in_use, sockstat.tcp6_in_use)
            counts["tcp_time_wait"] = sockstat.tcp_time_wait
            counts["tcp_orphans"] = sockstat.tcp_orphans
            counts["udp_in_use"] = _sum(sockstat.udp_in_use, sockstat.udp6_in_use)
        if by_state is not None:
            counts["tcp_curr_estab"] = by_state.get("ESTABLISHED", 0) + by_state.get(
                "CLOSE_WAIT", 0
            )
        else:
            counts["tcp_curr_estab"] = None if netstat is None else netstat.tcp_curr_estab
        return counts

    def _by_state(self) -> dict[str, int] | None:
        return self.tcp_counter.by_state()

    def close(self) -> None:
        self.tcp_counter.close()
        self.procfs.close()
        self.sysfs.close()


class TcpStateCounter:
    """TCP connections per state name, from netlink when it can see what the procfs root
    shows (the root is this host's /proc) and from /proc/net/tcp{,6} under the root otherwise
    or once netlink has failed."""

    def __init__(self, procfs: ProcFS, sockdiag: SockDiag | None = None) -> None:
        self.procfs = procfs
        self._sockdiag = sockdiag
        if sockdiag is None and _is_live_proc(procfs):
            self._sockdiag = SockDiag()

    @property
    def uses_netlink(self) -> bool:
        return self._sockdiag is not None

    def by_state(self) -> dict[str, int] | None:
        if self._sockdiag is not None:
            try:
                return self._from_netlink(self._sockdiag)
            except OSError as exc:
                log.warning(
                    "TCP states through netlink sock_diag failed (%s); reading /proc/net/tcp "
                    "from now on",
                    exc,
                )
                self._sockdiag.close()
                self._sockdiag = None
        return self._from_tables()

    def _from_netlink(self, sockdiag: SockDiag) -> dict[str, int]:
        states = _empty_states()
        for number, count in sockdiag.tcp_states().items():
            name = TCP_STATES.get(number, f"UNKNOWN_0x{number:02X}")
            states[name] = states.get(name, 0) + count
        return states

    def _from_tables(self) -> dict[str, int] | None:
        """None when neither table exists (a root without /proc/net): absent, not zero."""
        states = _empty_states()
        read_any = False
        for table in ("tcp", "tcp6"):
            try:
                sockets = self.procfs.socket_table(table)
            except FileNotFoundError as exc:
                log.debug("/proc/net/%s unavailable (no IPv6?): %s", table, exc)
                continue
            read_any = True
            for state, count in sockets.by_state.items():
                states[state] = states.get(state, 0) + count
        return states if read_any else None

    def close(self) -> None:
        if self._sockdiag is not None:
            self._sockdiag.close()


def _is_live_proc(procfs: ProcFS) -> bool:
    """The procfs root is this process's /proc: netlink then counts what its net/tcp shows."""
    try:
        return os.path.samefile(procfs.root, "/proc")
    except OSError:
        return False


def _sum(ipv4: float | None, ipv6: float | None) -> float | None:
    """IPv4 plus IPv6; no sockstat6 means a kernel without IPv6, so no IPv6 sockets."""
    if ipv4 is None:
        return None
    return ipv4 + (ipv6 or 0)


class PsutilNetworkCollector:
    """Windows, macOS and the BSDs; psutil is injectable so tests can feed it recorded values.
    psutil has no operstate, carrier or fifo/frame counters (None) and no cheap socket counts;
    net_connections needs root on macOS, and without it the connection counts are None."""

    def __init__(
        self,
        device_exclude: re.Pattern[str] | None,
        tcp_states: bool = True,
        *,
        net_io_counters: Callable[..., Mapping[str, object]] = psutil.net_io_counters,
        net_if_stats: Callable[[], Mapping[str, object]] = psutil.net_if_stats,
        net_connections: Callable[..., Sequence[object]] = psutil.net_connections,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_exclude = device_exclude
        self.tcp_states = tcp_states
        self._net_io_counters = net_io_counters
        self._net_if_stats = net_if_stats
        self._net_connections = net_connections
        self.rates = InterfaceRates(clock)

    def collect(self) -> NetworkSection:
        nics = _included(self._net_io_counters(pernic=True), self.device_exclude)
        stats = self._net_if_stats()
        counters = {
            name: {
                "receive_bytes_total": getattr(nic, "bytes_recv"),  # noqa: B009 (psutil tuple)
                "receive_packets_total": getattr(nic, "packets_recv"),  # noqa: B009
                "receive_errors_total": getattr(nic, "errin", None),
                "receive_drops_total": getattr(nic, "dropin", None),
                "transmit_bytes_total": getattr(nic, "bytes_sent"),  # noqa: B009
                "transmit_packets_total": getattr(nic, "packets_sent"),  # noqa: B009
                "transmit_errors_total": getattr(nic, "errout", None),
                "transmit_drops_total": getattr(nic, "dropout", None),
            }
            for name, nic in nics.items()
        }
        links: dict[str, dict[str, object]] = {}
        for name in nics:
            stat = stats.get(name)
            if stat is None:
                continue
            speed = getattr(stat, "speed", 0)  # Mb/s; psutil reports 0 when unknown
            links[name] = {
                "up": getattr(stat, "isup", None),
                "speed_bits_per_second": speed * BITS_PER_MEGABIT if speed > 0 else None,
                "mtu_bytes": getattr(stat, "mtu", None) or None,
            }
        by_state, udp = self._connections() if self.tcp_states else (None, None)
        return NetworkSection(
            interfaces=self.rates.interfaces(counters, links),
            tcp_connections_by_state=by_state,
            udp_in_use=udp,
        )

    def _connections(self) -> tuple[dict[str, int] | None, int | None]:
        try:
            tcp = self._net_connections(kind="tcp")
            udp = self._net_connections(kind="udp")
        except psutil.AccessDenied as exc:
            log.debug("psutil.net_connections needs more privileges here: %s", exc)
            return None, None
        states = _empty_states()
        for connection in tcp:
            state = str(getattr(connection, "status", "NONE"))
            states[state] = states.get(state, 0) + 1
        return states, len(udp)


def make_network_collector(
    context: CollectorContext,
) -> LinuxNetworkCollector | PsutilNetworkCollector:
    settings = collector_settings(context, "network", NetworkSettings)
    exclude = device_filter(settings.device_exclude)
    tcp_states = settings.tcp_states
    if context.linux:
        return LinuxNetworkCollector(
            context.procfs.kept_open(), context.sysfs.kept_open(), exclude, tcp_states
        )
    return PsutilNetworkCollector(exclude, tcp_states)
