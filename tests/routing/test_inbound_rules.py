"""Inbound rules, on both drivers: the queue new work goes to is chosen by the inbox an email was sent to,
the number an SMS was sent to, the conversation's (or its customer's) language, and anything else falls to
the first queue that takes its channel without conditions."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
from tests.channels.email.support import compose
from tests.channels.sms.conftest import inbound_params, post_webhook, register_number

from cxstack.runtime import Runtime

BILLING_INBOX = "Billing@Acme.example"
SUPPORT_INBOX = "help@acme.example"
SIGNING_KEY = "key-inbound-rules-0123456789"
SALES_NUMBER = "+14155550100"
SUPPORT_NUMBER = "+14155550199"


async def _queue(api: httpx.AsyncClient, **body: Any) -> str:
    made = await api.post("/v1/routing/queues", json=body)
    assert made.status_code == 201, made.text
    queue_id: str = made.json()["id"]
    return queue_id


async def _queued(runtime: Runtime, api: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    assert runtime.bus is not None
    await runtime.bus.drain()
    answer = await api.get("/v1/routing/items", params={"conversation_id": conversation_id})
    [item] = answer.json()["data"]
    assert isinstance(item, dict)
    return item


def _signed_email(to: str, sender: str, message_id: str) -> dict[str, Any]:
    stamp, token = str(int(time.time())), "c3" * 25
    signature = hmac.new(SIGNING_KEY.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    raw = compose(sender=sender, to=to, message_id=message_id)
    fields = {"sender": sender, "recipient": to, "timestamp": stamp, "token": token, "signature": signature}
    parts: dict[str, tuple[None, bytes]] = {name: (None, value.encode()) for name, value in fields.items()}
    parts["body-mime"] = (None, raw)
    return {"files": parts}


async def test_an_email_to_the_billing_inbox_goes_to_billing_and_others_to_the_catch_all(
    runtime: Runtime, client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    for address in (BILLING_INBOX, SUPPORT_INBOX):
        made = await api.post(
            "/v1/channels/email/inboxes", json={"address": address, "signing_key": SIGNING_KEY}
        )
        assert made.status_code == 201, made.text
    general = await _queue(api, name="General", position=9, channels=["email", "webchat"])
    billing = await _queue(
        api, name="Billing", position=1, channels=["email"], conditions={"inbox": "billing@ACME.example"}
    )
    # Stored as it is matched.
    assert (await api.get(f"/v1/routing/queues/{billing}")).json()["conditions"] == {
        "inbox": "billing@acme.example"
    }

    to_billing = await client.post(
        "/hooks/email/inbound", **_signed_email(BILLING_INBOX, "jane@example.com", "one@example.com")
    )
    assert to_billing.status_code == 200, to_billing.text
    conversation_id = to_billing.json()["conversation_id"]
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["attributes"]["inbox"] == "billing@acme.example"
    item = await _queued(runtime, api, conversation_id)
    assert item["queue_id"] == billing

    to_support = await client.post(
        "/hooks/email/inbound", **_signed_email(SUPPORT_INBOX, "joe@example.com", "two@example.com")
    )
    assert to_support.status_code == 200, to_support.text
    assert (await _queued(runtime, api, to_support.json()["conversation_id"]))["queue_id"] == general

    events = (await api.get("/v1/events", params={"type": "routing.queued"})).json()["data"]
    reasons = [event["data"]["reason"] for event in events]
    assert any("inbox = billing@acme.example" in reason for reason in reasons), reasons


async def test_an_sms_to_a_number_goes_to_that_numbers_queue(
    runtime: Runtime, client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    await register_number(api, number=SALES_NUMBER)
    await register_number(api, number=SUPPORT_NUMBER)
    general = await _queue(api, name="General", position=9, channels=["sms"])
    # The number written as people write it: kept in E.164.
    spanish_sales = await _queue(
        api, name="Spanish Sales", position=1, channels=["sms"], conditions={"number": "(415) 555-0100"}
    )
    assert (await api.get(f"/v1/routing/queues/{spanish_sales}")).json()["conditions"] == {
        "number": SALES_NUMBER
    }

    sent = await post_webhook(client, inbound_params(to=SALES_NUMBER, from_="+14155552671"))
    assert sent.status_code == 200, sent.text
    other = await post_webhook(client, inbound_params(to=SUPPORT_NUMBER, from_="+14155552672"))
    assert other.status_code == 200, other.text
    conversations = (await api.get("/v1/conversations")).json()["data"]
    by_number = {c["attributes"]["number"]: c["id"] for c in conversations}
    assert set(by_number) == {SALES_NUMBER, SUPPORT_NUMBER}
    assert (await _queued(runtime, api, by_number[SALES_NUMBER]))["queue_id"] == spanish_sales
    assert (await _queued(runtime, api, by_number[SUPPORT_NUMBER]))["queue_id"] == general


async def test_a_spanish_conversation_goes_to_the_spanish_queue_by_its_own_or_its_customers_language(
    runtime: Runtime, api: httpx.AsyncClient
) -> None:
    general = await _queue(api, name="General", position=9, channels=["webchat"])
    spanish = await _queue(
        api, name="Spanish", position=1, channels=["webchat"], conditions={"language": "ES"}
    )

    async def chat(customer: dict[str, Any], attributes: dict[str, str]) -> str:
        made = (await api.post("/v1/customers", json=customer)).json()
        conversation = await api.post(
            "/v1/conversations",
            json={"customer_id": made["id"], "channel": "webchat", "attributes": attributes},
        )
        assert conversation.status_code == 201, conversation.text
        conversation_id: str = conversation.json()["id"]
        return conversation_id

    said_in_spanish = await chat({"name": "Ana", "email": "ana@example.com"}, {"language": "es-MX"})
    assert (await _queued(runtime, api, said_in_spanish))["queue_id"] == spanish
    customer_speaks_it = await chat(
        {"name": "Luis", "email": "luis@example.com", "attributes": {"language": "es"}}, {}
    )
    assert (await _queued(runtime, api, customer_speaks_it))["queue_id"] == spanish
    # The conversation's own language comes first.
    in_english = await chat(
        {"name": "Eva", "email": "eva@example.com", "attributes": {"language": "es"}}, {"language": "en"}
    )
    assert (await _queued(runtime, api, in_english))["queue_id"] == general
    no_language = await chat({"name": "Bo", "email": "bo@example.com"}, {})
    assert (await _queued(runtime, api, no_language))["queue_id"] == general


async def test_bad_inbound_rules_are_refused_naming_the_condition_and_nothing_is_written(
    api: httpx.AsyncClient,
) -> None:
    cases = [
        ({"tier": "gold"}, "conditions.tier"),
        ({"inbox": "not an address"}, "conditions.inbox"),
        ({"number": "12"}, "conditions.number"),
        ({"number": "call me"}, "conditions.number"),
        ({"language": "spanish!"}, "conditions.language"),
    ]
    for conditions, field in cases:
        answer = await api.post("/v1/routing/queues", json={"name": "Bad", "conditions": conditions})
        assert answer.status_code == 422, (conditions, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, answer.json()
    assert (await api.get("/v1/routing/queues")).json()["data"] == []
    fine = await api.post(
        "/v1/routing/queues",
        json={"name": "Fine", "conditions": {"customer.tier": "gold", "conversation.topic": "refund"}},
    )
    assert fine.status_code == 201, fine.text
    updated = await api.put(
        f"/v1/routing/queues/{fine.json()['id']}", json={"name": "Fine", "conditions": {"inbox": "x"}}
    )
    assert updated.status_code == 422 and updated.json()["field"] == "conditions.inbox"
    kept = (await api.get(f"/v1/routing/queues/{fine.json()['id']}")).json()
    assert kept["conditions"] == {"customer.tier": "gold", "conversation.topic": "refund"}
