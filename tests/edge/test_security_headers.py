"""Security headers on every page and API response: the dashboard cannot be framed, scripts
run only from this origin, nothing is MIME-sniffed and no referrer leaves."""

from __future__ import annotations

import pytest

from tests.helpers import payload, payload_json
from tests.server import LiveServer

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("method", "path", "auth"),
    [
        ("GET", "/login", None),
        ("GET", "/", None),
        ("GET", "/static/app.js", None),
        ("GET", "/docs", None),
        ("GET", "/openapi.json", None),
        ("GET", "/api/v1/hosts", "user"),
        ("GET", "/api/v1/hosts", None),
        ("GET", "/api/v1/nothing-here", None),
        ("POST", "/api/v1/ingest", "agent"),
        ("POST", "/api/v1/ingest", None),
        ("GET", "/livez", None),
        ("GET", "/metrics", None),
    ],
)
def test_every_response_has_the_security_headers(
    live: LiveServer, method: str, path: str, auth: str | None
) -> None:
    headers = (
        live.user_headers() if auth == "user" else live.agent_headers() if auth == "agent" else {}
    )
    body = payload_json(payload(1)) if method == "POST" else None
    response = live.client.request(
        method, path, headers=headers, content=body, follow_redirects=False
    )
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (path, name, dict(response.headers))
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp


def test_pages_have_no_inline_script(live: LiveServer) -> None:
    # script-src 'self' would block one: every script is a file under /static.
    for path in ("/login", "/docs", "/redoc"):
        html = live.client.get(path).text
        assert "<script>" not in html and '<script src="https:' not in html, path
