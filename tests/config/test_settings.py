"""Settings: TOML tables, FLEETSCOPE_* variables, options; unknown keys are named errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscope.agent.collectors.base import device_filter
from fleetscope.agent.collectors.disk import DEFAULT_DISK_DEVICE_EXCLUDE
from fleetscope.agent.registry import REGISTRY
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.main import app
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import (
    ConfigError,
    HttpUrl,
    Secret,
    check_environment,
    settings_from,
)
from fleetscope.model.codec import decode_payload


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
    with pytest.raises(ConfigError, match=rf"agent\.interval_secs \(from config file {config}\)"):
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
    with pytest.raises(ConfigError, match=r"disk\.device_exclude"):
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
    first = decode_payload(output.read_text().splitlines()[0])
    cpu = first.snapshots[0].cpu
    assert cpu is not None and cpu.seconds_total.user == 3018.54


def test_precedence_across_all_four_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """options > FLEETSCOPE_* > PCC_* aliases > the file's table > defaults, setting by setting."""
    config = _toml(
        tmp_path,
        "[agent]\ninterval_seconds = '1m'\nhostname = 'file'\nlog_level = 'error'\n"
        "output = 'file.jsonl'\n",
    )
    monkeypatch.setenv("PCC_FREQUENCY", "30s")
    monkeypatch.setenv("PCC_IDENTIFIER", "pcc")
    monkeypatch.setenv("PCC_LOGLEVEL", "warn")
    monkeypatch.setenv("FLEETSCOPE_INTERVAL_SECONDS", "20")
    monkeypatch.setenv("FLEETSCOPE_HOSTNAME", "env")
    settings = AgentSettings.load(config, interval_seconds="5s")
    assert settings.interval_seconds == 5  # option over all
    assert settings.hostname == "env"  # FLEETSCOPE_* over PCC_* and the file
    assert settings.log_level == "warning"  # PCC_* over the file, "warn" spelled as Go does
    assert settings.output == Path("file.jsonl")  # the file over the default
    assert settings.mode == "trickle" and settings.max_snapshots_per_upload == 100  # defaults
    assert AgentSettings.load(config).interval_seconds == 20


def test_nested_tables_merge_file_variable_and_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nested table's variable holds JSON, as with pydantic-settings, and is merged key by
    key over the file's table: the keys it leaves out keep the file's values."""
    config = _toml(tmp_path, "[agent.spool]\nmax_age_seconds = '1d'\nmax_bytes = 4096\n")
    monkeypatch.setenv("FLEETSCOPE_SPOOL", '{"max_bytes": 2048}')
    monkeypatch.setenv("FLEETSCOPE_COLLECTORS", '["cpu", "memory"]')
    settings = AgentSettings.load(config)
    assert settings.spool.max_bytes == 2048 and settings.spool.max_age_seconds == 86400
    assert settings.collectors == ["cpu", "memory"]
    monkeypatch.setenv("FLEETSCOPE_SPOOL", '{"max_bytes": 0}')
    with pytest.raises(ConfigError, match=r"agent\.spool\.max_bytes .*FLEETSCOPE_SPOOL.*>= 1"):
        AgentSettings.load(config)
    monkeypatch.setenv("FLEETSCOPE_SPOOL", "max_bytes=1")
    with pytest.raises(ConfigError, match="FLEETSCOPE_SPOOL must be JSON"):
        AgentSettings.load(config)


def test_unknown_nested_key_is_named_with_its_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, "[agent.spool]\nmax_byte = 1\n")
    with pytest.raises(ConfigError, match=rf"agent\.spool\.max_byte \(from config file {config}\)"):
        AgentSettings.load(config)
    config = _toml(tmp_path, "[[agent.exporters]]\nname = 'a'\nurl = 'http://a/'\nevery = 1\n")
    with pytest.raises(ConfigError, match=r"agent\.exporters\[0\]\.every .*unknown field"):
        AgentSettings.load(config)


@pytest.mark.parametrize("bad", ["10x", "1h30", "-", "inf"])
def test_bad_duration_names_setting_source_and_forms(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCC_FREQUENCY", bad)
    with pytest.raises(ConfigError, match=r"agent\.interval_seconds \(from PCC_FREQUENCY\)"):
        AgentSettings.load()
    monkeypatch.delenv("PCC_FREQUENCY")
    config = _toml(tmp_path, f"[agent.spool]\nmax_age_seconds = '{bad}'\n")
    with pytest.raises(ConfigError, match=r"agent\.spool\.max_age_seconds .*not a duration"):
        AgentSettings.load(config)


def test_toml_infinity_is_not_a_duration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be finite"):
        AgentSettings.load(_toml(tmp_path, "[agent]\nduration_seconds = inf\n"))


def test_modes_and_levels_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETSCOPE_MODE", " Local ")
    monkeypatch.setenv("FLEETSCOPE_LOG_LEVEL", "DEBUG")
    settings = AgentSettings.load()
    assert settings.mode == "local" and settings.log_level == "debug"


def test_secrets_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETSCOPE_API_KEY", "fsk_do_not_print")
    settings = AgentSettings.load()
    assert settings.api_key == Secret("fsk_do_not_print")
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "fsk_do_not_print"
    for shown in (repr(settings), str(settings), repr(settings.api_key), str(settings.api_key)):
        assert "fsk_do_not_print" not in shown
    # A bad value elsewhere, and a secret of the wrong type: the message has neither secret.
    monkeypatch.setenv("FLEETSCOPE_INTERVAL_SECONDS", "soon")
    with pytest.raises(ConfigError) as bad:
        AgentSettings.load()
    assert "interval_seconds" in str(bad.value) and "fsk_do_not_print" not in str(bad.value)
    config = _toml(tmp_path, "[server]\nadmin_password = 31337271\n")
    with pytest.raises(ConfigError, match=r"server\.admin_password") as wrong:
        ServerSettings.load(config)
    assert "31337271" not in str(wrong.value)
    password = ServerSettings.load(_toml(tmp_path, "[server]\nadmin_password = 'hunter22'\n"))
    assert password.admin_password is not None
    assert password.admin_password.get_secret_value() == "hunter22"
    assert "hunter22" not in repr(password)


@pytest.mark.parametrize(
    "url", ["ftp://host/", "host:8080", "http://", "http://host:99999/", "not a url"]
)
def test_urls_are_checked_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError, match=r"agent\.server_url .*http:// or https:// URL"):
        AgentSettings.load(server_url=url)
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpUrl(url)


def test_url_is_kept_as_written() -> None:
    settings = AgentSettings.load(server_url="https://fleet.example:8443")
    assert settings.server_url == "https://fleet.example:8443"


def test_cross_field_checks_name_the_table(tmp_path: Path) -> None:
    config = _toml(tmp_path, "[server]\nraw_retention_days = 30\nrollup_1m_retention_days = 7\n")
    with pytest.raises(ConfigError, match=r"\[server\].*rollup_1m_retention_days \(7\)"):
        ServerSettings.load(config)


def test_sample_config_loads_back_to_the_defaults(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "--sample"])
    assert result.exit_code == 0, result.output
    config = _toml(tmp_path, result.output)
    assert AgentSettings.load(config) == settings_from(AgentSettings, {})
    assert ServerSettings.load(config) == settings_from(ServerSettings, {})
    assert "# top processes by CPU and by memory\ntop = 10\n" in result.output


# Runs `fleetscope agent` as a process of its own (this test process has pydantic loaded
# already) and writes the names of every module it imported, at exit, to argv[1].
_AGENT_CLOSURE = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from fleetscope.cli.main import main
sys.argv = ["fleetscope", *sys.argv[2:]]
main()
"""


