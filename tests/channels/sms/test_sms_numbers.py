"""``/v1/channels/sms/numbers``: registering, reading and removing a tenant's numbers."""

from __future__ import annotations

import httpx
from tests.channels.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, NUMBER, events_of, register_number
from tests.conftest import TenantKey

from cxstack.runtime import Runtime


async def test_a_number_is_registered_in_e164_and_its_token_is_never_returned(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await register_number(api, number="(415) 555-0100")
    assert created["id"].startswith("smn_")
    assert created["number"] == NUMBER
    assert created["provider"] == "twilio"
    assert created["account_sid"] == ACCOUNT_SID
    assert "auth_token" not in created
    fetched = await api.get(f"/v1/channels/sms/numbers/{created['id']}")
    assert fetched.json() == created
    listed = await api.get("/v1/channels/sms/numbers")
    assert listed.json() == {"data": [created], "next_cursor": None}
    for response in (fetched, listed):
        assert AUTH_TOKEN not in response.text
    [event] = await events_of(runtime, "sms.number_registered")
    assert event.data == {
        "number_id": created["id"],
        "number": NUMBER,
        "provider": "twilio",
        "account_sid": ACCOUNT_SID,
    }
    assert AUTH_TOKEN not in str(event.data)


async def test_bad_numbers_and_credentials_are_refused_naming_the_field(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cases = {
        "number": {"number": "12", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        "account_sid": {"number": NUMBER, "account_sid": "AC123", "auth_token": AUTH_TOKEN},
        "auth_token": {"number": NUMBER, "account_sid": ACCOUNT_SID, "auth_token": "short"},
        "provider": {"number": NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "provider": "x"},
    }
    for field, body in cases.items():
        response = await api.post("/v1/channels/sms/numbers", json=body)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
    assert (await api.get("/v1/channels/sms/numbers")).json()["data"] == []
    assert await events_of(runtime, "sms.number_registered") == []


async def test_registering_is_idempotent_with_a_key(api: httpx.AsyncClient, runtime: Runtime) -> None:
    body = {"number": NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    headers = {"Idempotency-Key": "register-number-1"}
    first = await api.post("/v1/channels/sms/numbers", json=body, headers=headers)
    again = await api.post("/v1/channels/sms/numbers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(await events_of(runtime, "sms.number_registered")) == 1


async def test_numbers_are_the_tenants_own(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    client.headers.update(tenant.headers)
    created = await register_number(client)
    client.headers.update(other_tenant.headers)
    assert (await client.get(f"/v1/channels/sms/numbers/{created['id']}")).status_code == 404
    assert (await client.delete(f"/v1/channels/sms/numbers/{created['id']}")).status_code == 404
    assert (await client.get("/v1/channels/sms/numbers")).json()["data"] == []
    del client.headers["authorization"]
    assert (await client.get("/v1/channels/sms/numbers")).status_code == 401


async def test_removing_a_number(api: httpx.AsyncClient, runtime: Runtime) -> None:
    created = await register_number(api)
    assert (await api.delete(f"/v1/channels/sms/numbers/{created['id']}")).status_code == 204
    assert (await api.get(f"/v1/channels/sms/numbers/{created['id']}")).status_code == 404
    [removed] = await events_of(runtime, "sms.number_removed")
    assert removed.data == {"number_id": created["id"], "number": NUMBER}
    # The number can be registered again (say, with a rotated auth token).
    assert (await register_number(api, auth_token="9" * 32))["number"] == NUMBER
