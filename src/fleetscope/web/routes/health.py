"""GET /readyz: whether this process can serve, and if not which dependency is down.

An anonymous caller (a load balancer) learns only the names of what is down: a database
error can name hosts, users and file paths. A signed-in user's token adds each error's text;
the log always has it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fleetscope.model.auth import Principal

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str  # what the caller is told: "database", "stream"
    check: Callable[[], None]  # raises when the dependency cannot be used


def build_health_router(
    dependencies: Sequence[Dependency],
    principal_of: Callable[[Request], Principal | None],
    dead_letters: Callable[[], int],
) -> APIRouter:
    """principal_of: the caller's principal, or None (it must not raise when the database is
    down: such a caller is then anonymous). dead_letters: messages digest could not store."""
    router = APIRouter(tags=["health"])

    @router.get("/readyz", summary="Ready to serve? Names what is down")
    def readyz(request: Request) -> JSONResponse:
        problems: dict[str, str] = {}
        for dependency in dependencies:
            try:
                dependency.check()
            except Exception as exc:  # noqa: BLE001 (any failure means not ready; say which)
                problems[dependency.name] = f"{type(exc).__name__}: {exc}"
                log.warning("readyz: %s is down: %s", dependency.name, problems[dependency.name])
        body: dict[str, object] = {"status": "unavailable" if problems else "ready"}
        if problems:
            body["down"] = sorted(problems)
        if "stream" not in problems:
            try:
                body["dead_letters"] = dead_letters()
            except Exception as exc:  # noqa: BLE001 (went down since the check: say so)
                problems["stream"] = f"{type(exc).__name__}: {exc}"
                body["down"] = sorted(problems)
                body["status"] = "unavailable"
        if problems and _is_user(principal_of, request):
            body["problems"] = problems
        if problems:
            return JSONResponse(
                body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        return JSONResponse(body)

    return router


def _is_user(principal_of: Callable[[Request], Principal | None], request: Request) -> bool:
    try:
        principal = principal_of(request)
    except Exception:  # noqa: BLE001 (the database that verifies tokens may be the one down)
        return False
    return principal is not None and principal.kind == "user"
