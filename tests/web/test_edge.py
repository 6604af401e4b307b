"""What every route refuses before its own code runs: values no driver stores, bodies over the route's
limit or of a media type it does not take (``cxstack.web.edge``), on both drivers alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.web.test_bad_input import assert_problem, customer_count

from cxstack.web.edge import DEFAULT_BODY_LIMIT, UPLOAD_BODY_LIMIT

JSON_TYPE = {"content-type": "application/json"}
HUGE = 2**64 + 1


async def conversation_of(api: httpx.AsyncClient) -> str:
    customer = await api.post("/v1/customers", json={"name": "Ada"})
    assert customer.status_code == 201, customer.text
    conversation = await api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
    )
    assert conversation.status_code == 201, conversation.text
    conversation_id: str = conversation.json()["id"]
    return conversation_id


# -- integers beyond 64 bits ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [HUGE, -HUGE, 2**63, 10**400])
async def test_an_integer_beyond_64_bits_in_attributes_is_a_422_naming_it(
    api: httpx.AsyncClient, value: int
) -> None:
    body = f'{{"name": "Ada", "attributes": {{"plan": {{"seats": {value}}}}}}}'.encode()
    response = await api.post("/v1/customers", content=body, headers=JSON_TYPE)
    problem = assert_problem(response, 422, code="validation_failed")
    assert problem["field"] == "attributes.plan.seats"
    assert "64 bits" in problem["detail"]
    assert await customer_count(api) == 0


async def test_the_largest_64_bit_integer_is_stored(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada", "attributes": {"n": 2**63 - 1}})
    assert response.status_code == 201, response.text
    assert response.json()["attributes"] == {"n": 2**63 - 1}


async def test_an_attachment_size_beyond_64_bits_is_a_422_and_no_message_is_stored(
    api: httpx.AsyncClient,
) -> None:
    path = f"/v1/conversations/{await conversation_of(api)}/messages"
    attachment = f'{{"name": "a.pdf", "content_type": "application/pdf", "size": {HUGE}, "url": "/f/a"}}'
    body = f'{{"direction": "inbound", "body": "hi", "attachments": [{attachment}]}}'.encode()
    problem = assert_problem(await api.post(path, content=body, headers=JSON_TYPE), 422)
    assert problem["field"] == "attachments[0].size"
    assert (await api.get(path)).json()["data"] == []


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/v1/events?after={HUGE}", "after"),
        (f"/v1/events?after={'9' * 5000}", "after"),
        (f"/v1/dead-letters/{HUGE}", "dead_letter_id"),
    ],
)
async def test_an_integer_parameter_beyond_64_bits_is_a_422_naming_it(
    api: httpx.AsyncClient, url: str, field: str
) -> None:
    problem = assert_problem(await api.get(url), 422, code="validation_failed")
    assert problem["field"] == field


@pytest.mark.parametrize(
    ("url", "cursor"),
    [
        ("/v1/events", "YWZ0ZXI6MTg0NDY3NDQwNzM3MDk1NTE2MTc"),  # after:18446744073709551617
        ("/v1/events", "YmVmb3JlOu-8kQ"),  # "before:" and a fullwidth digit one
        ("/v1/dead-letters", "18446744073709551617"),
        ("/v1/customers", "Y3VzXwA"),  # cus_ and U+0000
        ("/v1/customers", "Y3VzX-KAgg"),  # cus_ and a non-ASCII character
        ("/v1/conversations", "Y29uX3gAeQ"),
    ],
)
async def test_a_forged_cursor_is_a_422_naming_it(api: httpx.AsyncClient, url: str, cursor: str) -> None:
    problem = assert_problem(await api.get(url, params={"cursor": cursor}), 422, code="validation_failed")
    assert problem["field"] == "cursor"


# -- U+0000 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Ada\u0000"}, "name"),
        ({"name": "Ada", "attributes": {"note": "a\u0000b"}}, "attributes.note"),
        ({"name": "Ada", "attributes": {"a\u0000": 1}}, "attributes.a\\u0000"),
        ({"name": "Ada", "identities": [{"kind": "external", "value": "x\u0000", "system": "s"}]}, None),
    ],
)
async def test_nul_in_a_json_value_or_key_is_a_422_naming_the_field(
    api: httpx.AsyncClient, payload: dict[str, Any], field: str | None
) -> None:
    problem = assert_problem(await api.post("/v1/customers", json=payload), 422, code="validation_failed")
    assert problem["field"] == (field or "identities[0].value")
    assert "U+0000" in problem["detail"]
    assert await customer_count(api) == 0


async def test_nul_in_a_message_body_is_a_422_and_nothing_is_stored(api: httpx.AsyncClient) -> None:
    path = f"/v1/conversations/{await conversation_of(api)}/messages"
    problem = assert_problem(await api.post(path, json={"direction": "inbound", "body": "hi\u0000"}), 422)
    assert problem["field"] == "body"
    assert (await api.get(path)).json()["data"] == []


async def test_nul_in_a_patch_leaves_the_record_unchanged(api: httpx.AsyncClient) -> None:
    ada = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    response = await api.patch(f"/v1/customers/{ada['id']}", json={"name": "Bob\u0000"})
    assert assert_problem(response, 422)["field"] == "name"
    assert (await api.get(f"/v1/customers/{ada['id']}")).json()["name"] == "Ada"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/customers/cus_%00", "customer_id"),
        ("/v1/conversations/con_%00x/messages", "conversation_id"),
        ("/v1/customers?q=a%00", "q"),
        ("/v1/customers?email=a%00%40example.com", "email"),
        ("/v1/customers/lookup?kind=email&value=%00", "value"),
    ],
)
async def test_nul_in_a_path_or_query_parameter_is_a_422_naming_it(
    api: httpx.AsyncClient, url: str, field: str
) -> None:
    problem = assert_problem(await api.get(url), 422, code="validation_failed")
    assert problem["field"] == field


# -- NaN and Infinity -------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_nan_and_infinity_are_refused_not_stored_as_null(api: httpx.AsyncClient, literal: str) -> None:
    body = f'{{"name": "Ada", "attributes": {{"score": {literal}}}}}'.encode()
    problem = assert_problem(await api.post("/v1/customers", content=body, headers=JSON_TYPE), 422)
    assert problem["field"] == "attributes.score"
    assert await customer_count(api) == 0


async def test_text_that_merely_mentions_nan_or_long_numbers_is_accepted(api: httpx.AsyncClient) -> None:
    payload = {"name": "NaN Infinity", "attributes": {"order": "12345678901234567890123", "pi": 3.14e-100}}
    response = await api.post("/v1/customers", json=payload)
    assert response.status_code == 201, response.text
    assert response.json()["attributes"] == payload["attributes"]


# -- attributes' caps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({f"k{i}": i for i in range(101)}, "100 keys"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "5 levels"),
        ({"blob": "x" * 17_000}, "16384 bytes"),
        ({f"k{i}": {"x": i} for i in range(60)}, "100 keys"),
    ],
)
async def test_attributes_over_their_caps_are_a_422_naming_the_field(
    api: httpx.AsyncClient, attributes: dict[str, Any], words: str
) -> None:
    response = await api.post("/v1/customers", json={"name": "Ada", "attributes": attributes})
    problem = assert_problem(response, 422, code="validation_failed")
    assert problem["field"] == "attributes"
    assert words in problem["detail"]
    assert await customer_count(api) == 0
    conversation = await api.post(
        "/v1/conversations", json={"customer_id": "cus_x", "channel": "sms", "attributes": attributes}
    )
    assert assert_problem(conversation, 422)["field"] == "attributes"


async def test_attributes_within_their_caps_are_stored(api: httpx.AsyncClient) -> None:
    attributes = {f"k{i}": i for i in range(96)} | {"nested": {"a": {"b": {"c": 1}}}}
    response = await api.post("/v1/customers", json={"name": "Ada", "attributes": attributes})
    assert response.status_code == 201, response.text
    assert response.json()["attributes"] == attributes


# -- body size --------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_from_its_content_length_before_it_is_read(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):  # 100 MB if it were all read
            read.append(1)
            yield b" " * 1_000_000

    request = client.build_request(
        "POST",
        "/v1/customers",
        content=body(),
        headers={**tenant.headers, **JSON_TYPE, "content-length": str(100_000_000)},
    )
    response = await client.send(request)
    problem = assert_problem(response, 413, code="request_too_large")
    assert problem["limit"] == DEFAULT_BODY_LIMIT
    assert len(read) <= 1


async def test_a_streamed_body_is_counted_and_refused_once_over_the_limit(api: httpx.AsyncClient) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'{"name": "Ada", "attributes": {"pad": "'
        for _ in range(100):
            sent.append(1)
            yield b"x" * 100_000
        yield b'"}}'

    response = await api.post("/v1/customers", content=body(), headers=JSON_TYPE)
    assert "content-length" not in response.request.headers
    problem = assert_problem(response, 413, code="request_too_large")
    assert problem["limit"] == DEFAULT_BODY_LIMIT
    assert len(sent) <= 12
    assert await customer_count(api) == 0


async def test_an_upload_route_takes_more_than_the_json_limit_but_not_more_than_its_own(
    client: httpx.AsyncClient,
) -> None:
    too_big = {"file": ("big.bin", b"x" * (UPLOAD_BODY_LIMIT + 1), "application/octet-stream")}
    response = await client.post("/widget/v1/uploads?widget_key=wk&visitor_id=v", files=too_big)
    assert assert_problem(response, 413)["limit"] == UPLOAD_BODY_LIMIT
    # Past the JSON limit, the upload route itself answers (here: the widget key is unknown).
    fits = {"file": ("two.bin", b"x" * (2 * DEFAULT_BODY_LIMIT), "application/octet-stream")}
    response = await client.post("/widget/v1/uploads?widget_key=wk&visitor_id=v", files=fits)
    assert_problem(response, 403)


# -- media types and shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"name": "Ada"}'),
        ("application/x-www-form-urlencoded", b"name=Ada"),
        ("application/xml", b"<customer><name>Ada</name></customer>"),
    ],
)
async def test_a_body_of_the_wrong_media_type_is_a_415_naming_what_the_route_takes(
    api: httpx.AsyncClient, content_type: str, content: bytes
) -> None:
    response = await api.post("/v1/customers", content=content, headers={"content-type": content_type})
    problem = assert_problem(response, 415, code="unsupported_media_type")
    assert problem["field"] == "Content-Type"
    assert problem["accepted"] == ["application/json"]
    assert await customer_count(api) == 0
    path = f"/v1/conversations/{await conversation_of(api)}/messages"
    answer = await api.post(path, content=b'{"direction": "inbound"}', headers={"content-type": content_type})
    assert_problem(answer, 415, code="unsupported_media_type")


async def test_json_with_a_charset_or_a_json_suffix_is_json(api: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await api.post(
            "/v1/customers", content=b'{"name": "Ada"}', headers={"content-type": content_type}
        )
        assert response.status_code == 201, response.text


# -- search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "names"), [("%", ["100% Ada"]), ("_", ["Bo_b"]), ("\\", ["C\\d"])])
async def test_search_takes_like_wildcards_literally(
    api: httpx.AsyncClient, q: str, names: list[str]
) -> None:
    for name in ("100% Ada", "Bo_b", "C\\d", "Eve"):
        assert (await api.post("/v1/customers", json={"name": name})).status_code == 201
    found = (await api.get("/v1/customers", params={"q": q})).json()["data"]
    assert [customer["name"] for customer in found] == names


# -- Idempotency-Key --------------------------------------------------------------------------------


async def test_the_same_json_with_keys_in_another_order_is_the_same_request(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "reordered", **JSON_TYPE}
    first = await api.post(
        "/v1/customers", content=b'{"name": "Ada", "email": "ada@example.com"}', headers=headers
    )
    assert first.status_code == 201, first.text
    second = await api.post(
        "/v1/customers", content=b'{ "email" : "ada@example.com",\n "name":"Ada" }', headers=headers
    )
    assert second.status_code == 201, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert await customer_count(api) == 1


# -- whitespace -------------------------------------------------------------------------------------


async def test_lengths_are_those_of_the_value_as_stored_after_stripping(api: httpx.AsyncClient) -> None:
    fits = await api.post("/v1/customers", json={"name": "  " + "a" * 200 + "  "})
    assert fits.status_code == 201, fits.text
    assert fits.json()["name"] == "a" * 200
    too_long = await api.post("/v1/customers", json={"name": "a" * 201})
    assert assert_problem(too_long, 422)["field"] == "name"
