"""Settings: TOML tables, FLEETSCOPE_* variables, options; unknown keys are named errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from fleetscope.agent.collectors.base import device_filter
from fleetscope.agent.collectors.disk import DEFAULT_DISK_DEVICE_EXCLUDE
from fleetscope.agent.registry import REGISTRY
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.main import app
from fleetscope.cli.settings import ServerSettings
from fleetscope.model.payload import Payload
from fleetscope.model.settings import ConfigError, check_environment


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleetscope.toml"
    path.write_text(text)
    return path


def test_precedence_option_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(
        tmp_path, "[server]\nport = 1111\nhost = '127.0.0.2'\n[agent]\ninterval_seconds = 30\n"
    )
    assert ServerSettings.load(config).port == 1111
    monkeypatch.setenv("FLEETSCOPE_PORT", "2222")
    assert ServerSettings.load(config).port == 2222
    assert ServerSettings.load(config, port=3333).port == 3333
    assert ServerSettings.load(config).host == "127.0.0.2"
    assert AgentSettings.load(config).interval_seconds == 30


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = _toml(tmp_path, "[agent]\ninterval_secs = 5\n")
    with pytest.raises(ValidationError, match="interval_secs"):
        AgentSettings.load(config)


def test_unknown_table_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'agnet'"):
        AgentSettings.load(_toml(tmp_path, "[agnet]\nx = 1\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        AgentSettings.load(_toml(tmp_path, "[agent\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        AgentSettings.load(tmp_path / "missing.toml")


def test_unknown_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETSCOPE_API_KYE", "x")
    with pytest.raises(ConfigError, match="FLEETSCOPE_API_KYE"):
        check_environment([ServerSettings, AgentSettings])
    monkeypatch.delenv("FLEETSCOPE_API_KYE")
    monkeypatch.setenv("FLEETSCOPE_API_KEY", "fsk_x")
    check_environment([ServerSettings, AgentSettings])
    assert AgentSettings.load().api_key is not None


def test_cli_reports_bad_settings_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["collect", "--once", "--config", str(_toml(tmp_path, "[agent]\nbogus = 1\n"))]
    )
    assert result.exit_code == 2 and "bogus" in result.output
    result = runner.invoke(app, ["collect", "--once", "--interval", "-1"])
    assert result.exit_code == 2 and "interval_seconds" in result.output
    result = runner.invoke(app, ["collect", "--once", "--collectors", "cpu,gpus"])
    assert result.exit_code == 2 and "gpus" in result.output
    result = runner.invoke(app, ["agent"])
    assert result.exit_code == 2 and "--server" in result.output


def test_collectors_listing() -> None:
    result = CliRunner().invoke(app, ["collectors"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names[:4] == ["cpu", "memory", "network", "disk"]
    assert names == list(REGISTRY)


def test_device_filters_are_validated_regexes_and_empty_keeps_all(tmp_path: Path) -> None:
    config = tmp_path / "fleetscope.toml"
    config.write_text('[agent.disk]\ndevice_exclude = "(unclosed"\n')
    with pytest.raises(ValidationError, match=r"disk\.device_exclude"):
        AgentSettings.load(config)
    config.write_text('[agent.network]\ndevice_exclude = ""\ntcp_states = false\n')
    settings = AgentSettings.load(config)
    assert settings.network.device_exclude == "" and not settings.network.tcp_states
    assert device_filter(settings.network.device_exclude) is None
    assert AgentSettings().disk.device_exclude == DEFAULT_DISK_DEVICE_EXCLUDE


def test_collect_once_reads_the_given_roots(fixtures_dir: Path) -> None:
    tree = fixtures_dir / "node_exporter" / "tree"
    result = CliRunner().invoke(
        app,
        [
            "collect",
            "--once",
            "--procfs",
            str(tree / "proc"),
            "--sysfs",
            str(tree / "sys"),
            "--collectors",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"user": 3018.54' in result.output


def test_agent_takes_the_roots_as_options(fixtures_dir: Path, tmp_path: Path) -> None:
    """--procfs/--sysfs/--rootfs like node_exporter's --path.*: a local-mode run over the
    fixture tree reports the fixture's values, not this machine's."""
    tree = fixtures_dir / "node_exporter" / "tree"
    output = tmp_path / "collection.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("agent", "--mode", "local", "--output", str(output), "--duration", "1s"),
            *("--interval", "1s", "--data-dir", str(tmp_path / "d")),
            *("--procfs", str(tree / "proc"), "--sysfs", str(tree / "sys"), "--rootfs", str(tree)),
        ],
        env={"FLEETSCOPE_COLLECTORS": '["cpu"]'},
    )
    assert result.exit_code == 0, result.output
    first = Payload.model_validate_json(output.read_text().splitlines()[0])
    cpu = first.snapshots[0].cpu
    assert cpu is not None and cpu.seconds_total.user == 3018.54