def agent_import_closure(tree: Path, work: Path) -> set[str]:
    """The modules a real local-mode `fleetscope agent` run imports: one collection cycle of
    the default collectors over the fixture tree `tree`, then exit."""
    modules, output = work / "modules.json", work / "collection.jsonl"
    args = [*("agent", "--mode", "local", "--output", str(output), "--duration", "1s")]
    args += [*("--interval", "1s", "--data-dir", str(work / "data"), "--rootfs", str(tree))]
    args += [*("--procfs", str(tree / "proc"), "--sysfs", str(tree / "sys"))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSCOPE_", "PCC_"))}
    done = subprocess.run(
        [sys.executable, "-c", _AGENT_CLOSURE, str(modules), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text().strip(), "the agent wrote no payload"
    return set(json.loads(modules.read_text()))


def pydantic_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core"))


@pytest.fixture(scope="module")
def agent_modules(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """One real agent run serves every check of what it imported (each run costs ~1.5 s)."""
    work = tmp_path_factory.mktemp("agent-closure")
    return agent_import_closure(fixtures_dir / "node_exporter" / "tree", work)


def test_agent_run_loads_settings_with_msgspec_not_pydantic_settings(
    agent_modules: set[str],
) -> None:
    assert "fleetscope.agent.settings" in agent_modules and "msgspec" in agent_modules
    assert not any(m.split(".")[0] == "pydantic_settings" for m in agent_modules)


def test_agent_imports_no_pydantic(agent_modules: set[str]) -> None:
    assert pydantic_modules(agent_modules) == []


def test_agent_imports_no_sqlalchemy_alembic_or_httpx(agent_modules: set[str]) -> None:
    """cli/main.py imports every command group to register it; SQLAlchemy and Alembic (through
    admin -> accounts -> store.collectors), httpx and rich (export, report, accounts) were
    ~0.7 s of the 0.9 s it took to import. The agent uploads with the stdlib (agent/http.py)."""
    heavy = ("sqlalchemy", "alembic", "httpx", "rich")
    assert sorted(m for m in agent_modules if m.split(".")[0] in heavy) == []
    assert not any(m.startswith("fleetscope.store") for m in agent_modules)
