"""flatten_snapshot keeps every series key, value and position it had when the payload models
were pydantic models: tests/data/series/expected.tsv was written by that implementation from
tests/data/series/snapshot.json (every section, escaped labels, bools, NaN, a renamed
`exporter` label) and is kept as a golden file."""

from __future__ import annotations

from pathlib import Path

from fleetscope.model.codec import decode_snapshot
from fleetscope.model.series import flatten_snapshot, series_key, split_series_key

DATA = Path(__file__).parent.parent / "data" / "series"


def _expected() -> list[tuple[str, float | None]]:
    rows = []
    for line in (DATA / "expected.tsv").read_text().splitlines():
        key, value = line.split("\t")
        rows.append((key, None if value == "None" else float(value)))
    return rows


def test_flatten_matches_the_golden_series_in_order() -> None:
    snapshot = decode_snapshot((DATA / "snapshot.json").read_bytes())
    assert flatten_snapshot(snapshot) == _expected()


def test_flatten_gives_the_same_series_again_from_its_key_cache() -> None:
    snapshot = decode_snapshot((DATA / "snapshot.json").read_bytes())
    first = flatten_snapshot(snapshot)
    assert flatten_snapshot(snapshot) == first
    assert all(isinstance(value, float) for _, value in first if value is not None)


def test_a_few_series_in_full() -> None:
    flat = dict(flatten_snapshot(decode_snapshot((DATA / "snapshot.json").read_bytes())))
    assert flat['cpu_core_seconds_total{cpu="0",mode="user"}'] == 60.0
    assert flat['cpu_core_frequency_min_hz{cpu="0"}'] is None  # absent, never 0
    assert flat['cpu_temperature_celsius{sensor="coretemp/temp1",source="hwmon"}'] == 41.0
    assert flat['memory_pressure_stalled_seconds_total{kind="some"}'] == 12.0
    assert flat['network_up{device="eth0"}'] == 1.0
    assert flat['network_carrier{device="eth0"}'] == 0.0
    assert flat['network_tcp_connections{state="TIME_WAIT"}'] == 3.0
    assert flat['disk_utilization_percent{device="sda"}'] == 3.5
    assert flat['filesystem_stuck{device="/dev/sda1",fstype="ext4",mountpoint="/"}'] == 1.0
    group = series_key(
        "process_group_cpu_seconds_total", {"group": 'say "hi"\\now', "mode": "user"}
    )
    assert group == 'process_group_cpu_seconds_total{group="say \\"hi\\"\\\\now",mode="user"}'
    assert flat[group] == 3.0
    assert split_series_key(group)[1] == {"group": 'say "hi"\\now', "mode": "user"}
    assert flat['exporter_jobs_total{exported_exporter="x",exporter="app",q="a"}'] == 5.0
    assert flat['exporter_lag_seconds{exporter="app"}'] is None
    assert flat['collector_success{collector="cpu"}'] == 1.0
    assert flat["agent_spool_depth"] == 0.0
