"""The read API under /api/v1, one router per resource (web/routes/): login and logout, the
fleet and its summary, hosts and their inventory, a host's charts and top process groups, a
host's series as JSON or CSV, and the accounts: the caller (/me), tenants, users, API keys and
the audit log. Handlers are thin: they parse (typed dependencies in
web/deps.py), call a `query` service (the same ones the dashboard and CLI use) and shape the
answer (web/schemas.py). Handlers are plain `def`: FastAPI runs them in its thread pool, where
blocking database calls belong."""

from __future__ import annotations

from fastapi import APIRouter

from fleetscope.web.routes.audit import build_audit_router
from fleetscope.web.routes.auth import build_auth_router
from fleetscope.web.routes.charts import build_charts_router
from fleetscope.web.routes.fleet import build_fleet_router
from fleetscope.web.routes.hosts import build_hosts_router
from fleetscope.web.routes.keys import build_keys_router
from fleetscope.web.routes.me import build_me_router
from fleetscope.web.routes.metrics import build_metrics_router
from fleetscope.web.routes.processes import build_processes_router
from fleetscope.web.routes.tenants import build_tenants_router
from fleetscope.web.routes.users import build_users_router
from fleetscope.web.services import ReadServices


def build_router(services: ReadServices) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for build in (
        build_auth_router,
        build_fleet_router,
        build_hosts_router,
        build_charts_router,
        build_processes_router,
        build_metrics_router,
    ):
        router.include_router(build(services))
    if services.accounts is not None:
        for build in (
            build_me_router,
            build_tenants_router,
            build_users_router,
            build_keys_router,
            build_audit_router,
        ):
            router.include_router(build(services))
    return router
