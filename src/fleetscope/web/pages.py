"""The dashboard's pages: static HTML shells whose scripts call the API. No server-side
templating and no build step: the JS, CSS and uPlot are files in web/static (uPlot vendored in
static/vendor). A page without a valid session cookie redirects to /login."""

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from fleetscope.web.deps import HostId
from fleetscope.web.services import ReadServices

STATIC_DIR = Path(__file__).parent / "static"
# The settings pages share one shell (settings.html); its script shows the section the path
# names and only the sections and controls the caller's role may use (the API refuses the rest).
SETTINGS_SECTIONS = frozenset({"account", "users", "keys", "collectors", "tenants", "audit"})


def mount_dashboard(app: FastAPI, services: ReadServices) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(build_pages(services))


def _page(name: str) -> FileResponse:
    # no-cache: a new release's pages must not run against old cached scripts' expectations
    return FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})


def build_pages(services: ReadServices) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def logged_in(request: Request, page: str) -> Response:
        if services.session(request) is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return _page(page)

    @router.get("/login")
    def login_page() -> Response:
        return _page("login.html")

    @router.get("/")
    def overview_page(request: Request) -> Response:
        return logged_in(request, "overview.html")

    @router.get("/analyses")
    def analyses_page(request: Request) -> Response:
        return logged_in(request, "analyses.html")

    # The API's documentation, from the vendored Swagger UI and ReDoc (static/vendor/README).
    @router.get("/docs")
    def swagger_page() -> Response:
        return _page("docs.html")

    @router.get("/redoc")
    def redoc_page() -> Response:
        return _page("redoc.html")

    @router.get("/settings")
    def settings_page(request: Request) -> Response:
        return logged_in(request, "settings.html")

    @router.get("/settings/{section}")
    def settings_section(request: Request, section: str) -> Response:
        if section not in SETTINGS_SECTIONS:
            raise HTTPException(404, f"no settings page {section!r}")
        return logged_in(request, "settings.html")

    @router.get("/hosts/{host_id}")
    def host_page(request: Request, host_id: HostId) -> Response:
        return logged_in(request, "host.html")

    return router
