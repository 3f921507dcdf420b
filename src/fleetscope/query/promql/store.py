"""Series selection from the stored frames, under their Prometheus names.

The naming rule (docs/interop.md, "Querying fleetscope as Prometheus"): a stored series key
`name{labels}` (model/series.py) is the Prometheus series `name{labels, host="<host name>"}`.
Names outside Prometheus' alphabet get `_` for each other character (and a leading `_` before
a digit). A stored label called `host` becomes `exported_host`, as Prometheus renames a
scraped label that clashes with a target label. When two hosts share a name, the one seen most
recently answers, as in the REST API (query/hosts.py `by_name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import Connection, Engine, select

from fleetscope.model.series import split_series_key
from fleetscope.query.promql.values import NAME, Labels, Raw
from fleetscope.store.chunks import decode_columns, lookback
from fleetscope.store.tables import hosts, metric_frames, metric_layouts
from fleetscope.store.writer import decode_layout

HOST_LABEL = "host"
_BAD_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")

MatchOp = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def compiled(self) -> re.Pattern[str] | None:
        if self.op in {"=~", "!~"}:
            # Prometheus anchors every regex at both ends.
            return _regex(self.value)
        return None

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        pattern = _regex(self.value)
        found = pattern.fullmatch(value) is not None
        return found if self.op == "=~" else not found


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(text: str) -> re.Pattern[str]:
    pattern = _REGEX_CACHE.get(text)
    if pattern is None:
        if len(_REGEX_CACHE) > 1000:
            _REGEX_CACHE.clear()
        pattern = _REGEX_CACHE[text] = re.compile(f"(?:{text})")
    return pattern


def prom_name(stored: str) -> str:
    name = _BAD_NAME_CHAR.sub("_", stored)
    return "_" + name if name[:1].isdigit() else name


def prom_labels(key: str, host_name: str) -> Labels:
    """The Prometheus labels of stored series `key` on host `host_name` (module doc)."""
    name, stored = split_series_key(key)
    found = {NAME: prom_name(name), HOST_LABEL: host_name}
    for label, value in stored.items():
        clean = _BAD_LABEL_CHAR.sub("_", label)
        found["exported_host" if clean == HOST_LABEL else clean] = value
    return tuple(sorted(found.items()))


def matches(labels: Labels, matchers: Iterable[Matcher]) -> bool:
    values = dict(labels)
    return all(m.matches(values.get(m.name, "")) for m in matchers)


@dataclass(frozen=True, slots=True)
class HostRef:
    id: int
    name: str


class PromStore:
    """Reads raw frames (store/frames.py) and turns the matched series into `Raw` arrays."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._layouts: dict[int, list[str]] = {}  # layouts never change once written
        # Prometheus labels of every key of a layout on a host: the same on every query.
        self._labels: dict[tuple[int, str], list[Labels]] = {}
        # Which positions of a layout a selector takes on a host: the same on every query.
        self._plans: dict[tuple[int, str, tuple[Matcher, ...]], list[tuple[int, Labels]]] = {}

    def hosts(self, tenant_id: int, matchers: Iterable[Matcher] = ()) -> list[HostRef]:
        """One host per name, the most recently seen, filtered by the `host` matchers."""
        on_host = [m for m in matchers if m.name == HOST_LABEL]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(hosts.c.id, hosts.c.name)
                .where(hosts.c.tenant_id == tenant_id)
                .order_by(hosts.c.last_seen_ms.desc(), hosts.c.id.desc())
            ).all()
        found: dict[str, HostRef] = {}
        for host_id, name in rows:
            if name not in found and all(m.matches(name) for m in on_host):
                found[name] = HostRef(host_id, name)
        return sorted(found.values(), key=lambda h: h.name)

    def select(
        self, tenant_id: int, matchers: list[Matcher], mint_ms: int, maxt_ms: int
    ) -> list[Raw]:
        """Every series matching all `matchers` with its samples in [mint, maxt]."""
        out: list[Raw] = []
        for host in self.hosts(tenant_id, matchers):
            out.extend(self._host_select(tenant_id, host, matchers, mint_ms, maxt_ms))
        return out

    def _host_select(
        self, tenant_id: int, host: HostRef, matchers: list[Matcher], mint_ms: int, maxt_ms: int
    ) -> list[Raw]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(metric_frames.c.ts_ms, metric_frames.c.layout_id, metric_frames.c.vals)
                .where(
                    metric_frames.c.tenant_id == tenant_id,
                    metric_frames.c.host_id == host.id,
                    metric_frames.c.ts_ms >= lookback(mint_ms),
                    metric_frames.c.ts_ms <= maxt_ms,
                )
                .order_by(metric_frames.c.ts_ms)
            ).all()
            self._learn_layouts(conn, {layout_id for _, layout_id, _ in rows})
        by_layout: dict[int, tuple[list[int], list[bytes]]] = {}
        for ts_ms, layout_id, blob in rows:
            times, blobs = by_layout.setdefault(layout_id, ([], []))
            times.append(ts_ms)
            blobs.append(blob)
        pieces: dict[Labels, list[tuple[np.ndarray, np.ndarray]]] = {}
        for layout_id, (times, blobs) in by_layout.items():
            plan = self._plan(layout_id, host.name, matchers)
            if not plan:
                continue
            columns = np.fromiter((i for i, _ in plan), dtype=np.intp, count=len(plan))
            t, values = _layout_samples(times, blobs, columns, mint_ms, maxt_ms)
            if not t.size:  # rows that start before mint and hold nothing from it on
                continue
            for col, (_, labels) in enumerate(plan):
                pieces.setdefault(labels, []).append((t, values[:, col]))
        out = []
        for labels, parts in pieces.items():
            if len(parts) == 1:
                t, v = parts[0]
                out.append(Raw(labels, t, np.ascontiguousarray(v)))
                continue
            t = np.concatenate([p[0] for p in parts])
            v = np.concatenate([p[1] for p in parts])
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
            keep = np.ones(len(t), dtype=bool)
            keep[1:] = t[1:] != t[:-1]  # one sample per instant: the first layout's
            out.append(Raw(labels, t[keep], v[keep]))
        return out

    def _plan(
        self, layout_id: int, host_name: str, matchers: list[Matcher]
    ) -> list[tuple[int, Labels]]:
        key = (layout_id, host_name, tuple(matchers))
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 10_000:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(layout_id, host_name, matchers)
        return plan

    def _make_plan(
        self, layout_id: int, host_name: str, matchers: list[Matcher]
    ) -> list[tuple[int, Labels]]:
        every = self._labels.get((layout_id, host_name))
        if every is None:
            if len(self._labels) > 10_000:
                self._labels.clear()
            every = [prom_labels(key, host_name) for key in self._layouts[layout_id]]
            self._labels[layout_id, host_name] = every
        plan = []
        for index, labels in enumerate(every):
            if matches(labels, matchers):
                plan.append((index, labels))
        return plan

    def series(
        self, tenant_id: int, matcher_sets: list[list[Matcher]], mint_ms: int, maxt_ms: int
    ) -> list[Labels]:
        """The label sets of the series with a frame in [mint, maxt] that match any of the
        sets (every series when `matcher_sets` is empty)."""
        host_list = self.hosts(tenant_id)
        names = {h.id: h.name for h in host_list}
        with self.engine.connect() as conn:
            pairs = conn.execute(
                select(metric_frames.c.host_id, metric_frames.c.layout_id)
                .distinct()
                .where(
                    metric_frames.c.tenant_id == tenant_id,
                    metric_frames.c.ts_ms >= lookback(mint_ms),
                    metric_frames.c.ts_ms <= maxt_ms,
                    metric_frames.c.host_id.in_(names),
                )
            ).all()
            self._learn_layouts(conn, {layout_id for _, layout_id in pairs})
        found: set[Labels] = set()
        for host_id, layout_id in pairs:
            for key in self._layouts[layout_id]:
                labels = prom_labels(key, names[host_id])
                if not matcher_sets or any(matches(labels, s) for s in matcher_sets):
                    found.add(labels)
        return sorted(found)

    def _learn_layouts(self, conn: Connection, layout_ids: set[int]) -> None:
        missing = layout_ids - self._layouts.keys()
        if missing:
            for layout_id, series_json in conn.execute(
                select(metric_layouts.c.id, metric_layouts.c.series).where(
                    metric_layouts.c.id.in_(missing)
                )
            ):
                self._layouts[layout_id] = decode_layout(series_json)


def _layout_samples(
    times: list[int], blobs: list[bytes], columns: np.ndarray, mint_ms: int, maxt_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """(times, values[:, columns]) of one layout's rows (store/chunks.py), in time order, within
    [mint, maxt], a snapshot stored twice kept once."""
    decoded = [
        decode_columns(ts_ms, blob, columns) for ts_ms, blob in zip(times, blobs, strict=True)
    ]
    t = np.concatenate([np.asarray(d[0], dtype=np.int64) for d in decoded])
    values = np.concatenate([d[1] for d in decoded])
    order = np.argsort(t, kind="stable")
    t, values = t[order], values[order]
    keep = (t >= mint_ms) & (t <= maxt_ms)
    keep[1:] &= t[1:] != t[:-1]
    return t[keep], values[keep]
