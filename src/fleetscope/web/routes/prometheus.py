"""The Prometheus HTTP API subset under /prometheus (as Grafana Mimir mounts it), for
Grafana's Prometheus data source and promtool: query, query_range, series, labels, label
values, metadata and buildinfo. GET with query parameters or POST with a form body, as
Prometheus accepts them; answers in Prometheus' envelope ({"status": "success", "data": ...}
or {"status": "error", "errorType": ..., "error": ...}). Reading needs a user's login token
(Bearer) or session cookie, like the rest of the read API; an agent key gets 403."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import promql_parser as pp
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from fleetscope import __version__
from fleetscope.query.promql.engine import PromEngine, Result, matchers_of, parse
from fleetscope.query.promql.params import format_value, parse_step, parse_time
from fleetscope.query.promql.store import Matcher, PromStore
from fleetscope.query.promql.values import NAME, Labels, PromQLError
from fleetscope.web.deps import not_a_user
from fleetscope.web.services import ReadServices

# The Prometheus release whose API and PromQL semantics this answers like (the one
# tests/web/test_promql_differential.py compares with); Grafana reads it to pick features.
PROMETHEUS_API_VERSION = "2.42.0"
DEFAULT_SERIES_RANGE_MS = 24 * 3600 * 1000
_STATUS = {"bad_data": 400, "execution": 422}
Handler = Callable[[Request], Awaitable[Response]]


def _get_and_post(router: APIRouter, path: str, summary: str) -> Callable[[Handler], Handler]:
    """One handler for GET and POST, as two routes with their own operation ids (one route
    with both methods gives OpenAPI a duplicate id, which FastAPI warns about)."""

    def register(handler: Handler) -> Handler:
        for method in ("GET", "POST"):
            router.add_api_route(
                path,
                handler,
                methods=[method],
                summary=summary,
                operation_id=f"prometheus_{path.strip('/')}_{method.lower()}",
            )
        return handler

    return register


Params = dict[str, list[str]]  # a request's parameters, query string and form body

_encoder = msgspec.json.Encoder()


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status_code=status, media_type="application/json")


def _success(data: Any) -> Response:
    return _json({"status": "success", "data": data})


def _error(exc: PromQLError) -> Response:
    return _json(
        {"status": "error", "errorType": exc.kind, "error": str(exc)}, _STATUS.get(exc.kind, 400)
    )


def _metric(labels: Labels) -> dict[str, str]:
    return dict(labels)


def render(result: Result) -> dict[str, Any]:
    """Prometheus' `data` object of a query or query_range answer."""
    seconds = result.times / 1000
    if result.kind == "scalar":
        assert result.scalar is not None
        return {
            "resultType": "scalar",
            "result": [float(seconds[-1]), format_value(float(result.scalar[-1]))],
        }
    if result.kind == "string":
        return {"resultType": "string", "result": [float(seconds[-1]), result.text]}
    if result.raw is not None:
        return {
            "resultType": "matrix",
            "result": [
                {
                    "metric": _metric(r.labels),
                    "values": [
                        [t / 1000, format_value(v)]
                        for t, v in zip(r.t.tolist(), r.v.tolist(), strict=True)
                    ],
                }
                for r in result.raw
                if len(r.t)
            ],
        }
    if result.kind == "vector":
        at = float(seconds[0])
        return {
            "resultType": "vector",
            "result": [
                {"metric": _metric(s.labels), "value": [at, format_value(float(s.v[0]))]}
                for s in result.series
            ],
        }
    times = seconds.tolist()
    out = []
    for s in result.series:
        values = s.v.tolist()
        out.append(
            {
                "metric": _metric(s.labels),
                "values": [[times[i], format_value(values[i])] for i in s.ok.nonzero()[0].tolist()],
            }
        )
    return {"resultType": "matrix", "result": out}


async def _params(request: Request) -> Params:
    found: Params = {}
    for key, value in request.query_params.multi_items():
        found.setdefault(key, []).append(value)
    if request.method == "POST":
        # Prometheus reads POST parameters from an application/x-www-form-urlencoded body
        # (Grafana's default); parsed here rather than with python-multipart, a dependency for
        # one content type.
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            body = (await request.body()).decode("utf-8", errors="replace")
            for key, value in parse_qsl(body, keep_blank_values=True):
                found.setdefault(key, []).append(value)
    return found


def _one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _selectors(params: Params, required: bool) -> list[list[Matcher]]:
    texts = params.get("match[]", [])
    if required and not texts:
        raise PromQLError("no match[] parameter provided")
    sets = []
    for text in texts:
        node = parse(text)
        if not isinstance(node, pp.VectorSelector):
            raise PromQLError(f'invalid parameter "match[]": {text!r} is not a series selector')
        sets.append(matchers_of(node))
    return sets


