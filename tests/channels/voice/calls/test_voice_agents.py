"""Agents taking, holding and transferring calls: the call and its events change at once, and the live
call is changed at Twilio's REST API (the fake here) after the transaction commits. Caller and agent meet
in a conference of the call's own; hold and transfers act on its participants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    HOOKS,
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
HOOKS_URL = PUBLIC_URL + HOOKS


def _agents(fake: FakeTwilioCalls, call_id: str) -> list[str]:
    """The labels of the agents in the call's live conference at the fake Twilio."""
    live = fake.conference(call_id)
    if live is None:
        return []
    return sorted(p.label for p in live.participants.values() if p.label and p.label.startswith("agent:"))


async def _queued_call(api: httpx.AsyncClient, fake: FakeTwilioCalls) -> dict[str, Any]:
    call_sid, _ = await start_call(api)
    fake.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    return await the_call(api, call_sid)


async def _act(
    api: httpx.AsyncClient, call_id: str, action: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await api.post(f"/v1/channels/voice/calls/{call_id}/{action}", json=body or {})


async def test_agent_takes_a_queued_call_and_they_meet_in_the_calls_conference(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    response = await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam Carter"})
    assert response.status_code == 200, response.text
    taken = response.json()
    # Twilio has not been asked yet: the call is connecting, not answered.
    assert taken["status"] == "connecting" and taken["agent_name"] == "Sam Carter"
    assert taken["answered_at"] is None
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["assignee"] == "agent-7"

    await settle(runtime, until=lambda: _agents(fake_calls, call["id"]) == ["agent:agent-7"])
    # Twilio dialled the agent into the conference: now it is answered.
    shown = await the_call(api, call["call_sid"])
    assert shown["status"] == "in_progress" and shown["answered_at"] is not None
    [answered] = await events_of(runtime, "call.answered")
    assert answered.data["agent_id"] == "agent-7" and answered.data["waited_s"] >= 0
    assert (await messages(api, call["conversation_id"]))[-1]["body"] == "Call answered by Sam Carter"
    # The caller's leg is moved into the call's own conference...
    [update] = fake_calls.received()
    assert update.call_sid == call["call_sid"]
    assert (update.username, update.password) == (ACCOUNT_SID, AUTH_TOKEN)
    conference = update.twiml().find("Dial/Conference")
    assert conference is not None and conference.text == call["id"]
    assert conference.get("endConferenceOnExit") == "true"
    assert conference.get("record") == "record-from-start"
    assert conference.get("recordingStatusCallback") == f"{HOOKS_URL}/recording?call={call['id']}"
    assert conference.get("statusCallback") == f"{HOOKS_URL}/conference"
    # ... and the agent is dialed in as a participant, from the tenant's number.
    live = fake_calls.conference(call["id"])
    assert live is not None
    [agent] = [p for p in live.participants.values() if p.label == "agent:agent-7"]
    assert agent.form["To"] == "client:agent-7" and agent.form["From"] == NUMBER
    assert agent.form["EndConferenceOnExit"] == "false"
    assert call["call_sid"] in live.participants
    shown = await the_call(api, call["call_sid"])
    assert shown["conference_sid"] == live.sid
    assert [p["agent_id"] for p in shown["participants"]] == ["agent-7"]

    # Taking it twice is refused; the call stays with its agent.
    again = await _act(api, call["id"], "connect", {"agent_id": "agent-8", "agent_name": "Kim"})
    assert again.status_code == 409 and "transfer it instead" in again.json()["detail"]


async def test_hold_keeps_the_agent_in_the_conference_and_transfers_move_the_caller(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    caller = call["call_sid"]
    await _act(
        api,
        call["id"],
        "connect",
        {"agent_id": "agent-7", "agent_name": "Sam", "agent_phone": "415 555 0142"},
    )
    await settle(runtime, until=lambda: _agents(fake_calls, call["id"]) == ["agent:agent-7"])
    live = fake_calls.conference(call["id"])
    assert live is not None
    [agent_leg] = [p for p in live.participants.values() if p.label == "agent:agent-7"]
    assert agent_leg.form["To"] == "+14155550142"

    held = await _act(api, call["id"], "hold")
    assert held.status_code == 200 and held.json()["status"] == "held"
    await settle(runtime, until=lambda: live.participants[caller].hold)
    assert (
        live.participants[caller].hold_url
        == "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
    )
    assert agent_leg.call_sid in live.participants and not agent_leg.hold  # the agent stays on the line
    hold_request = next(r for r in fake_calls.log() if r.path.endswith(f"/Participants/{caller}.json"))
    assert hold_request.path == f"/Conferences/{live.sid}/Participants/{caller}.json"
    assert hold_request.form["Hold"] == "true"

    resumed = await _act(api, call["id"], "resume")
    assert resumed.json()["status"] == "in_progress"
    await settle(runtime, until=lambda: not live.participants[caller].hold)

    to_agent = await _act(api, call["id"], "transfer", {"agent_id": "agent-9", "agent_name": "Lee"})
    assert to_agent.json()["agent_id"] == "agent-9"
    await settle(runtime, until=lambda: _agents(fake_calls, call["id"]) == ["agent:agent-9"])
    [new_agent] = [p for p in live.participants.values() if p.label == "agent:agent-9"]
    assert new_agent.form["To"] == "client:agent-9"
    assert caller in live.participants  # the caller never left the conference

    to_queue = await _act(api, call["id"], "transfer", {"queue": "retention", "skill": "save"})
    assert to_queue.json()["status"] == "queued" and to_queue.json()["queue"] == "retention"
    assert to_queue.json()["agent_id"] is None
    await settle(runtime, until=lambda: len(fake_calls.received()) == 2)
    enqueue = fake_calls.received()[-1].twiml().find("Enqueue")
    assert enqueue is not None and enqueue.text == "retention"
    assert enqueue.get("waitUrl") == f"{HOOKS_URL}/wait"
    assert fake_calls.conference(call["id"]) is None  # the caller left: the conference ended
    assert (await the_call(api, caller))["conference_sid"] is None

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
    assert await events_of(runtime, "call.update_failed") == []


async def test_a_held_call_transferred_to_an_agent_is_taken_off_hold(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    caller = call["call_sid"]
    await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam"})
    # Until Twilio has connected the agent there is nothing to hold.
    early = await _act(api, call["id"], "hold")
    assert early.status_code == 409 and "connecting" in early.json()["detail"]
    await settle(runtime, until=lambda: _agents(fake_calls, call["id"]) == ["agent:agent-7"])
    assert (await _act(api, call["id"], "hold")).json()["status"] == "held"
    moved = await _act(api, call["id"], "transfer", {"agent_id": "agent-9", "agent_name": "Lee"})
    assert moved.json()["status"] == "in_progress"
    live_name = call["id"]
    await settle(
        runtime,
        until=lambda: (
            _agents(fake_calls, live_name) == ["agent:agent-9"]
            and not fake_calls.conference(live_name).participants[caller].hold
        ),  # type: ignore[union-attr]
    )
    actions = [e.type for e in await events_of(runtime, "call.held", "call.transferred")]
    assert actions == ["call.held", "call.transferred"]


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
    # The agent is not dialled into a conference the caller never joined, and the call was never answered:
    # it waits again, without an agent.
    assert fake_calls.conference(call["id"]) is None
    assert not [r for r in fake_calls.log() if "/Participants" in r.path]
    assert await events_of(runtime, "call.answered") == []
    shown = await the_call(api, call["call_sid"])
    assert (shown["status"], shown["agent_id"], shown["answered_at"]) == ("queued", None, None)
    conversation = (await api.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert conversation["assignee"] is None
    assert "Call answered by Sam" not in [m["body"] for m in await messages(api, call["conversation_id"])]


async def test_a_request_retried_after_the_call_ended_leaves_the_finished_call_alone(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    for _ in range(50):
        fake_calls.fail_next(503, 20500, "Service unavailable")  # Twilio is down while the agent takes it
    taken = await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam"})
    assert taken.status_code == 200 and taken.json()["status"] == "connecting"
    # The caller hangs up before Twilio comes back.
    fake_calls.end_call(call["call_sid"])
    assert (await status(api, call["call_sid"], "completed", CallDuration="40")).status_code == 204
    with fake_calls.lock:
        fake_calls.failures.clear()
    await settle(runtime)
    # The retried requests found the call ended: no conference, no agent dialled, nothing answered.
    assert fake_calls.received() == []
    assert fake_calls.conference(call["id"]) is None
    assert not [r for r in fake_calls.log() if "/Participants" in r.path]
    assert await events_of(runtime, "call.answered") == []
    shown = await the_call(api, call["call_sid"])
    assert shown["status"] == "completed" and shown["answered_at"] is None


async def test_an_unreachable_twilio_is_retried_until_the_update_lands(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _queued_call(api, fake_calls)
    fake_calls.fail_next(503, 20500, "Service unavailable")
    fake_calls.fail_next(500, 20500, "Internal server error")
    await _act(api, call["id"], "connect", {"agent_id": "agent-7", "agent_name": "Sam"})
    await settle(runtime, until=lambda: len(fake_calls.received()) == 1)
    assert await events_of(runtime, "call.update_failed") == []
