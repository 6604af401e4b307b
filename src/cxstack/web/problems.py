"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from cxstack.kit.errors import DomainError
from cxstack.web.correlation import current_correlation_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cxstack.org/problems/"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **members: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update({key: value for key, value in members.items() if value is not None})
    correlation_id = current_correlation_id()
    if correlation_id is not None:
        body.setdefault("correlation_id", correlation_id)
    answer_headers = dict(headers or {})
    if status == 401:
        answer_headers.setdefault("WWW-Authenticate", 'Bearer realm="cxstack"')
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=answer_headers or None
    )


def internal_error(path: str) -> Response:
    """The answer to an error nobody expected (already logged with the request's correlation id)."""
    correlation_id = current_correlation_id()
    return problem(
        500,
        code="internal_error",
        title="Internal server error",
        detail=(
            "the server failed to answer this request; it has been logged"
            + (f" with correlation id {correlation_id}" if correlation_id else "")
        ),
        instance=path or None,
    )


def _field_path(location: tuple[Any, ...]) -> str:
    if len(location) > 1 and location[0] == "query":
        # A query parameter given more than once is still one parameter: its name, not ``status[1]``.
        return str(location[1])
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


def _validation_problem(request: Request, error: RequestValidationError) -> Response:
    errors = list(error.errors())
    malformed = [e for e in errors if e.get("type") == "json_invalid"]
    if malformed:
        reason = malformed[0].get("ctx", {}).get("error", "invalid JSON")
        return problem(
            400,
            code="malformed_json",
            title="Malformed JSON",
            detail=f"the request body is not valid JSON: {reason}",
            instance=request.url.path,
        )
    described = []
    for item in errors:
        field = _field_path(tuple(item.get("loc", ())))
        if item.get("type") == "extra_forbidden":
            message = f"unknown field {field!r}"
        elif item.get("type") == "missing":
            message = f"field {field!r} is required"
        else:
            message = f"field {field!r}: {item.get('msg', 'is not valid')}"
        described.append({"field": field, "message": message, "type": item.get("type", "invalid")})
    first = described[0] if described else {"field": "body", "message": "the request is not valid"}
    # Well-formed JSON of the wrong shape (an array where an object is expected) is a 422 like any value
    # of the wrong type; only JSON that does not parse is a 400.
    return problem(
        422,
        code="validation_failed",
        title="Validation failed",
        detail="; ".join(d["message"] for d in described) or first["message"],
        instance=request.url.path,
        field=first["field"],
        errors=described,
    )


def _allow_header(request: Request, error: StarletteHTTPException) -> dict[str, str]:
    """Return ``Allow`` with the methods of every route at the path (Starlette names the first one's only)."""
    methods = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]
    if not methods:
        return dict(error.headers or {})
    return {**(error.headers or {}), "Allow": ", ".join(methods)}


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, answer with problem+json."""

    async def domain_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, DomainError)
        return problem(
            error.status,
            code=error.code,
            title=error.title,
            detail=error.detail,
            instance=request.url.path,
            field=error.field,
            **error.extra,
        )

    async def validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return _validation_problem(request, error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        titles = {
            404: "Not found",
            405: "Method not allowed",
            413: "Request too large",
            415: "Unsupported media type",
        }
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            415: "unsupported_media_type",
        }
        return problem(
            error.status_code,
            code=codes.get(error.status_code, "http_error"),
            title=titles.get(error.status_code, "HTTP error"),
            detail=str(error.detail),
            instance=request.url.path,
            headers=_allow_header(request, error) if error.status_code == 405 else error.headers,
        )

    async def integrity_error(request: Request, error: Exception) -> Response:
        return problem(
            409,
            code="conflict",
            title="Conflict",
            detail="the change conflicts with a record written at the same time; retry the request",
            instance=request.url.path,
        )

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(IntegrityError, integrity_error)
