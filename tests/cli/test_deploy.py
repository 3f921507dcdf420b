"""The deployment files in deploy/ (systemd units, docker-compose, Dockerfile). Neither systemd
nor Docker runs on the development machine, so these files are checked, not run: the compose
file parses and has the scaled-out layout; the units parse, run `fleetscope server`/`worker`/
`agent` with the options the CLI has, are hardened; `systemd-analyze verify` passes when present."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
UNITS = ["fleetscope-server.service", "fleetscope-worker@.service", "fleetscope-agent.service"]
HARDENING = {
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "Restart": "on-failure",
    "DynamicUser": "yes",
}


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_hardened_and_runs_fleetscope(name: str) -> None:
    unit = _unit(name)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    for key, value in HARDENING.items():
        assert service[key] == value, key
    assert service["EnvironmentFile"].startswith("/etc/fleetscope/")
    state = service["StateDirectory"]
    assert service["ReadWritePaths"] == f"/var/lib/{state}"
    command = service["ExecStart"].split()
    assert command[0] == "/usr/bin/fleetscope"
    expected = {
        "fleetscope-server.service": "server",
        "fleetscope-worker@.service": "worker",
        "fleetscope-agent.service": "agent",
    }[name]
    assert command[1] == expected
    if expected in ("server", "worker"):
        assert "--stream" in command and "--database" in command
    # every option named is one the CLI has
    help_text = subprocess.run(
        [sys.executable, "-m", "fleetscope.cli", expected, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ).stdout
    for option in (word for word in command if word.startswith("--")):
        assert option in help_text, f"{name}: {option} is not an option of `fleetscope {expected}`"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify wants the ExecStart binary to exist: point the copies at this venv's fleetscope.
    binary = Path(sys.executable).parent / "fleetscope"
    assert binary.exists()
    paths = []
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text().replace("/usr/bin/fleetscope", str(binary))
        target = tmp_path / name.replace("@.", "@1.")
        target.write_text(text)
        paths.append(str(target))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *paths],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fleetscope" not in result.stderr, result.stderr


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_the_scaled_out_layout() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "server", "worker"}
    redis = services["redis"]["command"]
    assert "--appendonly" in redis and redis[redis.index("--appendonly") + 1] == "yes"
    assert redis[redis.index("--appendfsync") + 1] in ("always", "everysec")
    server, worker = services["server"], services["worker"]
    assert server["deploy"]["replicas"] == 2 and worker["deploy"]["replicas"] == 2
    assert server["command"][0] == "server" and worker["command"][0] == "worker"
    for command in (server["command"], worker["command"]):
        assert command[command.index("--stream") + 1].startswith("redis://redis:6379")
        assert command[command.index("--database") + 1].startswith("postgresql://")
    assert "/readyz" in " ".join(server["healthcheck"]["test"])
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name]
        assert server["depends_on"][name]["condition"] == "service_healthy"
        assert worker["depends_on"][name]["condition"] == "service_healthy"
    assert server["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / server["build"]["dockerfile"].removeprefix("deploy/")).exists()


def test_dockerfile_installs_the_lock_on_python_311_slim() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    text = "\n".join(lines)
    # the image gets exactly what was tested: the pinned uv, then the lock without the dev group
    assert "--require-hashes --no-deps -r scripts/uv-requirements.txt" in text
    assert "uv sync --locked --no-dev --no-editable" in text
    assert "COPY pyproject.toml uv.lock" in text
    assert 'ENTRYPOINT ["fleetscope"]' in lines
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
