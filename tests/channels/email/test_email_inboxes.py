"""``/v1/channels/email/inboxes``: create, list, get, delete, with problem+json for bad input."""

from __future__ import annotations

from typing import Any

import httpx
from tests.conftest import TenantKey


async def test_inbox_is_created_listed_fetched_and_deleted(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/channels/email/inboxes",
        json={"address": "Support@Acme.Example", "name": "Acme Support", "signing_key": "key-0123456789"},
    )
    assert created.status_code == 201, created.text
    inbox: dict[str, Any] = created.json()
    assert inbox["address"] == "support@acme.example"
    assert inbox["name"] == "Acme Support"
    assert inbox["has_signing_key"] is True
    assert "signing_key" not in inbox
    assert (await api.get(f"/v1/channels/email/inboxes/{inbox['id']}")).json() == inbox
    listed = (await api.get("/v1/channels/email/inboxes")).json()
    assert listed["data"] == [inbox] and listed["next_cursor"] is None
    deleted = await api.delete(f"/v1/channels/email/inboxes/{inbox['id']}")
    assert deleted.status_code == 204
    assert (await api.get(f"/v1/channels/email/inboxes/{inbox['id']}")).status_code == 404
    types = [e["type"] for e in (await api.get("/v1/events")).json()["data"]]
    assert "email_inbox.created" in types and "email_inbox.deleted" in types


async def test_bad_addresses_are_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    for address in ("not-an-address", "support+x@acme.example"):
        response = await api.post("/v1/channels/email/inboxes", json={"address": address})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == "address"
    unknown = await api.post("/v1/channels/email/inboxes", json={"address": "a@b.example", "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    assert (await api.get("/v1/channels/email/inboxes")).json()["data"] == []


async def test_an_address_belongs_to_one_tenant(api: httpx.AsyncClient, other_tenant: TenantKey) -> None:
    assert (
        await api.post("/v1/channels/email/inboxes", json={"address": "help@acme.example"})
    ).status_code == 201
    taken = await api.post(
        "/v1/channels/email/inboxes", json={"address": "HELP@acme.example"}, headers=other_tenant.headers
    )
    assert taken.status_code == 409
    assert taken.json()["field"] == "address"
    assert (await api.get("/v1/channels/email/inboxes", headers=other_tenant.headers)).json()["data"] == []


async def test_another_tenants_inbox_is_not_found(api: httpx.AsyncClient, other_tenant: TenantKey) -> None:
    inbox = (await api.post("/v1/channels/email/inboxes", json={"address": "help@acme.example"})).json()
    for method in ("GET", "DELETE"):
        response = await api.request(
            method, f"/v1/channels/email/inboxes/{inbox['id']}", headers=other_tenant.headers
        )
        assert response.status_code == 404


async def test_create_with_idempotency_key_is_replayed(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "inbox-create-1"}
    body = {"address": "billing@acme.example"}
    first = await api.post("/v1/channels/email/inboxes", json=body, headers=headers)
    second = await api.post("/v1/channels/email/inboxes", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len((await api.get("/v1/channels/email/inboxes")).json()["data"]) == 1


async def test_inboxes_need_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/channels/email/inboxes")
    assert response.status_code == 401
