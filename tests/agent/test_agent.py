"""Agent: CPU rates over ordered snapshots, collector isolation, the psutil path with injected
results, upload outcome handling, back-off and the spool in the service loop."""

from __future__ import annotations

import random
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import zstandard
from msgspec import Struct
from msgspec.structs import replace

from fleetscope.agent.collectors.base import CollectorContext, CollectorSpec
from fleetscope.agent.collectors.cpu import (
    LinuxCpuCollector,
    PsutilCpuCollector,
    utilization_percent,
)
from fleetscope.agent.collectors.memory import PsutilMemoryCollector
from fleetscope.agent.http import HttpResponse, StdlibTransport
from fleetscope.agent.identity import host_identity
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import REGISTRY
from fleetscope.agent.runner import CollectorRunner
from fleetscope.agent.service import AgentService
from fleetscope.agent.sink import encode_payload
from fleetscope.agent.spool import MemorySpool, SpoolLimits
from fleetscope.agent.uploader import Backoff, Outcome, Uploader, retry_after
from fleetscope.model.codec import decode_payload, encode
from fleetscope.model.payload import (
    AgentSelf,
    CpuModeSeconds,
    HostIdentity,
    MemorySection,
    Payload,
    Snapshot,
)
from fleetscope.model.series import flatten_snapshot
from tests.fixture_links import materialize_links
from tests.golden import key, load_expected
from tests.helpers import free_port, payload, payload_json, snapshot

STAT = """cpu  {u} 0 {s} {i} 0 0 0 0 0 0
{cores}intr 1 0
ctxt 10
btime 1
processes 5
procs_running 1
procs_blocked 0
"""


def _write_stat(proc: Path, cores: dict[int, tuple[int, int, int]]) -> None:
    total = [sum(c[k] for c in cores.values()) for k in range(3)]
    lines = "".join(f"cpu{n} {u} 0 {s} {i} 0 0 0 0 0 0\n" for n, (u, s, i) in sorted(cores.items()))
    (proc / "stat").write_text(STAT.format(u=total[0], s=total[1], i=total[2], cores=lines))
    (proc / "loadavg").write_text("0.5 0.4 0.3 1/100 42\n")


def _context(proc: Path) -> CollectorContext:
    return CollectorContext(ProcFS(proc), SysFS(proc.parent / "sys"), proc.parent, platform="linux")


def test_cpu_rates_over_ordered_snapshots(tmp_path: Path) -> None:
    """proc0..3 like telegraf's testcases: first sight, steady, CPU hot-plug, counter reset."""
    proc = tmp_path / "proc"
    proc.mkdir()
    collector = LinuxCpuCollector(_context(proc))
    _write_stat(proc, {0: (100, 100, 800), 1: (100, 100, 800)})
    first = collector.collect()
    assert first.utilization_percent is None  # nothing to compare with yet
    assert [c.utilization_percent for c in first.cores] == [None, None]
    # 1 s later: cpu0 busy 50 of 100 ticks, cpu1 busy 10 of 100.
    _write_stat(proc, {0: (130, 120, 850), 1: (105, 105, 890)})
    steady = collector.collect()
    assert [c.utilization_percent for c in steady.cores] == [
        pytest.approx(50.0),
        pytest.approx(10.0),
    ]
    assert steady.utilization_percent == pytest.approx(30.0)
    # cpu2 plugged in: no rate for it yet; cpu1 unplugged: gone, no error.
    _write_stat(proc, {0: (160, 140, 900), 2: (5, 5, 90)})
    plugged = collector.collect()
    assert [(c.cpu, c.utilization_percent) for c in plugged.cores] == [
        (0, pytest.approx(50.0)),
        (2, None),
    ]
    # Counters went backwards (a reset, e.g. a VM restored from a snapshot): no bogus rate.
    _write_stat(proc, {0: (10, 10, 80), 2: (10, 10, 180)})
    reset = collector.collect()
    assert reset.cores[0].utilization_percent is None
    assert reset.cores[1].utilization_percent == pytest.approx(10.0)
    assert reset.load1 == 0.5 and reset.context_switches_total == 10


def test_utilization_ignores_guest_which_is_inside_user() -> None:
    before = CpuModeSeconds(user=10, system=0, idle=10, guest=5)
    after = CpuModeSeconds(user=20, system=0, idle=20, guest=15)
    assert utilization_percent(before, after) == 50.0


