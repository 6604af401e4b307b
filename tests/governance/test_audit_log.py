"""``GET /v1/audit``: a tenant's audit log, newest first, page by page, filtered by actor, action, subject
and time; a tenant's key never sees another tenant's entries or keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.keys import PROBLEM, bearer

from cxstack.kit.clock import FrozenClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def entries(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every entry the filters select, read page by page with a small page size."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.get("/v1/audit", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def issue(ops: httpx.AsyncClient, tenant_id: str, name: str) -> dict[str, Any]:
    issued = await ops.post(f"/v1/operator/tenants/{tenant_id}/keys", json={"name": name})
    assert issued.status_code == 201, issued.text
    body: dict[str, Any] = issued.json()
    return body


async def test_the_audit_log_reads_newest_first_with_filters(
    api: httpx.AsyncClient, ops: httpx.AsyncClient, clock: FrozenClock, tenant: TenantKey
) -> None:
    clock.advance(timedelta(minutes=10))
    first = await issue(ops, tenant.tenant_id, "first")
    clock.advance(timedelta(minutes=10))
    second = await issue(ops, tenant.tenant_id, "second")
    clock.advance(timedelta(minutes=10))
    revoked = await ops.post(f"/v1/operator/tenants/{tenant.tenant_id}/keys/{first['id']}/revoke")
    assert revoked.status_code == 200

    everything = await entries(api)
    assert [(e["action"], e["target_id"]) for e in everything] == [
        ("api_key.revoked", first["id"]),
        ("api_key.issued", second["id"]),
        ("api_key.issued", first["id"]),
        ("api_key.issued", everything[3]["target_id"]),  # the fixture's own key
        ("tenant.created", tenant.tenant_id),
    ]
    operator_actor = everything[0]["actor"]
    assert operator_actor.startswith("operator_key:") and everything[4]["actor"] == "system"

    assert [e["action"] for e in await entries(api, action="api_key.issued")] == ["api_key.issued"] * 3
    assert [e["target_id"] for e in await entries(api, subject=first["id"])] == [first["id"], first["id"]]
    assert len(await entries(api, actor=operator_actor)) == 3
    window = await entries(
        api, since=(START + timedelta(minutes=10)).isoformat(), until="2026-03-02T09:30:00Z"
    )
    assert [e["target_id"] for e in window] == [second["id"], first["id"]]  # since inclusive, until exclusive
    naive = await entries(api, since="2026-03-02T09:25:00")  # no offset: UTC
    assert [e["action"] for e in naive] == ["api_key.revoked"]
    assert await entries(api, action="api_key.revoked", since="2026-03-02T10:00:00+01:00") == [everything[0]]
    assert await entries(api, actor="nobody") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T09:00:00Z"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ],
)
async def test_a_bad_audit_filter_is_a_422_naming_it(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    answer = await api.get("/v1/audit", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["field"] == field


async def test_a_tenant_never_sees_another_tenants_audit_entries_or_keys(
    client: httpx.AsyncClient, ops: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    theirs = await issue(ops, other_tenant.tenant_id, "globex-only")
    merged = await client.post(
        "/v1/customers", json={"name": "Globex customer"}, headers=other_tenant.headers
    )
    assert merged.status_code == 201
    for params in (
        {},
        {"subject": theirs["id"]},
        {"subject": other_tenant.tenant_id},
        {"action": "api_key.issued"},
    ):
        answer = await client.get("/v1/audit", params=params, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        assert theirs["id"] not in answer.text and other_tenant.tenant_id not in answer.text
        assert "globex" not in answer.text.lower()
    keys = await client.get("/v1/api-keys", headers=tenant.headers)
    assert keys.status_code == 200
    assert [k["tenant_id"] for k in keys.json()["data"]] == [tenant.tenant_id]
    assert theirs["prefix"] not in keys.text and "globex" not in keys.text
    own = await client.get("/v1/audit", headers=other_tenant.headers)
    assert theirs["id"] in own.text
    assert tenant.tenant_id not in own.text


async def test_reading_the_audit_log_needs_the_admin_scope(
    client: httpx.AsyncClient, ops: httpx.AsyncClient, tenant: TenantKey
) -> None:
    reader = (
        await ops.post(
            f"/v1/operator/tenants/{tenant.tenant_id}/keys", json={"name": "r", "scopes": ["read", "write"]}
        )
    ).json()
    for url in ("/v1/audit", "/v1/api-keys"):
        refused = await client.get(url, headers=bearer(reader["key"]))
        assert refused.status_code == 403 and refused.json()["scope"] == "admin"
