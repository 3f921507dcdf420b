"""Local mode: `fleetscope agent --mode local` writes a collection file of ingest payloads and
stops by itself; the FileSink's per-line durability; durations; PCC_* aliases and their rank."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscope.agent.identity import host_identity
from fleetscope.agent.service import AgentService
from fleetscope.agent.settings import PCC_ALIASES, AgentSettings
from fleetscope.agent.sink import FileSink
from fleetscope.agent.spool import MemorySpool, SpoolLimits
from fleetscope.agent.uploader import Outcome
from fleetscope.cli.main import app
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.duration import parse_seconds
from fleetscope.config.settings import ConfigError, check_environment, foreign_variables
from fleetscope.model.codec import decode_payload
from fleetscope.model.payload import HostIdentity, Payload
from tests.helpers import payload, payload_json, snapshot
from tests.server import LiveServer

FLEETSCOPE = [sys.executable, "-m", "fleetscope.cli"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSCOPE_", "PCC_"))}
    return {**env, **extra}


def _lines(path: Path) -> list[Payload]:
    return [decode_payload(line) for line in path.read_bytes().splitlines()]


@pytest.mark.slow
def test_local_mode_writes_ingestable_payloads_and_stops_by_itself(
    tmp_path: Path, live: LiveServer
) -> None:
    output = tmp_path / "collection.jsonl"
    started = time.monotonic()
    done = subprocess.run(
        [
            *FLEETSCOPE,
            "agent",
            "--mode",
            "local",
            "--output",
            str(output),
            "--duration",
            "3s",
            "--interval",
            "1s",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert 2.5 < time.monotonic() - started < 30
    raw = output.read_bytes()
    assert raw.endswith(b"\n")
    payloads = _lines(output)
    assert 2 <= len(payloads) <= 5
    assert len({p.batch_id for p in payloads}) == len(payloads)
    stamps = [s.timestamp for p in payloads for s in p.snapshots]
    assert stamps == sorted(stamps)
    assert all(p.snapshots[0].cpu is not None for p in payloads)
    for line in raw.splitlines():
        response = live.client.post("/api/v1/ingest", content=line, headers=live.agent_headers())
        assert response.status_code == 202, response.text


@pytest.mark.slow
def test_pcc_environment_drives_an_existing_deployment(tmp_path: Path) -> None:
    output = tmp_path / "pcc.jsonl"
    env = _clean_env(
        PCC_MODE="local",
        PCC_COLLECTION=str(output),
        PCC_DURATION="2s",
        PCC_FREQUENCY="1s",
        PCC_IDENTIFIER="pcc-host",
        PCC_LOGLEVEL="DEBUG",
        PCC_SERVER="http://elsewhere",  # perfcollector's own; ignored, and said so
        FLEETSCOPE_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [*FLEETSCOPE, "agent"], capture_output=True, check=False, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "PCC_* variables fleetscope does not use: PCC_SERVER" in done.stderr
    assert " DEBUG " in done.stderr
    payloads = _lines(output)
    assert len(payloads) >= 1
    assert {p.host.hostname for p in payloads} == {"pcc-host"}
    machine_id = host_identity(Path("/"), tmp_path / "data").machine_id
    assert {p.host.machine_id for p in payloads} == {machine_id}


def test_bad_durations_and_a_missing_output_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["agent", "--mode", "local", "--output", str(tmp_path / "f.jsonl")]
    for args, named in [
        (["--duration", "5x"], "'5x' is not a duration"),
        (["--duration", "0"], "duration_seconds"),
        (["--interval", "ten"], "'ten' is not a duration"),
        (["--interval", "2d"], "interval_seconds"),
        (["--mode", "batch"], "mode"),
    ]:
        result = runner.invoke(app, base + args, env=_clean_env())
        assert result.exit_code == 2, (args, result.output)
        assert named in result.output, (args, result.output)
    result = runner.invoke(app, ["agent", "--mode", "local"], env=_clean_env())
    assert result.exit_code == 2 and "--output" in result.output
    assert not (tmp_path / "f.jsonl").exists()


def test_duration_forms() -> None:
    assert [parse_seconds(t) for t in ("10s", "5m", "24h", "1d", "1h30m", "500ms", "2.5")] == [
        10,
        300,
        86400,
        86400,
        5400,
        0.5,
        2.5,
    ]
    for bad in ("", "s", "10 s", "nan", "inf", "1d2", "5x"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_seconds(bad)


def test_file_sink_one_fsynced_line_per_payload_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.jsonl"
    sink = FileSink(path)
    first, second = payload(2), payload(1)
    assert sink.send(payload_json(first)).outcome is Outcome.DELIVERED
    assert sink.send(payload_json(second)).outcome is Outcome.DELIVERED
    sink.close()
    assert _lines(path) == [first, second]
    # A crash in the middle of the third line leaves half of it behind.
    with open(path, "ab") as handle:
        handle.write(payload_json(payload(1))[:50])
    third = payload(1)
    sink = FileSink(path)
    sink.send(payload_json(third))
    sink.close()
    assert _lines(path) == [first, second, third]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_retried_not_lost() -> None:
    sink = FileSink(Path("/dev/full"))
    try:
        result = sink.send(payload_json(payload(1)))
    finally:
        sink.close()
    assert result.outcome is Outcome.RETRY and "No space left" in result.message


class _Runner:
    def __init__(self) -> None:
        self.n = 0

    def collect(self) -> object:
        self.n += 1
        return snapshot(datetime(2026, 11, 22, 8, 0, self.n, tzinfo=UTC))


def test_the_service_writes_to_a_file_sink_and_stops_after_its_duration(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "c.jsonl")
    service = AgentService(
        _Runner(),  # type: ignore[arg-type]
        HostIdentity(machine_id="m", hostname="h"),
        sink,
        MemorySpool(SpoolLimits(max_bytes=10**9, max_age_seconds=1e12)),
        interval_seconds=0.05,
    )
    started = time.monotonic()
    service.run(duration_seconds=0.3)
    sink.close()
    assert time.monotonic() - started < 2
    written = _lines(tmp_path / "c.jsonl")
    assert 3 <= len(written) <= 8
    assert service.status.snapshots_delivered == len(written)
    assert [p.snapshots[0].timestamp.second for p in written] == list(range(1, len(written) + 1))


def test_pcc_aliases_map_onto_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "PCC_APIKEY": "fsk_pcc",
        "PCC_COLLECTION": str(tmp_path / "c.jsonl"),
        "PCC_DURATION": "24h",
        "PCC_FREQUENCY": "10s",
        "PCC_IDENTIFIER": "db-7",
        "PCC_LOGLEVEL": "WARN",
        "PCC_MODE": "Local",
    }
    assert set(values) == set(PCC_ALIASES)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = AgentSettings.load()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "fsk_pcc"
    assert settings.output == tmp_path / "c.jsonl"
    assert settings.duration_seconds == 86400 and settings.interval_seconds == 10
    assert settings.hostname == "db-7" and settings.log_level == "warning"
    assert settings.mode == "local"
    monkeypatch.setenv("PCC_MODE", "batch")
    with pytest.raises(ConfigError, match=r"agent\.mode \(from PCC_MODE\)"):
        AgentSettings.load()


def test_precedence_options_over_fleetscope_over_pcc_over_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "fleetscope.toml"
    config.write_text("[agent]\ninterval_seconds = '1m'\nhostname = 'from-file'\n")
    assert AgentSettings.load(config).interval_seconds == 60
    monkeypatch.setenv("PCC_FREQUENCY", "30s")
    monkeypatch.setenv("PCC_IDENTIFIER", "from-pcc")
    assert AgentSettings.load(config).interval_seconds == 30
    assert AgentSettings.load(config).hostname == "from-pcc"
    monkeypatch.setenv("FLEETSCOPE_INTERVAL_SECONDS", "20")
    assert AgentSettings.load(config).interval_seconds == 20
    assert AgentSettings.load(config, interval_seconds="5s").interval_seconds == 5


def test_unknown_pcc_variables_are_ignored_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCC_FREQENCY", "1s")  # a typo, or another perfcollector setting
    monkeypatch.setenv("PCC_APIKEY", "k")
    check_environment([ServerSettings, AgentSettings])
    assert AgentSettings.load().interval_seconds == 10
    assert foreign_variables([ServerSettings, AgentSettings]) == ["PCC_FREQENCY"]


def test_identifier_renames_the_host_but_keeps_its_machine_id(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "machine-id").write_text("abc123\n")
    assert host_identity(root, tmp_path / "d", "renamed") == HostIdentity(
        machine_id="abc123", hostname="renamed"
    )