def test_collect_on_the_fixture_tree(fixtures_dir: Path) -> None:
    tree = fixtures_dir / "node_exporter" / "tree"
    context = CollectorContext(ProcFS(tree / "proc"), SysFS(tree / "sys"), tree, platform="linux")
    runner = CollectorRunner([_spec("cpu"), _spec("memory")], context)
    snapshot = runner.collect()
    runner.close()
    assert all(s.success for s in snapshot.collectors)
    assert snapshot.cpu is not None and len(snapshot.cpu.cores) == 8
    assert snapshot.cpu.seconds_total.user == 3018.54
    assert snapshot.memory is not None and snapshot.memory.total_bytes == 3742148 * 1024
    assert snapshot.memory.available_bytes is None  # this old meminfo has no MemAvailable
    expected = load_expected(fixtures_dir / "node_exporter" / "expected_metrics.txt")
    page = context.procfs.page_size
    assert snapshot.memory.swap_in_bytes_total == expected[key("node_vmstat_pswpin")] * page
    assert snapshot.memory.swap_out_bytes_total == expected[key("node_vmstat_pswpout")] * page
    assert snapshot.memory.hugepages_total == expected[key("node_memory_HugePages_Total")]
    assert snapshot.memory.hugepage_size_bytes == expected[key("node_memory_Hugepagesize_bytes")]
    memory_psi = snapshot.memory.pressure
    assert memory_psi is not None and memory_psi.full is not None
    assert (
        memory_psi.some.stalled_seconds_total
        == expected[key("node_pressure_memory_waiting_seconds_total")]
    )
    assert (
        memory_psi.full.stalled_seconds_total
        == expected[key("node_pressure_memory_stalled_seconds_total")]
    )
    cpu_psi = snapshot.cpu.pressure
    assert cpu_psi is not None
    assert (
        cpu_psi.some.stalled_seconds_total
        == expected[key("node_pressure_cpu_waiting_seconds_total")]
    )


def _spec(name: str) -> CollectorSpec:
    return REGISTRY[name]


class _Failing:
    def collect(self) -> Struct:
        raise OSError("/proc/stat: permission denied")


class _Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def collect(self) -> Struct:
        self.calls += 1
        self.release.wait(10)
        return MemorySection(total_bytes=1, used_bytes=1, free_bytes=0)


