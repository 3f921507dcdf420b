"""`fleetscope report FILE -o out.{html,pdf}`: offline reports of a collection file, of a
perfcollector capture and of a real local-mode capture of this machine; the PDF's pages are
rendered with pdftoppm to check they are real pages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscope.agent.perfcollector import CaptureError, read_capture
from fleetscope.cli.main import app
from tests.conftest import require
from tests.synthetic_host import Scenario, const, snapshots, write_collection

FLEETSCOPE = [sys.executable, "-m", "fleetscope.cli"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSCOPE_", "PCC_"))}


def test_html_report_of_a_collection_file(tmp_path: Path) -> None:
    scenario = Scenario(busy=const(0.97), load_per_cpu=const(3.0))
    source = write_collection(tmp_path / "c.jsonl", snapshots(scenario, 500, 10.0), "web-9")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(source), "-o", str(out)], env=_clean_env())
    assert result.exit_code == 0, result.output
    assert "(danger)" in result.output
    html = out.read_text()
    assert "Performance analysis: web-9" in html
    assert "CRITICAL</span> [cpu / all CPUs]" in html
    assert html.count("data:image/png;base64,") >= 5  # plots are inlined: one file
    assert 'src="http' not in html


def test_thresholds_from_a_file(tmp_path: Path) -> None:
    source = write_collection(tmp_path / "c.jsonl", snapshots(Scenario(), 100, 10.0))
    strict = tmp_path / "strict.toml"
    strict.write_text("cpu_busy_percent = 1\nwarning_fraction = 0.05\n")
    args = ["report", str(source), "-o", str(tmp_path / "r.html"), "--thresholds", str(strict)]
    result = CliRunner().invoke(app, args, env=_clean_env())
    assert result.exit_code == 0, result.output
    assert (
        "CRITICAL</span> [cpu / all CPUs] CPU busy above 1 %" in (tmp_path / "r.html").read_text()
    )
    strict.write_text("cpu_bussy = 1\n")
    result = CliRunner().invoke(app, args, env=_clean_env())
    assert result.exit_code == 1
    assert "thresholds.cpu_bussy: unknown threshold" in result.output


def test_pdf_report_renders_to_pages(tmp_path: Path) -> None:
    require(shutil.which("pdftoppm") is not None, "pdftoppm (poppler-utils) is not installed")
    source = write_collection(tmp_path / "c.jsonl", snapshots(Scenario(), 300, 10.0))
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["report", str(source), "-o", str(out)], env=_clean_env())
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 7  # summary + cpu, memory, disk, filesystem, network, processes


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = runner.invoke(app, ["report", str(bad), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert "bad.jsonl:1: not a fleetscope payload" in result.output
    result = runner.invoke(app, ["report", str(bad), "-o", str(tmp_path / "r.txt")])
    assert result.exit_code == 2
    assert "wanted a .pdf or .html" in result.output
    result = runner.invoke(app, ["report", "-o", str(tmp_path / "r.pdf")])
    assert result.exit_code == 2
    assert "either FILE or --server" in result.output


def _capture_lines(cycles: int, interval: float) -> list[bytes]:
    """perfcollector's capture format (module doc of agent/perfcollector.py), from this
    machine's real /proc files."""
    lines = []
    start = datetime.now(UTC)
    for cycle in range(cycles):
        stamp = (start + timedelta(seconds=cycle * interval)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        for system in ("/proc/stat", "/proc/meminfo", "/proc/diskstats", "/proc/net/dev"):
            record = {
                "Site": 1,
                "Host": 0,
                "Run": 0,
                "Measurement": {
                    "Timestamp": stamp + "123Z",  # Go's nanoseconds
                    "Frequency": int(interval * 1e9),
                    "System": system,
                    "Measurement": Path(system).read_text(),
                },
            }
            lines.append(json.dumps(record).encode() + b"\n")
        time.sleep(interval)
    return lines


def test_a_perfcollector_capture_of_this_machine(tmp_path: Path) -> None:
    require(Path("/proc/diskstats").exists(), "needs Linux /proc")
    capture = tmp_path / "capture.json"
    capture.write_bytes(b"".join(_capture_lines(4, 0.3)))
    snaps = list(read_capture(capture.read_bytes().splitlines(), "capture.json"))
    assert len(snaps) == 4
    assert snaps[0].cpu is not None and snaps[0].cpu.cores
    assert snaps[0].memory is not None and snaps[0].memory.total_bytes > 0
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(capture), "-o", str(out)], env=_clean_env())
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "perfcollector-site1-host0" in html
    assert "cpu.utilization" in html or "CPU busy above" in html


def test_a_broken_capture_line_is_named() -> None:
    good = b'{"Site":1,"Host":0,"Measurement":{"Timestamp":"2026-01-10T18:06:07Z",'
    lines = [good + b'"System":"/proc/meminfo","Measurement":"MemTotal: x kB"}}']
    with pytest.raises(CaptureError, match=r"cap:1: .*meminfo"):
        list(read_capture(lines, "cap"))
    with pytest.raises(CaptureError, match=r"cap:2: not a perfcollector record"):
        list(read_capture([b"", b'{"Site": 1}'], "cap"))


@pytest.mark.slow
def test_a_real_local_mode_capture_end_to_end(tmp_path: Path) -> None:
    require(Path("/proc/stat").exists(), "needs Linux /proc")
    collection = tmp_path / "host.jsonl"
    agent = subprocess.run(
        [*FLEETSCOPE, "agent", "--mode", "local", "--output", str(collection),
         "--duration", "5s", "--interval", "1s", "--data-dir", str(tmp_path / "data")],
        capture_output=True, check=False, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert agent.returncode == 0, agent.stderr
    out = tmp_path / "host.pdf"
    report = subprocess.run(
        [*FLEETSCOPE, "report", str(collection), "-o", str(out)],
        capture_output=True, check=False, text=True, timeout=300, env=_clean_env(),
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("fitness ")
    assert out.read_bytes().startswith(b"%PDF-")


def test_report_from_a_server(tmp_path: Path) -> None:
    from fleetscope.cli.report import ReportError, report_server  # noqa: PLC0415
    from tests.server import ADMIN_PASSWORD, start_server  # noqa: PLC0415

    for live in start_server(tmp_path / "data", analyse_uploads=False):
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        path = write_collection(tmp_path / "c.jsonl", snapshots(Scenario(), 120, 10.0, start))
        sent = live.client.post(
            "/api/v1/collections",
            files={"file": ("c.jsonl", path.read_bytes(), "application/x-ndjson")},
            headers={"Authorization": f"Bearer {live.agent_key}"},
        )
        assert sent.status_code == 202, sent.text
        live.wait_digested()
        out = tmp_path / "server.pdf"
        common = {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "output": out,
        }
        body = report_server(live.client, host="synthetic-1", **common)  # type: ignore[arg-type]
        assert body["state"] == "done"
        assert body["status"] == "success"
        assert out.read_bytes().startswith(b"%PDF-")
        with pytest.raises(ReportError, match="host: no host named 'nope'"):
            report_server(live.client, host="nope", **common)  # type: ignore[arg-type]
