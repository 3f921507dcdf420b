"""The scripted scenario on a real embedded server process (`fleetscope server`): a host's CPU
pushed over a threshold, held, released; a host going silent and coming back; the server
SIGKILLed while an alert fires and started again. A local webhook receiver and a local SMTP
server must get exactly the expected messages: none twice, none lost."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from typer.testing import CliRunner

from fleetscope.cli.main import app
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload
from tests.alert_sinks import SmtpSink, WebhookSink, wait_for
from tests.helpers import free_port, payload_json, snapshot
from tests.processes import credentials, login, running, wait_ready

SILENT_AFTER_S = 3


class Fleet:
    """Two agents posting a snapshot every 0.25 s; web-1's CPU and web-2's voice are ours."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.cpu = {"web-1": 10.0, "web-2": 10.0}
        self.quiet: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.wait(0.25):
                for host, cpu in list(self.cpu.items()):
                    if host in self.quiet:
                        continue
                    p = Payload(
                        schema_version=1,
                        batch_id=uuid.uuid4(),
                        agent=AgentInfo(version="test"),
                        host=HostIdentity(machine_id=f"m-{host}", hostname=host),
                        snapshots=[snapshot(datetime.now(UTC), cpu_percent=cpu)],
                    )
                    # HTTPError: the server is down (killed on purpose); an agent would spool.
                    with contextlib.suppress(httpx.HTTPError):
                        client.post(
                            f"{self.base}/api/v1/ingest",
                            content=payload_json(p),
                            headers=self.headers,
                        )

    def __enter__(self) -> Fleet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def messages(hook: WebhookSink) -> list[tuple[str, str, list[str]]]:
    return [
        (b["status"], b["groupLabels"]["alertname"], [a["labels"]["host"] for a in b["alerts"]])
        for b in hook.bodies()
    ]


def test_alerts_scenario_exactly_once_across_a_sigkill(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "FLEETSCOPE_ADMIN_PASSWORD": "pw",
        "FLEETSCOPE_ALERT_INTERVAL_SECONDS": "0.25",
        "FLEETSCOPE_ALERT_LEASE_SECONDS": "2",
    }
    args = ["server", "--data-dir", str(data_dir), "--port", str(port)]
    with WebhookSink() as hook, SmtpSink() as smtp:
        with running(args, data_dir, env) as server:
            wait_ready(base, server)
            admin = login(base, "pw")
            for rule in httpx.get(f"{base}/api/v1/alerts/rules", headers=admin).json():
                off = httpx.patch(
                    f"{base}/api/v1/alerts/rules/{rule['id']}",
                    json={"enabled": False},
                    headers=admin,
                )
                assert off.status_code == 200, off.text
            for rule in (
                {
                    "name": "cpu",
                    "signal": "cpu_percent",
                    "op": ">",
                    "threshold": 90,
                    "for_seconds": 2,
                },
                {
                    "name": "silent",
                    "signal": "host_silent_seconds",
                    "op": ">",
                    "threshold": SILENT_AFTER_S,
                },
            ):
                made = httpx.post(f"{base}/api/v1/alerts/rules", json=rule, headers=admin)
                assert made.status_code == 201, made.text
            for channel in (
                {"name": "hook", "kind": "webhook", "config": {"url": hook.url}},
                {
                    "name": "mail",
                    "kind": "email",
                    "config": {
                        "to": ["ops@example.org"],
                        "sender": "fleetscope@example.org",
                        "smtp_host": "127.0.0.1",
                        "smtp_port": smtp.port,
                    },
                },
            ):
                made = httpx.post(f"{base}/api/v1/alerts/channels", json=channel, headers=admin)
                assert made.status_code == 201, made.text
            with Fleet(base, credentials(data_dir)["agent_api_key"]) as fleet:
                time.sleep(1)
                assert hook.received == []
                fleet.cpu["web-1"] = 95.0  # pushed over the threshold, and held
                wait_for(lambda: len(hook.received) == 1, 30, "the CPU alert to fire")
                assert messages(hook) == [("firing", "cpu", ["web-1"])]
                wait_for(lambda: len(smtp.messages) == 1, 30, "the CPU alert's e-mail")
                # Past the instant between a send and its `sent` mark: the one window in which
                # a kill makes a resend, with the same key (tests/alerting/test_alert_evaluator.py).
                time.sleep(1)
                server.send_signal(signal.SIGKILL)  # while it fires
                server.wait(timeout=10)
        with running(args, data_dir, env) as server:
            wait_ready(base, server)
            admin = login(base, "pw")
            with Fleet(base, credentials(data_dir)["agent_api_key"]) as fleet:
                fleet.cpu["web-1"] = 95.0
                firing = []
                wait_for(
                    lambda: bool(
                        firing.extend(
                            httpx.get(f"{base}/api/v1/alerts?state=firing", headers=admin).json()
                        )
                        or firing
                    ),
                    20,
                    "the firing alert to be read back after the restart",
                )
                assert [(a["rule_name"], a["host_name"]) for a in firing] == [("cpu", "web-1")]
                time.sleep(2)  # held across several rounds of the new process: no second firing
                assert len(hook.received) == 1
                fleet.cpu["web-1"] = 10.0  # released
                wait_for(lambda: len(hook.received) == 2, 30, "the CPU alert to resolve")
                fleet.quiet.add("web-2")  # web-2 goes silent
                wait_for(lambda: len(hook.received) == 3, SILENT_AFTER_S + 20, "web-2's silence")
                fleet.quiet.clear()
                wait_for(lambda: len(hook.received) == 4, 30, "web-2 to be heard again")
                time.sleep(1)  # anything more would arrive within a few rounds
                assert messages(hook) == [
                    ("firing", "cpu", ["web-1"]),
                    ("resolved", "cpu", ["web-1"]),
                    ("firing", "silent", ["web-2"]),
                    ("resolved", "silent", ["web-2"]),
                ]
                keys = [headers["Idempotency-Key"] for headers, _ in hook.received]
                assert len(set(keys)) == 4
                wait_for(lambda: len(smtp.messages) == 4, 10, "the e-mails")
                assert [m["Subject"] for m in smtp.messages] == [
                    "[FIRING:1] cpu (web-1)",
                    "[RESOLVED:1] cpu (web-1)",
                    "[FIRING:1] silent (web-2)",
                    "[RESOLVED:1] silent (web-2)",
                ]
                cli = CliRunner()
                history = cli.invoke(
                    app, ["alerts", "--history", "--data-dir", str(data_dir), "--host", "web-1"]
                )
                assert history.exit_code == 0, history.output
                lines = history.output.splitlines()
                assert [line.split()[1] for line in lines] == ["resolved", "firing", "pending"]
                assert all("web-1  cpu" in line for line in lines)
                now = cli.invoke(app, ["alerts", "--data-dir", str(data_dir)])
                assert now.output.strip() == "no alerts firing or pending", now.output
