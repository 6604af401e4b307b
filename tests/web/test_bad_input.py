"""What the API answers to bad input, bad credentials, other tenants' ids and retried requests.

Every error is RFC 9457 problem+json with a stable ``code``; input errors name the field.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, *, code: str | None = None) -> dict[str, Any]:
    """Assert ``response`` is a problem+json answer of ``status`` and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    if code is not None:
        assert body["code"] == code
        assert body["type"].endswith("/" + code)
    return body


async def customer_count(api: httpx.AsyncClient) -> int:
    listed = await api.get("/v1/customers", params={"limit": 200})
    assert listed.status_code == 200, listed.text
    return len(listed.json()["data"])


# -- malformed and invalid bodies -------------------------------------------------------------------


async def test_malformed_json_is_a_400_problem(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/customers", content=b'{"name": "Ada",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, code="malformed_json")
    assert body["instance"] == "/v1/customers"
    assert await customer_count(api) == 0


async def test_unknown_field_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada", "nickname": "Countess"})
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "nickname"
    assert "nickname" in body["detail"]
    assert body["errors"] == [
        {"field": "nickname", "message": "unknown field 'nickname'", "type": "extra_forbidden"}
    ]
    assert await customer_count(api) == 0


async def test_unknown_nested_field_is_named_by_its_path(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/customers", json={"identities": [{"kind": "email", "value": "a@example.com", "primary": True}]}
    )
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "identities[0].primary"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Ada", "email": "ada-at-example.com"}, "email"),
        ({"name": "Ada", "email": "ada@"}, "email"),
        ({"name": "Ada", "phone": "12"}, "phone"),
        ({"name": "Ada", "phone": "not a number"}, "phone"),
        ({"name": "Ada", "phone": "+1 415 555 267"}, "phone"),
        ({"identities": [{"kind": "email", "value": "nope"}]}, "identities[0].value"),
    ],
)
async def test_invalid_email_or_phone_is_a_422_naming_the_field(
    api: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/customers", json=payload)
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == field
    assert await customer_count(api) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": 42}, "name"),
        ({"name": "Ada", "attributes": ["vip"]}, "attributes"),
        ({"name": "Ada", "identities": {"kind": "email"}}, "identities"),
        ({"identities": [{"kind": "fax", "value": "123"}]}, "identities[0].kind"),
    ],
)
async def test_a_value_of_the_wrong_type_is_a_422_naming_the_field(
    api: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/customers", json=payload)
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == field
    assert field in body["detail"]
    assert await customer_count(api) == 0


async def test_a_body_that_is_not_a_json_object_is_a_422_like_any_value_of_the_wrong_type(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/v1/customers", json=["Ada"])
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "body"
    assert await customer_count(api) == 0


async def test_a_nested_object_of_the_wrong_type_is_a_422_naming_it(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada", "identities": ["ada@example.com"]})
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "identities[0]"
    assert await customer_count(api) == 0


async def test_a_bad_query_parameter_is_a_422_naming_it(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/customers", params={"limit": "lots"})
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "limit"


# -- authentication ---------------------------------------------------------------------------------


async def test_missing_api_key_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/customers")
    assert_problem(response, 401, code="unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cxk_this-key-was-never-issued-to-anyone",
        "Bearer cxk_",
        "cxk_no-scheme-at-all-0000000000000000",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer",
        "Bearer    ",
    ],
)
async def test_wrong_or_malformed_api_key_is_401(
    client: httpx.AsyncClient, tenant: TenantKey, authorization: str
) -> None:
    response = await client.get("/v1/customers", headers={"Authorization": authorization})
    body = assert_problem(response, 401, code="unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert tenant.tenant_id not in response.text
    assert "cxk_" not in body["detail"]


async def test_a_wrong_key_in_x_api_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/customers", headers={"X-API-Key": "cxk_this-key-was-never-issued"})
    assert_problem(response, 401, code="unauthorized")


async def test_a_write_without_a_key_changes_nothing(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.post("/v1/customers", json={"name": "Ada"})
    assert_problem(response, 401)
    client.headers.update(tenant.headers)
    assert await customer_count(client) == 0


# -- other tenants and unknown routes ---------------------------------------------------------------


async def test_another_tenants_customer_is_404_and_nothing_of_it_leaks(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    theirs = await api.post(
        "/v1/customers",
        json={"name": "Hank Scorpio", "email": "hank@globex.example", "phone": "+1 415 555 2671"},
        headers=other_tenant.headers,
    )
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["id"]
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/customers/{their_id}", None),
        ("PATCH", f"/v1/customers/{their_id}", {"name": "Mine now"}),
        ("POST", f"/v1/customers/{their_id}/identities", {"kind": "external", "value": "x", "system": "s"}),
    ]
    for method, url, payload in attempts:
        response = await api.request(method, url, json=payload)
        assert_problem(response, 404, code="not_found")
        for secret in ("Hank", "hank@globex.example", "+14155552671", other_tenant.tenant_id):
            assert secret not in response.text
    unchanged = await api.get(f"/v1/customers/{their_id}", headers=other_tenant.headers)
    assert unchanged.json()["name"] == "Hank Scorpio"
    assert len(unchanged.json()["identities"]) == 2


async def test_unknown_route_is_a_404_problem(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/no-such-thing")
    body = assert_problem(response, 404, code="not_found")
    assert body["instance"] == "/v1/no-such-thing"


async def test_wrong_method_is_a_405_problem_that_says_what_is_allowed(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/customers", json={})
    assert_problem(response, 405, code="method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


# -- identity conflicts -----------------------------------------------------------------------------


async def test_an_email_of_another_customer_is_a_409_naming_the_field_and_the_owner(
    api: httpx.AsyncClient,
) -> None:
    first = await api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
    assert first.status_code == 201, first.text
    owner = first.json()["id"]
    response = await api.post(
        "/v1/customers", json={"name": "Impostor", "email": "ADA@Example.com", "phone": "+44 20 7946 0958"}
    )
    body = assert_problem(response, 409, code="conflict")
    assert body["field"] == "email"
    assert body["customer_id"] == owner
    assert owner in body["detail"]
    listed = (await api.get("/v1/customers")).json()["data"]
    assert [c["id"] for c in listed] == [owner]
    # The phone of the refused customer was not linked either: it is free for someone else.
    free = await api.get("/v1/customers/lookup", params={"kind": "phone", "value": "+442079460958"})
    assert free.status_code == 404


async def test_a_phone_of_another_customer_is_a_409_on_update_and_nothing_changes(
    api: httpx.AsyncClient,
) -> None:
    ada = (await api.post("/v1/customers", json={"name": "Ada", "phone": "+1 415 555 2671"})).json()
    bob = (await api.post("/v1/customers", json={"name": "Bob"})).json()
    response = await api.patch(f"/v1/customers/{bob['id']}", json={"name": "Robert", "phone": "4155552671"})
    body = assert_problem(response, 409, code="conflict")
    assert body["field"] == "phone"
    assert body["customer_id"] == ada["id"]
    assert (await api.get(f"/v1/customers/{bob['id']}")).json()["name"] == "Bob"


# -- Idempotency-Key --------------------------------------------------------------------------------


async def test_same_key_and_body_replays_the_first_response(api: httpx.AsyncClient) -> None:
    payload = {"name": "Ada", "email": "ada@example.com"}
    headers = {"Idempotency-Key": "create-ada-1"}
    first = await api.post("/v1/customers", json=payload, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = await api.post("/v1/customers", json=payload, headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert second.json() == first.json()
    assert await customer_count(api) == 1


async def test_same_key_with_a_different_body_is_refused_and_creates_nothing(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = await api.post("/v1/customers", json={"name": "Ada"}, headers=headers)
    assert first.status_code == 201, first.text
    response = await api.post("/v1/customers", json={"name": "Bob"}, headers=headers)
    body = assert_problem(response, 422, code="idempotency_key_reused")
    assert body["field"] == "Idempotency-Key"
    assert await customer_count(api) == 1


async def test_same_key_with_other_query_parameters_is_refused(api: httpx.AsyncClient) -> None:
    ada = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    headers = {"Idempotency-Key": "link-phone"}
    payload = {"kind": "phone", "value": "020 7946 0958"}
    first = await api.post(
        f"/v1/customers/{ada['id']}/identities", json=payload, params={"region": "GB"}, headers=headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["value"] == "+442079460958"
    other = await api.post(
        f"/v1/customers/{ada['id']}/identities", json=payload, params={"region": "FR"}, headers=headers
    )
    assert_problem(other, 422, code="idempotency_key_reused")


async def test_same_key_is_separate_per_tenant(api: httpx.AsyncClient, other_tenant: TenantKey) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    ours = await api.post("/v1/customers", json={"name": "Ada"}, headers=headers)
    theirs = await api.post(
        "/v1/customers", json={"name": "Ada"}, headers={**headers, **other_tenant.headers}
    )
    assert ours.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert ours.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize("key", ["k" * 256, " "])
async def test_a_key_too_long_or_blank_is_a_422(api: httpx.AsyncClient, key: str) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": key})
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == "Idempotency-Key"
    assert await customer_count(api) == 0


async def test_a_key_of_the_longest_length_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": "k" * 255})
    assert response.status_code == 201, response.text


async def test_a_refused_request_is_not_remembered_so_a_corrected_retry_works(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    refused = await api.post("/v1/customers", json={"email": "nope"}, headers=headers)
    assert_problem(refused, 422)
    again = await api.post("/v1/customers", json={"email": "nope"}, headers=headers)
    assert_problem(again, 422)
    assert "idempotent-replayed" not in again.headers


@pytest.mark.parametrize("with_identities", [False, True])
async def test_concurrent_requests_with_one_key_create_one_customer(
    api: httpx.AsyncClient, with_identities: bool
) -> None:
    payload: dict[str, Any] = {"name": "Ada"}
    if with_identities:
        payload |= {"email": "ada@example.com", "phone": "+1 415 555 2671"}
    headers = {"Idempotency-Key": f"burst-{with_identities}"}
    responses = await asyncio.gather(
        *(api.post("/v1/customers", json=payload, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") != "true" for r in responses) == 1
    listed = (await api.get("/v1/customers")).json()["data"]
    assert [c["id"] for c in listed] == [responses[0].json()["id"]]


async def test_the_message_route_parsing_its_own_body_answers_bad_input_as_every_route_does(
    api: httpx.AsyncClient,
) -> None:
    customer = await api.post("/v1/customers", json={"name": "Ada"})
    conversation = await api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
    )
    path = f"/v1/conversations/{conversation.json()['id']}/messages"
    json_type = {"content-type": "application/json"}
    assert_problem(
        await api.post(path, content=b'{"direction": "in', headers=json_type), 400, code="malformed_json"
    )
    assert_problem(await api.post(path, content=b"[1, 2]", headers=json_type), 422, code="validation_failed")
    unknown = assert_problem(
        await api.post(path, json={"direction": "inbound", "body": "hi", "mood": "x"}), 422
    )
    assert unknown["errors"] == [
        {"field": "mood", "message": "unknown field 'mood'", "type": "extra_forbidden"}
    ]
    missing = assert_problem(await api.post(path, json={"body": "hi"}), 422, code="validation_failed")
    assert missing["field"] == "direction" and "required" in missing["detail"]
    nested = assert_problem(
        await api.post(
            path, json={"direction": "inbound", "attachments": [{"name": "a.pdf", "size": "big"}]}
        ),
        422,
    )
    assert nested["field"].startswith("attachments[0].")
    assert (await api.get(path)).json()["data"] == []

    # Its body is documented as if FastAPI had parsed it.
    spec = (await api.get("/openapi.json")).json()
    body = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True and schema["required"] == ["direction"]
    assert schema["properties"]["attachments"]["items"]["$ref"] == "#/components/schemas/Attachment"
    assert "Attachment" in spec["components"]["schemas"]


# -- query strings parsed in one pass (lookup, timeline) --------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/customers/lookup", {"kind": "email"}, "value"),
        ("/v1/customers/lookup", {"kind": "fax", "value": "1"}, "kind"),
        ("/v1/customers/lookup", {"value": "ada@example.com"}, "kind"),
        ("/v1/customers/{id}/timeline", {"limit": "0"}, "limit"),
        ("/v1/customers/{id}/timeline", {"limit": "lots"}, "limit"),
        ("/v1/customers/{id}/timeline", {"order": "sideways"}, "order"),
        ("/v1/customers/{id}/timeline", {"channel": "fax"}, "channel"),
    ],
)
async def test_a_bad_lookup_or_timeline_parameter_is_a_422_naming_it(
    api: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    created = await api.post("/v1/customers", json={"name": "Ada"})
    assert created.status_code == 201, created.text
    response = await api.get(path.replace("{id}", created.json()["id"]), params=params)
    body = assert_problem(response, 422, code="validation_failed")
    assert body["field"] == field


async def test_query_parameters_parsed_in_one_pass_still_answer(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
    customer_id = created.json()["id"]
    found = await api.get(
        "/v1/customers/lookup", params={"kind": "email", "value": "ADA@example.com", "unknown": "x"}
    )
    assert found.status_code == 200, found.text
    assert found.json()["id"] == customer_id
    for _ in range(100):  # the timeline is a projection: its entries come moments after the change
        page = await api.get(f"/v1/customers/{customer_id}/timeline", params={"limit": "1", "order": "desc"})
        assert page.status_code == 200, page.text
        if page.json()["data"]:
            break
        await asyncio.sleep(0.05)
    (entry,) = page.json()["data"]
    assert entry["customer_id"] == customer_id
