"""Stored analyses (table `analyses`): start one, follow it, list them, fetch its report files.
The API, the dashboard and the analysis runner (report/runner.py) share these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, and_, func, insert, select, update

from fleetscope.store.tables import analyses, collections, hosts, users

State = Literal["queued", "running", "done", "failed"]
STATES = ("queued", "running", "done", "failed")
STATUSES = ("primary", "success", "warning", "danger", "info")
_SUMMARY_COLUMNS = [
    c for c in analyses.c if c.name not in {"report_html", "report_pdf", "findings"}
]


class NotFound(LookupError):
    """The message names what was not found."""


@dataclass(frozen=True, slots=True)
class Job:
    """What the runner needs to analyse one row."""

    id: int
    tenant_id: int
    host_id: int
    host_name: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class AnalysisRow:
    id: int
    host_id: int
    host: str
    collection_id: int | None
    created_by: int | None
    start: datetime
    end: datetime
    created_at: datetime
    analysed_at: datetime | None
    state: str
    progress: int
    status: str | None
    fit: int | None
    snapshots: int | None
    error: str | None
    findings: list[dict[str, Any]] | None = None


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _row(r: Any, host: str, findings: str | None = None) -> AnalysisRow:
    return AnalysisRow(
        id=r.id,
        host_id=r.host_id,
        host=host,
        collection_id=r.collection_id,
        created_by=r.created_by,
        start=datetime.fromtimestamp(r.start_ms / 1000, tz=UTC),
        end=datetime.fromtimestamp(r.end_ms / 1000, tz=UTC),
        created_at=datetime.fromtimestamp(r.created_ms / 1000, tz=UTC),
        analysed_at=_dt(r.analysed_ms),
        state=r.state,
        progress=r.progress,
        status=r.status,
        fit=r.fit,
        snapshots=r.snapshots,
        error=r.error,
        findings=None if findings is None else json.loads(findings),
    )


class AnalysisQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def host_id(self, tenant_id: int, name: str) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(hosts.c.id).where(hosts.c.tenant_id == tenant_id, hosts.c.name == name)
            ).scalar()
        if found is None:
            raise NotFound(f"host: no host named {name!r}")
        return int(found)

    def user_id(self, tenant_id: int, username: str) -> int | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(users.c.id).where(
                    users.c.tenant_id == tenant_id, users.c.username == username
                )
            ).scalar()
        return None if found is None else int(found)

    def create(
        self,
        tenant_id: int,
        host_id: int,
        *,
        start_ms: int,
        end_ms: int,
        now_ms: int,
        created_by: int | None = None,
        collection_id: int | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(analyses).values(
                    tenant_id=tenant_id,
                    created_by=created_by,
                    host_id=host_id,
                    collection_id=collection_id,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    created_ms=now_ms,
                    state="queued",
                    progress=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def create_for_collection(
        self, tenant_id: int, collection_id: int, now_ms: int, created_by: int | None = None
    ) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(
                    collections.c.host_id, collections.c.first_ts_ms, collections.c.last_ts_ms
                ).where(collections.c.tenant_id == tenant_id, collections.c.id == collection_id)
            ).first()
        if found is None:
            raise NotFound(f"collection_file: no collection file with id {collection_id}")
        return self.create(
            tenant_id, found.host_id, start_ms=found.first_ts_ms, end_ms=found.last_ts_ms,
            now_ms=now_ms, created_by=created_by, collection_id=collection_id,
        )  # fmt: skip

    def unanalysed_collections(self, since_ms: int) -> list[tuple[int, int]]:
        """(tenant_id, collection id) of uploads received since `since_ms` with no analysis."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(collections.c.tenant_id, collections.c.id)
                .outerjoin(analyses, analyses.c.collection_id == collections.c.id)
                .where(collections.c.received_ms >= since_ms, analyses.c.id.is_(None))
                .order_by(collections.c.id)
            ).all()
        return [(r.tenant_id, r.id) for r in rows]

    def pending(self) -> list[int]:
        """Queued and running rows (running ones were cut short by a restart), oldest first."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(analyses.c.id)
                    .where(analyses.c.state.in_(("queued", "running")))
                    .order_by(analyses.c.id)
                ).scalars()
            )

    def job(self, analysis_id: int) -> Job | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(analyses.c.id, analyses.c.tenant_id, analyses.c.host_id,
                       hosts.c.name, analyses.c.start_ms, analyses.c.end_ms)
                .join(hosts, hosts.c.id == analyses.c.host_id)
                .where(analyses.c.id == analysis_id)
            ).first()  # fmt: skip
        return None if r is None else Job(r[0], r[1], r[2], r[3], r[4], r[5])

    def set_progress(self, analysis_id: int, state: State, progress: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(analyses)
                .where(analyses.c.id == analysis_id)
                .values(state=state, progress=progress)
            )

    def finish(
        self,
        analysis_id: int,
        now_ms: int,
        *,
        status: str,
        fit: int,
        snapshots: int,
        findings: list[dict[str, Any]],
        html: bytes,
        pdf: bytes,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(analyses)
                .where(analyses.c.id == analysis_id)
                .values(
                    state="done", progress=100, analysed_ms=now_ms, status=status, fit=fit,
                    snapshots=snapshots, findings=json.dumps(findings), report_html=html,
                    report_pdf=pdf, error=None,
                )
            )  # fmt: skip

    def fail(self, analysis_id: int, now_ms: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(analyses)
                .where(analyses.c.id == analysis_id)
                .values(state="failed", analysed_ms=now_ms, error=error[:2000])
            )

    def get(self, tenant_id: int, analysis_id: int) -> AnalysisRow:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(*_SUMMARY_COLUMNS, analyses.c.findings, hosts.c.name.label("host_name"))
                .join(hosts, hosts.c.id == analyses.c.host_id)
                .where(analyses.c.tenant_id == tenant_id, analyses.c.id == analysis_id)
            ).first()
        if r is None:
            raise NotFound(f"no analysis with id {analysis_id}")
        return _row(r, r.host_name, r.findings)

    def list(
        self,
        tenant_id: int,
        *,
        status: str | None = None,
        host: str | None = None,
        host_id: int | None = None,
        state: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[AnalysisRow]:
        """Newest first. since/until filter on when the analysis was created."""
        conditions = [analyses.c.tenant_id == tenant_id]
        if status is not None:
            conditions.append(analyses.c.status == status)
        if host is not None:
            conditions.append(hosts.c.name == host)
        if host_id is not None:
            conditions.append(analyses.c.host_id == host_id)
        if state is not None:
            conditions.append(analyses.c.state == state)
        if since_ms is not None:
            conditions.append(analyses.c.created_ms >= since_ms)
        if until_ms is not None:
            conditions.append(analyses.c.created_ms <= until_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_SUMMARY_COLUMNS, hosts.c.name.label("host_name"))
                .join(hosts, hosts.c.id == analyses.c.host_id)
                .where(and_(*conditions))
                .order_by(analyses.c.id.desc())
                .limit(limit)
            ).all()
        return [_row(r, r.host_name) for r in rows]

    def latest_done(self, tenant_id: int, host_id: int) -> AnalysisRow | None:
        with self.engine.connect() as conn:
            newest = conn.execute(
                select(func.max(analyses.c.id)).where(
                    analyses.c.tenant_id == tenant_id,
                    analyses.c.host_id == host_id,
                    analyses.c.state == "done",
                )
            ).scalar()
        return None if newest is None else self.get(tenant_id, int(newest))

    def report(self, tenant_id: int, analysis_id: int, kind: Literal["html", "pdf"]) -> bytes:
        column = analyses.c.report_html if kind == "html" else analyses.c.report_pdf
        with self.engine.connect() as conn:
            r = conn.execute(
                select(analyses.c.state, column).where(
                    analyses.c.tenant_id == tenant_id, analyses.c.id == analysis_id
                )
            ).first()
        if r is None:
            raise NotFound(f"no analysis with id {analysis_id}")
        if r[1] is None:
            raise NotFound(f"analysis {analysis_id} is {r[0]}: its report is not ready")
        return bytes(r[1])
