"""Tenant keys on ``/v1``: every way authentication fails is a 401 with ``WWW-Authenticate: Bearer``; a
valid key without the scope a route needs is a 403 naming it; a key's last use is recorded, once a minute."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.keys import PROBLEM, bearer, new_tenant_key

from cxstack.governance.tenants.service import list_api_keys
from cxstack.kit.clock import FrozenClock
from cxstack.runtime import Runtime

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def assert_401(response: httpx.Response, code: str = "unauthorized") -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == code
    detail: str = response.json()["detail"]
    return detail


async def revoke_all(ops: httpx.AsyncClient, tenant_id: str) -> None:
    for key in (await ops.get(f"/v1/operator/tenants/{tenant_id}/keys")).json()["data"]:
        revoked = await ops.post(f"/v1/operator/tenants/{tenant_id}/keys/{key['id']}/revoke")
        assert revoked.status_code == 200, revoked.text


async def test_every_authentication_failure_is_a_401_with_www_authenticate(
    client: httpx.AsyncClient, ops: httpx.AsyncClient, tenant: TenantKey, operator_key: str
) -> None:
    tenant_routes = [("GET", "/v1/customers"), ("POST", "/v1/customers"), ("GET", "/v1/audit")]
    operator_routes = [("GET", "/v1/operator/tenants"), ("POST", "/v1/operator/tenants")]
    for method, url in tenant_routes + operator_routes:
        assert "required" in assert_401(await client.request(method, url))  # missing
        for malformed in ("Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer   ", "cxk_no_scheme_0000000000000000"):
            detail = assert_401(await client.request(method, url, headers={"Authorization": malformed}))
            assert "Bearer" in detail
        prefix = "cxo_" if url.startswith("/v1/operator") else "cxk_"
        unknown = prefix + "never_issued_to_anyone_0000000"
        assert "not valid" in assert_401(await client.request(method, url, headers=bearer(unknown)))
    for method, url in tenant_routes:
        detail = assert_401(await client.request(method, url, headers=bearer(operator_key)), "wrong_key_kind")
        assert "operator key" in detail
    for method, url in operator_routes:
        detail = assert_401(await client.request(method, url, headers=tenant.headers), "wrong_key_kind")
        assert "tenant API key" in detail
    await revoke_all(ops, tenant.tenant_id)
    for method, url in tenant_routes:
        assert_401(await client.request(method, url, headers=tenant.headers))


async def test_a_revoked_operator_key_is_refused(
    client: httpx.AsyncClient, ops: httpx.AsyncClient, runtime: Runtime, operator_key: str
) -> None:
    from cxstack.governance.tenants.operators import list_operator_keys, revoke_operator_key

    [key] = await runtime.db.read(list_operator_keys)
    await runtime.db.write(lambda uow: revoke_operator_key(uow, operator_key_id=key.id))
    assert "not valid" in assert_401(await ops.get("/v1/operator/tenants"))


@pytest.mark.parametrize(
    ("scopes", "allowed", "missing"),
    [
        (["read"], {"GET /v1/customers"}, {"POST /v1/customers": "write", "GET /v1/audit": "admin"}),
        (["write"], {"POST /v1/customers"}, {"GET /v1/customers": "read", "GET /v1/api-keys": "admin"}),
        (["admin"], {"GET /v1/audit", "GET /v1/api-keys"}, {"GET /v1/customers": "read"}),
        (None, {"GET /v1/customers", "POST /v1/customers", "GET /v1/audit"}, {}),
    ],
)
async def test_a_key_without_the_scope_a_route_needs_gets_403_naming_it(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
    scopes: list[str] | None,
    allowed: set[str],
    missing: dict[str, str],
) -> None:
    key = await new_tenant_key(runtime, tenant.tenant_id, scopes=scopes)
    for route in allowed:
        method, url = route.split()
        answer = await client.request(
            method, url, json={"name": "Ada"} if method == "POST" else None, headers=bearer(key)
        )
        assert answer.status_code in (200, 201), f"{route}: {answer.text}"
    for route, scope in missing.items():
        method, url = route.split()
        answer = await client.request(
            method, url, json={"name": "Bob"} if method == "POST" else None, headers=bearer(key)
        )
        assert answer.status_code == 403, f"{route}: {answer.text}"
        assert answer.headers["content-type"] == PROBLEM
        body = answer.json()
        assert (body["code"], body["scope"]) == ("missing_scope", scope)
        assert repr(scope) in body["detail"]
    names = [c["name"] for c in (await client.get("/v1/customers", headers=tenant.headers)).json()["data"]]
    assert "Bob" not in names  # a refused write wrote nothing


async def test_a_keys_last_use_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, tenant: TenantKey
) -> None:
    from cxstack.web.app import create_app

    app = create_app(runtime, manage_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:

        async def last_used() -> datetime | None:
            await runtime.services.key_usage.drain()
            page = await runtime.db.read(
                lambda s: list_api_keys(s, tenant_id=tenant.tenant_id, cursor=None, limit=5)
            )
            return page.items[0].last_used_at

        assert await last_used() is None
        assert (await http.get("/v1/customers", headers=tenant.headers)).status_code == 200
        assert await last_used() == START
        clock.advance(timedelta(seconds=59))
        assert (await http.get("/v1/customers", headers=tenant.headers)).status_code == 200
        assert await last_used() == START
        clock.advance(timedelta(seconds=2))
        for _ in range(3):
            assert (await http.get("/v1/customers", headers=tenant.headers)).status_code == 200
        assert await last_used() == START + timedelta(seconds=61)
        listed = await http.get("/v1/api-keys", headers=tenant.headers)
        assert listed.json()["data"][0]["last_used_at"] == "2026-03-02T09:01:01Z"


async def test_keys_checked_together_each_get_their_own_answer(
    client: httpx.AsyncClient,
    ops: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
    other_tenant: TenantKey,
) -> None:
    reader = await new_tenant_key(runtime, tenant.tenant_id, scopes=["read"], name="reader")
    revoked = await new_tenant_key(runtime, tenant.tenant_id, scopes=None, name="gone")
    keys = (await ops.get(f"/v1/operator/tenants/{tenant.tenant_id}/keys")).json()["data"]
    gone = next(k["id"] for k in keys if k["name"] == "gone")
    assert (await ops.post(f"/v1/operator/tenants/{tenant.tenant_id}/keys/{gone}/revoke")).status_code == 200
    await client.post("/v1/customers", json={"name": "Globex only"}, headers=other_tenant.headers)
    callers = [tenant.key, other_tenant.key, reader, revoked, "cxk_never_issued_to_anyone_0000000"] * 8
    answers = await asyncio.gather(*[client.get("/v1/customers", headers=bearer(key)) for key in callers])
    for key, answer in zip(callers, answers, strict=True):
        if key in (revoked, callers[4]):
            assert answer.status_code == 401, answer.text
        else:
            assert answer.status_code == 200, answer.text
            names = [c["name"] for c in answer.json()["data"]]
            assert names == (["Globex only"] if key == other_tenant.key else [])
