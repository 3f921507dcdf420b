"""The figures behind the code choices that comments in src/ explain (docs/code-choices.md):
each case times the implementation the code uses against the alternative it rejected,
reimplemented here, on this host's data (its own /proc files, a real snapshot of this host),
or reads the peak resident size (ru_maxrss) of a fresh interpreter that imports one or the
other.

    .venv/bin/python bench/bench_code_choices.py [--case NAME ...] [--repeats 7] [--quick] [--json]

Times are the median over --repeats of timeit's mean per call, in µs; memory is the peak
resident size in MiB (1024 * 1024 bytes) of `python -c CODE` (its VmHWM, not ru_maxrss: see
_PEAK), the median of --repeats interpreters (fewer for the slow ones). --quick runs every
case on tiny counts, to prove the script still runs (tests/system/test_bench_code_choices.py): its
numbers mean nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

Figures = dict[str, float]


@dataclass(frozen=True)
class Run:
    """How hard to measure: timeit calls per repeat (scaled per case) and repeats."""

    quick: bool
    repeats: int

    def per_call_us(self, fn: Callable[[], object], number: int) -> float:
        n = 1 if self.quick else number
        times = timeit.repeat(fn, number=n, repeat=1 if self.quick else self.repeats)
        return statistics.median(times) / n * 1e6

    def processes(self, slow: bool = False) -> int:
        if self.quick:
            return 1
        return max(1, self.repeats // 2) if slow else self.repeats


@dataclass(frozen=True)
class Case:
    file: str
    choice: str
    measure: Callable[[Run], Figures]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- agent/linux/parsers/meminfo.py: one split for the common line shapes ---------------------


def _meminfo(run: Run) -> Figures:
    from fleetscope.agent.linux.parsers import meminfo  # noqa: PLC0415

    text = _read("/proc/meminfo")

    def every_line_checked(text: str) -> meminfo.MemInfo:
        values: dict[str, int] = {}
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                meminfo._parse_line(line_no, line, values)
        return meminfo.MemInfo(
            total_bytes=values["MemTotal"],
            free_bytes=values["MemFree"],
            available_bytes=values.get("MemAvailable"),
            buffers_bytes=values["Buffers"],
            cached_bytes=values["Cached"],
            shared_bytes=values.get("Shmem"),
            slab_bytes=values.get("Slab"),
            slab_reclaimable_bytes=values.get("SReclaimable"),
            swap_total_bytes=values["SwapTotal"],
            swap_free_bytes=values["SwapFree"],
            swap_cached_bytes=values.get("SwapCached"),
            hugepages_total=values.get("HugePages_Total"),
            hugepages_free=values.get("HugePages_Free"),
            hugepages_reserved=values.get("HugePages_Rsvd"),
            hugepages_surplus=values.get("HugePages_Surp"),
            hugepage_size_bytes=values.get("Hugepagesize"),
            by_name=values,
        )

    assert every_line_checked(text).by_name == meminfo.parse_meminfo(text).by_name
    return {
        "lines": len(text.splitlines()),
        "chosen_us": run.per_call_us(lambda: meminfo.parse_meminfo(text), 2000),
        "rejected_us": run.per_call_us(lambda: every_line_checked(text), 2000),
    }


# --- agent/linux/parsers/proc_pid.py ------------------------------------------------------------


def _pid_stat(run: Run) -> Figures:
    from fleetscope.agent.linux.errors import ParseError  # noqa: PLC0415
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    text = _read("/proc/self/stat")
    page = os.sysconf("SC_PAGE_SIZE")

    def comprehension(text: str, page_size: int) -> p.PidStat:
        line = text.rstrip("\n")
        open_paren = line.find("(")
        close_paren = line.rfind(")")
        if open_paren < 0 or close_paren < open_paren:
            raise ParseError("stat", 1, line, "no '(comm)' in stat line")
        fields = line[close_paren + 1 :].split()
        pid = int(line[:open_paren])
        numbers = [int(value) for value in fields[1 : p._RSS + 1]]
        at = numbers.__getitem__
        start_ticks = at(p._STARTTIME - 1)
        return p.PidStat(
            pid,
            line[open_paren + 1 : close_paren],
            fields[p._STATE],
            at(p._PPID - 1),
            at(p._MINFLT - 1),
            at(p._MAJFLT - 1),
            at(p._UTIME - 1) / p.USER_HZ,
            at(p._STIME - 1) / p.USER_HZ,
            at(p._NUM_THREADS - 1),
            start_ticks,
            start_ticks / p.USER_HZ,
            at(p._VSIZE - 1),
            at(p._RSS - 1) * page_size,
        )

    assert comprehension(text, page) == p.parse_pid_stat(text, page)
    return {
        "chosen_us": run.per_call_us(lambda: p.parse_pid_stat(text, page), 5000),
        "rejected_us": run.per_call_us(lambda: comprehension(text, page), 5000),
    }


def _split_every_status_line(text: str) -> object:
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields[key] = rest.split()
    numbers: dict[str, int] = {}
    for key in p._STATUS_NUMBERS:
        parts = fields.get(key)
        if parts:
            number = int(parts[0])
            numbers[key] = number * p.BYTES_PER_KB if parts[-1] == "kB" else number
    uids, gids = fields["Uid"], fields["Gid"]
    return p.PidStatus(
        int(uids[0]),
        int(uids[1]),
        int(gids[0]),
        int(gids[1]),
        *(numbers.get(key) for key in p._STATUS_NUMBERS),
    )


def _pid_status_lookup(run: Run) -> Figures:
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    text = _read("/proc/self/status")
    source = "/proc/self/status"
    assert _split_every_status_line(text) == p._parse_status_lines(text, source)
    return {
        "lines": len(text.splitlines()),
        "chosen_us": run.per_call_us(lambda: p._parse_status_lines(text, source), 3000),
        "rejected_us": run.per_call_us(lambda: _split_every_status_line(text), 3000),
    }


def _pid_status_fast(run: Run) -> Figures:
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    text = _read("/proc/self/status")
    source = "/proc/self/status"
    assert p._status_fast(text) is not None, "this host's status file is not in the fast shape"
    return {
        "chosen_us": run.per_call_us(lambda: p.parse_pid_status(text, source), 3000),
        "rejected_us": run.per_call_us(lambda: p._parse_status_lines(text, source), 3000),
        "split_every_line_us": run.per_call_us(lambda: _split_every_status_line(text), 3000),
    }


def _pid_io(run: Run) -> Figures:
    from fleetscope.agent.linux.errors import ParseError  # noqa: PLC0415
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    text = _read("/proc/self/io")

    def line_by_line(text: str) -> p.PidIO:
        values: dict[str, int] = {}
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise ParseError("io", line_no, line, "expected 'key: value'")
            if key in p._IO_KEYS:
                values[p._IO_KEYS[key]] = int(value)
        return p.PidIO(**values)

    assert line_by_line(text) == p.parse_pid_io(text)
    return {
        "chosen_us": run.per_call_us(lambda: p.parse_pid_io(text), 5000),
        "rejected_us": run.per_call_us(lambda: line_by_line(text), 5000),
    }


def _pid_limits(run: Run) -> Figures:
    from fleetscope.agent.linux.parsers import proc_pid as p  # noqa: PLC0415

    text = _read("/proc/self/limits")

    def token_scan(text: str) -> p.PidLimits:
        by_name: dict[str, tuple[int | None, int | None]] = {}
        for line_no, line in enumerate(text.splitlines(), start=1):
            if (line_no == 1 and line.startswith("Limit ")) or not line.strip():
                continue
            tokens = line.split()
            for i in range(1, len(tokens) - 1):
                if p._is_limit(tokens[i]) and p._is_limit(tokens[i + 1]):
                    soft, hard = p._limit_value(tokens[i]), p._limit_value(tokens[i + 1])
                    by_name[" ".join(tokens[:i])] = (soft, hard)
                    break
        return p.PidLimits(by_name=by_name)

    assert token_scan(text) == p.parse_pid_limits(text)
    return {
        "chosen_us": run.per_call_us(lambda: p.parse_pid_limits(text), 2000),
        "rejected_us": run.per_call_us(lambda: token_scan(text), 2000),
    }


# --- agent/linux/parsers/sockdiag.py and agent/linux/sockdiag.py --------------------------------


def _diag_dump(sockets: int) -> bytes:
    from fleetscope.agent.linux.parsers import sockdiag as d  # noqa: PLC0415

    def message(kind: int, payload: bytes) -> bytes:
        length = 16 + len(payload)
        padding = b"\0" * (-length % 4)
        return struct.pack("=IHHII", length, kind, 2, 1, 0) + payload + padding

    # An established socket's reply (72-byte inet_diag_msg) and a TIME_WAIT one's, mixed.
    out = [
        message(d.SOCK_DIAG_BY_FAMILY, bytes([socket.AF_INET, 1 + i % 11, 0, 0]) + b"\0" * 68)
        for i in range(sockets)
    ]
    return b"".join(out) + message(d.NLMSG_DONE, struct.pack("=i", 0))


def _sockdiag_parse(run: Run) -> Figures:
    from fleetscope.agent.linux.errors import ParseError  # noqa: PLC0415
    from fleetscope.agent.linux.parsers import sockdiag as d  # noqa: PLC0415

    data = _diag_dump(160)

    def whole_header(data: bytes, counts: d.DiagCounts) -> d.DiagCounts:
        offset = 0
        while offset < len(data):
            if len(data) - offset < d._HEADER.size:
                raise ParseError("sock_diag", 0, "", "truncated netlink header")
            length, kind, _flags, _seq, _pid = d._HEADER.unpack_from(data, offset)
            if length < d._HEADER.size or offset + length > len(data):
                raise ParseError("sock_diag", 0, "", f"bad length {length}")
            if kind in d._SOCKET_MESSAGES:
                if length <= d._STATE_OFFSET:
                    raise ParseError("sock_diag", 0, "", "inet_diag_msg too short")
                state = data[offset + d._STATE_OFFSET]
                counts.by_state[state] = counts.by_state.get(state, 0) + 1
            elif kind == d.NLMSG_DONE:
                counts.done = True
                return counts
            offset += (length + 3) & ~3
        return counts

    assert whole_header(data, d.DiagCounts()) == d.parse_inet_diag_datagram(data, d.DiagCounts())
    return {
        "sockets": 160,
        "chosen_us": run.per_call_us(lambda: d.parse_inet_diag_datagram(data, d.DiagCounts()), 500),
        "rejected_us": run.per_call_us(lambda: whole_header(data, d.DiagCounts()), 500),
    }


def _tcp_states(run: Run) -> Figures:
    from fleetscope.agent.linux.parsers.sockets import parse_socket_table  # noqa: PLC0415
    from fleetscope.agent.linux.sockdiag import SockDiag  # noqa: PLC0415

    compat, per_family = SockDiag(), SockDiag()
    per_family._compat = False
    states = compat.tcp_states()
    assert compat._compat, "this kernel refuses TCPDIAG_GETSOCK"

    def proc_net_tcp() -> object:
        return [parse_socket_table(_read(f"/proc/net/{name}")) for name in ("tcp", "tcp6")]

    try:
        return {
            "sockets": sum(states.values()),
            "one_compat_dump_us": run.per_call_us(compat.tcp_states, 200),
            "two_family_dumps_us": run.per_call_us(per_family.tcp_states, 200),
            "proc_net_tcp_us": run.per_call_us(proc_net_tcp, 50),
        }
    finally:
        compat.close()
        per_family.close()


# --- agent/selfmetrics.py -----------------------------------------------------------------------


def _selfmetrics(run: Run) -> Figures:
    import psutil  # noqa: PLC0415

    from fleetscope.agent.selfmetrics import agent_self  # noqa: PLC0415
    from fleetscope.model.payload import AgentSelf  # noqa: PLC0415

    me = psutil.Process()

    def through_psutil() -> AgentSelf:
        times, memory = me.cpu_times(), me.memory_info()
        return AgentSelf(cpu_seconds_total=times.user + times.system, resident_bytes=memory.rss)

    return {
        "chosen_us": run.per_call_us(agent_self, 5000),
        "rejected_us": run.per_call_us(through_psutil, 2000),
    }


# --- agent/processes/groups.py: one pass over a group's processes -------------------------------


def _group_snapshot(run: Run) -> Figures:
    from fleetscope.agent.processes import groups as g  # noqa: PLC0415
    from fleetscope.agent.processes.sample import ProcessSample  # noqa: PLC0415

    procs = [
        ProcessSample(
            pid=100 + i,
            ppid=1,
            name="worker",
            cmdline=("worker",),
            exe=None,
            uid=0,
            username="root",
            state="SRDZ"[i % 4],
            start_time_seconds=1e9 + i,
            start_token=i,
            cpu_user_seconds_total=1.5 * i,
            cpu_system_seconds_total=0.5 * i,
            resident_bytes=1 << 20,
            virtual_bytes=1 << 24,
            swap_bytes=None if i % 3 else 4096,
            read_bytes_total=None if i % 5 == 0 else i,
            write_bytes_total=i,
            num_threads=2,
            open_fds=10,
            max_fds=1024,
            voluntary_ctx_switches_total=i,
            nonvoluntary_ctx_switches_total=i,
            minor_faults_total=i,
            major_faults_total=0,
        )
        for i in range(50)
    ]

    def optional_sum(values: list[int | None]) -> int | None:
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    def generators(name: str, procs: list[ProcessSample]) -> g.GroupSnapshot:
        states = dict.fromkeys(g.STATES, 0)
        for p in procs:
            states[g._STATE_BUCKETS.get(p.state or "", "Other")] += 1
        ratios = [p.open_fds / p.max_fds for p in procs if p.open_fds is not None and p.max_fds]
        return g.GroupSnapshot(
            name=name,
            num_procs=len(procs),
            num_threads=sum(p.num_threads for p in procs),
            cpu_user_seconds_total=sum(p.cpu_user_seconds_total for p in procs),
            cpu_system_seconds_total=sum(p.cpu_system_seconds_total for p in procs),
            resident_bytes=sum(p.resident_bytes for p in procs),
            virtual_bytes=sum(p.virtual_bytes for p in procs),
            swap_bytes=optional_sum([p.swap_bytes for p in procs]),
            read_bytes_total=optional_sum([p.read_bytes_total for p in procs]),
            write_bytes_total=optional_sum([p.write_bytes_total for p in procs]),
            minor_faults_total=optional_sum([p.minor_faults_total for p in procs]),
            major_faults_total=optional_sum([p.major_faults_total for p in procs]),
            voluntary_ctx_switches_total=optional_sum(
                [p.voluntary_ctx_switches_total for p in procs]
            ),
            nonvoluntary_ctx_switches_total=optional_sum(
                [p.nonvoluntary_ctx_switches_total for p in procs]
            ),
            open_fds=optional_sum([p.open_fds for p in procs]),
            worst_fd_ratio=max(ratios) if ratios else None,
            oldest_start_time_seconds=min(p.start_time_seconds for p in procs),
            states=states,
            partial_procs=sum(
                1
                for p in procs
                if p.read_bytes_total is None or p.open_fds is None or p.max_fds is None
            ),
        )

    # Most groups are small (this host: 114 processes in 18 groups), so sizes 1 and 6 as well.
    figures: Figures = {}
    for size in (1, 6, 50):
        some = procs[:size]
        assert generators("w", some) == g._snapshot("w", some)
        figures[f"chosen_{size}_us"] = run.per_call_us(
            functools.partial(g._snapshot, "w", some), 2000
        )
        figures[f"rejected_{size}_us"] = run.per_call_us(
            functools.partial(generators, "w", some), 2000
        )
    return figures


# --- agent/spool/sqlite.py and ingest/body.py: a real snapshot, compressed ----------------------


@functools.cache
def _snapshot_json() -> bytes:
    from fleetscope.model.codec import encode  # noqa: PLC0415
    from spool_common import real_snapshot  # noqa: PLC0415

    return encode(real_snapshot())


def _spool_zstd(run: Run) -> Figures:
    import zstandard  # noqa: PLC0415

    body = _snapshot_json()
    compressed = zstandard.ZstdCompressor(level=3).compress(body)
    return {
        "json_kB": len(body) / 1000,
        "zstd_kB": len(compressed) / 1000,
        "ratio": len(body) / len(compressed),
    }


def _zstd_context(run: Run) -> Figures:
    import zstandard  # noqa: PLC0415

    from fleetscope.ingest.body import decode  # noqa: PLC0415

    body = _snapshot_json()
    blob = zstandard.ZstdCompressor(level=3).compress(body)
    limit = 16 * 1024 * 1024

    def fresh_context() -> bytes:
        parts = []
        with zstandard.ZstdDecompressor().stream_reader(blob) as reader:
            while chunk := reader.read(65536):
                parts.append(chunk)
        return b"".join(parts)

    assert fresh_context() == decode(blob, "zstd", limit) == body
    return {
        "compressed_KiB": len(blob) / 1024,
        "chosen_us": run.per_call_us(lambda: decode(blob, "zstd", limit), 1000),
        "rejected_us": run.per_call_us(fresh_context, 1000),
        "new_context_alone_us": run.per_call_us(zstandard.ZstdDecompressor, 1000),
    }


# --- agent/collectors/base.py: no thread hand-off for a collector that cannot block -----------


def _thread_handoff(run: Run) -> Figures:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from fleetscope.agent.selfmetrics import agent_self  # noqa: PLC0415

    with ThreadPoolExecutor(max_workers=2) as pool:
        return {
            "direct_us": run.per_call_us(agent_self, 2000),
            "handed_off_us": run.per_call_us(lambda: pool.submit(agent_self).result(), 2000),
        }


# --- digest/transform.py ------------------------------------------------------------------------


def _samples_key(run: Run) -> Figures:
    from fleetscope.digest.transform import _samples_key  # noqa: PLC0415
    from fleetscope.model.series import series_key  # noqa: PLC0415

    series = [
        (f"http_requests_total_{i % 40}", (("instance", f"10.0.0.{i % 250}:9100"), ("job", "node")))
        for i in range(500)
    ]

    def cached() -> None:
        for name, labels in series:
            _samples_key(name, labels)

    def built() -> None:
        for name, labels in series:
            series_key(name, dict(labels))

    cached()
    return {
        "series": len(series),
        "chosen_us": run.per_call_us(cached, 200),
        "rejected_us": run.per_call_us(built, 200),
    }


# --- report/charts.py: fixed margins rather than tight_layout() ---------------------------------


def _chart_margins(run: Run) -> Figures:
    import numpy as np  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    from fleetscope.report.charts import render_plot  # noqa: PLC0415
    from fleetscope.report.findings import Plot  # noqa: PLC0415

    ts = np.arange(1_764_000_000, 1_764_000_000 + 86_400, 60, dtype=np.float64)
    wave = np.sin(np.arange(ts.size) / 50.0)
    plot = Plot(
        title="CPU",
        unit="%",
        lines=(("user", 40 + 20 * wave), ("system", 10 + 5 * wave)),
        threshold=90.0,
    )

    fixed_margins = Figure.subplots_adjust
    laying_out = []

    def tight_instead(self: Figure, *args: object, **kwargs: object) -> None:
        # render_plot's own call becomes tight_layout(), which itself calls subplots_adjust.
        if laying_out:
            fixed_margins(self, *args, **kwargs)  # type: ignore[arg-type]
            return
        laying_out.append(True)
        try:
            self.tight_layout()
        finally:
            laying_out.pop()

    def tight_layout() -> bytes:
        with mock.patch.object(Figure, "subplots_adjust", tight_instead):
            return render_plot(plot, ts)

    render_plot(plot, ts)  # fonts and caches warm
    return {
        "chosen_ms": run.per_call_us(lambda: render_plot(plot, ts), 5) / 1000,
        "rejected_ms": run.per_call_us(tight_layout, 5) / 1000,
    }


# --- memory and import time of a fresh interpreter ----------------------------------------------

# The peak resident size of the child's own image. Not ru_maxrss: Linux carries the parent's
# peak into the child's across fork and exec (exec_mmap's setmax_mm_hiwater_rss), so under
# this bench every child would report the bench's own size. VmHWM belongs to the new mm.
_PEAK = (
    "print(next(line.split()[1] for line in open('/proc/self/status')"
    " if line.startswith('VmHWM:')))"
)


def _maxrss_mib(code: str, run: Run) -> float:
    values = []
    for _ in range(run.processes()):
        out = subprocess.run(
            [sys.executable, "-c", f"{code}\n{_PEAK}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        values.append(int(out.split()[-1]) / 1024)  # VmHWM is in kB (KiB)
    return statistics.median(values)


def _version_literal(run: Run) -> Figures:
    return {
        "bare_python_MiB": _maxrss_mib("pass", run),
        "chosen_MiB": _maxrss_mib("import fleetscope", run),
        "rejected_MiB": _maxrss_mib(
            "import fleetscope, importlib.metadata\nimportlib.metadata.version('fleetscope')",
            run,
        ),
    }


def _agent_http(run: Run) -> Figures:
    return {
        "bare_python_MiB": _maxrss_mib("pass", run),
        "chosen_MiB": _maxrss_mib("import http.client, ssl\nssl.create_default_context()", run),
        "httpx_import_MiB": _maxrss_mib("import httpx", run),
        "httpx_client_MiB": _maxrss_mib("import httpx\nhttpx.Client()", run),
    }


def _exporters_lazy(run: Run) -> Figures:
    return {
        "chosen_MiB": _maxrss_mib("import fleetscope.agent.registry", run),
        "rejected_MiB": _maxrss_mib(
            "import fleetscope.agent.registry\nimport fleetscope.agent.collectors.exporters", run
        ),
    }


def _weasyprint_lazy(run: Run) -> Figures:
    code = (
        "import time\nstart = time.perf_counter()\nfrom weasyprint import HTML\n"
        "print(time.perf_counter() - start)"
    )
    values = []
    for _ in range(run.processes(slow=True)):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        values.append(float(out.split()[-1]))
    return {"import_s": statistics.median(values)}


CASES: dict[str, Case] = {
    "meminfo-one-split": Case(
        "agent/linux/parsers/meminfo.py",
        "one split for the common line shapes, against checking every line",
        _meminfo,
    ),
    "pid-stat-map-int": Case(
        "agent/linux/parsers/proc_pid.py",
        "map(int) over stat's fields, against a comprehension and an accessor",
        _pid_stat,
    ),
    "pid-status-find-keys": Case(
        "agent/linux/parsers/proc_pid.py",
        "status (general parser): find the needed lines, against splitting every line",
        _pid_status_lookup,
    ),
    "pid-status-fast-path": Case(
        "agent/linux/parsers/proc_pid.py",
        "status in the kernel's shape read by needles, against the general parser",
        _pid_status_fast,
    ),
    "pid-io-one-split": Case(
        "agent/linux/parsers/proc_pid.py",
        "io in the kernel's layout read with one split, against line by line",
        _pid_io,
    ),
    "pid-limits-columns": Case(
        "agent/linux/parsers/proc_pid.py",
        "limits sliced at the kernel's columns, against a token scan",
        _pid_limits,
    ),
    "sockdiag-parse-loop": Case(
        "agent/linux/parsers/sockdiag.py",
        "locals and a two-field header struct, against unpacking the whole nlmsghdr",
        _sockdiag_parse,
    ),
    "tcp-states-one-dump": Case(
        "agent/linux/sockdiag.py, agent/collectors/network.py",
        "one TCPDIAG_GETSOCK dump, against two per-family dumps and /proc/net/tcp{,6}",
        _tcp_states,
    ),
    "selfmetrics-statm": Case(
        "agent/selfmetrics.py",
        "/proc/self/statm and process_time(), against psutil cpu_times() + memory_info()",
        _selfmetrics,
    ),
    "group-snapshot-one-pass": Case(
        "agent/processes/groups.py",
        "one pass over a group's processes, against a generator per field",
        _group_snapshot,
    ),
    "spool-zstd": Case(
        "agent/spool/sqlite.py",
        "a real snapshot of this host as JSON and as zstd (level 3)",
        _spool_zstd,
    ),
    "ingest-zstd-context": Case(
        "ingest/body.py",
        "a zstd context per thread, reused, against one per request",
        _zstd_context,
    ),
    "thread-handoff": Case(
        "agent/collectors/base.py",
        "a collector that cannot block runs inline, against a thread-pool hand-off",
        _thread_handoff,
    ),
    "samples-key-cache": Case(
        "digest/transform.py",
        "series keys of remote_write/OTLP series cached, against built every time",
        _samples_key,
    ),
    "chart-fixed-margins": Case(
        "report/charts.py",
        "fixed margins, against tight_layout(), for a day of two lines",
        _chart_margins,
    ),
    "version-literal": Case(
        "__init__.py",
        "__version__ as a literal, against importlib.metadata.version()",
        _version_literal,
    ),
    "agent-http-stdlib": Case(
        "agent/http.py",
        "http.client + ssl, against importing httpx and making a client",
        _agent_http,
    ),
    "exporters-lazy-import": Case(
        "agent/registry.py, agent/collectors/exporter_targets.py",
        "the exporters collector imported on use, against at import of the registry",
        _exporters_lazy,
    ),
    "weasyprint-lazy-import": Case(
        "report/document.py",
        "WeasyPrint imported on the first PDF: what importing it costs",
        _weasyprint_lazy,
    ),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: all")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny counts: does it still run")
    parser.add_argument("--json", action="store_true", help="one JSON object, case -> figures")
    args = parser.parse_args(argv)
    run = Run(quick=args.quick, repeats=args.repeats)
    results: dict[str, Figures] = {}
    for name in args.case or list(CASES):
        case = CASES[name]
        figures = case.measure(run)
        results[name] = figures
        if not args.json:
            shown = "  ".join(f"{key} {value:.2f}" for key, value in figures.items())
            print(f"{name} ({case.file}): {case.choice}\n    {shown}", flush=True)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
