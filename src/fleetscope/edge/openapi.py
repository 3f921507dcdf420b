"""The OpenAPI document, completed so that a client generator or a fuzzer can use it: the bearer
security scheme, the request bodies of routes that read their bodies themselves (ingest), and
the problem-details responses (400/401/403/404/413/415/422/429/503) each route may answer."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fleetscope.edge.problem import PROBLEM_MEDIA_TYPE, ProblemDetails, title_of

Operation = tuple[str, str]  # (method in lower case, path)

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
# What a route may answer besides its success, by kind of route.
READ_STATUSES = (401, 403, 422, 503)
INGEST_STATUSES = (400, 401, 403, 413, 415, 422, 429, 503)


def _problem(status: int, extra: str = "") -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": title_of(status) + extra,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }
    if status in {429, 503}:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def lift_defs(schema: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with `$defs` as OpenAPI wants it: the definitions moved into
    components/schemas (`into`), the references pointed there. Names must not clash."""
    schema = copy.deepcopy(schema)
    definitions = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)

    def point(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else point(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [point(v) for v in node]
        return node

    for name, definition in definitions.items():
        if name in into and into[name] != point(definition):
            raise ValueError(f"OpenAPI schema name {name!r} is defined twice, differently")
        into[name] = point(definition)
    lifted: dict[str, Any] = point(schema)
    return lifted


def complete_openapi(
    app: FastAPI,
    *,
    public: Collection[str],
    bodies: Mapping[Operation, Callable[[dict[str, Any]], dict[str, Any]]],
    ingest: Collection[str],
    parameters: Mapping[Operation, list[dict[str, Any]]] | None = None,
    extra: Mapping[Operation, Collection[int]] | None = None,
    error_content: Mapping[str, dict[str, Any]] | None = None,
) -> Callable[[], dict[str, Any]]:
    """The function to set as `app.openapi`. `public`: paths that need no credentials;
    `bodies`: (method, path) -> a function of components/schemas giving the requestBody;
    `ingest`: paths answered by ingest (their refusals differ from the read API's);
    `parameters`: parameters the route reads itself; `extra`: further statuses of a route;
    `error_content`: path -> media types its refusals may come in besides problem details
    (a standard's own error body, such as OTLP's google.rpc.Status)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["ProblemDetails"] = lift_defs(ProblemDetails.model_json_schema(), schemas)
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an agent API key (ingest) or a login token "
                "(POST /api/v1/auth/login; the dashboard sends it as a cookie)",
            }
        }
        for path, operations in doc.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                if (method, path) in bodies:
                    op["requestBody"] = bodies[(method, path)](schemas)
                if parameters and (method, path) in parameters:
                    op["parameters"] = [*op.get("parameters", ()), *parameters[(method, path)]]
                statuses: set[int] = set((extra or {}).get((method, path), ()))
                if path not in public:
                    op["security"] = [{"bearer": []}]
                    statuses |= {401, 403, 503}
                statuses |= set(INGEST_STATUSES if path in ingest else ())
                if op.get("parameters") or op.get("requestBody"):
                    statuses.add(422)
                if op.get("requestBody"):
                    statuses.add(413)
                if "{" in path:
                    statuses.add(404)
                if any(p.get("in") == "query" for p in op.get("parameters", ())):
                    statuses.add(400)
                for status in sorted(statuses):
                    responses[str(status)] = _problem(status)
                    if error_content and path in error_content:
                        responses[str(status)]["content"].update(error_content[path])
        app.openapi_schema = doc
        return doc

    return build
