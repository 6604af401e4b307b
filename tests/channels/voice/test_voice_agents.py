"""Agents taking, holding and transferring calls: the call and its events change at once, and the live
call is changed at Twilio's REST API (the fake here) after the transaction commits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    NUMBER,
    PUBLIC_URL,
    events_of,
    messages,
    press,
    settle,
    start_call,
    status,
    the_call,
)

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


async def _queued_call(api: httpx.AsyncClient, fake: FakeTwilioCalls) -> dict[str, Any]:
    call_sid, _ = await start_call(api)
    fake.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    return await the_call(api, call_sid)


async def _act(
    api: httpx.AsyncClient, call_id: str, action: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await api.post(f"/v1/channels/voice/calls/{call_id}/{action}", json=body or {})


async def test_agent_takes_a_queued_call_and_twilio_is_told_to_connect_it(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    response = await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam Carter"})
    assert response.status_code == 200, response.text
    taken = response.json()
    assert taken["status"] == "in_progress" and taken["agent_name"] == "Sam Carter"
    assert taken["answered_at"] is not None
    [answered] = await events_of(runtime, "call.answered")
    assert answered.data["agent_id"] == "agent-7" and answered.data["waited_s"] >= 0
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["assignee"] == "agent-7"
    assert (await messages(api, call["conversation_id"]))[-1]["body"] == "Call answered by Sam Carter"

    await settle(runtime, until=lambda: len(fake_calls.received()) == 1)
    [update] = fake_calls.received()
    assert update.call_sid == call["call_sid"]
    assert (update.username, update.password) == (ACCOUNT_SID, AUTH_TOKEN)
    dial = update.twiml().find("Dial")
    assert dial is not None and dial.findtext("Client") == "agent-7"
    assert dial.get("record") == "record-from-answer"
    assert dial.get("recordingStatusCallback") == f"{PUBLIC_URL}/hooks/voice/twilio/recording"

    # Taking it twice is refused; the call stays with its agent.
    again = await _act(api, call["id"], "connect", {"agent_id": "agent-8", "agent_name": "Kim"})
    assert again.status_code == 409 and "transfer it instead" in again.json()["detail"]


async def test_hold_resume_and_transfers_change_the_live_call(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    await _act(
        api,
        call["id"],
        "connect",
        {"agent_id": "agent-7", "agent_name": "Sam", "agent_phone": "415 555 0142"},
    )
    held = await _act(api, call["id"], "hold")
    assert held.status_code == 200 and held.json()["status"] == "held"
    resumed = await _act(api, call["id"], "resume")
    assert resumed.json()["status"] == "in_progress"
    to_agent = await _act(api, call["id"], "transfer", {"agent_id": "agent-9", "agent_name": "Lee"})
    assert to_agent.json()["agent_id"] == "agent-9"
    to_queue = await _act(api, call["id"], "transfer", {"queue": "retention", "skill": "save"})
    assert to_queue.json()["status"] == "queued" and to_queue.json()["queue"] == "retention"
    assert to_queue.json()["agent_id"] is None

    await settle(runtime, until=lambda: len(fake_calls.received()) == 5)
    documents = [update.twiml() for update in fake_calls.received()]
    assert documents[0].findtext("Dial/Number") == "+14155550142"
    assert documents[1].find("Play") is not None and documents[1].findtext("Say") == "Please hold."
    assert documents[2].findtext("Dial/Client") == "agent-7"
    assert documents[3].findtext("Dial/Client") == "agent-9"
    assert documents[3].findtext("Say") == "Transferring your call."
    assert documents[4].findtext("Enqueue") == "retention"
    assert documents[4].find("Enqueue").get("waitUrl") == f"{PUBLIC_URL}/hooks/voice/twilio/wait"  # type: ignore[union-attr]

    assert [e.type for e in await events_of(runtime, "call.held", "call.resumed", "call.transferred")] == [
        "call.held",
        "call.resumed",
        "call.transferred",
        "call.transferred",
    ]
    transfers = [e.data for e in await events_of(runtime, "call.transferred")]
    assert transfers[0]["from_agent_id"] == "agent-7" and transfers[0]["to_agent_id"] == "agent-9"
    assert transfers[1]["to_queue"] == "retention"
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["assignee"] is None


async def test_actions_that_do_not_fit_the_call_are_refused(
    api: httpx.AsyncClient, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    assert (await _act(api, call["id"], "hold")).status_code == 409
    assert (await _act(api, call["id"], "resume")).status_code == 409
    bad = await _act(api, call["id"], "transfer", {"agent_id": "a"})
    assert bad.status_code == 422 and "agent_name" in bad.text
    both = await _act(api, call["id"], "transfer", {"agent_id": "a", "agent_name": "A", "queue": "q"})
    assert both.status_code == 422
    missing = await _act(api, call["id"], "connect", {"agent_id": "a"})
    assert missing.status_code == 422 and "agent_name" in missing.text
    bad_phone = await _act(
        api, call["id"], "connect", {"agent_id": "a", "agent_name": "A", "agent_phone": "x"}
    )
    assert bad_phone.status_code == 422 and bad_phone.json()["field"] == "agent_phone"
    assert (await the_call(api, call["call_sid"]))["status"] == "queued"
    assert (
        await _act(api, "cal_unknown", "connect", {"agent_id": "a", "agent_name": "A"})
    ).status_code == 404

    await status(api, call["call_sid"], "completed", CallDuration="30")
    ended = await _act(api, call["id"], "connect", {"agent_id": "a", "agent_name": "A"})
    assert ended.status_code == 409 and "has ended" in ended.json()["detail"]


async def test_a_call_twilio_will_not_change_is_reported_not_retried(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    fake_calls.end_call(call["call_sid"])  # the caller hung up; the status callback has not arrived yet
    response = await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam"})
    assert response.status_code == 200
    await settle(runtime)
    [failed] = await events_of(runtime, "call.update_failed")
    assert failed.data["action"] == "connect" and failed.data["error_code"] == "21220"
    assert "not in-progress" in failed.data["reason"]
    assert fake_calls.received() == []


async def test_an_unreachable_twilio_is_retried_until_the_update_lands(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    fake_calls.fail_next(503, 20500, "Service unavailable")
    fake_calls.fail_next(500, 20500, "Internal server error")
    await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam"})
    await settle(runtime, until=lambda: len(fake_calls.received()) == 1)
    assert await events_of(runtime, "call.update_failed") == []
