"""Routes answered without FastAPI's per-request machinery: the busiest creates.

Every chat, email thread and call creates a customer and a conversation, so ``POST /v1/customers`` and
``POST /v1/conversations`` run at message rates. For a route whose endpoint takes exactly
``(request, who, data)`` (the request, the tenant caller and one JSON body model), FastAPI's dependency
solving, its exit stack and its request wrapper cost about a sixth of the server's CPU per request (measured
on ``POST /v1/customers``: 0.69-1.0 ms of CPU per request against 0.82-1.17 ms through FastAPI, interleaved
runs on one machine). ``@direct`` marks such an endpoint; ``answer_directly`` gives its route an ASGI app
that does the same three things by hand and calls the same endpoint function. The route stays a FastAPI
route for everything else: matching, the edge's checks (``RouteGuard``), the OpenAPI document and its
problem+json errors, which come from the application's exception handlers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cxstack.web.auth import Caller, caller

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])

_BODY_MODEL = "__cxstack_direct_body__"


def direct(model: type[BaseModel]) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint ``(request: Request, who: Who, data: model) -> Response`` (``Who`` being the
    ``caller`` dependency) to be answered without FastAPI's per-request machinery."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _BODY_MODEL, model)
        return endpoint

    return mark


def answer_directly(app: FastAPI) -> None:
    """Give each route whose endpoint is marked ``@direct`` its direct ASGI app (call before the edge's
    guards are put around the routes)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            model = getattr(route.endpoint, _BODY_MODEL, None)
            if model is not None:
                _check_shape(route)
                route.app = _direct_app(route.endpoint, model)


def _check_shape(route: APIRoute) -> None:
    dependant = route.dependant
    calls = [dependency.call for dependency in dependant.dependencies]
    shaped = (
        calls == [caller]
        and dependant.request_param_name == "request"
        and len(dependant.body_params) == 1
        and not (dependant.path_params or dependant.query_params or dependant.header_params)
        and not (dependant.cookie_params or dependant.background_tasks_param_name)
    )
    if not shaped:
        raise TypeError(f"{route.path}: a @direct endpoint takes (request, who: Who, data: Model) only")


def _direct_app(endpoint: Callable[..., Awaitable[Response]], model: type[BaseModel]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        who: Caller = await caller(request)
        data = _parse(model, await request.body())
        response = await endpoint(request, who, data)
        await response(scope, receive, send)

    return app


def _parse(model: type[BaseModel], body: bytes) -> Any:
    """The body as ``model``, refused as FastAPI refuses it: RequestValidationError, each error's
    location under ``body``. Parsed first and validated as Python data, as FastAPI does: validating the
    JSON text, or without ``from_attributes``, words some errors otherwise (an array is a ``model_type``
    error there, not ``model_attributes_type``)."""
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        value = json.loads(body)
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from None
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors(include_url=False)]
        ) from None
