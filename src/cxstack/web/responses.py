"""Running a request's write or read and turning the result into a response.

Writes honour ``Idempotency-Key``: the first response is stored in the same transaction as the change, so
a retry returns it and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from cxstack.backbone.prepared import Document, Rows
from cxstack.backbone.sqlite_writer import BatchedWrite
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.idempotency.service import (
    StoredResponse,
    check_key,
    find_response,
    fingerprint_of,
    lock_key,
    remember_response,
)
from cxstack.kit.pagination import Page
from cxstack.web.auth import Caller, runtime_of

JSON = "application/json"


def dump(result: BaseModel | Page[Any] | None) -> bytes:
    if result is None:
        return b""
    if isinstance(result, Page):
        return orjson.dumps(
            {
                "data": [item.model_dump(mode="json") for item in result.items],
                "next_cursor": result.next_cursor,
            }
        )
    return orjson.dumps(result.model_dump(mode="json"))


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """Parse the request body as ``model`` in one pass; raises RequestValidationError as FastAPI's own
    body parameters do (for a route whose body is worth parsing without FastAPI's generic path)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


def query_params(request: Request, model: type[M]) -> M:
    """Parse the request's query string as ``model`` in one pass (FastAPI's per-parameter path costs about
    as much as a point read for a route with several); raises RequestValidationError naming the parameter,
    as FastAPI's own query parameters do. A parameter given twice counts by its last value."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("query", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


def query_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``parameters`` of a route that parses ``model`` with ``query_params``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        description = field_schema.pop("description", None)
        field_schema.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field_schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return {"parameters": parameters}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that parses ``model`` with ``json_body`` (nested models are
    referenced among the components, where the routes' other schemas put them)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


def _response(stored: StoredResponse) -> Response:
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    media_type = JSON if stored.body else None
    return Response(stored.body, status_code=stored.status, media_type=media_type, headers=headers)


async def write(
    request: Request,
    who: Caller,
    fn: Callable[[UnitOfWork], BaseModel | None],
    *,
    status: int = 200,
) -> Response:
    """Run ``fn`` in a unit of work for the caller's tenant and answer with what it returned."""
    runtime = runtime_of(request)
    key = request.headers.get("idempotency-key")
    if key is None:
        result = await runtime.db.write(fn, context=who.context())
        return Response(dump(result) if result is not None else b"", status_code=status, media_type=JSON)
    check_key(key)
    query = urlencode(sorted(request.query_params.multi_items()))
    fingerprint = fingerprint_of(request.method, request.url.path, await request.body(), query=query)

    def idempotent(uow: UnitOfWork) -> StoredResponse:
        lock_key(uow, tenant_id=who.tenant_id, key=key)
        stored = find_response(uow.session, tenant_id=who.tenant_id, key=key, fingerprint=fingerprint)
        if stored is not None:
            return stored
        body = dump(fn(uow))
        remember_response(
            uow, tenant_id=who.tenant_id, key=key, fingerprint=fingerprint, status=status, body=body
        )
        return StoredResponse(status=status, body=body, replayed=False)

    try:
        stored = await runtime.db.write(idempotent, context=who.context())
    except IntegrityError:
        # Two requests with the same key raced; the loser answers with the winner's response.
        found = await runtime.db.read(
            lambda session: find_response(session, tenant_id=who.tenant_id, key=key, fingerprint=fingerprint)
        )
        if found is None:
            raise
        stored = found
    return _response(stored)


async def write_together(
    request: Request,
    who: Caller,
    batched: BatchedWrite,
    item: Any,
    alone: Callable[[UnitOfWork], BaseModel | None],
    *,
    status: int = 200,
) -> Response:
    """Run ``item`` through ``batched`` together with the requests other callers make meanwhile
    (``Database.write_batched``) and answer with its result; a request with an ``Idempotency-Key`` runs
    ``alone`` through ``write`` instead, so that its response is stored with the change."""
    if "idempotency-key" in request.headers:
        return await write(request, who, alone, status=status)
    result = await runtime_of(request).db.write_batched(batched, item, context=who.context())
    return Response(dump(result), status_code=status, media_type=JSON)


async def read(request: Request, fn: Callable[[Session], BaseModel | Page[Any]]) -> Response:
    """Run ``fn`` with a read session and answer 200 with its JSON."""
    result = await runtime_of(request).db.read(fn)
    return Response(dump(result), media_type=JSON)


async def read_prepared(
    request: Request, fn: Callable[[Rows], Document | Page[Document]], *, one_statement: bool = False
) -> Response:
    """Run ``fn`` with prepared reads (``Database.read_rows``) and answer 200 with its JSON.

    ``one_statement``: ``fn``'s answer comes from one statement (any other it may run needs no common
    snapshot with it), so no transaction is begun around it."""
    result = await runtime_of(request).db.read_rows(fn, one_statement=one_statement)
    if isinstance(result, Page):
        body = orjson.dumps(
            {"data": result.items, "next_cursor": result.next_cursor}, option=orjson.OPT_UTC_Z
        )
    else:
        body = orjson.dumps(result, option=orjson.OPT_UTC_Z)
    return Response(body, media_type=JSON)