def test_a_failing_or_hanging_collector_does_not_stop_the_others(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    _write_stat(proc, {0: (1, 1, 1)})
    hanging = _Hanging()
    specs = [
        CollectorSpec("cpu", "cpu", "", True, LinuxCpuCollector),
        CollectorSpec("memory", "memory", "", True, lambda _ctx: hanging),
        CollectorSpec("broken", "agent", "", True, lambda _ctx: _Failing()),
        CollectorSpec("unstartable", "agent", "", True, lambda _ctx: 1 / 0),  # type: ignore[arg-type,return-value]
    ]
    runner = CollectorRunner(specs, _context(proc), timeout_seconds=0.2)
    started = time.monotonic()
    first = runner.collect()
    assert time.monotonic() - started < 2
    status = {s.name: s for s in first.collectors}
    assert status["cpu"].success and first.cpu is not None
    assert not status["memory"].success and "timed out" in (status["memory"].error or "")
    assert first.memory is None
    assert not status["broken"].success and "permission denied" in (status["broken"].error or "")
    assert not status["unstartable"].success and "could not start" in (
        status["unstartable"].error or ""
    )
    second = runner.collect()  # the hung call is not started again on top of itself
    assert {s.name: s for s in second.collectors}[
        "memory"
    ].error == "still running from an earlier cycle"
    assert hanging.calls == 1
    hanging.release.set()
    time.sleep(0.1)
    runner.collect()
    fourth = runner.collect()
    assert {s.name: s for s in fourth.collectors}["memory"].success
    assert fourth.memory is not None
    runner.close()


def test_psutil_path_with_injected_results() -> None:
    """What Windows and macOS give psutil: no iowait/irq fields, no buffers."""
    Times = namedtuple("Times", "user system idle interrupt dpc")
    Stats = namedtuple("Stats", "ctx_switches interrupts soft_interrupts syscalls")
    readings = iter(
        [
            (Times(10, 5, 85, 0, 0), [Times(5, 2, 43, 0, 0), Times(5, 3, 42, 0, 0)]),
            (Times(20, 10, 170, 0, 0), [Times(15, 2, 83, 0, 0), Times(5, 8, 87, 0, 0)]),
        ]
    )
    current: list[tuple[object, list[object]]] = []

    def cpu_times(percpu: bool = False) -> object:
        if not percpu:
            current[:] = [next(readings)]
            return current[0][0]
        return current[0][1]

    collector = PsutilCpuCollector(
        cpu_times, lambda: Stats(1000, 50, 0, 0), lambda: (0.0, 0.0, 0.0)
    )
    first = collector.collect()
    assert first.seconds_total.iowait is None and first.utilization_percent is None
    second = collector.collect()
    assert second.utilization_percent == pytest.approx(15 / 100 * 100)
    assert [c.utilization_percent for c in second.cores] == [
        pytest.approx(20.0),
        pytest.approx(10.0),
    ]
    assert second.context_switches_total == 1000
    VM = namedtuple("VM", "total available percent used free")
    Swap = namedtuple("Swap", "total used free percent sin sout")
    memory = PsutilMemoryCollector(
        lambda: VM(8e9, 6e9, 25, 2e9, 6e9), lambda: Swap(1e9, 0, 1e9, 0, 0, 0)
    ).collect()
    assert (
        memory.used_bytes == 2e9
        and memory.buffers_bytes is None
        and memory.swap_in_bytes_total == 0
    )


def test_identity_prefers_machine_id_and_falls_back_to_a_kept_one(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "machine-id").write_text("abc123\n")
    (root / "etc" / "hostname").write_text("db-7\n")
    assert host_identity(root, tmp_path / "d") == HostIdentity(machine_id="abc123", hostname="db-7")
    empty = tmp_path / "empty"
    empty.mkdir()
    generated = host_identity(empty, tmp_path / "d").machine_id
    assert host_identity(empty, tmp_path / "d").machine_id == generated  # stable across restarts


class _FakeRunner:
    def __init__(self) -> None:
        self.n = 0

    def collect(self) -> object:
        self.n += 1
        at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC) + timedelta(seconds=self.n)
        return replace(snapshot(at), agent=AgentSelf(cpu_seconds_total=1, resident_bytes=1))


class FakeTransport:
    """Answers POSTs with `handler(n)` for the n-th request; records what was sent."""

    def __init__(self, handler: Callable[[int], HttpResponse | OSError]) -> None:
        self.handler = handler
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        self.sent.append((url, body, headers))
        answer = self.handler(len(self.sent))
        if isinstance(answer, OSError):
            raise answer
        return answer

    def close(self) -> None:
        pass


def status(code: int, **headers: str) -> HttpResponse:
    return HttpResponse(code, {k.lower().replace("_", "-"): v for k, v in headers.items()}, b"{}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _service(
    handler: Callable[[int], HttpResponse | OSError], monotonic: FakeClock | None = None
) -> tuple[AgentService, FakeTransport]:
    transport = FakeTransport(handler)
    service = AgentService(
        _FakeRunner(),  # type: ignore[arg-type]
        HostIdentity(machine_id="m", hostname="h"),
        Uploader(transport, "http://server", "k"),
        MemorySpool(SpoolLimits(max_bytes=10**9, max_age_seconds=1e12)),
        interval_seconds=0.01,
        batch_size=2,
        backoff=Backoff(0.01, 0.02, random.Random(1)),
        monotonic=monotonic or time.monotonic,
    )
    return service, transport


def sent_payloads(transport: FakeTransport) -> list[Payload]:
    out = []
    for url, body, headers in transport.sent:
        assert url == "http://server/api/v1/ingest"
        assert headers["Authorization"] == "Bearer k"
        assert headers["Content-Encoding"] == "zstd"
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        out.append(decode_payload(raw))
    return out


