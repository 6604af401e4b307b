"""``/v1/operator``: operators create tenants and issue, list and revoke their keys; only operator keys
are accepted there, and operator keys nowhere else."""

from __future__ import annotations

import httpx
from tests.conftest import TenantKey
from tests.governance.keys import PROBLEM, bearer


async def test_an_operator_creates_a_tenant_and_issues_it_a_working_key(
    ops: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    created = await ops.post("/v1/operator/tenants", json={"name": "Initech", "slug": "initech"})
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert (tenant["name"], tenant["slug"]) == ("Initech", "initech")
    assert tenant["id"].startswith("ten_")

    issued = await ops.post(f"/v1/operator/tenants/{tenant['id']}/keys", json={"name": "crm sync"})
    assert issued.status_code == 201, issued.text
    key = issued.json()
    assert key["key"].startswith("cxk_") and key["prefix"] == key["key"][:10]
    assert key["scopes"] == ["read", "write", "admin"]
    assert key["tenant_id"] == tenant["id"] and key["last_used_at"] is None and key["revoked_at"] is None

    customer = await client.post("/v1/customers", json={"name": "Peter"}, headers=bearer(key["key"]))
    assert customer.status_code == 201, customer.text

    listed = await ops.get("/v1/operator/tenants")
    assert [t["slug"] for t in listed.json()["data"]] == ["initech"]
    by_slug = await ops.get("/v1/operator/tenants/initech")
    assert by_slug.json()["id"] == tenant["id"]


async def test_a_key_secret_is_shown_once_and_lists_show_its_prefix_only(
    ops: httpx.AsyncClient, tenant: TenantKey
) -> None:
    issued = (
        await ops.post(
            f"/v1/operator/tenants/{tenant.tenant_id}/keys", json={"name": "reports", "scopes": ["read"]}
        )
    ).json()
    listed = await ops.get(f"/v1/operator/tenants/{tenant.tenant_id}/keys")
    assert listed.status_code == 200, listed.text
    assert issued["key"] not in listed.text and tenant.key not in listed.text
    rows = {row["name"]: row for row in listed.json()["data"]}
    assert set(rows) == {"tests", "reports"}
    assert "key" not in rows["reports"]
    assert rows["reports"]["prefix"] == issued["prefix"] and rows["reports"]["scopes"] == ["read"]
    assert set(rows["reports"]) == {
        "id",
        "tenant_id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    }


async def test_a_revoked_key_is_refused_and_listed_as_revoked(
    ops: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    keys = (await ops.get(f"/v1/operator/tenants/{tenant.tenant_id}/keys")).json()["data"]
    key_id = keys[0]["id"]
    assert (await client.get("/v1/customers", headers=tenant.headers)).status_code == 200
    revoked = await ops.post(f"/v1/operator/tenants/{tenant.tenant_id}/keys/{key_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/v1/customers", headers=tenant.headers)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    again = await ops.post(f"/v1/operator/tenants/{tenant.tenant_id}/keys/{key_id}/revoke")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_a_key_is_revoked_only_under_its_own_tenant(
    ops: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    [key] = (await ops.get(f"/v1/operator/tenants/{tenant.tenant_id}/keys")).json()["data"]
    wrong = await ops.post(f"/v1/operator/tenants/{other_tenant.tenant_id}/keys/{key['id']}/revoke")
    assert wrong.status_code == 404 and wrong.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/customers", headers=tenant.headers)).status_code == 200


async def test_bad_operator_input_is_a_problem_naming_the_field(
    ops: httpx.AsyncClient, tenant: TenantKey
) -> None:
    taken = await ops.post("/v1/operator/tenants", json={"name": "Acme again", "slug": "acme"})
    assert taken.status_code == 409 and taken.json()["field"] == "slug"
    bad_slug = await ops.post("/v1/operator/tenants", json={"name": "X", "slug": "Not A Slug"})
    assert bad_slug.status_code == 422 and bad_slug.json()["field"] == "slug"
    bad_scope = await ops.post(
        f"/v1/operator/tenants/{tenant.tenant_id}/keys", json={"name": "x", "scopes": ["read", "delete"]}
    )
    assert bad_scope.status_code == 422 and bad_scope.json()["field"].startswith("scopes")
    no_scope = await ops.post(
        f"/v1/operator/tenants/{tenant.tenant_id}/keys", json={"name": "x", "scopes": []}
    )
    assert no_scope.status_code == 422 and no_scope.json()["field"] == "scopes"
    unknown = await ops.post("/v1/operator/tenants/ten_01NOSUCHTENANT0000000000000/keys", json={"name": "x"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "tenant_id"
    unknown_list = await ops.get("/v1/operator/tenants/ten_01NOSUCHTENANT0000000000000/keys")
    assert unknown_list.status_code == 404
    listed = (await ops.get(f"/v1/operator/tenants/{tenant.tenant_id}/keys")).json()["data"]
    assert [k["name"] for k in listed] == ["tests"]  # nothing half-written


async def test_operator_changes_are_in_the_tenants_audit_log_under_the_operator(
    ops: httpx.AsyncClient, operator_key: str
) -> None:
    tenant = (await ops.post("/v1/operator/tenants", json={"name": "Hooli", "slug": "hooli"})).json()
    key = (await ops.post(f"/v1/operator/tenants/{tenant['id']}/keys", json={"name": "bi"})).json()
    await ops.post(f"/v1/operator/tenants/{tenant['id']}/keys/{key['id']}/revoke")
    audit = await ops.get(f"/v1/operator/tenants/{tenant['id']}/audit")
    assert audit.status_code == 200, audit.text
    entries = audit.json()["data"]
    assert [e["action"] for e in entries] == ["api_key.revoked", "api_key.issued", "tenant.created"]
    assert len({e["actor"] for e in entries}) == 1 and entries[0]["actor"].startswith("operator_key:opk_")
    assert [e["target_id"] for e in entries] == [key["id"], key["id"], tenant["id"]]
    assert entries[1]["detail"] == {
        "name": "bi",
        "prefix": key["prefix"],
        "scopes": ["read", "write", "admin"],
    }
    assert key["key"] not in audit.text


async def test_a_retried_key_issue_never_replays_the_secret(
    ops: httpx.AsyncClient, tenant: TenantKey
) -> None:
    url = f"/v1/operator/tenants/{tenant.tenant_id}/keys"
    first = await ops.post(url, json={"name": "twice"}, headers={"Idempotency-Key": "issue-1"})
    second = await ops.post(url, json={"name": "twice"}, headers={"Idempotency-Key": "issue-1"})
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers and second.json()["key"] != first.json()["key"]


async def test_operator_routes_name_a_tenant_by_id_or_slug(
    ops: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    issued = await ops.post("/v1/operator/tenants/acme/keys", json={"name": "by slug"})
    assert issued.status_code == 201, issued.text
    assert issued.json()["tenant_id"] == tenant.tenant_id
    listed = (await ops.get("/v1/operator/tenants/acme/keys")).json()["data"]
    assert [k["name"] for k in listed] == ["tests", "by slug"]
    revoked = await ops.post(f"/v1/operator/tenants/acme/keys/{issued.json()['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert (await client.get("/v1/customers", headers=bearer(issued.json()["key"]))).status_code == 401
    audit = (await ops.get("/v1/operator/tenants/acme/audit", params={"action": "api_key.revoked"})).json()
    assert [e["target_id"] for e in audit["data"]] == [issued.json()["id"]]
    assert (await ops.get("/v1/operator/tenants/nosuch/audit")).status_code == 404