Answer = Callable[[Request, Callable[[int, Params], Any]], Awaitable[Response]]


def build_prometheus_router(services: ReadServices, engine: PromEngine) -> APIRouter:
    router = APIRouter(prefix="/prometheus/api/v1", tags=["prometheus"])

    def tenant(request: Request) -> int:
        found = services.session(request)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if found is None and scheme.lower() == "basic":
            # promtool and Grafana's basic auth: any user name, a login token as password.
            try:
                token = base64.b64decode(credentials.strip()).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                token = ""
            principal = services.auth.verify_token(token) if token else None
            if principal is not None:
                return principal.tenant_id
        if found is None:
            raise not_a_user(services, request)
        return found[0].tenant_id

    async def answer(request: Request, work: Callable[[int, Params], Any]) -> Response:
        tenant_id = await run_in_threadpool(tenant, request)
        params = await _params(request)
        try:
            data = await run_in_threadpool(work, tenant_id, params)
        except PromQLError as exc:
            return _error(exc)
        return _success(data)

    _query_routes(router, services, engine, answer)
    _listing_routes(router, services, engine.store, answer)
    return router


def _query_routes(
    router: APIRouter, services: ReadServices, engine: PromEngine, answer: Answer
) -> None:
    @_get_and_post(router, "/query", "PromQL instant query")
    async def query(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            text = _one(params, "query")
            if not text:
                raise PromQLError('invalid parameter "query": missing')
            at = parse_time("time", _one(params, "time"), services.now_ms())
            return render(engine.instant(tenant_id, text, at))

        return await answer(request, work)

    @_get_and_post(router, "/query_range", "PromQL range query")
    async def query_range(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            text = _one(params, "query")
            if not text:
                raise PromQLError('invalid parameter "query": missing')
            start = parse_time("start", _one(params, "start"), -1)
            end = parse_time("end", _one(params, "end"), -1)
            if _one(params, "start") is None or _one(params, "end") is None:
                raise PromQLError('invalid parameter "start"/"end": both are required')
            step = parse_step("step", _one(params, "step"))
            return render(engine.range(tenant_id, text, start, end, step))

        return await answer(request, work)


def _listing_routes(
    router: APIRouter, services: ReadServices, store: PromStore, answer: Answer
) -> None:
    def window(params: Params) -> tuple[int, int]:
        end = parse_time("end", _one(params, "end"), services.now_ms())
        start = parse_time("start", _one(params, "start"), end - DEFAULT_SERIES_RANGE_MS)
        if end < start:
            raise PromQLError(
                'invalid parameter "end": end timestamp must not be before start time'
            )
        return start, end

    @_get_and_post(router, "/series", "Series matching selectors")
    async def series(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            start, end = window(params)
            sets = _selectors(params, required=True)
            return [_metric(labels) for labels in store.series(tenant_id, sets, start, end)]

        return await answer(request, work)

    @_get_and_post(router, "/labels", "Label names")
    async def labels(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            start, end = window(params)
            found = store.series(tenant_id, _selectors(params, required=False), start, end)
            return sorted({name for labels in found for name, _ in labels})

        return await answer(request, work)

    @router.get("/label/{name}/values", summary="Values of one label")
    async def label_values(name: str, request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            start, end = window(params)
            found = store.series(tenant_id, _selectors(params, required=False), start, end)
            return sorted({value for labels in found for key, value in labels if key == name})

        return await answer(request, work)

    @router.get("/metadata", summary="Metric types (counter for *_total, else gauge)")
    async def metadata(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            wanted = _one(params, "metric")
            end = services.now_ms()
            sets = [[Matcher(NAME, "=", wanted)]] if wanted else []
            names = {
                dict(labels)[NAME]
                for labels in store.series(tenant_id, sets, end - DEFAULT_SERIES_RANGE_MS, end)
            }
            return {
                name: [
                    {
                        "type": "counter" if name.endswith("_total") else "gauge",
                        "help": "",
                        "unit": "",
                    }
                ]
                for name in sorted(names)
            }

        return await answer(request, work)

    @router.get("/query_exemplars", summary="Exemplars (fleetscope stores none)")
    async def exemplars(request: Request) -> Response:
        return await answer(request, lambda tenant_id, params: [])

    @router.get("/status/buildinfo", summary="Which Prometheus API this answers like")
    async def buildinfo(request: Request) -> Response:
        def work(tenant_id: int, params: Params) -> Any:
            return {
                "version": PROMETHEUS_API_VERSION,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
                "application": "fleetscope",
                "fleetscopeVersion": __version__,
            }

        return await answer(request, work)
