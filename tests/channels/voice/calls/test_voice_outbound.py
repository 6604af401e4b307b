"""Calling a customer back: the call is recorded in their conversation at once, created at Twilio's REST API
(the fake here) after commit, found by Twilio's callbacks, and connects the customer to the agent who asked
when they answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.twilio_fake import new_sid
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    HOOKS,
    NUMBER,
    PUBLIC_URL,
    call_params,
    events_of,
    messages,
    post_hook,
    settle,
    twiml,
)

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")
CUSTOMER_PHONE = "+14155552671"
CALLS = "/v1/channels/voice/calls"


async def _customer(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/customers", json={"name": "Jane Doe", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _call(api: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await api.get(f"{CALLS}/{call_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _answered(call_sid: str, call_status: str = "in-progress") -> list[tuple[str, str]]:
    """What Twilio posts for an outgoing call (from the tenant's number to the customer)."""
    params = dict(call_params(call_sid, from_=NUMBER, to=CUSTOMER_PHONE, status=call_status))
    params["Direction"] = "outbound-api"
    return list(params.items())


async def test_agent_calls_the_customer_back_in_their_open_chat_and_is_connected_when_they_answer(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    customer = await _customer(api, phone="(415) 555-2671")
    chat = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()
    response = await api.post(
        CALLS,
        json={
            "customer_id": customer["id"],
            "conversation_id": chat["id"],
            "agent_id": "agent-7",
            "agent_name": "Sam Carter",
        },
    )
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["direction"] == "outbound" and call["status"] == "dialing"
    assert call["provider_status"] == "queued" and call["call_sid"] is None
    assert call["to_number"] == CUSTOMER_PHONE and call["from_number"] == NUMBER
    assert call["conversation_id"] == chat["id"] and call["customer_id"] == customer["id"]
    early = await api.post(f"{CALLS}/{call['id']}/connect", json={"agent_id": "agent-8", "agent_name": "Kim"})
    assert early.status_code == 409 and "has not been answered yet" in early.json()["detail"]
    [placed] = await events_of(runtime, "call.placed")
    assert placed.data["call_id"] == call["id"] and placed.data["agent_id"] == "agent-7"
    assert placed.subject == chat["id"]

    # Twilio is asked for the call after commit, and its CallSid is kept.
    await settle(runtime, until=lambda: len(fake_calls.created) == 1)
    form = fake_calls.created[0]
    sent = dict(form)
    assert sent["To"] == CUSTOMER_PHONE and sent["From"] == NUMBER
    assert sent["Url"] == f"{PUBLIC_URL}{HOOKS}/outbound?call={call['id']}"
    assert sent["StatusCallback"] == f"{PUBLIC_URL}{HOOKS}/status?call={call['id']}"
    assert sent["StatusCallbackMethod"] == "POST"
    assert [value for name, value in form if name == "StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    [call_sid] = list(fake_calls.calls)
    assert (await _call(api, call["id"]))["call_sid"] == call_sid

    # Twilio reports the call's progress; the customer answers and is put in the call's conference while
    # the agent who asked is dialed in.
    ringing = await post_hook(api, f"/status?call={call['id']}", _answered(call_sid, "ringing"))
    assert ringing.status_code == 204
    fake_calls.answer(call_sid)
    root = twiml(await post_hook(api, f"/outbound?call={call['id']}", _answered(call_sid)))
    assert root.findtext("Dial/Conference") == call["id"]
    answered = await _call(api, call["id"])
    assert answered["status"] == "in_progress" and answered["agent_id"] == "agent-7"
    assert answered["provider_status"] == "in-progress"
    again = twiml(await post_hook(api, f"/outbound?call={call['id']}", _answered(call_sid)))  # a retry
    assert again.findtext("Dial/Conference") == call["id"]
    [event] = await events_of(runtime, "call.answered")
    assert event.data["agent_name"] == "Sam Carter"
    await settle(runtime, until=lambda: fake_calls.conference(call["id"]) is not None)
    live = fake_calls.conference(call["id"])
    assert live is not None
    [agent] = live.participants.values()
    assert agent.label == "agent:agent-7" and agent.form["To"] == "client:agent-7"

    # The chat continues on the phone: one conversation, assigned to the agent, with the call in it.
    conversation = (await api.get(f"/v1/conversations/{chat['id']}")).json()
    assert conversation["channel"] == "voice" and conversation["assignee"] == "agent-7"
    bodies = [m["body"] for m in await messages(api, chat["id"])]
    assert bodies == [
        f"Calling {CUSTOMER_PHONE} for Sam Carter",
        f"{CUSTOMER_PHONE} answered; connecting Sam Carter",
    ]

    # The end of the call is found by its CallSid alone.
    ended = await post_hook(api, "/status", [*_answered(call_sid, "completed"), ("CallDuration", "95")])
    assert ended.status_code == 204
    finished = await _call(api, call["id"])
    assert finished["status"] == "completed" and finished["duration_s"] == 95


async def test_a_call_by_phone_number_without_an_agent_is_queued_when_answered(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call_sid = new_sid("CA")
    fake_calls.next_call_sids.append(call_sid)
    response = await api.post(CALLS, json={"phone": "415-555-2671", "queue": "billing"})
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["to_number"] == CUSTOMER_PHONE
    customer = (await api.get(f"/v1/customers/{call['customer_id']}")).json()
    assert [i["value"] for i in customer["identities"] if i["kind"] == "phone"] == [CUSTOMER_PHONE]
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["channel"] == "voice"

    # Twilio's callbacks may overtake the recording of its answer: they name the call in their URL.
    initiated = await post_hook(api, f"/status?call={call['id']}", _answered(call_sid, "initiated"))
    assert initiated.status_code == 204
    assert (await _call(api, call["id"]))["call_sid"] == call_sid
    await settle(runtime, until=lambda: len(fake_calls.created) == 1)
    assert (await _call(api, call["id"]))["call_sid"] == call_sid

    root = twiml(await post_hook(api, f"/outbound?call={call['id']}", _answered(call_sid)))
    assert root.findtext("Enqueue") == "billing"
    queued = await _call(api, call["id"])
    assert queued["status"] == "queued" and queued["queue"] == "billing" and queued["agent_id"] is None
    [event] = await events_of(runtime, "call.queued")
    assert event.data["queue"] == "billing"
    # An agent takes it from the queue like any waiting call.
    fake_calls.answer(call_sid)
    taken = await api.post(f"{CALLS}/{call['id']}/connect", json={"agent_id": "agent-3", "agent_name": "Ana"})
    assert taken.status_code == 200 and taken.json()["status"] == "connecting"
    await settle(runtime, until=lambda: fake_calls.conference(call["id"]) is not None)
    assert (await _call(api, call["id"]))["status"] == "in_progress"


async def test_a_retried_request_with_the_same_idempotency_key_places_one_call(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    body = {"phone": CUSTOMER_PHONE}
    headers = {"Idempotency-Key": "callback-42"}
    first = await api.post(CALLS, json=body, headers=headers)
    again = await api.post(CALLS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    await settle(runtime)
    assert len(fake_calls.created) == 1
    assert len((await api.get(CALLS)).json()["data"]) == 1
    assert len(await events_of(runtime, "call.placed")) == 1


async def test_calls_that_cannot_be_placed_are_refused_naming_the_problem(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    unknown = await api.post(CALLS, json={"customer_id": "cus_unknown"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "customer_id"
    no_phone = await _customer(api, email="jane@example.com")
    refused = await api.post(CALLS, json={"customer_id": no_phone["id"]})
    assert refused.status_code == 422 and refused.json()["field"] == "phone"
    assert "has no phone number" in refused.json()["detail"]
    bad = await api.post(CALLS, json={"phone": "12"})
    assert bad.status_code == 422 and bad.json()["field"] == "phone"
    nobody = await api.post(CALLS, json={})
    assert nobody.status_code == 422 and "customer_id" in nobody.text
    not_ours = await api.post(CALLS, json={"phone": CUSTOMER_PHONE, "from_number": "+14155550199"})
    assert not_ours.status_code == 422 and not_ours.json()["field"] == "from_number"
    agentless = await api.post(CALLS, json={"phone": CUSTOMER_PHONE, "agent_id": "agent-7"})
    assert agentless.status_code == 422 and "agent_name" in agentless.text
    other = await _customer(api, phone="+14155550123")
    theirs = (
        await api.post("/v1/conversations", json={"customer_id": other["id"], "channel": "webchat"})
    ).json()
    mixed = await api.post(CALLS, json={"phone": CUSTOMER_PHONE, "conversation_id": theirs["id"]})
    assert mixed.status_code == 422 and mixed.json()["field"] == "conversation_id"

    # Nothing was written, and Twilio was asked for nothing.
    await settle(runtime)
    assert (await api.get(CALLS)).json()["data"] == []
    assert await events_of(runtime, "call.placed") == []
    assert fake_calls.created == []


async def test_twilio_refusing_the_call_fails_it_with_twilios_message_and_is_not_retried(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    fake_calls.fail_next(400, 21215, "Account not authorized to call +14155552671.")
    call = (await api.post(CALLS, json={"phone": CUSTOMER_PHONE})).json()
    await settle(runtime)
    failed = await _call(api, call["id"])
    assert failed["status"] == "failed" and failed["call_sid"] is None
    assert failed["error_code"] == "21215"
    assert failed["error_message"] == "Account not authorized to call +14155552671."
    assert failed["ended_at"] is not None
    [completed] = await events_of(runtime, "call.completed")
    assert completed.data["status"] == "failed" and completed.data["error_code"] == "21215"
    assert "not authorized" in completed.data["error_message"]
    bodies = [m["body"] for m in await messages(api, call["conversation_id"])]
    assert bodies[-1] == f"Call to {CUSTOMER_PHONE} failed: Account not authorized to call +14155552671."
    assert fake_calls.created == []  # a 4xx is final: no second attempt


async def test_an_unavailable_twilio_is_retried_until_the_call_is_created(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    fake_calls.fail_next(503, 20500, "Service unavailable")
    fake_calls.fail_next(500, 20500, "Internal server error")
    call = (await api.post(CALLS, json={"phone": CUSTOMER_PHONE})).json()
    await settle(runtime, until=lambda: len(fake_calls.created) == 1)
    placed = await _call(api, call["id"])
    assert placed["status"] == "dialing" and placed["call_sid"] == next(iter(fake_calls.calls))
    assert await events_of(runtime, "call.completed") == []


async def test_an_outgoing_calls_webhooks_are_signature_checked(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = (await api.post(CALLS, json={"phone": CUSTOMER_PHONE})).json()
    call_sid = new_sid("CA")
    forged = await post_hook(
        api, f"/outbound?call={call['id']}", _answered(call_sid), auth_token="wrong-token"
    )
    assert forged.status_code == 403
    # The call named in the URL is covered by the signature: a form signed for another call is refused.
    moved = await post_hook(
        api,
        f"/status?call={call['id']}",
        _answered(call_sid, "ringing"),
        signed_url=f"http://cxstack.test{HOOKS}/status?call=cal_other",
    )
    assert moved.status_code == 403
    unknown = await post_hook(api, "/status?call=cal_unknown", _answered(new_sid("CA"), "ringing"))
    assert unknown.status_code == 404
    await settle(runtime, until=lambda: len(fake_calls.created) == 1)
    assert (await _call(api, call["id"]))["call_sid"] == next(iter(fake_calls.calls))  # not the forged one
