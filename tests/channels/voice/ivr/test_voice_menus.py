"""The phone menu: answered by keypad and by speech, repeated for an unknown or missing answer, then a
voicemail; menus that cannot work are refused."""

from __future__ import annotations

import httpx
import pytest
from tests.channels.voice.support import (
    IVR,
    call_params,
    events_of,
    messages,
    post_hook,
    press,
    said,
    say,
    set_ivr,
    start_call,
    the_call,
    twiml,
)

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


async def test_menu_by_keypad_and_by_speech_queues_the_call_with_what_it_collected(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await set_ivr(api)
    assert (await api.get("/v1/channels/voice/ivr")).json()["configured"] is True
    first, menu = await start_call(api)
    assert said(menu)[0] == "Welcome to Acme."
    assert [option.get("hints") for option in menu.iter("Gather")] == [
        "billing,payment,invoice,sales,buy,message,voicemail"
    ]

    queued = await press(api, first, "1")
    [enqueue] = queued.iter("Enqueue")
    assert enqueue.text == "billing" and enqueue.get("waitUrl") == "/hooks/voice/twilio/wait"

    second, _ = await start_call(api, from_="+14155559876")
    by_voice = await say(api, second, "I have a question about a Payment I made")
    assert [e.text for e in by_voice.iter("Enqueue")] == ["billing"]
    third, _ = await start_call(api, from_="+14155559877")
    assert [e.text for e in (await say(api, third, "sales please")).iter("Enqueue")] == ["sales"]

    events = {event.data["call_sid"]: event.data for event in await events_of(runtime, "call.queued")}
    assert events[first]["queue"] == "billing" and events[first]["skill"] == "payments"
    assert events[first]["ivr"]["digits"] == "1" and events[first]["ivr"]["option"] == "billing"
    assert events[second]["ivr"]["speech"] == "I have a question about a Payment I made"
    assert events[second]["ivr"]["confidence"] == 0.91
    assert events[third]["queue"] == "sales" and events[third]["skill"] is None
    call = await the_call(api, first)
    assert call["status"] == "queued" and call["queue"] == "billing" and call["skill"] == "payments"
    bodies = [m["body"] for m in await messages(api, call["conversation_id"])]
    assert bodies[-1] == "Caller chose billing in the phone menu (pressed 1); waiting in the billing queue"

    # A repeated gather callback changes nothing and keeps the caller waiting.
    again = await press(api, first, "2")
    assert [e.text for e in again.iter("Enqueue")] == ["billing"]
    assert len(await events_of(runtime, "call.queued")) == 3

    # The wait URL plays hold music.
    wait = twiml(await post_hook(api, "/wait", call_params(first, status="queued", QueuePosition="1")))
    assert [p.get("loop") for p in wait.iter("Play")] == ["0"]


async def test_unknown_or_missing_answers_repeat_the_menu_then_take_a_voicemail(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await set_ivr(api)
    call_sid, _ = await start_call(api)
    retry = await press(api, call_sid, "9")
    assert said(retry)[0] == "Sorry, that is not one of the options."
    assert next(retry.iter("Gather")).get("action") == "/hooks/voice/twilio/gather?attempt=2"
    silent = twiml(await post_hook(api, "/gather?attempt=2", call_params(call_sid, status="in-progress")))
    assert said(silent)[0] == "Sorry, I did not catch that."
    last = twiml(await post_hook(api, "/gather?attempt=3", call_params(call_sid, status="in-progress")))
    assert list(last.iter("Record")) and not list(last.iter("Gather"))
    assert (await the_call(api, call_sid))["status"] == "voicemail"
    assert len(await events_of(runtime, "call.voicemail_started")) == 1


async def test_ivr_that_cannot_work_is_refused_naming_the_problem(api: httpx.AsyncClient) -> None:
    twice = {**IVR, "options": [IVR["options"][0], {**IVR["options"][1], "digit": "1"}]}  # type: ignore[index]
    response = await api.put("/v1/channels/voice/ivr", json=twice)
    assert response.status_code == 422
    assert "two options share the digit '1'" in response.text
    no_queue = {**IVR, "options": [{"key": "x", "digit": "1", "prompt": "Press 1."}]}
    response = await api.put("/v1/channels/voice/ivr", json=no_queue)
    assert response.status_code == 422 and "a queue option names its queue" in response.text
    bad_digit = {**IVR, "options": [{**IVR["options"][0], "digit": "12"}]}  # type: ignore[index]
    response = await api.put("/v1/channels/voice/ivr", json=bad_digit)
    assert response.status_code == 422 and "digit" in response.text
    assert (await api.get("/v1/channels/voice/ivr")).json()["configured"] is False
