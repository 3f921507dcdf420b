"""process-exporter's group metrics as our process groups (model/process_exporter.py), and
digest turning a scraped (ExporterScrape.kind) or pushed (PrometheusPush.kind) process-exporter
exposition into process-group rows."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from msgspec.structs import replace

from fleetscope.agent.collectors.exporter_targets import ExporterTarget
from fleetscope.agent.collectors.exporters import ExportersCollector
from fleetscope.config.settings import settings_from
from fleetscope.digest.transform import payload_rows, prometheus_rows
from fleetscope.exposition.parse import parse_exposition
from fleetscope.model.codec import decode_payload, encode
from fleetscope.model.devices import PrometheusPush
from fleetscope.model.exporters import ExporterSample, ExporterScrape
from fleetscope.model.payload import (
    AgentInfo,
    HostIdentity,
    Payload,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
)
from fleetscope.model.process_exporter import process_groups
from tests.helpers import T0

GROUP = "process-exporte"  # comm, truncated to 15 characters by the kernel


def _fixture_text(fixtures_dir: Path) -> str:
    return (fixtures_dir / "process_exporter" / "expected_metrics_upstream_fixture.txt").read_text()


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value) for s in parse_exposition(text.encode(), None)]


def test_debian_process_exporter_output_maps_onto_a_process_group(fixtures_dir: Path) -> None:
    """Debian's process-exporter 0.7.10 on its upstream fixture process (the fixture README's
    table): every field of our record from its namesake metric."""
    groups, incomplete = process_groups(_samples(_fixture_text(fixtures_dir)))
    assert incomplete == []
    assert groups == [
        ProcessGroup(
            name=GROUP,
            num_procs=1,
            num_threads=7,
            # Counters start at 0 for processes that existed at the exporter's first look.
            cpu_user_seconds_total=0.0,
            cpu_system_seconds_total=0.0,
            read_bytes_total=0.0,
            write_bytes_total=0.0,
            resident_bytes=8065024.0,
            virtual_bytes=17174528.0,
            swap_bytes=10240.0,
            open_fds=5.0,
            worst_fd_ratio=5 / 1024,
            oldest_start_time_seconds=1508453571.0,
        )
    ]


def test_a_group_missing_a_needed_metric_or_out_of_range_is_left_out_and_named() -> None:
    base = [
        ("namedprocess_namegroup_num_procs", {"groupname": "a"}, 2.0),
        ("namedprocess_namegroup_num_threads", {"groupname": "a"}, 3.0),
        ("namedprocess_namegroup_cpu_seconds_total", {"groupname": "a", "mode": "user"}, 1.5),
        ("namedprocess_namegroup_cpu_seconds_total", {"groupname": "a", "mode": "system"}, 0.5),
        ("namedprocess_namegroup_read_bytes_total", {"groupname": "a"}, 0.0),
        ("namedprocess_namegroup_write_bytes_total", {"groupname": "a"}, 0.0),
        ("namedprocess_namegroup_memory_bytes", {"groupname": "a", "memtype": "resident"}, 9.0),
        ("namedprocess_namegroup_memory_bytes", {"groupname": "a", "memtype": "virtual"}, 90.0),
        ("node_load1", {}, 1.0),
    ]
    groups, incomplete = process_groups(base)
    assert [(g.name, g.cpu_user_seconds_total, g.swap_bytes) for g in groups] == [("a", 1.5, None)]
    assert incomplete == []
    without_virtual = [s for s in base if s[1].get("memtype") != "virtual"]
    negative = [
        (n, {**labels, "groupname": "b"}, -1.0 if "num_procs" in n else v) for n, labels, v in base
    ]
    groups, incomplete = process_groups(without_virtual + negative)
    assert groups == [] and incomplete == ["a", "b"]


def _scrape(text: str, kind: str | None) -> ExporterScrape:
    samples = [
        ExporterSample(name=name, labels=labels, value=value)
        for name, labels, value in _samples(text)
    ]
    return ExporterScrape(
        name="procs",
        url="http://127.0.0.1:9256/metrics",
        success=True,
        duration_seconds=0.01,
        samples=samples,
        kind=kind,  # type: ignore[arg-type]
    )


def _payload(*snapshots: Snapshot) -> Payload:
    return Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id="m-1", hostname="web-1"),
        snapshots=list(snapshots),
    )


def test_digest_stores_the_groups_of_a_process_exporter_scrape(fixtures_dir: Path) -> None:
    text = _fixture_text(fixtures_dir)
    own = ProcessGroup(
        name=GROUP,
        num_procs=4,
        num_threads=4,
        cpu_user_seconds_total=9.0,
        cpu_system_seconds_total=0.0,
        read_bytes_total=0.0,
        write_bytes_total=0.0,
        resident_bytes=1.0,
        virtual_bytes=1.0,
    )
    other = replace(own, name="cron")
    snapshot = Snapshot(
        timestamp=T0,
        processes=ProcessesSection(count=5, groups=[own, other]),
        exporters=[_scrape(text, "process-exporter")],
    )
    # Through the wire form, as digest receives it: `kind` survives encoding.
    rows = payload_rows(1, decode_payload(encode(_payload(snapshot)))).process_groups
    by_name = {row.group_name: row for row in rows}
    assert set(by_name) == {GROUP, "cron"}
    # The same name from both: process-exporter's, which the user configured, is kept.
    assert (by_name[GROUP].num_procs, by_name[GROUP].memory_bytes) == (1, 8065024.0)
    assert by_name["cron"].num_procs == 4
    # A generic exporter exposing the same text yields no groups; a failed scrape neither.
    generic = Snapshot(timestamp=T0, exporters=[_scrape(text, None)])
    assert payload_rows(1, _payload(generic)).process_groups == ()
    failed = replace(_scrape(text, "process-exporter"), success=False)
    assert (
        payload_rows(1, _payload(Snapshot(timestamp=T0, exporters=[failed]))).process_groups == ()
    )


def test_a_pushed_process_exporter_exposition_yields_groups(fixtures_dir: Path) -> None:
    text = _fixture_text(fixtures_dir)
    push = PrometheusPush(
        device_name="db-1",
        content_type="text/plain; version=0.0.4",
        default_timestamp_ms=1_800_000_000_000,
        text=text,
        kind="process-exporter",
    )
    (batch,) = prometheus_rows(1, push.model_dump_json().encode())
    (group,) = batch.process_groups
    assert (group.group_name, group.ts_ms, group.num_procs) == (GROUP, 1_800_000_000_000, 1)
    assert group.memory_bytes == 8065024.0 and group.cpu_seconds_total == 0.0
    assert batch.frames  # its samples are stored as series too, as any push's
    generic = PrometheusPush.model_validate({**push.model_dump(), "kind": "generic"})
    (plain,) = prometheus_rows(1, generic.model_dump_json().encode())
    assert plain.process_groups == ()


def test_an_exporter_target_of_kind_process_exporter_tags_its_scrapes(fixtures_dir: Path) -> None:
    text = _fixture_text(fixtures_dir)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=text))
    targets = [
        settings_from(
            ExporterTarget,
            {"name": "procs", "url": "http://127.0.0.1:9256/metrics", "kind": "process-exporter"},
        ),
        settings_from(ExporterTarget, {"name": "plain", "url": "http://127.0.0.1:9100/metrics"}),
    ]
    collector = ExportersCollector(targets, client=httpx.AsyncClient(transport=transport))
    try:
        procs, plain = collector.collect()
    finally:
        collector.close()
    assert (procs.kind, plain.kind) == ("process-exporter", None)
    assert procs.success and len(procs.samples) == len(plain.samples) > 20
