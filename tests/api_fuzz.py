"""The API fuzzer shared by tests/system/test_api_fuzz.py (bounded, in the gate) and
bench/fuzz_api.py (a longer run): schemathesis generates requests for every operation of the
server's own OpenAPI, sends each with the credentials that operation wants (an agent key for
ingest, an admin login token for the rest), and checks that no answer is a 5xx and that every
answer conforms to the document (status, content type, headers, body schema)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from tests.server import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


INGEST_PREFIXES = (
    "/api/v1/ingest",
    "/api/v1/aggregator",
    "/api/v1/collections",
    "/prometheus/api/v1/write",
    "/v1/metrics",
    "/v1/upload",
)


def credentials(live: LiveServer) -> Callable[[str], dict[str, str]]:
    """The agent key for ingest, an admin login token for the rest."""
    user = live.user_headers()
    # Made before any fuzzing: fuzzed logins and password changes are throttled (429), and a
    # login made after them could be too.
    for_logout = live.user_headers()
    agent = {"Authorization": f"Bearer {live.agent_key}"}

    def headers_for(path: str) -> dict[str, str]:
        if path.startswith(INGEST_PREFIXES):
            return agent
        # Logout ends the session it is sent with: a session of its own, so the others stay.
        return for_logout if path == "/api/v1/auth/logout" else user

    return headers_for


@dataclass
class FuzzReport:
    requests: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz(
    app: Any,
    headers_for: Callable[[str], dict[str, str]],
    max_examples: int,
    seed_value: int = 0,
) -> FuzzReport:
    """`headers_for(path)` gives the credentials for an operation's path."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        report.requests[label] = 0
        report.statuses[label] = set()
        _fuzz_operation(
            operation, label, headers_for(operation.path), max_examples, seed_value, report
        )
    return report


def _fuzz_operation(  # noqa: PLR0917 (one call site, all named by role)
    operation: Any,
    label: str,
    headers: dict[str, str],
    max_examples: int,
    seed_value: int,
    report: FuzzReport,
) -> None:
    @seed(seed_value)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        report.requests[label] += 1
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
        except (AssertionError, Failure, FailureGroup) as exc:
            report.failures.append(f"{label}: {str(exc)[:1500]}")
            return
        report.statuses[label].add(response.status_code)

    run()
