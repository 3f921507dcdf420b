"""The evaluation loop: every interval, whoever holds the lease (one process at a time, across
workers) evaluates every enabled rule against every matching host, commits the round's states,
history and owed messages together, then delivers the outbox."""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from fleetscope.alerting import channels, outbox, repo
from fleetscope.alerting.evaluate import AlertState, Notice, step
from fleetscope.alerting.messages import AlertGroup, AlertItem, idempotency_key, webhook_body
from fleetscope.alerting.observe import Layouts, host_views
from fleetscope.alerting.signals import DEFAULT_FORECAST_WINDOW_S, read_signal
from fleetscope.model.alerts import Rule

log = logging.getLogger(__name__)

PRUNE_EVERY_MS = 3_600_000
# A process group counts as present when its host sent processes this recently.
GROUPS_LOOKBACK_MS = 5 * 60_000


@dataclass
class EvalStats:
    rounds: int = 0
    evaluations: int = 0  # (rule, host) pairs
    last_round_seconds: float = 0.0
    messages_queued: int = 0


class AlertEvaluator:
    def __init__(
        self,
        engine: Engine,
        *,
        holder: str,
        interval_seconds: float = 15.0,
        lease_seconds: float = 60.0,
        send: outbox.Send = channels.send,
        external_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.interval_seconds = interval_seconds
        self.lease_ms = int(lease_seconds * 1000)
        self.send = send
        self.external_url = external_url.rstrip("/")
        self.clock = clock
        self.stats = EvalStats()
        self.delivery = outbox.DeliveryStats()
        self.layouts = Layouts()
        self.holding = False
        self.watching_since_ms: int | None = None
        # States as committed, per tenant: this evaluator is their only writer while it holds
        # the lease, and reading 20,000 rows back every round was a fifth of its cost. Dropped
        # when the lease is taken anew, a rule changes or a round fails.
        self._states: dict[int, dict[tuple[int, int], AlertState]] = {}
        self._rules_version: tuple[tuple[int, int], ...] = ()
        self._pruned_ms = 0
        self._stop = threading.Event()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def run_once(self) -> bool:
        """One round if this process holds (or takes) the lease; False when another does."""
        now = self.now_ms()
        held = repo.acquire_lease(
            self.engine, repo.EVALUATOR_LEASE, self.holder, now, self.lease_ms
        )
        if held and not self.holding:
            # Newly the evaluator: messages a dead holder left mid-attempt are owed again.
            resumed = outbox.resume_interrupted(self.engine)
            if resumed:
                log.warning("alerting: %d message(s) interrupted mid-send, sending again", resumed)
            log.info("alerting: %s evaluates", self.holder)
            self.watching_since_ms = now
            self._states.clear()
        self.holding = held
        if not held:
            return False
        self.evaluate(now)
        outbox.deliver_due(self.engine, self.send, self.now_ms(), self.delivery)
        if now - self._pruned_ms >= PRUNE_EVERY_MS:
            self._pruned_ms = now
            repo.prune(self.engine, now)
        return True

    def evaluate(self, now_ms: int) -> None:
        started = time.perf_counter()
        pending: list[tuple[int, list[repo.StateWrite]]] = []
        try:
            with self.engine.begin() as conn:
                version = repo.rules_version(conn)
                if version != self._rules_version:
                    self._states.clear()  # a rule changed: the REST side may have reset states
                    self._rules_version = version
                by_tenant: dict[int, list[Rule]] = defaultdict(list)
                for rule in repo.enabled_rules(conn):
                    by_tenant[rule.tenant_id].append(rule)
                for tenant_id, rules in by_tenant.items():
                    pending.append((tenant_id, self._tenant_round(conn, tenant_id, rules, now_ms)))
        except BaseException:
            self._states.clear()  # rolled back: the cache may be ahead of the database
            raise
        for tenant_id, writes in pending:  # committed: the cache follows
            states = self._states.get(tenant_id)
            if states is not None:
                states.update({(w.rule_id, w.host_id): w.state for w in writes})
        self.stats.rounds += 1
        self.stats.last_round_seconds = time.perf_counter() - started

    def _tenant_round(
        self, conn: Connection, tenant_id: int, rules: list[Rule], now_ms: int
    ) -> list[repo.StateWrite]:
        windows = [
            int(r.spec.params.get("window_seconds", DEFAULT_FORECAST_WINDOW_S)) * 1000
            for r in rules
            if r.spec.signal == "filesystem_hours_to_full"
        ]
        wants_groups = any(r.spec.signal == "process_groups_gone" for r in rules)
        views = host_views(
            conn,
            self.layouts,
            tenant_id,
            now_ms,
            older_window_ms=max(windows) if windows else None,
            groups_since_ms=now_ms - GROUPS_LOOKBACK_MS if wants_groups else None,
            watching_since_ms=self.watching_since_ms,
        )
        states = self._states.get(tenant_id)
        if states is None:
            states = self._states[tenant_id] = repo.states_of(conn, tenant_id)
        silences = repo.active_silences(conn, tenant_id, now_ms)
        writes: list[repo.StateWrite] = []
        owed: dict[tuple[int, Notice], list[AlertItem]] = defaultdict(list)
        rule_by_id = {r.id: r for r in rules}
        for rule in rules:
            spec = rule.spec
            for view in views:
                if spec.host_pattern != "*" and not fnmatch.fnmatchcase(
                    view.name, spec.host_pattern
                ):
                    continue
                self.stats.evaluations += 1
                prev = states.get((rule.id, view.host_id))
                reading = read_signal(spec, view, now_ms, "{}" if prev is None else prev.detail)
                if prev is None and reading.value is None:
                    continue
                silenced = any(s.covers(rule.id, view.name) for s in silences)
                out = step(spec, reading, prev, now_ms, silenced)
                if _worth_writing(prev, out.state):
                    writes.append(
                        repo.StateWrite(rule.id, view.host_id, out.state, out.changed, prev is None)
                    )
                if out.notify is not None:
                    starts = out.state.active_ms if out.state.active_ms is not None else now_ms
                    owed[(rule.id, out.notify)].append(
                        AlertItem(
                            view.host_id,
                            view.name,
                            out.state.value,
                            json.loads(out.state.detail),
                            starts,
                            now_ms if out.notify == "resolved" else None,
                        )
                    )
        outgoing = []
        if owed:
            for channel in repo.channels_of(conn, tenant_id):
                for (rule_id, notice), items in owed.items():
                    group = AlertGroup(rule_by_id[rule_id], notice, tuple(items))
                    body = webhook_body(group, channel.name, self.external_url)
                    key = idempotency_key(channel.id, group, now_ms)
                    outgoing.append(repo.Outgoing(channel.id, key, json.dumps(body)))
        self.stats.messages_queued += len(outgoing)
        repo.save_round(conn, tenant_id, now_ms, writes, outgoing)
        return writes

    def run(self) -> None:
        """Evaluate every interval until stop(); database errors are logged and retried."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except SQLAlchemyError as exc:
                log.warning(
                    "alerting: round failed (%s); next round in %.1f s", exc, self.interval_seconds
                )
            self._stop.wait(max(0.0, self.interval_seconds - (time.monotonic() - started)))
        if self.holding:
            try:
                repo.release_lease(self.engine, repo.EVALUATOR_LEASE, self.holder)
            except SQLAlchemyError as exc:
                log.warning("alerting: lease not released (%s); it expires by itself", exc)

    def stop(self) -> None:
        self._stop.set()


def _worth_writing(prev: AlertState | None, new: AlertState) -> bool:
    """Every change but a new value of an inactive or resolved state: that one would rewrite
    every (rule, host) row every round, and nobody reads it."""
    if prev is None:
        return True
    if prev == new:
        return False
    if new.state in {"inactive", "resolved"} and prev.state == new.state:
        return prev.detail != new.detail or prev.notified_ms != new.notified_ms
    return True
