"""Outbound SMS through the fake Twilio: what Twilio receives, opt-outs, HELP, failures, delivery statuses."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from tests.channels.sms.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BASE_URL,
    CUSTOMER_PHONE,
    NUMBER,
    STATUS_PATH,
    events_of,
    inbound_params,
    post_webhook,
    register_number,
    settle,
)
from tests.channels.sms.fake_twilio import FakeTwilio, new_sid, status_params
from tests.conftest import TenantKey

from cxstack.backbone.effects import list_effects, retry_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.sms.handlers import SUBSCRIPTION
from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime


async def _conversation_from_inbound(api: httpx.AsyncClient, body: str = "hi") -> str:
    response = await post_webhook(api, inbound_params(body=body))
    assert response.status_code == 200, response.text
    conversations = (await api.get("/v1/conversations", params={"order": "desc"})).json()["data"]
    conversation_id: str = conversations[0]["id"]
    return conversation_id


async def _reply(api: httpx.AsyncClient, conversation_id: str, body: str) -> dict[str, Any]:
    response = await api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"direction": "outbound", "body": body, "author_id": "agent-7"},
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


async def _send_of(api: httpx.AsyncClient, message_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/channels/sms/messages/{message_id}")
    assert response.status_code == 200, response.text
    send: dict[str, Any] = response.json()
    return send


async def _status(api: httpx.AsyncClient, sent: dict[str, str], sid: str, status: str, **extra: Any) -> None:
    params = status_params(sent, sid=sid, account_sid=ACCOUNT_SID, status=status, **extra)
    response = await post_webhook(api, params, path=STATUS_PATH)
    assert response.status_code == 204, response.text


async def test_an_agents_reply_goes_out_through_twilio_with_exactly_its_fields(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    message = await _reply(api, conversation_id, "Your parcel is on its way: ETA tomorrow 10:00.")
    await settle(runtime)

    [received] = fake_twilio.received
    assert received.account_sid == ACCOUNT_SID
    assert (received.username, received.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert received.form == {
        "To": CUSTOMER_PHONE,
        "From": NUMBER,
        "Body": "Your parcel is on its way: ETA tomorrow 10:00.",
        "StatusCallback": BASE_URL + STATUS_PATH,
    }
    send = await _send_of(api, message["id"])
    assert send["status"] == "queued"
    assert send["provider_sid"] == received.sid
    assert (send["from_number"], send["to_number"]) == (NUMBER, CUSTOMER_PHONE)
    [submitted] = await events_of(runtime, "sms.submitted")
    assert submitted.data["message_id"] == message["id"]
    assert submitted.data["provider_sid"] == received.sid


async def test_a_redelivered_message_event_does_not_send_twice(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    await _reply(api, conversation_id, "once")
    await settle(runtime)
    [event] = await events_of(runtime, "message.sent")
    handler = runtime.subscriptions.get(SUBSCRIPTION).handler

    def redeliver(uow: UnitOfWork) -> None:
        handler(uow, event)

    await runtime.db.write(redeliver)
    assert [form["Body"] for form in fake_twilio.sent()] == ["once"]
    assert len(await events_of(runtime, "sms.submitted")) == 1


async def test_messages_on_other_channels_are_not_sent_by_sms(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    customer = (await api.post("/v1/customers", json={"phone": CUSTOMER_PHONE})).json()
    chat = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()
    message = await _reply(api, chat["id"], "on webchat")
    await settle(runtime)
    assert fake_twilio.sent() == []
    assert (await api.get(f"/v1/channels/sms/messages/{message['id']}")).status_code == 404


async def test_internal_messages_of_an_sms_conversation_are_never_texted(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api, "My order is late")
    note = await api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={
            "direction": "outbound",
            "author_kind": "system",
            "visibility": "internal",
            "body": "Escalated",
        },
    )
    assert note.status_code == 201, note.text
    await _reply(api, conversation_id, "Sorry, on it")
    await settle(runtime)
    assert [form["Body"] for form in fake_twilio.sent()] == ["Sorry, on it"]
    assert (await api.get(f"/v1/channels/sms/messages/{note.json()['id']}")).status_code == 404


async def test_stop_opts_out_and_replies_are_refused_until_start(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api, "Stop.")
    [opted_out] = await events_of(runtime, "sms.opted_out")
    assert opted_out.data["phone"] == CUSTOMER_PHONE
    assert opted_out.data["keyword"] == "STOP"
    state = (await api.get("/v1/channels/sms/opt-outs/(415) 555-2671")).json()
    assert state["opted_out"] is True

    # The agent's reply is kept, and its answer says at once that it will not reach the customer.
    refused = await _reply(api, conversation_id, "Are you sure?")
    assert refused["delivery"]["status"] == "refused"
    assert refused["delivery"]["error_code"] == "opted_out"
    assert "opted out" in refused["delivery"]["detail"]
    await settle(runtime)
    assert fake_twilio.sent() == []
    send = await _send_of(api, refused["id"])
    assert send["status"] == "refused"
    assert send["error_code"] == "opted_out"
    assert "opted out" in send["error_message"]
    [failed] = await events_of(runtime, "sms.send_failed")
    assert failed.data["reason"] == "opted_out" and failed.data["error_code"] == "opted_out"
    assert failed.data["message_id"] == refused["id"]
    # The message itself and the customer's timeline say it was not delivered.
    listed = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    [stored] = [m for m in listed if m["id"] == refused["id"]]
    assert stored["delivery"] == refused["delivery"]
    assert [m["delivery"] for m in listed if m["id"] != refused["id"]] == [None] * (len(listed) - 1)
    [not_delivered] = await events_of(runtime, "message.delivery_failed")
    assert not_delivered.data["message_id"] == refused["id"]
    assert not_delivered.data["error_code"] == "opted_out"
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    timeline = (await api.get(f"/v1/customers/{conversation['customer_id']}/timeline")).json()["data"]
    [entry] = [e for e in timeline if e["kind"] == "message.delivery_failed"]
    assert entry["ref_id"] == refused["id"] and "opted_out" in entry["summary"]
    assert "not delivered" in entry["summary"]

    # Any synonym opts out; a second STOP changes nothing.
    await post_webhook(api, inbound_params(body="unsubscribe"))
    assert len(await events_of(runtime, "sms.opted_out")) == 1

    await post_webhook(api, inbound_params(body="START"))
    [opted_in] = await events_of(runtime, "sms.opted_in")
    assert opted_in.data["keyword"] == "START"
    assert (await api.get(f"/v1/channels/sms/opt-outs/{CUSTOMER_PHONE}")).json()["opted_out"] is False
    allowed = await _reply(api, conversation_id, "Welcome back")
    assert allowed["delivery"] is None
    await settle(runtime)
    assert [form["Body"] for form in fake_twilio.sent()] == ["Welcome back"]
    assert (await _send_of(api, allowed["id"]))["status"] == "queued"


async def test_help_is_answered_with_the_numbers_help_text(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api, help_text="Acme support: reply with your order number. STOP to opt out.")
    conversation_id = await _conversation_from_inbound(api, "help")
    await settle(runtime)
    [sent] = fake_twilio.sent()
    assert sent["To"] == CUSTOMER_PHONE and sent["From"] == NUMBER
    assert sent["Body"] == "Acme support: reply with your order number. STOP to opt out."
    messages = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert [(m["direction"], m["author_kind"], m["body"]) for m in messages] == [
        ("inbound", "customer", "help"),
        ("outbound", "system", "Acme support: reply with your order number. STOP to opt out."),
    ]
    [requested] = await events_of(runtime, "sms.help_requested")
    assert requested.data["conversation_id"] == conversation_id
    assert await events_of(runtime, "sms.opted_out") == []


async def test_a_twilio_rejection_is_recorded_and_nothing_is_retried(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    fake_twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    message = await _reply(api, conversation_id, "hello?")
    await settle(runtime)
    assert fake_twilio.sent() == []
    send = await _send_of(api, message["id"])
    assert send["status"] == "failed"
    assert send["error_code"] == "21610"
    assert send["error_message"] == "Attempt to send to unsubscribed recipient"
    [failed] = await events_of(runtime, "sms.send_failed")
    assert failed.data["reason"] == "provider_rejected" and failed.data["error_code"] == "21610"
    # The agent sees it on the message too.
    listed = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    [stored] = [m for m in listed if m["id"] == message["id"]]
    assert stored["delivery"] == {
        "status": "failed",
        "error_code": "21610",
        "detail": "Attempt to send to unsubscribed recipient",
    }


async def test_a_twilio_outage_is_retried_and_sends_once(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    fake_twilio.fail_next(503, 20503, "Service Unavailable", times=2)
    message = await _reply(api, conversation_id, "after the outage")
    await settle(runtime, until=lambda: len(fake_twilio.sent()) == 1)
    await settle(runtime)
    assert [form["Body"] for form in fake_twilio.sent()] == ["after the outage"]
    assert (await _send_of(api, message["id"]))["status"] == "queued"


async def test_delivery_statuses_move_forward_only_and_duplicates_count_once(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    message = await _reply(api, conversation_id, "tracking")
    await settle(runtime)
    [received] = fake_twilio.received

    await _status(api, received.form, received.sid, "sent")
    assert (await _send_of(api, message["id"]))["status"] == "sent"
    await _status(api, received.form, received.sid, "delivered")
    await _status(api, received.form, received.sid, "delivered")
    # Late and out of order: an earlier status never replaces a later one.
    await _status(api, received.form, received.sid, "sending")
    await _status(api, received.form, received.sid, "sent")
    assert (await _send_of(api, message["id"]))["status"] == "delivered"
    updates = await events_of(runtime, "sms.delivery_updated")
    assert [(e.data["previous_status"], e.data["status"]) for e in updates] == [
        ("queued", "sent"),
        ("sent", "delivered"),
    ]
    assert {e.data["message_id"] for e in updates} == {message["id"]}


async def test_a_failure_callback_records_twilios_error_code(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    message = await _reply(api, conversation_id, "to a landline")
    await settle(runtime)
    [received] = fake_twilio.received
    await _status(api, received.form, received.sid, "undelivered", ErrorCode="30006")
    send = await _send_of(api, message["id"])
    assert (send["status"], send["error_code"]) == ("undelivered", "30006")
    [update] = await events_of(runtime, "sms.delivery_updated")
    assert update.data["error_code"] == "30006"


async def test_a_callback_that_overtakes_its_send_is_applied_when_the_send_is_recorded(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    sid = new_sid("SM")
    fake_twilio.next_sids.append(sid)
    await _status(api, {"From": NUMBER, "To": CUSTOMER_PHONE}, sid, "delivered")
    message = await _reply(api, conversation_id, "fast network")
    await settle(runtime)
    send = await _send_of(api, message["id"])
    assert (send["provider_sid"], send["status"]) == (sid, "delivered")


async def test_unsigned_and_malformed_status_callbacks_are_refused(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    message = await _reply(api, conversation_id, "x")
    await settle(runtime)
    [received] = fake_twilio.received
    params = status_params(received.form, sid=received.sid, account_sid=ACCOUNT_SID, status="delivered")
    unsigned = await post_webhook(api, params, path=STATUS_PATH, auth_token=None)
    assert unsigned.status_code == 403
    entries = await runtime.db.read(lambda session: list_audit(session, tenant_id=tenant.tenant_id))
    assert [e.detail["reason"] for e in entries if e.action == "sms.webhook_rejected"] == [
        "missing_signature"
    ]
    unknown_status = [(k, "lost" if k == "MessageStatus" else v) for k, v in params]
    malformed = await post_webhook(api, unknown_status, path=STATUS_PATH)
    assert malformed.status_code == 400 and malformed.json()["field"] == "MessageStatus"
    assert (await _send_of(api, message["id"]))["status"] == "queued"
    assert await events_of(runtime, "sms.delivery_updated") == []


async def test_a_slow_twilio_holds_up_no_write(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    fake_twilio.delay_s = 2.0
    message = await _reply(api, conversation_id, "while Twilio is slow")
    await runtime.bus.drain() if runtime.bus else None
    assert (await _send_of(api, message["id"]))["status"] == "pending"

    # The send is under way (the runner claimed it); meanwhile other writes go through at once.
    async def claimed() -> bool:
        rows = await runtime.db.read(lambda session: list_effects(session, status="running"))
        return bool(rows)

    for _ in range(500):
        if await claimed():
            break
        await asyncio.sleep(0.01)
    began = time.monotonic()
    other = await api.post("/v1/customers", json={"name": "Grace Hopper", "phone": "+14155550111"})
    assert other.status_code == 201, other.text
    wrote_at = time.monotonic()
    assert wrote_at - began < 1.0

    await settle(runtime, until=lambda: len(fake_twilio.sent()) == 1)
    [answered_at] = fake_twilio.answered_at
    assert wrote_at < answered_at
    assert (await _send_of(api, message["id"]))["status"] == "queued"


async def test_a_stop_that_arrives_before_the_send_goes_out_refuses_it(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    assert runtime.effect_runner is not None
    await runtime.effect_runner.stop()  # the send stays queued until the runner runs again
    message = await _reply(api, conversation_id, "queued before the STOP")
    await runtime.bus.drain() if runtime.bus else None
    assert (await _send_of(api, message["id"]))["status"] == "pending"
    await post_webhook(api, inbound_params(body="STOP"))

    await runtime.effect_runner.drain()
    await settle(runtime)
    assert fake_twilio.sent() == []
    send = await _send_of(api, message["id"])
    assert (send["status"], send["error_code"]) == ("refused", "opted_out")
    [failed] = await events_of(runtime, "sms.send_failed")
    assert failed.data["reason"] == "opted_out" and failed.data["error_code"] == "opted_out"
    assert message["delivery"] is None  # not opted out when the agent wrote
    listed = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    [stored] = [m for m in listed if m["id"] == message["id"]]
    assert (stored["delivery"]["status"], stored["delivery"]["error_code"]) == ("refused", "opted_out")
    [not_delivered] = await events_of(runtime, "message.delivery_failed")
    assert not_delivered.data["message_id"] == message["id"]


async def test_a_twilio_down_for_every_attempt_fails_the_send_and_lists_the_effect_dead(
    api: httpx.AsyncClient, runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    await register_number(api)
    conversation_id = await _conversation_from_inbound(api)
    attempts = runtime.settings.effect_max_attempts
    fake_twilio.fail_next(503, 20503, "Service Unavailable", times=attempts)
    message = await _reply(api, conversation_id, "into the outage")

    async def dead() -> list[Any]:
        return await runtime.db.read(lambda session: list_effects(session, status="dead"))

    async with asyncio.timeout(20):
        while not await dead():
            await settle(runtime)
            await asyncio.sleep(0.05)
    assert fake_twilio.sent() == []
    send = await _send_of(api, message["id"])
    assert (send["status"], send["error_code"]) == ("failed", "provider_unavailable")
    [failed] = await events_of(runtime, "sms.send_failed")
    assert failed.data["reason"] == "provider_unavailable"

    # Retried once Twilio is back: the message goes out and the send moves on.
    [effect] = await dead()
    await runtime.db.write(lambda uow: retry_effect(uow, effect_id=effect.id))
    await settle(runtime, until=lambda: len(fake_twilio.sent()) == 1)
    await settle(runtime)
    assert (await _send_of(api, message["id"]))["status"] == "queued"
