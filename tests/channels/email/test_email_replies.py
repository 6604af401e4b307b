"""Agents' replies in email conversations go out through the SMTP relay (a real aiosmtpd server here),
threaded so the customer's answer comes back to the same conversation, and are sent once."""

from __future__ import annotations

import asyncio
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from tests.channels.email.support import INBOX, RecordingRelay, compose
from tests.conftest import TenantKey

from cxstack.backbone.effects import list_effects, retry_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.inbound import EmailIntake
from cxstack.channels.email.replies import send_reply
from cxstack.kit.files import local_file_store
from cxstack.records.conversations.schemas import MessageSent
from cxstack.runtime import Runtime


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


async def drain(runtime: Runtime) -> None:
    """Run the subscriptions, the effects they queue, and the subscriptions of the effects' events."""
    assert runtime.bus is not None and runtime.effect_runner is not None
    await runtime.bus.drain()
    await runtime.effect_runner.drain()
    await runtime.bus.drain()


async def events_of(api: httpx.AsyncClient, event_type: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get("/v1/events", params={"type": event_type})).json()["data"]
    return data


async def reply(api: httpx.AsyncClient, conversation_id: str, body: str) -> dict[str, Any]:
    response = await api.post(
        f"/v1/conversations/{conversation_id}/messages", json={"direction": "outbound", "body": body}
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


@pytest.mark.usefixtures("inbox")
async def test_reply_is_sent_with_threading_headers_and_the_answer_threads_back(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay
) -> None:
    first = await intake.receive(
        compose(message_id="q1@example.com", subject="Help with my order"), [await intake.destination(INBOX)]
    )
    second = await intake.receive(
        compose(
            message_id="q2@example.com",
            in_reply_to="q1@example.com",
            references=["q1@example.com"],
            body="Also: wrong colour.",
        ),
        [await intake.destination(INBOX)],
    )
    conversation_id = first[0].conversation_id
    assert conversation_id is not None and second[0].conversation_id == conversation_id
    sent = await reply(api, conversation_id, "Sorry about that, Jane. A new mug is on its way.")
    await drain(runtime)

    [mail] = relay.received
    assert mail.mail_from == INBOX
    assert mail.rcpt_tos == ["jane@example.com"]
    headers = parse(mail.data)
    assert headers["From"] == "Acme Support <support@acme.example>"
    assert headers["To"] == "jane@example.com"
    assert headers["Subject"] == "Re: Help with my order"
    assert headers["In-Reply-To"] == "<q2@example.com>"
    assert headers["References"] == "<q1@example.com> <q2@example.com>"
    message_id = str(headers["Message-ID"]).strip("<>")
    assert message_id.startswith(sent["id"].lower()) and message_id.endswith("@acme.example")
    reply_to = str(headers["Reply-To"])
    assert reply_to.startswith("support+") and reply_to.endswith("@acme.example")
    body = headers.get_body(preferencelist=("plain",))
    assert (
        body is not None and body.get_content().strip() == "Sorry about that, Jane. A new mug is on its way."
    )
    [event] = await events_of(api, "email.sent")
    assert event["data"]["message_id"] == message_id
    assert event["data"]["conversation_message_id"] == sent["id"]

    # The customer answers: In-Reply-To names the reply's Message-ID, so it lands in the conversation.
    answer = await intake.receive(
        compose(message_id="q3@example.com", in_reply_to=message_id, subject="Re: Help with my order"),
        [await intake.destination(INBOX)],
    )
    assert answer[0].conversation_id == conversation_id
    # A mail program that kept only the Reply-To address finds it too (through the reply token).
    by_token = await intake.receive(
        compose(message_id="q4@example.com"), [await intake.destination(reply_to)]
    )
    assert by_token[0].conversation_id == conversation_id


@pytest.mark.usefixtures("inbox")
async def test_redelivered_event_does_not_send_twice(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay, tenant: TenantKey
) -> None:
    [received] = await intake.receive(compose(message_id="r1@example.com"), [await intake.destination(INBOX)])
    await reply(api, received.conversation_id or "", "On it.")
    await drain(runtime)
    assert len(relay.received) == 1
    [event] = await events_of(api, "message.sent")
    data = MessageSent.model_validate(event["data"])
    store = local_file_store(runtime.settings.data_dir)

    def redeliver(uow: UnitOfWork) -> None:
        send_reply(
            uow,
            tenant_id=tenant.tenant_id,
            data=data,
            relay=None,
            store=local_file_store(runtime.settings.data_dir),
        )

    assert store is not None
    await runtime.db.write(redeliver)
    await drain(runtime)
    assert len(relay.received) == 1
    assert len(await events_of(api, "email.sent")) == 1
    assert await events_of(api, "email.send_failed") == []


@pytest.mark.usefixtures("inbox")
async def test_reply_refused_by_the_relay_is_recorded_as_failed_not_retried(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay
) -> None:
    [received] = await intake.receive(compose(message_id="f1@example.com"), [await intake.destination(INBOX)])
    relay.refuse_with = "550 5.1.1 <jane@example.com>: mailbox unavailable"
    await reply(api, received.conversation_id or "", "Hello?")
    await drain(runtime)
    assert relay.received == []
    [failed] = await events_of(api, "email.send_failed")
    assert "550" in failed["data"]["reason"] and "mailbox unavailable" in failed["data"]["reason"]
    assert (await api.get("/v1/dead-letters")).json()["data"] == []


@pytest.mark.usefixtures("inbox")
async def test_temporary_relay_failure_is_retried_until_sent(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay
) -> None:
    [received] = await intake.receive(compose(message_id="t1@example.com"), [await intake.destination(INBOX)])
    relay.refuse_with = "451 4.3.0 try again later"
    await reply(api, received.conversation_id or "", "Retry me.")
    await drain(runtime)
    assert relay.received == []
    relay.refuse_with = None
    async with asyncio.timeout(10):
        while not relay.received:
            await drain(runtime)
            await asyncio.sleep(0.02)
    assert len(relay.received) == 1
    assert len(await events_of(api, "email.sent")) == 1


@pytest.mark.usefixtures("inbox")
async def test_a_slow_relay_holds_up_no_other_write(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay
) -> None:
    [received] = await intake.receive(compose(message_id="s1@example.com"), [await intake.destination(INBOX)])
    relay.data_delay_s = 2.0
    await reply(api, received.conversation_id or "", "This one takes the relay a while.")
    assert runtime.bus is not None
    await runtime.bus.drain()  # the reply is queued; the running effect runner hands it to the relay
    assert await asyncio.to_thread(relay.data_started.wait, 5)

    # While the relay sits on the reply, other writes go through: a new customer, a new inbound email.
    started = time.perf_counter()
    created = await api.post("/v1/customers", json={"name": "Grace", "email": "grace@example.com"})
    [other] = await intake.receive(
        compose(sender="Grace <grace@example.com>", message_id="s2@example.com"),
        [await intake.destination(INBOX)],
    )
    took = time.perf_counter() - started
    assert created.status_code == 201, created.text
    assert other.conversation_id is not None and other.conversation_id != received.conversation_id
    assert relay.received == [], "the writes waited for the relay"
    assert took < 1.5

    assert await asyncio.to_thread(relay.arrived.wait, 10)
    await drain(runtime)
    [event] = await events_of(api, "email.sent")
    assert event["data"]["conversation_id"] == received.conversation_id


@pytest.mark.usefixtures("inbox")
async def test_relay_down_for_every_attempt_fails_the_reply_and_a_retry_sends_it(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, relay: RecordingRelay
) -> None:
    [received] = await intake.receive(compose(message_id="d1@example.com"), [await intake.destination(INBOX)])
    relay.refuse_with = "421 4.3.2 service not available, try later"
    await reply(api, received.conversation_id or "", "Into the outage.")

    async def dead() -> list[Any]:
        return await runtime.db.read(lambda session: list_effects(session, status="dead", kind="email.send"))

    async with asyncio.timeout(20):
        while not await dead():
            await drain(runtime)
            await asyncio.sleep(0.05)
    await drain(runtime)
    assert relay.received == []
    [failed] = await events_of(api, "email.send_failed")
    assert "gave up" in failed["data"]["reason"] and "421" in failed["data"]["reason"]

    # Retried once the relay is back: the reply goes out, once.
    relay.refuse_with = None
    [effect] = await dead()
    await runtime.db.write(lambda uow: retry_effect(uow, effect_id=effect.id))
    async with asyncio.timeout(10):
        while not relay.received:
            await drain(runtime)
            await asyncio.sleep(0.02)
    await drain(runtime)
    assert len(relay.received) == 1
    [sent] = await events_of(api, "email.sent")
    assert sent["data"]["conversation_message_id"] == failed["data"]["conversation_message_id"]


@pytest.mark.usefixtures("inbox")
async def test_conversation_started_by_an_agent_is_emailed_to_the_customer(
    api: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay
) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})).json()
    conversation = (
        await api.post(
            "/v1/conversations",
            json={"customer_id": customer["id"], "channel": "email", "subject": "Your renewal"},
        )
    ).json()
    await reply(api, conversation["id"], "Your plan renews next week.")
    await drain(runtime)
    [mail] = relay.received
    headers = parse(mail.data)
    assert mail.rcpt_tos == ["ada@example.com"]
    assert headers["Subject"] == "Re: Your renewal"
    assert headers["In-Reply-To"] is None and headers["References"] is None


@pytest.mark.usefixtures("inbox")
async def test_an_internal_note_in_an_email_conversation_is_never_emailed(
    api: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay
) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})).json()
    conversation = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "email"})
    ).json()
    note = await api.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={
            "direction": "outbound",
            "author_kind": "system",
            "visibility": "internal",
            "body": "Refund ok",
        },
    )
    assert note.status_code == 201, note.text
    await reply(api, conversation["id"], "Your refund is on its way.")
    await drain(runtime)
    [mail] = relay.received
    assert "Your refund is on its way." in parse(mail.data).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert await events_of(api, "email.send_failed") == []


async def test_tenant_without_inbox_and_other_channels_send_nothing(
    api: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay
) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})).json()
    for channel in ("email", "webchat"):
        conversation = (
            await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": channel})
        ).json()
        await reply(api, conversation["id"], "Hi")
    await drain(runtime)
    assert relay.received == []
    assert await events_of(api, "email.send_failed") == []
