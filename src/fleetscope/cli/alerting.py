"""Wiring alerting into the server and the workers: the REST routes, the ready-made rules, and
the evaluator thread where digest runs (the embedded server, or every worker, of which the
lease lets one evaluate at a time)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from fleetscope.alerting import channels
from fleetscope.alerting.evaluator import AlertEvaluator
from fleetscope.alerting.messages import test_body
from fleetscope.alerting.repo import ensure_default_rules
from fleetscope.cli.settings import ServerSettings
from fleetscope.model.alerts import BadRule, parse_channel_config
from fleetscope.query.alerts import AlertQueries
from fleetscope.query.auth import AuthService
from fleetscope.web.routes.alerts import AlertServices, build_router

log = logging.getLogger(__name__)


def test_sender(external_url: str) -> Callable[[str, str, str], str | None]:
    def test_send(kind: str, config: str, name: str) -> str | None:
        body = test_body(name, external_url, int(time.time() * 1000))
        try:
            channels.send(parse_channel_config(kind, config), body, secrets.token_hex(16))
        except (channels.ChannelError, BadRule) as exc:
            return str(exc)
        return None

    return test_send


class EvaluatorThread:
    def __init__(self, settings: ServerSettings, engine: Engine, holder: str) -> None:
        self.evaluator = AlertEvaluator(
            engine,
            holder=holder,
            interval_seconds=settings.alert_interval_seconds,
            lease_seconds=settings.alert_lease_seconds,
            external_url=settings.alert_external_url,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.evaluator.run, name="alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.evaluator.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)


def default_holder() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def attach_alerts(
    app: FastAPI, settings: ServerSettings, engine: Engine, *, evaluate: bool
) -> EvaluatorThread | None:
    """Routes always; the evaluator when this process digests."""
    made = ensure_default_rules(engine, int(time.time() * 1000))
    if made:
        log.info("alerting: %d ready-made rules created", made)
    services = AlertServices(
        AuthService(engine), AlertQueries(engine), test_sender(settings.alert_external_url)
    )
    app.include_router(build_router(services))
    if not (evaluate and settings.alerts_evaluate):
        return None
    thread = EvaluatorThread(settings, engine, default_holder())
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            thread.start()
            try:
                yield
            finally:
                thread.stop()

    app.router.lifespan_context = lifespan
    return thread
