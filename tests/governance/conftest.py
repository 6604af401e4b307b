"""Fixtures of the governance tests: an operator key and a client authenticated with it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.governance.keys import BASE_URL, bearer, new_operator_key

from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
async def operator_key(runtime: Runtime) -> str:
    return await new_operator_key(runtime)


@pytest.fixture
async def ops(runtime: Runtime, operator_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app authenticated with an operator key."""
    app = create_app(runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=bearer(operator_key)
    ) as http:
        yield http
