"""What the fleet's reads share: each layout's series keys and headline plan, read once, and
host ids cut into statements of bounded size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, select

from fleetscope.query.headline import HeadlinePlan
from fleetscope.store.tables import metric_layouts
from fleetscope.store.writer import decode_layout

# Host ids per statement: far below SQLite's 32,766 bound parameters.
IDS_PER_STATEMENT = 1000


class Layouts:
    """Layout id → series keys and headline plan. Layouts never change once written."""

    def __init__(self) -> None:
        self.keys: dict[int, list[str]] = {}
        self.plans: dict[int, HeadlinePlan] = {}

    def load(self, conn: Connection, layout_ids: Iterable[int]) -> None:
        missing = set(layout_ids) - self.keys.keys()
        if not missing:
            return
        for layout_id, series_json in conn.execute(
            select(metric_layouts.c.id, metric_layouts.c.series).where(
                metric_layouts.c.id.in_(missing)
            )
        ):
            keys = decode_layout(series_json)
            self.keys[layout_id] = keys
            self.plans[layout_id] = HeadlinePlan.of(keys)


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[i : i + IDS_PER_STATEMENT]
