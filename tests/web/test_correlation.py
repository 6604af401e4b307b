"""Every answer carries a correlation id; an unexpected error is a 500 problem+json whose id the log has."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from tests.conftest import TenantKey
from tests.web.test_bad_input import assert_problem

from cxstack.runtime import Runtime
from cxstack.web.app import create_app

failing = APIRouter()


@failing.get("/v1/test-only/boom")
async def boom() -> None:
    raise RuntimeError("the disk caught fire")


@pytest.fixture
async def failing_client(runtime: Runtime, tenant: TenantKey) -> AsyncIterator[httpx.AsyncClient]:
    """The app with one more route, one that fails, served in-process without re-raising its error."""
    app = create_app(runtime, manage_runtime=False, extra_routers=[failing])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cxstack.test", headers=tenant.headers
    ) as http:
        yield http


async def test_an_unexpected_error_is_a_500_problem_whose_correlation_id_is_logged(
    failing_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cxstack.web"):
        response = await failing_client.get("/v1/test-only/boom")
    problem = assert_problem(response, 500, code="internal_error")
    correlation_id = response.headers["x-correlation-id"]
    assert problem["correlation_id"] == correlation_id
    assert correlation_id in problem["detail"]
    assert "disk" not in response.text  # the cause is for the log, not the caller
    logged = [record for record in caplog.records if correlation_id in record.getMessage()]
    assert logged, caplog.text
    assert logged[0].exc_info is not None and "the disk caught fire" in caplog.text


@pytest.mark.parametrize("header", ["X-Request-Id", "X-Correlation-Id"])
async def test_the_callers_request_id_is_the_correlation_id(
    failing_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="cxstack.web"):
        response = await failing_client.get("/v1/test-only/boom", headers={header: "req-7f3a.42"})
    assert response.headers["x-correlation-id"] == "req-7f3a.42"
    assert assert_problem(response, 500)["correlation_id"] == "req-7f3a.42"
    assert "req-7f3a.42" in caplog.text


async def test_an_unusable_request_id_is_replaced_by_a_new_one(failing_client: httpx.AsyncClient) -> None:
    response = await failing_client.get("/v1/no-such-route", headers={"X-Request-Id": "a b\tc" + "x" * 100})
    assert_problem(response, 404)
    assert response.headers["x-correlation-id"] != "a b\tc"
    assert len(response.headers["x-correlation-id"]) == 26


async def test_every_answer_carries_its_correlation_id_and_problems_repeat_it(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/customers", json={"name": "Ada"}, headers={"X-Request-Id": "create-ada"})
    assert created.status_code == 201
    assert created.headers["x-correlation-id"] == "create-ada"
    # The events the request published carry it too.
    events = (await api.get("/v1/events", params={"type": "customer.created"})).json()["data"]
    assert events[0]["correlationid"] == "create-ada"
    refused = await api.post("/v1/customers", json={"name": 42})
    problem = assert_problem(refused, 422)
    assert problem["correlation_id"] == refused.headers["x-correlation-id"]
