"""Wires stored analyses into the server: the REST router (web/routes/analyses.py) and the
worker thread that runs them (report/runner.py), started and stopped with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from fleetscope.cli.settings import ServerSettings
from fleetscope.query.analyses import AnalysisQueries
from fleetscope.web.routes.analyses import build_analyses_router
from fleetscope.web.services import ReadServices


def install_analyses(
    app: FastAPI, settings: ServerSettings, engine: Engine, services: ReadServices
) -> None:
    # Imported here: numpy and matplotlib load with the report package, and only a running
    # server needs them, not every command whose import chain reaches this module.
    from fleetscope.report.runner import AnalysisRunner

    queries = AnalysisQueries(engine)
    runner = AnalysisRunner(
        queries,
        services.metrics,
        services.inventory,
        analyse_uploads=settings.analyse_uploads,
        clock=services.clock,
    )
    app.state.analysis_runner = runner
    app.include_router(build_analyses_router(services, queries, runner.submit))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Inside the server's own lifespan: the runner stops before the engine is disposed, so
        # no connection it holds outlives the pool (psycopg warned of one, unclosed, at GC).
        async with inner(app):
            runner.start()
            try:
                yield
            finally:
                runner.stop()

    app.router.lifespan_context = lifespan
