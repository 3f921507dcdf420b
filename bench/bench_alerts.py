"""Alert evaluation at fleet scale, and notification latency from a sample's arrival.

    .venv/bin/python bench/bench_alerts.py [--hosts 1000] [--extra-rules 13] [--rounds 10]
        [--interval 15] [--latency-trials 6] [--database-url URL]

The fleet: --hosts hosts written through the real StoreWriter with the 234 series of a real
snapshot (bench/data/vm-snapshot-pair.json, process groups left out) plus two exporter targets
and 20 process groups each; one snapshot 6 h ago (what the filesystem forecast reads) and then
one every 10 s for the last 2 minutes. The rules: the 7 ready-made ones plus --extra-rules more
(CPU, memory and series thresholds) = 20, every rule on every host; nothing fires.

Evaluation: --rounds rounds of AlertEvaluator.evaluate (what one evaluator does every
interval), each after one more snapshot of every host has been written. This process's CPU
time per round (on SQLite the database works in this process too), per rule per host, and as
a share of one core at the evaluation interval. The first round (which creates every
(rule, host) state row) is shown apart.

Latency: the evaluator thread running at --interval on the same database, a webhook receiver
on 127.0.0.1, a rule `cpu_percent > 99` (for 0 s); for each trial one host's snapshot with
CPU 99.5 is committed (digest's commit: ingest and digest's linger come before it) and the
time until the webhook receives the firing message is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from fleetscope.alerting.evaluator import AlertEvaluator
from fleetscope.alerting.repo import ensure_default_rules
from fleetscope.model.alerts import RuleSpec
from fleetscope.query.alerts import AlertQueries
from fleetscope.store import auth
from fleetscope.store.alert_tables import alert_channels, alert_rules
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.writer import BatchRows, FrameRow, ProcessGroupRow, StoreWriter

DATA = Path(__file__).with_name("data") / "vm-snapshot-pair.json"
INTERVAL_MS = 10_000
GROUPS = tuple(f"group-{i}" for i in range(20))

EXTRA_RULES = [
    RuleSpec("cpu 95", "cpu_percent", ">", 95.0, 60),
    RuleSpec("cpu 99", "cpu_percent", ">", 99.0, 0),
    RuleSpec("memory 2", "memory_available_percent", "<", 2.0, 60),
    RuleSpec("memory 10", "memory_available_percent", "<", 10.0, 600),
    RuleSpec("fs 95", "filesystem_used_percent", ">", 95.0, 60),
    RuleSpec("fs forecast 4h", "filesystem_hours_to_full", "<", 4.0, 60),
    RuleSpec("silent 10m", "host_silent_seconds", ">", 600.0, 0),
    RuleSpec("load1", "cpu_load1", ">", 64.0, 300),
    RuleSpec("swap", "memory_swap_used_bytes", ">", 8e9, 300),
    RuleSpec("tcp", "network_tcp_established", ">", 1e5, 300),
    RuleSpec("exporters 2", "exporter_targets_down", ">", 1.0, 300),
    RuleSpec("groups db", "process_groups_gone", ">", 0.0, 60, params={"groups": "group-1*"}),
    RuleSpec("rx", "network_receive_bytes_per_second", ">", 1e10, 300),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--extra-rules", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--latency-trials", type=int, default=6)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    rows = [
        r for r in json.loads(DATA.read_text())["series"] if not r[0].startswith("process_group_")
    ]
    keys = (
        *(r[0] for r in rows),
        'exporter_scrape_success{exporter="node"}',
        'exporter_scrape_success{exporter="postgres"}',
    )
    base = [*(r[2] for r in rows), 1.0, 1.0]
    cpu_at = keys.index("cpu_utilization_percent")
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or sqlite_url(Path(tmp)))
        migrate(engine)
        auth.bootstrap(engine, Path(tmp), "bench")  # tenant 1
        writer = StoreWriter(engine)
        # Rounds are dated in the past, so the latency trials' real-time samples are the newest.
        now_ms = int(time.time() * 1000) - (args.rounds + 1) * INTERVAL_MS
        clock = [now_ms]

        def write_all(ts: int, tag: str) -> None:
            batches = []
            for host in range(args.hosts):
                values = list(base)
                values[cpu_at] = rng.uniform(0, 80)
                batches.append(
                    BatchRows(
                        1,
                        f"m-{host}",
                        f"host-{host:04}",
                        "bench",
                        f"{tag}-{host}-{ts}",
                        (FrameRow(ts, keys, tuple(values)),),
                        tuple(ProcessGroupRow(ts, g, 1, 1.0, 1e6, 0, 0) for g in GROUPS),
                    )
                )
            writer.write_batches(batches)

        started = time.perf_counter()
        write_all(now_ms - 6 * 3600_000, "old")
        for i in range(12, 0, -1):
            write_all(now_ms - i * INTERVAL_MS, "recent")
        print(
            f"wrote {args.hosts} hosts x 13 snapshots x {len(keys)} series and "
            f"{len(GROUPS)} process groups in {time.perf_counter() - started:.1f} s "
            f"({engine.dialect.name})"
        )
        ensure_default_rules(engine, now_ms)
        queries = AlertQueries(engine)
        for spec in EXTRA_RULES[: args.extra_rules]:
            queries.create_rule(1, spec, now_ms)
        n_rules = len(queries.rules(1))
        evaluator = AlertEvaluator(engine, holder="bench", clock=lambda: clock[0] / 1000)

        def timed_round() -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            evaluator.evaluate(clock[0])
            return time.perf_counter() - wall, time.process_time() - cpu

        first_wall, first_cpu = timed_round()
        walls, cpus = [], []
        for r in range(args.rounds):
            clock[0] = now_ms + (r + 1) * INTERVAL_MS
            write_all(clock[0], "round")
            wall, cpu = timed_round()
            walls.append(wall)
            cpus.append(cpu)
        pairs = n_rules * args.hosts
        cpu_ms = statistics.median(cpus) * 1000
        print(f"rules: {n_rules}, hosts: {args.hosts}, (rule, host) pairs: {pairs}")
        print(
            f"first round (creates the state rows): wall {first_wall * 1000:.0f} ms, "
            f"CPU {first_cpu * 1000:.0f} ms"
        )
        print(
            f"steady round, median of {args.rounds}: "
            f"wall {statistics.median(walls) * 1000:.0f} ms, "
            f"CPU {cpu_ms:.0f} ms (max {max(cpus) * 1000:.0f} ms)"
        )
        print(f"CPU per rule per host: {cpu_ms * 1000 / pairs:.2f} us")
        print(
            f"share of one core at a {args.interval:g} s interval: "
            f"{100 * cpu_ms / 1000 / args.interval:.2f} %"
        )
        print(
            f"evaluations counted: {evaluator.stats.evaluations}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        if args.latency_trials:
            latency(engine, writer, keys, base, cpu_at, args)


class _Hook:
    def __init__(self) -> None:
        self.arrived: list[tuple[float, dict[str, Any]]] = []
        self.event = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.arrived.append((time.perf_counter(), body))
                hook.event.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def latency(  # noqa: PLR0917 (the fleet's pieces from main)
    engine: Any,
    writer: StoreWriter,
    keys: tuple[str, ...],
    base: list[float],
    cpu_at: int,
    args: Any,
) -> None:
    hook = _Hook()
    with engine.begin() as conn:  # only the latency rule speaks from here on
        conn.execute(update(alert_rules).values(enabled=False))
    queries = AlertQueries(engine)
    queries.create_rule(
        1, RuleSpec("latency", "cpu_percent", ">", 99.0, 0), int(time.time() * 1000)
    )
    with engine.begin() as conn:
        conn.execute(
            insert(alert_channels).values(
                tenant_id=1,
                name="hook",
                kind="webhook",
                config=json.dumps({"url": hook.url}),
                enabled=True,
                created_ms=int(time.time() * 1000),
            )
        )
    evaluator = AlertEvaluator(engine, holder="latency", interval_seconds=args.interval)
    thread = threading.Thread(target=evaluator.run, daemon=True)
    thread.start()
    seconds = []
    try:
        for trial in range(args.latency_trials):
            time.sleep(random.Random(trial).uniform(0, args.interval))  # any phase of the round
            hook.event.clear()
            values = list(base)
            values[cpu_at] = 99.5
            ts = int(time.time() * 1000)
            writer.write_batches(
                [
                    BatchRows(
                        1,
                        f"m-{trial}",
                        f"host-{trial:04}",
                        "bench",
                        f"hot-{trial}",
                        (FrameRow(ts, keys, tuple(values)),),
                    )
                ]
            )
            committed = time.perf_counter()
            if not hook.event.wait(args.interval * 3 + 30):
                raise SystemExit(f"trial {trial}: no message")
            arrived, body = hook.arrived[-1]
            assert [a["labels"]["host"] for a in body["alerts"]] == [f"host-{trial:04}"], body
            seconds.append(arrived - committed)
    finally:
        evaluator.stop()
        thread.join(timeout=60)
    print(
        f"notification latency from the sample's commit, interval {args.interval:g} s, "
        f"{len(seconds)} trials: median {statistics.median(seconds):.2f} s, "
        f"min {min(seconds):.2f} s, max {max(seconds):.2f} s"
    )


if __name__ == "__main__":
    main()
