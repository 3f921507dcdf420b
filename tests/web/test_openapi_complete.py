"""The OpenAPI document says everything a client generator or fuzzer needs: the bearer scheme
on every route that wants credentials, the ingest request bodies (payload schema, exposition
text, aggregator bodies, collection files) and the problem-details responses."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from tests.server import LiveServer


def test_security_bodies_and_problem_responses(live: LiveServer) -> None:
    doc: dict[str, Any] = live.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    paths = doc["paths"]
    assert paths["/api/v1/hosts"]["get"]["security"] == [{"bearer": []}]
    assert paths["/api/v1/ingest"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"]

    ingest = paths["/api/v1/ingest"]["post"]
    body_schema = ingest["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/Payload"}
    assert schemas["Payload"]["properties"]["host"] == {"$ref": "#/components/schemas/HostIdentity"}
    prometheus = paths["/api/v1/ingest/prometheus"]["post"]
    assert set(prometheus["requestBody"]["content"]) == {
        "text/plain",
        "application/openmetrics-text",
    }
    assert {p["name"] for p in prometheus["parameters"]} == {"device_name", "timestamp"}
    batch = paths["/api/v1/aggregator/metrics/batch/"]["post"]["requestBody"]
    assert batch["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AggregatorBatch"
    }
    collection = paths["/api/v1/collections"]["post"]["requestBody"]["content"]
    assert {"application/x-ndjson", "multipart/form-data"} <= set(collection)

    for status in ("400", "401", "403", "413", "415", "422", "429", "503"):
        answer = ingest["responses"][status]
        assert answer["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
        }, status
    assert "Retry-After" in ingest["responses"]["429"]["headers"]
    assert {"401", "403", "404", "422"} <= set(paths["/api/v1/hosts/{host_id}"]["get"]["responses"])
    # The processes route's limit is a typed, bounded integer (422 out of range); a bad range
    # or sort is still its own 400.
    processes = paths["/api/v1/hosts/{host_id}/processes"]["get"]
    limit = next(p for p in processes["parameters"] if p["name"] == "limit")
    assert {k: limit["schema"][k] for k in ("type", "minimum", "maximum", "default")} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    assert {"400", "404", "422"} <= set(processes["responses"])
    # The account routes (docs/accounts.md), at the paths scripts rely on.
    for method, path in (
        ("get", "/api/v1/me"),
        ("post", "/api/v1/me/password"),
        ("get", "/api/v1/tenants"),
        ("post", "/api/v1/tenants"),
        ("patch", "/api/v1/tenants/{tenant_id}"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("patch", "/api/v1/users/{user_id}"),
        ("post", "/api/v1/users/{user_id}/password"),
        ("get", "/api/v1/keys"),
        ("post", "/api/v1/keys"),
        ("delete", "/api/v1/keys/{key_id}"),
        ("get", "/api/v1/audit"),
    ):
        assert paths[path][method]["security"] == [{"bearer": []}], (method, path)
        assert {"401", "403"} <= set(paths[path][method]["responses"]), (method, path)
    assert "429" in paths["/api/v1/auth/login"]["post"]["responses"]
    assert "Retry-After" in paths["/api/v1/auth/login"]["post"]["responses"]["429"]["headers"]
    assert "409" in paths["/api/v1/users/{user_id}"]["patch"]["responses"]
    new_key = schemas["NewKeyOut"]
    assert {"id", "key", "name", "scope"} <= set(new_key["required"])
    assert "key" not in schemas["KeyOut"]["properties"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ProblemDetails"]["required"]) == {"title", "status", "detail"}


def test_every_ref_resolves_and_a_problem_matches_its_schema(live: LiveServer) -> None:
    doc = live.client.get("/openapi.json").json()
    text = str(doc)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in doc["components"]["schemas"], name
    problem = live.client.get("/api/v1/hosts").json()
    schema = doc["components"]["schemas"]["ProblemDetails"] | {"components": doc["components"]}
    assert jsonschema_rs.validator_for(schema).is_valid(problem)
