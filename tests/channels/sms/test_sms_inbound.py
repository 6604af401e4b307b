"""Twilio's incoming-message webhook: signatures, bad payloads, customers, conversations, retries, tenants."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import httpx
from tests.channels.sms.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER_PHONE,
    NUMBER,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    OTHER_NUMBER,
    events_of,
    inbound_params,
    post_webhook,
    register_number,
)
from tests.channels.sms.fake_twilio import sign
from tests.conftest import TenantKey

from cxstack.channels.sms.plugins.twilio import TwilioSmsProvider
from cxstack.channels.twilio.signatures import compute_signature
from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime

# Twilio's documented example of a request signature (auth token 12345).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


async def _customers(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/v1/customers")
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _messages(api: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _audit(runtime: Runtime, tenant_id: str) -> list[Any]:
    entries = await runtime.db.read(lambda session: list_audit(session, tenant_id=tenant_id))
    return [entry for entry in entries if entry.action == "sms.webhook_rejected"]


def test_signatures_match_twilios_documented_example() -> None:
    assert compute_signature(DOC_URL, DOC_PARAMS, "12345") == DOC_SIGNATURE
    assert sign(DOC_URL, DOC_PARAMS, "12345") == DOC_SIGNATURE
    provider = TwilioSmsProvider()
    assert provider.signature_valid(
        url=DOC_URL, params=DOC_PARAMS, signature=DOC_SIGNATURE, auth_token="12345"
    )
    tampered = [*DOC_PARAMS[:2], ("Digits", "9999"), *DOC_PARAMS[3:]]
    assert not provider.signature_valid(
        url=DOC_URL, params=tampered, signature=DOC_SIGNATURE, auth_token="12345"
    )
    assert not provider.signature_valid(
        url=DOC_URL, params=DOC_PARAMS, signature=DOC_SIGNATURE, auth_token="54321"
    )
    # Twilio signs the URL as configured, with or without the scheme's default port.
    assert provider.signature_valid(
        url="https://mycompany.com:443/myapp.php?foo=1&bar=2",
        params=DOC_PARAMS,
        signature=DOC_SIGNATURE,
        auth_token="12345",
    )


async def test_inbound_sms_creates_customer_conversation_and_message(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    response = await post_webhook(api, inbound_params(body="Hello, my parcel has not arrived", sid=None))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

    [customer] = await _customers(api)
    assert customer["phone"] == CUSTOMER_PHONE
    assert [(i["kind"], i["value"]) for i in customer["identities"]] == [("phone", CUSTOMER_PHONE)]
    conversations = (await api.get("/v1/conversations", params={"customer_id": customer["id"]})).json()[
        "data"
    ]
    [conversation] = conversations
    assert conversation["channel"] == conversation["origin_channel"] == "sms"
    assert conversation["status"] == "open"
    [message] = await _messages(api, conversation["id"])
    assert message["direction"] == "inbound"
    assert message["author_kind"] == "customer"
    assert message["channel"] == "sms"
    assert message["body"] == "Hello, my parcel has not arrived"
    assert message["client_id"].startswith("SM")
    [received] = await events_of(runtime, "message.received")
    assert received.data["channel"] == "sms"
    assert received.data["customer_id"] == customer["id"]


async def test_second_sms_from_the_same_phone_in_any_format_joins_the_same_conversation(
    api: httpx.AsyncClient,
) -> None:
    await register_number(api)
    assert (await post_webhook(api, inbound_params(body="first", from_=CUSTOMER_PHONE))).status_code == 200
    second = await post_webhook(api, inbound_params(body="second", from_="(415) 555-2671"))
    assert second.status_code == 200, second.text
    [customer] = await _customers(api)
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    assert conversation["customer_id"] == customer["id"]
    assert [m["body"] for m in await _messages(api, conversation["id"])] == ["first", "second"]


async def test_a_known_customer_is_found_by_phone_and_an_open_conversation_on_another_channel_continues(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    customer = (await api.post("/v1/customers", json={"name": "Ada", "phone": "415.555.2671"})).json()
    webchat = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()
    response = await post_webhook(api, inbound_params(body="texting instead"))
    assert response.status_code == 200
    assert [c["id"] for c in await _customers(api)] == [customer["id"]]
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    assert conversation["id"] == webchat["id"]
    assert conversation["channel"] == "sms" and conversation["origin_channel"] == "webchat"
    [moved] = await events_of(runtime, "conversation.channel_changed")
    assert moved.data["from_channel"] == "webchat" and moved.data["to_channel"] == "sms"


async def test_a_closed_conversation_is_not_continued(api: httpx.AsyncClient) -> None:
    await register_number(api)
    await post_webhook(api, inbound_params(body="first"))
    [first] = (await api.get("/v1/conversations")).json()["data"]
    assert (await api.post(f"/v1/conversations/{first['id']}/close")).status_code == 200
    await post_webhook(api, inbound_params(body="new question"))
    conversations = (await api.get("/v1/conversations")).json()["data"]
    assert len(conversations) == 2
    assert [m["body"] for m in await _messages(api, conversations[1]["id"])] == ["new question"]


async def test_a_retried_message_sid_is_processed_once(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await register_number(api)
    params = inbound_params(body="only once")
    for _ in range(3):
        response = await post_webhook(api, params)
        assert response.status_code == 200
        assert response.text.endswith("<Response/>")
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    assert [m["body"] for m in await _messages(api, conversation["id"])] == ["only once"]
    assert len(await events_of(runtime, "message.received")) == 1
    assert len(await events_of(runtime, "customer.created")) == 1


async def test_media_arrive_as_attachments(api: httpx.AsyncClient) -> None:
    await register_number(api)
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    response = await post_webhook(api, inbound_params(body="", media=[(media_url, "image/jpeg")]))
    assert response.status_code == 200, response.text
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    [message] = await _messages(api, conversation["id"])
    assert message["body"] == ""
    assert message["attachments"] == [
        {"id": None, "name": "ME1", "content_type": "image/jpeg", "size": 0, "url": media_url}
    ]


async def test_unsigned_webhook_is_403_audited_and_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    number = await register_number(api)
    params = inbound_params()
    response = await post_webhook(api, params, auth_token=None)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "signature_invalid"
    assert "missing" in problem["detail"]
    assert await _customers(api) == []
    assert await events_of(runtime, "message.received") == []
    [entry] = await _audit(runtime, tenant.tenant_id)
    assert entry.action == "sms.webhook_rejected"
    assert entry.target_id == number["id"]
    assert entry.detail["reason"] == "missing_signature"
    assert entry.detail["message_sid"] == dict(params)["MessageSid"]


async def test_wrongly_signed_webhook_is_403_and_audited(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    await register_number(api)
    params = inbound_params(body="original")
    wrong_token = await post_webhook(api, params, auth_token=OTHER_AUTH_TOKEN)
    assert wrong_token.status_code == 403
    signature = sign("http://cxstack.test/hooks/sms/twilio", params, AUTH_TOKEN)
    tampered = [(k, "tampered" if k == "Body" else v) for k, v in params]
    response = await api.post(
        "/hooks/sms/twilio",
        content=urlencode(tampered),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    assert response.json()["field"] == "X-Twilio-Signature"
    assert await _customers(api) == []
    reasons = [entry.detail["reason"] for entry in await _audit(runtime, tenant.tenant_id)]
    assert reasons == ["signature_invalid", "signature_invalid"]


async def test_signature_is_checked_against_the_public_url_behind_a_proxy(api: httpx.AsyncClient) -> None:
    await register_number(api)
    public = "https://cx.example.com/hooks/sms/twilio"
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "cx.example.com"}
    params = inbound_params()
    response = await post_webhook(api, params, signed_url=public, headers=proxied)
    assert response.status_code == 200, response.text
    # The same signature is wrong for the URL the request reached without the proxy's headers.
    unproxied = await post_webhook(api, inbound_params(), signed_url=public)
    assert unproxied.status_code == 403


async def test_malformed_webhooks_are_400_naming_the_field_and_write_nothing(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    cases = {
        "From": [(k, v) for k, v in inbound_params() if k != "From"],
        "MessageSid": [(k, "not-a-sid" if k == "MessageSid" else v) for k, v in inbound_params()],
        "Body": [(k, v) for k, v in inbound_params() if k != "Body"],
        "MediaUrl1": inbound_params(media=[("https://example.com/a.jpg", "image/jpeg")], NumMedia="2"),
        "NumMedia": inbound_params(NumMedia="many"),
    }
    for field, params in cases.items():
        response = await post_webhook(api, params)
        assert response.status_code == 400, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
        assert response.json()["code"] == "malformed_webhook"
    no_to = await post_webhook(api, [(k, v) for k, v in inbound_params() if k != "To"])
    assert no_to.status_code == 400 and no_to.json()["field"] == "To"
    bad_to = await post_webhook(api, inbound_params(to="not a number"))
    assert bad_to.status_code == 400 and bad_to.json()["field"] == "To"
    as_json = await api.post("/hooks/sms/twilio", json=dict(inbound_params()))
    assert as_json.status_code == 415
    assert await _customers(api) == []
    assert await events_of(runtime, "message.received") == []


async def test_a_number_of_one_tenant_never_routes_to_another(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    client.headers.update(tenant.headers)
    await register_number(client)
    client.headers.update(other_tenant.headers)
    await register_number(
        client, number=OTHER_NUMBER, account_sid=OTHER_ACCOUNT_SID, auth_token=OTHER_AUTH_TOKEN
    )
    taken = await client.post(
        "/v1/channels/sms/numbers",
        json={"number": NUMBER, "account_sid": OTHER_ACCOUNT_SID, "auth_token": OTHER_AUTH_TOKEN},
    )
    assert taken.status_code == 409 and taken.json()["field"] == "number"

    # B's credentials cannot post for A's number, even with B's account id.
    forged = inbound_params(to=NUMBER, account_sid=OTHER_ACCOUNT_SID)
    assert (await post_webhook(client, forged, auth_token=OTHER_AUTH_TOKEN)).status_code == 403
    # A's account id on a message signed with A's token but addressed to B's number is refused too.
    crossed = inbound_params(to=OTHER_NUMBER, account_sid=ACCOUNT_SID)
    assert (await post_webhook(client, crossed, auth_token=AUTH_TOKEN)).status_code == 403
    assert (await post_webhook(client, crossed, auth_token=OTHER_AUTH_TOKEN)).status_code == 403

    assert (await post_webhook(client, inbound_params(to=NUMBER, body="for A"))).status_code == 200
    client.headers.update(other_tenant.headers)
    assert await _customers(client) == []
    client.headers.update(tenant.headers)
    [customer] = await _customers(client)
    [conversation] = (await client.get("/v1/conversations")).json()["data"]
    assert conversation["customer_id"] == customer["id"]
    [event] = await events_of(runtime, "message.received")
    assert event.tenant == tenant.tenant_id
    other_audit = await _audit(runtime, other_tenant.tenant_id)
    assert sorted(e.detail["reason"] for e in other_audit) == ["account_mismatch", "signature_invalid"]


async def test_a_removed_number_no_longer_routes(api: httpx.AsyncClient) -> None:
    number = await register_number(api)
    assert (await post_webhook(api, inbound_params(body="before"))).status_code == 200
    assert (await api.delete(f"/v1/channels/sms/numbers/{number['id']}")).status_code == 204
    response = await post_webhook(api, inbound_params(body="after"))
    assert response.status_code == 403
    assert response.json()["code"] == "sms_number_unknown"


async def test_concurrent_retries_and_first_messages_of_a_new_sender_make_one_customer(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    retried = inbound_params(body="sent while Twilio retried")
    others = [inbound_params(body=f"burst {n}") for n in range(4)]
    responses = await asyncio.gather(*(post_webhook(api, p) for p in [retried, retried, retried, *others]))
    assert [r.status_code for r in responses] == [200] * 7, [r.text for r in responses]
    [customer] = await _customers(api)
    assert customer["phone"] == CUSTOMER_PHONE
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    bodies = sorted(m["body"] for m in await _messages(api, conversation["id"]))
    assert bodies == sorted(["sent while Twilio retried", *(f"burst {n}" for n in range(4))])
    assert len(await events_of(runtime, "customer.created")) == 1


async def test_a_burst_from_a_known_customer_without_a_conversation_makes_one_conversation(
    api: httpx.AsyncClient,
) -> None:
    await register_number(api)
    customer = (await api.post("/v1/customers", json={"name": "Grace", "phone": CUSTOMER_PHONE})).json()
    burst = [inbound_params(body=f"part {n}") for n in range(5)]
    responses = await asyncio.gather(*(post_webhook(api, p) for p in burst))
    assert [r.status_code for r in responses] == [200] * 5
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    assert conversation["customer_id"] == customer["id"]
    assert conversation["message_count"] == 5


async def test_a_national_number_from_abroad_is_read_in_the_country_twilio_names(
    api: httpx.AsyncClient,
) -> None:
    await register_number(api)
    response = await post_webhook(
        api, inbound_params(body="Hello from London", from_="07911 123456", FromCountry="GB")
    )
    assert response.status_code == 200, response.text
    [customer] = await _customers(api)
    assert customer["phone"] == "+447911123456"
    # The same sender in international format is the same customer.
    again = await post_webhook(api, inbound_params(body="again", from_="+44 7911 123456", FromCountry="GB"))
    assert again.status_code == 200, again.text
    assert [c["id"] for c in await _customers(api)] == [customer["id"]]


async def test_a_country_that_is_not_one_is_400_naming_it(api: httpx.AsyncClient) -> None:
    await register_number(api)
    response = await post_webhook(api, inbound_params(from_="07911 123456", FromCountry="Great Britain"))
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("malformed_webhook", "FromCountry")


async def test_nul_in_a_webhook_field_is_a_422_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    await register_number(api)
    response = await post_webhook(client, inbound_params(body="Where is\u0000my parcel"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed" and problem["field"] == "Body"
    assert "U+0000" in problem["detail"]
    assert await _customers(api) == []
