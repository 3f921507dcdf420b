"""Every error the HTTP API answers is an RFC 9457 problem details object
(`application/problem+json`): type, title, status, detail, and for a validation error
`errors`, one {field, message} per wrong field. Ingest, the read API, authentication, unknown
routes (404) and wrong methods (405) all answer through `problem_response`.

An error never echoes the request back beyond a short excerpt (`excerpt`): a 60 MiB login body
was once answered whole in the 422, password included."""

from __future__ import annotations

import http
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
EXCERPT_CHARS = 80
MAX_DETAIL_CHARS = 500
MAX_ERRORS = 20


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class FieldErrorOut(BaseModel):
    field: str = Field(description="dotted path of the wrong value: body.username, query.limit")
    message: str


class ProblemDetails(BaseModel):
    """The OpenAPI schema of `Problem` (the API's models are pydantic; the wire is msgspec)."""

    type: str = Field(default="about:blank", description="RFC 9457: about:blank, see title")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what was wrong, naming the field and what was wanted")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="validation errors only: one per wrong field"
    )


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """`repr` of a value from the request, cut to `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(text[: limit + 1])
    return shown if len(text) <= limit else f"{repr(text[:limit])[:-1]}…{shown[-1]} (cut)"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title_of(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_encoder = msgspec.json.Encoder()


def problem_response(
    status: int,
    detail: str,
    errors: Iterable[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: object,
) -> Response:
    """The problem details response; `extensions` are extra members (RFC 9457 section 3.2)."""
    listed = None if errors is None else list(errors)[:MAX_ERRORS]
    problem = Problem(
        type="about:blank",
        title=title_of(status),
        status=status,
        detail=_cut(detail, MAX_DETAIL_CHARS),
        errors=[FieldError(e.field, _cut(e.message, MAX_DETAIL_CHARS)) for e in listed]
        if listed is not None
        else None,
    )
    body = _encoder.encode(problem)
    if extensions:
        body = body[:-1] + b"," + _encoder.encode(extensions)[1:]
    return Response(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def field_path(loc: Sequence[object]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def pydantic_errors(errors: Sequence[Any]) -> list[FieldError]:
    """pydantic's error dicts as FieldErrors, without the `input` pydantic puts in each."""
    return [FieldError(field_path(err.get("loc", ())), str(err.get("msg", ""))) for err in errors]


def summarize(errors: Sequence[FieldError], what: str = "request") -> str:
    first = errors[0] if errors else FieldError("(body)", "is not valid")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{what} is not valid: {first.field}: {first.message}{more}"


async def _http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else title_of(exc.status_code)
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route or resource"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        detail = "this method is not allowed here" + (f"; use {allowed}" if allowed else "")
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = pydantic_errors(exc.errors())
    return problem_response(422, summarize(errors), errors)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
