"""Conference status callbacks: the conference's id and participants are recorded on the call its
FriendlyName names, once per event, and only when Twilio signed them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.twilio_fake import new_sid
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    ACCOUNT_SID,
    CALLER,
    NUMBER,
    conference_params,
    events_of,
    post_hook,
    press,
    settle,
    start_call,
    the_call,
)

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


def _live(fake: FakeTwilioCalls, call_id: str) -> list[str]:
    """The call sids in the call's live conference at the fake Twilio."""
    found = fake.conference(call_id)
    return list(found.participants) if found is not None else []


async def _connected_call(api: httpx.AsyncClient, runtime: Runtime, fake: FakeTwilioCalls) -> dict[str, Any]:
    call_sid, _ = await start_call(api)
    fake.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    call = await the_call(api, call_sid)
    response = await api.post(
        f"/v1/channels/voice/calls/{call['id']}/connect", json={"agent_id": "agent-7", "agent_name": "Sam"}
    )
    assert response.status_code == 200, response.text
    return call


async def test_conference_events_record_its_id_and_participants_once(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _connected_call(api, runtime, fake_calls)
    await settle(runtime, until=lambda: len(_live(fake_calls, call["id"])) == 2)
    live = fake_calls.conference(call["id"])
    assert live is not None
    conference_sid = live.sid
    [agent_leg] = [sid for sid, p in live.participants.items() if p.label == "agent:agent-7"]
    events = [
        conference_params(
            call["id"], conference_sid, "participant-join", 1, call_sid=call["call_sid"], label="customer"
        ),
        conference_params(
            call["id"], conference_sid, "participant-join", 2, call_sid=agent_leg, label="agent:agent-7"
        ),
        conference_params(call["id"], conference_sid, "conference-start", 3),
        conference_params(
            call["id"],
            conference_sid,
            "participant-hold",
            4,
            call_sid=call["call_sid"],
            label="customer",
            hold=True,
        ),
    ]
    for params in [*events, events[1]]:  # Twilio may deliver one twice
        response = await post_hook(api, "/conference", params)
        assert response.status_code == 204, response.text

    shown = await the_call(api, call["call_sid"])
    assert shown["conference_sid"] == conference_sid
    participants = {p["call_sid"]: p for p in shown["participants"]}
    assert participants[call["call_sid"]]["role"] == "customer"
    assert participants[call["call_sid"]]["hold"] is True
    assert participants[agent_leg]["role"] == "agent" and participants[agent_leg]["agent_id"] == "agent-7"
    assert len(shown["participants"]) == 2

    left = conference_params(
        call["id"], conference_sid, "participant-leave", 5, call_sid=agent_leg, label="agent:agent-7"
    )
    assert (await post_hook(api, "/conference", left)).status_code == 204
    ended = conference_params(call["id"], conference_sid, "conference-end", 6)
    assert (await post_hook(api, "/conference", ended)).status_code == 204
    shown = await the_call(api, call["call_sid"])
    assert shown["conference_sid"] is None
    assert all(p.get("left_at") for p in shown["participants"])


async def test_the_conference_id_from_the_callbacks_is_what_hold_acts_on(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _connected_call(api, runtime, fake_calls)
    await settle(runtime, until=lambda: fake_calls.conference(call["id"]) is not None)
    live = fake_calls.conference(call["id"])
    assert live is not None
    start = conference_params(call["id"], live.sid, "conference-start", 1)
    assert (await post_hook(api, "/conference", start)).status_code == 204
    assert (await the_call(api, call["call_sid"]))["conference_sid"] == live.sid
    await api.post(f"/v1/channels/voice/calls/{call['id']}/hold")
    await settle(runtime, until=lambda: live.participants[call["call_sid"]].hold)


async def test_conference_callbacks_that_are_not_twilios_or_not_about_a_call_are_refused(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _connected_call(api, runtime, fake_calls)
    conference_sid = new_sid("CF")
    start = conference_params(call["id"], conference_sid, "conference-start", 1)
    forged = await post_hook(api, "/conference", start, auth_token="not-the-token")
    assert forged.status_code == 403 and forged.json()["field"] == "X-Twilio-Signature"
    unknown = await post_hook(
        api, "/conference", conference_params("cal_unknown", conference_sid, "conference-start", 1)
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "FriendlyName"
    odd = await post_hook(
        api, "/conference", conference_params(call["id"], conference_sid, "party-started", 2)
    )
    assert odd.status_code == 400 and odd.json()["field"] == "StatusCallbackEvent"
    no_sid = [(k, v) for k, v in start if k != "ConferenceSid"]
    assert (await post_hook(api, "/conference", no_sid)).json()["field"] == "ConferenceSid"
    assert (await the_call(api, call["call_sid"]))["conference_sid"] is None


async def test_the_agent_joining_the_conference_answers_a_connecting_call_once(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    for _ in range(50):
        fake_calls.fail_next(503, 20500, "Service unavailable")  # Twilio's answers to the requests are late
    call = await _connected_call(api, runtime, fake_calls)
    assert (await the_call(api, call["call_sid"]))["status"] == "connecting"
    conference_sid = new_sid("CF")
    joined = conference_params(
        call["id"], conference_sid, "participant-join", 1, call_sid=new_sid("CA"), label="agent:agent-7"
    )
    assert (await post_hook(api, "/conference", joined)).status_code == 204
    shown = await the_call(api, call["call_sid"])
    assert shown["status"] == "in_progress" and shown["answered_at"] is not None
    with fake_calls.lock:
        fake_calls.failures.clear()
    await settle(runtime, until=lambda: len(_live(fake_calls, call["id"])) == 2)
    # Twilio's own answer, arriving later, answers nothing twice.
    assert [e.type for e in await events_of(runtime, "call.answered")] == ["call.answered"]
    assert (await the_call(api, call["call_sid"]))["status"] == "in_progress"
