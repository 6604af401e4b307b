"""Calls through the provider's webhooks: an incoming call's lifecycle, voicemail with its recording and
transcript, signatures and malformed callbacks (the menu: ``tests/channels/voice/ivr``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.channels.twilio_fake import new_sid
from tests.channels.voice.support import (
    CALLER,
    NUMBER,
    call_params,
    events_of,
    messages,
    post_hook,
    press,
    recording_params,
    said,
    set_ivr,
    start_call,
    status,
    the_call,
    transcription_params,
    twiml,
)
from tests.conftest import TenantKey

from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


async def test_incoming_call_hears_the_menu_and_joins_the_callers_conversation(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    call_sid, menu = await start_call(api, from_="(415) 555-2671")
    [gather] = menu.iter("Gather")
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("action") == "/hooks/voice/twilio/gather?attempt=1"
    # The default menu until the tenant sets one.
    assert said(menu)[0] == "Thank you for calling."
    assert "press 1 or say support" in said(menu)[1]

    call = await the_call(api, call_sid)
    assert call["status"] == "in_menu" and call["from_number"] == CALLER and call["number"] == NUMBER
    customer = (await api.get(f"/v1/customers/{call['customer_id']}")).json()
    assert customer["phone"] == CALLER
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["channel"] == "voice" and conversation["customer_id"] == customer["id"]
    [message] = await messages(api, conversation["id"])
    assert message["body"] == f"Incoming call from {CALLER}" and message["channel"] == "voice"
    [ringing] = await events_of(runtime, "call.ringing")
    assert ringing.data["call_id"] == call["id"] and ringing.data["from_number"] == CALLER


async def test_a_call_from_abroad_in_national_format_is_read_in_the_callers_country(
    api: httpx.AsyncClient,
) -> None:
    call_sid = new_sid("CA")
    params = [
        (name, "07911 123456" if name in ("From", "Caller") else "GB" if name == "FromCountry" else value)
        for name, value in call_params(call_sid)
    ]
    twiml(await post_hook(api, "/incoming", params))
    call = await the_call(api, call_sid)
    assert call["from_number"] == "+447911123456"
    customer = (await api.get(f"/v1/customers/{call['customer_id']}")).json()
    assert customer["phone"] == "+447911123456"


async def test_a_retried_incoming_call_is_recorded_once(api: httpx.AsyncClient, runtime: Runtime) -> None:
    call_sid = new_sid("CA")
    for _ in range(2):
        root = twiml(await post_hook(api, "/incoming", call_params(call_sid)))
        assert list(root.iter("Gather"))
    assert len((await api.get("/v1/channels/voice/calls")).json()["data"]) == 1
    assert len(await events_of(runtime, "call.ringing")) == 1
    assert len((await api.get("/v1/customers")).json()["data"]) == 1


async def test_unsigned_or_wrongly_signed_webhooks_are_refused_and_audited(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    call_sid = new_sid("CA")
    unsigned = await post_hook(api, "/incoming", call_params(call_sid), auth_token=None)
    assert unsigned.status_code == 403 and unsigned.json()["field"] == "X-Twilio-Signature"
    forged = await post_hook(api, "/incoming", call_params(call_sid), auth_token="not-the-token")
    assert forged.status_code == 403
    other_url = await post_hook(
        api,
        "/incoming",
        call_params(call_sid),
        signed_url="https://elsewhere.example/hooks/voice/twilio/incoming",
    )
    assert other_url.status_code == 403
    assert (await api.get("/v1/channels/voice/calls")).json()["data"] == []

    known, _ = await start_call(api)
    tampered = await post_hook(api, "/status", call_params(known, status="completed"), auth_token="wrong")
    assert tampered.status_code == 403
    assert (await the_call(api, known))["status"] == "in_menu"

    entries = await runtime.db.read(lambda session: list_audit(session, tenant_id=tenant.tenant_id))
    rejected = [e for e in entries if e.action == "voice.webhook_rejected"]
    reasons = sorted(e.detail["reason"] for e in rejected)
    assert reasons == ["missing_signature", "signature_invalid", "signature_invalid", "signature_invalid"]
    assert {e.detail["call_sid"] for e in rejected} == {call_sid, known}


async def test_behind_a_proxy_the_signature_covers_the_url_twilio_was_given(api: httpx.AsyncClient) -> None:
    call_sid = new_sid("CA")
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "cx.example.com"}
    response = await post_hook(
        api,
        "/incoming",
        call_params(call_sid),
        signed_url="https://cx.example.com/hooks/voice/twilio/incoming",
        headers=proxied,
    )
    assert list(twiml(response).iter("Gather"))
    direct = await post_hook(api, "/status", call_params(call_sid, status="completed"), headers=proxied)
    assert direct.status_code == 403  # signed for http://cxstack.test, which Twilio was not given


async def test_simultaneous_deliveries_make_one_call_and_one_customer(api: httpx.AsyncClient) -> None:
    same = new_sid("CA")
    other = new_sid("CA")
    responses = await asyncio.gather(
        post_hook(api, "/incoming", call_params(same, from_="+14155550123")),
        post_hook(api, "/incoming", call_params(same, from_="+14155550123")),
        post_hook(api, "/incoming", call_params(other, from_="+14155550123")),
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    calls = (await api.get("/v1/channels/voice/calls")).json()["data"]
    assert sorted(call["call_sid"] for call in calls) == sorted([same, other])
    assert len({call["customer_id"] for call in calls}) == 1
    assert len({call["conversation_id"] for call in calls}) == 1
    assert len((await api.get("/v1/customers")).json()["data"]) == 1


async def test_malformed_webhooks_get_400_naming_the_field(api: httpx.AsyncClient) -> None:
    def without(params: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
        return [(key, value) for key, value in params if key != name]

    sid = new_sid("CA")
    response = await post_hook(api, "/incoming", without(call_params(sid), "To"))
    assert response.status_code == 400 and response.json()["field"] == "To"
    response = await post_hook(api, "/incoming", without(call_params(sid), "CallSid"))
    assert response.status_code == 400 and response.json()["field"] == "CallSid"
    response = await post_hook(api, "/incoming", call_params(sid, from_="not a phone"))
    assert response.status_code == 400 and response.json()["field"] == "From"
    response = await post_hook(api, "/incoming", call_params(sid, status="dancing"))
    assert response.status_code == 400 and response.json()["field"] == "CallStatus"
    assert (await api.get("/v1/channels/voice/calls")).json()["data"] == []

    known, _ = await start_call(api)
    response = await status(api, known, "completed", CallDuration="soon")
    assert response.status_code == 400 and response.json()["field"] == "CallDuration"
    response = await post_hook(
        api, "/recording", without(recording_params(known, new_sid("RE")), "RecordingUrl")
    )
    assert response.status_code == 400 and response.json()["field"] == "RecordingUrl"
    response = await post_hook(api, "/gather", call_params(known, Digits="abc"))
    assert response.status_code == 400 and response.json()["field"] == "Digits"
    response = await status(api, new_sid("CA"), "completed")
    assert response.status_code == 404 and response.json()["field"] == "CallSid"
    json_body = await api.post("/hooks/voice/twilio/status", json={"CallSid": known})
    assert json_body.status_code == 415


async def test_status_callbacks_are_recorded_once_and_never_move_backwards(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    call_sid, _ = await start_call(api)
    assert (await status(api, call_sid, "in-progress")).status_code == 204
    for _ in range(2):  # a provider retry
        assert (await status(api, call_sid, "completed", CallDuration="252")).status_code == 204
    assert (await status(api, call_sid, "in-progress")).status_code == 204  # late, out of order
    assert (await status(api, call_sid, "ringing")).status_code == 204
    call = await the_call(api, call_sid)
    assert call["status"] == "completed" and call["provider_status"] == "completed"
    assert call["duration_s"] == 252 and call["ended_at"] is not None
    [completed] = await events_of(runtime, "call.completed")
    assert completed.data["duration_s"] == 252 and completed.data["status"] == "completed"
    bodies = [m["body"] for m in await messages(api, call["conversation_id"])]
    assert bodies.count("Call ended after 4 min 12 s") == 1

    missed, _ = await start_call(api, from_="+14155550111")
    assert (await status(api, missed, "no-answer", CallDuration="0")).status_code == 204
    assert (await the_call(api, missed))["status"] == "no_answer"
    assert [e.data["status"] for e in await events_of(runtime, "call.completed")] == [
        "completed",
        "no_answer",
    ]


async def test_voicemail_with_its_recording_and_transcript_is_attached_to_the_conversation(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await set_ivr(api)
    call_sid, _ = await start_call(api)
    record = await press(api, call_sid, "3")
    [verb] = record.iter("Record")
    assert verb.get("action") == "/hooks/voice/twilio/voicemail"
    assert verb.get("recordingStatusCallback") == "/hooks/voice/twilio/recording"
    assert verb.get("transcribe") == "true"
    assert verb.get("transcribeCallback") == "/hooks/voice/twilio/transcription"
    recording_sid = new_sid("RE")
    done = twiml(
        await post_hook(
            api,
            "/voicemail",
            call_params(call_sid, status="completed", **dict(recording_params(call_sid, recording_sid))),
        )
    )
    assert list(done.iter("Hangup"))

    for _ in range(2):  # retried by the provider
        response = await post_hook(api, "/recording", recording_params(call_sid, recording_sid))
        assert response.status_code == 204
    text = "Hi, it's Jane, my card payment failed twice, please call me back."
    transcription = transcription_params(call_sid, recording_sid, text)
    for _ in range(2):
        assert (await post_hook(api, "/transcription", transcription)).status_code == 204

    call = await the_call(api, call_sid)
    found = await messages(api, call["conversation_id"])
    voicemail = [m for m in found if m["attachments"]]
    assert len(voicemail) == 1
    [attachment] = voicemail[0]["attachments"]
    assert attachment["url"].endswith(f"/Recordings/{recording_sid}.wav")
    assert attachment["content_type"] == "audio/wav"
    assert voicemail[0]["body"] == "Voicemail (42 s)" and voicemail[0]["author_kind"] == "customer"
    assert [m["body"] for m in found].count(text) == 1
    [left] = await events_of(runtime, "call.voicemail_left")
    assert left.data["recording_sid"] == recording_sid and left.data["message_id"] == voicemail[0]["id"]
    [transcript] = await events_of(runtime, "call.transcript_attached")
    assert transcript.data["voicemail"] is True


async def test_a_call_from_a_customer_with_an_open_chat_continues_it(api: httpx.AsyncClient) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Jane", "phone": "415-555-2671"})).json()
    chat = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()
    call_sid, _ = await start_call(api)
    call = await the_call(api, call_sid)
    assert call["customer_id"] == customer["id"] and call["conversation_id"] == chat["id"]
    assert (await api.get(f"/v1/conversations/{chat['id']}")).json()["channel"] == "voice"


async def test_other_tenants_do_not_see_the_call(
    api: httpx.AsyncClient, client: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    call_sid, _ = await start_call(api)
    call = await the_call(api, call_sid)
    other: dict[str, Any] = {"headers": other_tenant.headers}
    assert (await client.get(f"/v1/channels/voice/calls/{call['id']}", **other)).status_code == 404
    assert (await client.get(f"/v1/channels/voice/calls/{call['id']}/context", **other)).status_code == 404
    connect = await client.post(
        f"/v1/channels/voice/calls/{call['id']}/connect", json={"agent_id": "a", "agent_name": "A"}, **other
    )
    assert connect.status_code == 404
    assert (await client.get("/v1/channels/voice/calls", **other)).json()["data"] == []


async def test_nul_in_a_webhook_field_is_a_422_naming_it_and_no_call_is_recorded(
    api: httpx.AsyncClient,
) -> None:
    response = await post_hook(api, "/incoming", call_params(new_sid("CA"), CallerName="Ada\u0000"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "CallerName"
    assert (await api.get("/v1/channels/voice/calls")).json()["data"] == []
