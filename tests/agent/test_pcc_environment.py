"""perfcollector's own environment as an existing deployment sets it (issue 14, item 4):
PCC_LOGLEVEL in its "pcc=INFO;hoarder=INFO" form, and PCC_MODE=local alone taking pcc's
documented defaults (collection /tmp/pcc.json, duration 24h, frequency 10s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import ConfigError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in os.environ:
        if name.startswith(("FLEETSCOPE_", "PCC_")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    "value,level",
    [
        ("pcc=INFO;hoarder=INFO", "info"),
        ("hoarder=ERROR;pcc=DEBUG", "debug"),
        ("pcc=WARN; hoarder=INFO", "warning"),
        ("info", "info"),
        ("DEBUG", "debug"),
    ],
)
def test_pcc_loglevel_in_perfcollectors_form(
    clean_env: pytest.MonkeyPatch, value: str, level: str
) -> None:
    clean_env.setenv("PCC_LOGLEVEL", value)
    assert AgentSettings.load().log_level == level


@pytest.mark.parametrize("value", ["hoarder=INFO", "pcc=LOUD;hoarder=INFO", "pcc"])
def test_a_pcc_loglevel_without_a_level_for_pcc_is_a_clear_error(
    clean_env: pytest.MonkeyPatch, value: str
) -> None:
    clean_env.setenv("PCC_LOGLEVEL", value)
    with pytest.raises(ConfigError, match="PCC_LOGLEVEL"):
        AgentSettings.load()


def test_pcc_mode_local_alone_takes_pccs_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PCC_MODE", "local")
    settings = AgentSettings.load()
    assert (settings.mode, settings.output) == ("local", Path("/tmp/pcc.json"))
    assert (settings.duration_seconds, settings.interval_seconds) == (86400.0, 10.0)
    clean_env.setenv("PCC_DURATION", "1h")
    clean_env.setenv("PCC_COLLECTION", "/tmp/elsewhere.json")
    settings = AgentSettings.load()
    assert (settings.output, settings.duration_seconds) == (Path("/tmp/elsewhere.json"), 3600.0)


def test_fleetscopes_own_local_mode_keeps_no_pcc_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FLEETSCOPE_MODE", "local")
    settings = AgentSettings.load()
    assert (settings.output, settings.duration_seconds) == (None, None)


def test_the_agent_runs_under_perfcollectors_log_level(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSCOPE_", "PCC_"))}
    env.update(
        PCC_MODE="local",
        PCC_COLLECTION=str(tmp_path / "pcc.json"),
        PCC_DURATION="1s",
        PCC_FREQUENCY="1s",
        PCC_LOGLEVEL="pcc=DEBUG;hoarder=INFO",
        FLEETSCOPE_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "fleetscope.cli", "agent"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert " DEBUG " in done.stderr
    assert (tmp_path / "pcc.json").stat().st_size > 0
