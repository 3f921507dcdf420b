"""A host's series over a time range, decoded from stored frames (store/frames.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from fleetscope.model.series import split_series_key
from fleetscope.store.frames import decode_frame, value_or_none
from fleetscope.store.tables import metric_frames, metric_layouts
from fleetscope.store.writer import decode_layout

Point = tuple[float, float | None]  # (unix seconds, value); None = absent at that instant


@dataclass(slots=True)
class Series:
    metric: str
    labels: dict[str, str]
    points: list[Point] = field(default_factory=list)


class MetricQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._layouts: dict[int, list[str]] = {}  # layouts never change once written

    def host_series(
        self,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        metrics: Collection[str] | None = None,
    ) -> list[Series]:
        """Every series of the host in [start, end], in time order, optionally only the named
        metrics. One clustered range scan over (host_id, ts_ms)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(metric_frames.c.ts_ms, metric_frames.c.layout_id, metric_frames.c.vals)
                .where(
                    metric_frames.c.tenant_id == tenant_id,
                    metric_frames.c.host_id == host_id,
                    metric_frames.c.ts_ms >= start_ms,
                    metric_frames.c.ts_ms <= end_ms,
                )
                .order_by(metric_frames.c.ts_ms)
            ).all()
            missing = {layout_id for _, layout_id, _ in rows} - self._layouts.keys()
            if missing:
                for layout_id, series_json in conn.execute(
                    select(metric_layouts.c.id, metric_layouts.c.series).where(
                        metric_layouts.c.id.in_(missing)
                    )
                ):
                    self._layouts[layout_id] = decode_layout(series_json)
        by_key: dict[str, Series] = {}
        # Per layout, which positions to keep and their Series: computed once, not per frame.
        plans: dict[int, list[tuple[int, Series]]] = {}
        for ts_ms, layout_id, blob in rows:
            plan = plans.get(layout_id)
            if plan is None:
                plan = plans[layout_id] = self._plan(self._layouts[layout_id], metrics, by_key)
            values = decode_frame(blob)
            ts = ts_ms / 1000
            for index, series in plan:
                series.points.append((ts, value_or_none(values[index])))
        return sorted(by_key.values(), key=lambda s: (s.metric, sorted(s.labels.items())))

    @staticmethod
    def _plan(
        keys: list[str], metrics: Collection[str] | None, by_key: dict[str, Series]
    ) -> list[tuple[int, Series]]:
        plan = []
        for index, key in enumerate(keys):
            name, labels = split_series_key(key)
            if metrics is not None and name not in metrics:
                continue
            series = by_key.get(key)
            if series is None:
                series = by_key[key] = Series(name, labels)
            plan.append((index, series))
        return plan
