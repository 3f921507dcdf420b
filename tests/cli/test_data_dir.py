"""A data directory belongs to one process: a second `fleetscope up`/`server`/`agent` on it
exits at once naming the first's PID. What is written there is private (files 0600, the
directory 0700), and what an older version left readable is tightened, with a log line."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from tests.helpers import free_port
from tests.processes import FLEETSCOPE, running, wait_ready


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_second_process_on_a_data_dir_exits_naming_the_first(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    leftover = data_dir / "initial-credentials.bak"
    leftover.write_text("admin_password=old\n")
    leftover.chmod(0o644)
    port = free_port()
    log_path = tmp_path / "first.log"
    with running(
        ["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, log_path=log_path
    ) as first:
        wait_ready(f"http://127.0.0.1:{port}", first)
        for second in (
            ["up", "--data-dir", str(data_dir), "--port", str(free_port())],
            ["server", "--data-dir", str(data_dir), "--port", str(free_port())],
            [
                "agent",
                "--mode",
                "local",
                "--output",
                str(tmp_path / "c.jsonl"),
                "--data-dir",
                str(data_dir),
                "--duration",
                "5s",
                "--interval",
                "1s",
            ],
        ):
            result = subprocess.run(
                [*FLEETSCOPE, *second], capture_output=True, text=True, timeout=60, check=False
            )
            assert result.returncode == 1, (second[0], result.stdout, result.stderr)
            assert f"in use by process {first.pid} (fleetscope server)" in result.stderr
            assert "Traceback" not in result.stderr
        assert first.poll() is None  # the first one is untouched
        modes = {p.name: _mode(p) for p in data_dir.iterdir() if p.is_file()}
    assert _mode(data_dir) == 0o700
    for name in ("fleetscope.db", "stream.db", "initial-credentials", "fleetscope.lock"):
        assert modes[name] == 0o600, (name, oct(modes[name]))
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
    assert modes[leftover.name] == 0o600
    assert f"tightened the permissions of {leftover}" in log_path.read_text()


def test_agent_spool_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "agent"
    result = subprocess.run(
        [
            *FLEETSCOPE,
            "agent",
            "--mode",
            "local",
            "--output",
            str(tmp_path / "c.jsonl"),
            "--data-dir",
            str(data_dir),
            "--duration",
            "1s",
            "--interval",
            "1s",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _mode(data_dir) == 0o700
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files
    assert all(_mode(p) & 0o077 == 0 for p in files), {p.name: oct(_mode(p)) for p in files}


def _start_error(args: list[str], tmp_path: Path) -> str:
    result = subprocess.run(
        [*FLEETSCOPE, *args, "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    # Log lines of what went well before may come first; the problem is one line of its own.
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_wrong_database_url_is_one_line(tmp_path: Path) -> None:
    line = _start_error(
        [
            "server",
            "--port",
            str(free_port()),
            "--database",
            "postgresql+psycopg://fleet:secret@127.0.0.1:1/nothing",
        ],
        tmp_path,
    )
    assert line.startswith(
        "fleetscope: cannot use the database at postgresql+psycopg://fleet:***@127.0.0.1:1/nothing"
    )
    assert "secret" not in line
    assert "refused" in line.lower()


def test_an_unreachable_stream_is_one_line(tmp_path: Path) -> None:
    line = _start_error(
        ["server", "--port", str(free_port()), "--stream", "redis://127.0.0.1:1/0"], tmp_path
    )
    assert line.startswith("fleetscope: cannot use the stream:")
    assert "127.0.0.1:1" in line
    worker = _start_error(["worker", "--stream", "redis://127.0.0.1:1/0"], tmp_path)
    assert worker.startswith("fleetscope: cannot use the stream:")