def test_a_retry_resends_the_same_batch_id() -> None:
    service, transport = _service(lambda n: status(503 if n == 1 else 202))
    service.collect_once()
    service.collect_once()
    service.upload_pending()
    spooled = service.spool.status()
    assert spooled.depth == 2 and (spooled.last_error or "").startswith("503")
    service.flush(timeout_seconds=1)
    first, second = sent_payloads(transport)
    assert first.batch_id == second.batch_id and len(first.snapshots) == 2
    assert service.spool.status().depth == 0 and service.status.snapshots_delivered == 2
    assert service.spool.status().last_success_at is not None


def test_rejected_batches_are_dead_lettered_unauthorized_stops_and_keeps_spooling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, transport = _service(lambda n: status(422) if n == 1 else status(401))
    service.collect_once()
    service.flush(timeout_seconds=1)
    spooled = service.spool.status()
    assert spooled.dead_letters_total == 1 and spooled.depth == 0
    (dead,) = service.spool.dead_letters()
    assert dead.status_code == 422 and dead.snapshots == 1
    assert "moved to dead letters" in caplog.text
    for _ in range(3):
        service.collect_once()
    service.flush(timeout_seconds=1)
    assert service.status.key_rejected and service.spool.status().depth == 3
    assert "the API key is wrong or revoked" in caplog.text
    sends = len(transport.sent)
    service.collect_once()
    service.flush(timeout_seconds=1)
    assert len(transport.sent) == sends  # stopped: no more attempts until restart
    assert service.spool.status().depth == 4  # and the spool keeps filling


def test_after_an_outage_every_snapshot_arrives_once_in_order() -> None:
    down = set(range(1, 6))  # the first five attempts fail
    service, transport = _service(
        lambda n: ConnectionRefusedError(111, "refused") if n in down else status(202)
    )
    for _ in range(5):
        service.collect_once()
        service._next_upload_at = 0.0  # skip the wait; the back-off has its own test
        service.upload_pending()
    service.flush(timeout_seconds=1)
    delivered = sent_payloads(transport)[5:]
    stamps = [s.timestamp for p in delivered for s in p.snapshots]
    assert stamps == sorted(set(stamps)) and len(stamps) == 5
    # The first batch was formed, with one snapshot, before the outage and keeps its id.
    assert [len(p.snapshots) for p in delivered] == [1, 2, 2]
    assert delivered[0].batch_id == sent_payloads(transport)[0].batch_id


def test_backoff_waits_with_full_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(base_seconds=1, max_seconds=10, rng=random.Random(7))
    delays = [backoff.failed() for _ in range(8)]
    assert all(0 <= d <= min(10, 2**n) for n, d in enumerate(delays, start=1))
    assert backoff.failed(retry_after_seconds=30) == 30  # the server's wish wins when longer
    assert backoff.failed(retry_after_seconds=1e9) == 3600  # a broken header does not
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.failed() <= 2
    clock = FakeClock()
    service, transport = _service(lambda n: status(429, retry_after="7"), monotonic=clock)
    service.collect_once()
    service.upload_pending()
    clock.now += 6
    service.upload_pending()
    assert len(transport.sent) == 1
    clock.now += 2
    service.upload_pending()
    assert len(transport.sent) == 2


def test_snapshots_carry_the_spool_figures() -> None:
    service, _ = _service(lambda n: status(503))
    first = service.collect_once()
    second = service.collect_once()
    assert first.agent is not None and first.agent.spool_depth == 0
    assert second.agent is not None and second.agent.spool_depth == 1
    assert second.agent.spool_dropped_total == 0 and second.agent.spool_dead_letters_total == 0
    assert second.agent.spool_oldest_age_seconds is not None
    keys = dict(flatten_snapshot(second))
    assert keys["agent_spool_depth"] == 1


def test_a_snapshot_the_server_would_refuse_is_not_spooled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, _ = _service(lambda n: status(202))
    good = service.runner.collect()
    # A collector's bug: Structs built in Python are not checked until they are decoded.
    bad = replace(good, memory=replace(good.memory, used_bytes=-1))
    service.runner.collect = lambda: bad  # type: ignore[method-assign]
    service.collect_once()
    assert service.status.snapshots_invalid == 1 and service.spool.status().depth == 0
    assert "memory.used_bytes: Expected `float` >= 0.0" in caplog.text
    service.runner.collect = lambda: good  # type: ignore[method-assign]
    service.collect_once()
    assert service.spool.status().depth == 1


