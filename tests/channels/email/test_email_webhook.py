"""``POST /hooks/email/inbound`` in Mailgun's "forward to a URL ending in mime" format."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import pytest
from tests.channels.email.support import INBOX, MAX_MESSAGE_BYTES, SIGNING_KEY, compose, fixture_bytes
from tests.conftest import TenantKey

from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("inbox")
URL = "/hooks/email/inbound"


def signed(key: str = SIGNING_KEY, *, timestamp: int | None = None, token: str = "a1" * 25) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


def form(raw: bytes | None, *, recipient: str | None = INBOX, **fields: str) -> dict[str, Any]:
    """The multipart/form-data body Mailgun posts: every field a plain form field, ``body-mime`` too."""
    parts: dict[str, tuple[None, bytes]] = {}
    values = {"sender": "jane.doe@gmail.com", "subject": "Re: Your order", **fields}
    if recipient is not None:
        values["recipient"] = recipient
    for name, value in values.items():
        parts[name] = (None, value.encode())
    if raw is not None:
        parts["body-mime"] = (None, raw)
    return {"files": parts}


async def audit_of(runtime: Runtime, tenant: TenantKey) -> list[dict[str, Any]]:
    entries = await runtime.db.read(lambda session: list_audit(session, tenant_id=tenant.tenant_id))
    return [
        {"action": e.action, "target_type": e.target_type, **e.detail}
        for e in entries
        if e.action == "email.webhook_rejected"
    ]


async def test_signed_webhook_posts_the_email_into_a_conversation(
    client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    raw = fixture_bytes("gmail_reply.eml")
    response = await client.post(URL, **form(raw, **signed()))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["kind"] == "message" and result["duplicate"] is False
    [message] = (await api.get(f"/v1/conversations/{result['conversation_id']}/messages")).json()["data"]
    assert message["body"].startswith("Hi,\n\nThe parcel arrived")
    # Mailgun retries until it gets a 2xx: the same message again is acknowledged and changes nothing.
    # Mailgun posts the raw message to a forward URL that ends in "mime".
    again = await client.post(f"{URL}/mime", **form(raw, **signed(token="b2" * 25)))
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["conversation_message_id"] == result["conversation_message_id"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "the request is not signed (timestamp, token, signature missing)"),
        ({"signature": "0" * 64, "timestamp": str(int(time.time())), "token": "t" * 50}, "does not match"),
        (signed("key-of-another-account"), "does not match"),
        (signed(timestamp=int(time.time()) - 3600), "seconds away from now"),
    ],
    ids=["unsigned", "forged", "wrong-key", "stale"],
)
async def test_unsigned_or_wrongly_signed_webhook_is_refused_and_audited(
    client: httpx.AsyncClient,
    api: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
    fields: dict[str, str],
    reason: str,
) -> None:
    response = await client.post(URL, **form(fixture_bytes("gmail_reply.eml"), **fields))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "signature_invalid" and problem["field"] == "signature"
    assert reason in problem["detail"]
    [entry] = await audit_of(runtime, tenant)
    assert entry["action"] == "email.webhook_rejected"
    assert entry["target_type"] == "email_inbox"
    assert reason in entry["reason"]
    assert entry["sender"] == "jane.doe@gmail.com"
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_inbox_without_signing_key_refuses_its_webhook(
    client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    assert (
        await api.post("/v1/channels/email/inboxes", json={"address": "sales@acme.example"})
    ).status_code == 201
    response = await client.post(
        URL, **form(compose(message_id="s@example.com"), recipient="sales@acme.example", **signed())
    )
    assert response.status_code == 403
    assert "no signing key" in response.json()["detail"]


@pytest.mark.parametrize("missing", ["body-mime", "recipient", "sender"])
async def test_malformed_webhook_is_400_naming_the_field(
    client: httpx.AsyncClient, api: httpx.AsyncClient, missing: str
) -> None:
    body = form(
        None if missing == "body-mime" else compose(message_id="m@example.com"),
        recipient=None if missing == "recipient" else INBOX,
        **signed(),
    )
    if missing == "sender":
        del body["files"]["sender"]
    response = await client.post(URL, **body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == missing
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_unreadable_mime_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, **form(b"this is not an email at all", **signed()))
    assert response.status_code == 400
    assert response.json()["field"] == "body-mime"
    assert response.json()["code"] == "malformed_email"


async def test_mail_for_an_address_no_inbox_receives_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL, **form(compose(message_id="n@example.com"), recipient="nobody@elsewhere.example", **signed())
    )
    assert response.status_code == 406
    assert response.json()["code"] == "unknown_recipient"


async def test_oversized_message_is_413(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    huge = compose(message_id="huge@example.com", body="y" * (MAX_MESSAGE_BYTES + 1))
    response = await client.post(URL, **form(huge, **signed()))
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "email_too_large"
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_webhook_for_another_tenants_inbox_lands_with_that_tenant(
    client: httpx.AsyncClient, api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    created = await client.post(
        "/v1/channels/email/inboxes",
        json={"address": "help@globex.example", "signing_key": "globex-signing-key"},
        headers=other_tenant.headers,
    )
    assert created.status_code == 201
    # Signed with acme's key for globex's inbox: refused.
    forged = await client.post(
        URL, **form(compose(message_id="g1@example.com"), recipient="help@globex.example", **signed())
    )
    assert forged.status_code == 403
    ok = await client.post(
        URL,
        **form(
            compose(message_id="g2@example.com"),
            recipient="help@globex.example",
            **signed("globex-signing-key"),
        ),
    )
    assert ok.status_code == 200
    assert (await api.get("/v1/conversations")).json()["data"] == []
    globex = (await client.get("/v1/conversations", headers=other_tenant.headers)).json()["data"]
    assert [c["id"] for c in globex] == [ok.json()["conversation_id"]]


def _eight_bit(charset: str, body: str, *, message_id: str) -> bytes:
    """A message as a CJK mail program sends it: its text 8-bit in ``charset``, no transfer encoding."""
    head = (
        f"From: Tanaka <tanaka@example.jp>\r\nTo: {INBOX}\r\nSubject: Order\r\nMessage-ID: <{message_id}>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + body.encode(charset) + b"\r\n"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("shift_jis", "注文した商品がまだ届いていません。"),
        ("ks_c_5601-1987", "주문한 상품이 아직 도착하지 않았습니다."),
        ("iso-8859-1", "Je n'ai pas reçu ma commande, merci de vérifier."),
        ("utf-8", "Je n'ai pas reçu ma commande, merci de vérifier."),
    ],
)
async def test_body_mime_as_a_form_field_keeps_its_charset(
    client: httpx.AsyncClient, api: httpx.AsyncClient, charset: str, text: str
) -> None:
    field = await client.post(
        URL, **form(_eight_bit(charset, text, message_id="field@example.jp"), **signed())
    )
    assert field.status_code == 200, field.text
    upload = _eight_bit(charset, text, message_id="upload@example.jp")
    body = form(None, **signed(token="c3" * 25))
    body["files"]["body-mime"] = ("message.mime", upload, "message/rfc822")
    uploaded = await client.post(URL, **body)
    assert uploaded.status_code == 200, uploaded.text
    for result in (field.json(), uploaded.json()):
        messages = (await api.get(f"/v1/conversations/{result['conversation_id']}/messages")).json()["data"]
        assert [m["body"] for m in messages] == [text]


@pytest.mark.parametrize(
    ("sender", "name", "address"),
    [
        ('"Łukasz Żółć" <lukasz@example.pl>', "Łukasz Żółć", "lukasz@example.pl"),
        ('"Łukasz Żółć" <łukasz@przykład.pl>', "Łukasz Żółć", "łukasz@przykład.pl"),
    ],
    ids=["utf8-name", "utf8-address"],
)
async def test_utf8_sender_in_a_raw_header_is_stored(
    client: httpx.AsyncClient, api: httpx.AsyncClient, sender: str, name: str, address: str
) -> None:
    raw = (
        f"From: {sender}\r\nTo: {INBOX}\r\nSubject: Zamówienie\r\n"
        "Message-ID: <utf8-hook@example.pl>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDzień dobry\r\n"
    ).encode()
    response = await client.post(URL, **form(raw, **signed()))
    assert response.status_code == 200, response.text
    [customer] = (await api.get("/v1/customers")).json()["data"]
    assert (customer["name"], customer["email"]) == (name, address)


async def test_unreadable_form_is_400_naming_body_mime(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL, content=b"--x\r\nno headers here", headers={"Content-Type": "multipart/form-data"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_webhook"
    assert "boundary" in response.json()["detail"]


@pytest.mark.parametrize("field", ["subject", "body-mime"])
async def test_nul_in_a_webhook_field_is_a_422_naming_it(
    client: httpx.AsyncClient, api: httpx.AsyncClient, field: str
) -> None:
    raw = fixture_bytes("gmail_reply.eml")
    if field == "body-mime":
        response = await client.post(URL, **form(raw.replace(b"Hi,", b"Hi\x00,", 1), **signed()))
    else:
        response = await client.post(URL, **form(raw, **signed(), subject="Re: \x00"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_an_encoded_nul_in_a_message_is_dropped_from_its_text_and_the_message_is_taken(
    client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    raw = fixture_bytes("gmail_reply.eml")
    raw = raw.replace(b"Subject: Re: Your order", b"Subject: =?UTF-8?Q?Re=00:?= Your order", 1)
    raw = raw.replace(b"The parcel arrived", b"The =00parcel arrived", 1)
    response = await client.post(URL, **form(raw, **signed()))
    assert response.status_code == 200, response.text
    conversation_id = response.json()["conversation_id"]
    [message] = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert message["body"].startswith("Hi,\n\nThe parcel arrived")
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["subject"] == "Re: Your order #4412 has shipped"
