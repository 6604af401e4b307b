"""A key revoked through one process is refused by every other on its very next request: two runtimes on
the same database (SQLite file, or PostgreSQL), each serving its own app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.tenants.models import ApiKey
from cxstack.governance.tenants.service import revoke_api_key
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
async def second_runtime(settings: Settings, runtime: Runtime) -> AsyncIterator[Runtime]:
    """Another process's runtime on the same database (the first one migrated it)."""
    other = Runtime.build(settings, run_bus=False)
    await other.db.start()
    try:
        yield other
    finally:
        await other.stop()


def client_of(runtime: Runtime) -> httpx.AsyncClient:
    app = create_app(runtime, manage_runtime=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test")


async def test_a_key_revoked_through_one_runtime_is_refused_by_another_at_once(
    runtime: Runtime, second_runtime: Runtime, tenant: TenantKey
) -> None:
    async with client_of(runtime) as first, client_of(second_runtime) as second:
        for http in (first, second):  # both have seen (and could have cached) the key
            assert (await http.get("/v1/customers", headers=tenant.headers)).status_code == 200

        def revoke(uow: UnitOfWork) -> None:
            key = uow.session.query(ApiKey).filter_by(tenant_id=tenant.tenant_id).one()
            revoke_api_key(uow, tenant_id=tenant.tenant_id, api_key_id=key.id)

        await runtime.db.write(revoke)
        for http in (second, first):
            refused = await http.get("/v1/customers", headers=tenant.headers)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.json()["code"] == "unauthorized"
