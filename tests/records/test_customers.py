from __future__ import annotations

import httpx
from tests.conftest import TenantKey


async def test_customer_created_with_identities_is_found_by_phone_in_any_format(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(
        "/v1/customers",
        json={"name": "Ada Lovelace", "email": "Ada@Example.COM", "phone": "(415) 555-2671"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["email"] == "ada@example.com"
    assert customer["phone"] == "+14155552671"
    assert {(i["kind"], i["value"]) for i in customer["identities"]} == {
        ("email", "ada@example.com"),
        ("phone", "+14155552671"),
    }
    for phone in ("+1 415-555-2671", "415.555.2671", "+14155552671"):
        found = await api.get("/v1/customers/lookup", params={"kind": "phone", "value": phone})
        assert found.status_code == 200, found.text
        assert found.json()["id"] == customer["id"]


async def test_invalid_email_is_refused_naming_the_field_and_nothing_is_written(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/v1/customers", json={"name": "X", "email": "not-an-email"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "email"
    listed = await api.get("/v1/customers")
    assert listed.json()["data"] == []


async def test_another_tenants_customer_is_not_found(api: httpx.AsyncClient, other_tenant: TenantKey) -> None:
    created = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    response = await api.get(f"/v1/customers/{created['id']}", headers=other_tenant.headers)
    assert response.status_code == 404


async def test_a_cursor_that_was_not_issued_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    for cursor in ("!!not-base64!!", "bm90aGluZw", "%%%"):
        response = await api.get("/v1/customers", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["field"] == "cursor"