def test_encode_payload_is_the_payload_model() -> None:
    sent = payload(3)
    body = encode_payload(sent.batch_id, sent.agent, sent.host, [encode(s) for s in sent.snapshots])
    assert decode_payload(body) == sent


def test_network_errors_and_retry_after() -> None:
    refused = Uploader(
        FakeTransport(lambda n: ConnectionRefusedError(111, "refused")), "http://s", "k"
    )
    assert refused.send(payload_json(payload(1))).outcome is Outcome.RETRY
    busy = Uploader(FakeTransport(lambda n: status(429, retry_after="7")), "http://s", "k").send(
        payload_json(payload(1))
    )
    assert busy.outcome is Outcome.RETRY and busy.retry_after_seconds == 7
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after("soon") is None


class _Ingest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn speaks it
    answers: ClassVar[list[tuple[int, dict[str, str]]]] = []
    peers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).peers.append(self.client_address[1])
        code, headers = type(self).answers.pop(0)
        self.send_response(code)
        for name, value in {"Content-Length": "2", **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_stdlib_transport_keeps_the_connection_and_reconnects() -> None:
    _Ingest.answers = [(202, {}), (503, {"Retry-After": "3"}), (202, {"Connection": "close"})]
    _Ingest.answers.append((202, {}))
    _Ingest.peers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    uploader = Uploader(StdlibTransport(timeout_seconds=5), url, "k")
    try:
        assert uploader.send(payload_json(payload(1))).outcome is Outcome.DELIVERED
        busy = uploader.send(payload_json(payload(1)))
        assert busy.outcome is Outcome.RETRY and busy.retry_after_seconds == 3
        assert (
            uploader.send(payload_json(payload(1))).outcome is Outcome.DELIVERED
        )  # then the server hangs up
        assert (
            uploader.send(payload_json(payload(1))).outcome is Outcome.DELIVERED
        )  # on a new connection
        assert _Ingest.peers[0] == _Ingest.peers[1] == _Ingest.peers[2] != _Ingest.peers[3]
    finally:
        uploader.close()
        server.shutdown()
        server.server_close()


def test_stdlib_transport_refused_is_a_retry() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = Uploader(StdlibTransport(timeout_seconds=5), url, "k").send(payload_json(payload(1)))
    assert result.outcome is Outcome.RETRY and "Refused" in result.message


def test_frequencies_and_temperatures_match_node_exporter(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    tree = fixtures_dir / "node_exporter" / "tree"
    parts = (
        "class/hwmon",
        "class/thermal",
        "devices/platform",
        "devices/virtual/thermal",
        "devices/system/cpu",
    )
    sys_root = materialize_links(tree / "sys", tmp_path / "sys", parts)
    context = CollectorContext(ProcFS(tree / "proc"), SysFS(sys_root), tree, platform="linux")
    section = LinuxCpuCollector(context).collect()
    expected = load_expected(fixtures_dir / "node_exporter" / "expected_metrics.txt")
    frequencies = {
        core.cpu: (core.frequency_hz, core.frequency_min_hz, core.frequency_max_hz)
        for core in section.cores
    }
    for cpu in range(4):
        labels = {"cpu": str(cpu)}
        assert frequencies[cpu] == (
            expected[key("node_cpu_scaling_frequency_hertz", **labels)],
            expected[key("node_cpu_scaling_frequency_min_hertz", **labels)],
            expected[key("node_cpu_scaling_frequency_max_hertz", **labels)],
        )
    hwmon = {t.sensor: t.celsius for t in section.temperatures if t.source == "hwmon"}
    wanted = {
        f"{dict(labels)['chip']}/{dict(labels)['sensor']}": value
        for (name, labels), value in expected.items()
        if name == "node_hwmon_temp_celsius"
    }
    assert hwmon == wanted and len(wanted) > 5
    zones = {t.sensor: t.celsius for t in section.temperatures if t.source == "thermal_zone"}
    expected_zones = {
        f"thermal_zone{dict(labels)['zone']}": value
        for (name, labels), value in expected.items()
        if name == "node_thermal_zone_temp"
    }
    assert zones == expected_zones and zones
    keys = [k for k, _ in flatten_snapshot(Snapshot(timestamp=datetime.now(UTC), cpu=section))]
    assert len(keys) == len(set(keys))  # every series in a frame is unique


def test_unreadable_sensors_do_not_cost_the_cpu_figures(fixtures_dir: Path) -> None:
    # The raw fixture stores sysfs links as plain files: sensors unreadable, CPU still there.
    tree = fixtures_dir / "node_exporter" / "tree"
    context = CollectorContext(ProcFS(tree / "proc"), SysFS(tree / "sys"), tree, platform="linux")
    section = LinuxCpuCollector(context).collect()
    assert section.temperatures == [] and len(section.cores) == 8


class _Recording:
    def __init__(self, fail: bool = False) -> None:
        self.threads: list[str] = []
        self.fail = fail

    def collect(self) -> Struct:
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise ValueError("/proc/meminfo:1: malformed")
        return MemorySection(total_bytes=1, used_bytes=1, free_bytes=0)


def test_non_blocking_collectors_run_inline_and_fail_alone(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    _write_stat(proc, {0: (1, 1, 1)})
    inline, failing, hanging = _Recording(), _Recording(fail=True), _Hanging()
    specs = [
        CollectorSpec("cpu", "cpu", "", True, LinuxCpuCollector),
        CollectorSpec("memory", "memory", "", True, lambda _ctx: inline, blocking=False),
        CollectorSpec("broken", "agent", "", True, lambda _ctx: failing, blocking=False),
        CollectorSpec("slow", "disk", "", True, lambda _ctx: hanging),
    ]
    runner = CollectorRunner(specs, _context(proc), timeout_seconds=0.2)
    first = runner.collect()
    status = {s.name: s for s in first.collectors}
    assert inline.threads == [threading.current_thread().name]
    assert status["memory"].success and first.memory is not None
    assert not status["broken"].success and "malformed" in (status["broken"].error or "")
    assert status["cpu"].success and first.cpu is not None
    assert not status["slow"].success and "timed out" in (status["slow"].error or "")
    second = runner.collect()  # the inline ones run again while the hung one is skipped
    assert len(inline.threads) == len(failing.threads) == 2
    assert {s.name: s for s in second.collectors}["memory"].success
    hanging.release.set()
    runner.close()


def test_registry_marks_only_counter_readers_inline() -> None:
    assert {name for name, spec in REGISTRY.items() if not spec.blocking} == {
        "memory",
        "network",
        "disk",
        "filefd",
    }


class _MayBlock(_Recording):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = True

    def may_block(self) -> bool:
        return self.blocks


def test_a_blocking_collector_that_will_not_block_runs_inline(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    recording = _MayBlock()
    specs = [CollectorSpec("memory", "memory", "", True, lambda _ctx: recording)]
    runner = CollectorRunner(specs, _context(proc), timeout_seconds=5)
    try:
        assert runner.collect().memory is not None
        recording.blocks = False
        assert runner.collect().memory is not None
        recording.blocks = True
        assert runner.collect().memory is not None
    finally:
        runner.close()
    here = threading.current_thread().name
    assert recording.threads[0] != here and recording.threads[2] != here
    assert recording.threads[1] == here


def test_cpu_may_block_only_where_the_last_cycle_found_sensors(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    _write_stat(proc, {0: (1, 1, 1)})
    bare = LinuxCpuCollector(_context(proc))  # no sys tree: no hwmon, no thermal zone
    assert bare.may_block()  # nothing known before the first cycle
    bare.collect()
    assert not bare.may_block()
    (tmp_path / "sys" / "class" / "thermal" / "thermal_zone0").mkdir(parents=True)
    (tmp_path / "sys" / "class" / "thermal" / "thermal_zone0" / "type").write_text("x86_pkg\n")
    (tmp_path / "sys" / "class" / "thermal" / "thermal_zone0" / "temp").write_text("42000\n")
    assert bare.collect().temperatures  # a zone that appears is read (once, inline) ...
    assert bare.may_block()  # ... and from then on in a worker
    tree = fixtures_dir / "node_exporter" / "tree"
    parts = ("class/hwmon", "class/thermal", "devices/platform", "devices/virtual/thermal")
    fixture = materialize_links(tree / "sys", tmp_path / "fixture", parts)
    sensors = LinuxCpuCollector(
        CollectorContext(ProcFS(tree / "proc"), SysFS(fixture), tree, platform="linux")
    )
    sensors.collect()
    assert sensors.may_block()
