"""Routes answered directly (``cxstack.web.direct``) answer as FastAPI would: the same bodies accepted, the
same problems for the same bad ones, the same refusals of a caller; and a route of another shape cannot be
marked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response
from tests.conftest import TenantKey
from tests.web.test_bad_input import assert_problem

from cxstack.records.customers.schemas import CustomerCreate
from cxstack.runtime import Runtime
from cxstack.web.app import create_app
from cxstack.web.auth import Caller, caller
from cxstack.web.direct import answer_directly, direct
from cxstack.web.edge import RouteGuard

Who = Annotated[Caller, Depends(caller)]
echo = APIRouter()


@echo.post("/v1/test-only/direct", status_code=201)
@direct(CustomerCreate)
async def echo_direct(request: Request, who: Who, data: CustomerCreate) -> Response:
    return Response(data.model_dump_json(), status_code=201, media_type="application/json")


@echo.post("/v1/test-only/fastapi", status_code=201)
async def echo_fastapi(request: Request, who: Who, data: CustomerCreate) -> Response:
    return Response(data.model_dump_json(), status_code=201, media_type="application/json")


@pytest.fixture
async def both(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, manage_runtime=False, extra_routers=[echo])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test"
    ) as http:
        yield http


def _same(direct_answer: httpx.Response, fastapi_answer: httpx.Response) -> dict[str, Any]:
    assert direct_answer.status_code == fastapi_answer.status_code, (direct_answer.text, fastapi_answer.text)
    assert direct_answer.headers["content-type"] == fastapi_answer.headers["content-type"]
    answered, expected = direct_answer.json(), fastapi_answer.json()
    for varying in ("instance", "correlation_id"):
        answered.pop(varying, None), expected.pop(varying, None)
    assert answered == expected
    return answered


BODIES = [
    pytest.param(b'{"name": "Ada", "email": "ada@example.com", "attributes": {"plan": "pro"}}', id="valid"),
    pytest.param(b"", id="empty"),
    pytest.param(b'["Ada"]', id="array"),
    pytest.param(b'{"name": 5}', id="wrong-type"),
    pytest.param(b'{"name": "Ada", "nickname": "Countess"}', id="unknown-field"),
    pytest.param(b'{"name": "Ada", "identities": ["ada@example.com"]}', id="nested"),
    pytest.param(b'{"name": "Ada", "email": "not an email"}', id="bad-email"),
    pytest.param(b'{"name": "Ada",', id="not-json"),
    pytest.param(b'{"name": "Ada\\u0000"}', id="nul"),
]


@pytest.mark.parametrize("body", BODIES)
async def test_a_direct_route_answers_a_body_as_fastapi_does(
    both: httpx.AsyncClient, tenant: TenantKey, body: bytes
) -> None:
    headers = {**tenant.headers, "content-type": "application/json"}
    answered = _same(
        await both.post("/v1/test-only/direct", content=body, headers=headers),
        await both.post("/v1/test-only/fastapi", content=body, headers=headers),
    )
    if body.startswith(b'{"name": "Ada", "email": "ada'):
        assert answered["name"] == "Ada"


async def test_a_direct_route_refuses_callers_as_fastapi_does(
    both: httpx.AsyncClient, tenant: TenantKey
) -> None:
    body = b'{"name": "Ada"}'
    for headers in ({}, {"authorization": "Bearer cxk_this-key-was-never-issued"}):
        answers = [
            await both.post(path, content=body, headers={**headers, "content-type": "application/json"})
            for path in ("/v1/test-only/direct", "/v1/test-only/fastapi")
        ]
        assert_problem(answers[0], 401)
        _same(*answers)
        assert answers[0].headers.get("www-authenticate") == answers[1].headers.get("www-authenticate")


async def test_the_two_busiest_creates_are_answered_directly_behind_the_edge(runtime: Runtime) -> None:
    app = create_app(runtime, manage_runtime=False)
    guarded = {
        (route.path, method): route.app
        for route in app.routes
        for method in getattr(route, "methods", ())
        if (route.path, method) in {("/v1/customers", "POST"), ("/v1/conversations", "POST")}
    }
    assert len(guarded) == 2
    for guard in guarded.values():
        assert isinstance(guard, RouteGuard)
        assert guard.app.__qualname__.startswith("_direct_app")


def test_an_endpoint_of_another_shape_cannot_be_answered_directly() -> None:
    app = FastAPI()

    @app.post("/v1/test-only/with-query")
    @direct(CustomerCreate)
    async def with_query(request: Request, who: Who, data: CustomerCreate, dry_run: bool = False) -> Response:
        return Response(status_code=204)

    with pytest.raises(TypeError, match=r"with-query.*takes \(request, who: Who, data: Model\) only"):
        answer_directly(app)
