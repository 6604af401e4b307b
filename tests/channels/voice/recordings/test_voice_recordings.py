"""Recordings copied into cxstack's file store: fetched from Twilio (the fake here) with the number's
credentials after commit, then served by cxstack's API; listed with Twilio's URL until then."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.twilio_fake import new_sid
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    ACCOUNT_SID,
    CALLER,
    HOOKS,
    NUMBER,
    events_of,
    messages,
    post_hook,
    press,
    recording_params,
    settle,
    start_call,
    the_call,
)
from tests.conftest import TenantKey

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40


async def _voicemail(api: httpx.AsyncClient) -> dict[str, Any]:
    call_sid, _ = await start_call(api)
    await press(api, call_sid, "2")  # the default menu's voicemail
    return await the_call(api, call_sid)


async def _recordings(api: httpx.AsyncClient, call_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/channels/voice/calls/{call_id}/recordings")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _stored(fake: FakeTwilioCalls, recording_sid: str) -> bool:
    return any(r.method == "GET" and recording_sid in r.path for r in fake.log())


async def test_a_voicemail_is_copied_into_the_file_store_and_served_by_cxstack(
    api: httpx.AsyncClient, client: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _voicemail(api)
    recording_sid = new_sid("RE")
    fake_calls.add_recording(recording_sid, AUDIO)
    for _ in range(2):  # Twilio retries the callback
        response = await post_hook(api, "/recording", recording_params(call["call_sid"], recording_sid))
        assert response.status_code == 204
    [listed] = await _recordings(api, call["id"])
    assert listed["status"] == "copying" and listed["recording_sid"] == recording_sid
    assert listed["url"] == listed["provider_url"]
    assert listed["url"].startswith("https://api.twilio.com/") and listed["url"].endswith(
        f"{recording_sid}.wav"
    )

    await settle(runtime, until=lambda: _stored(fake_calls, recording_sid))
    [stored] = await _recordings(api, call["id"])
    assert stored["status"] == "stored" and stored["size"] == len(AUDIO)
    assert stored["url"] == f"/v1/channels/voice/recordings/{stored['id']}/media"
    assert stored["deleted_at_provider"] is False
    media = await api.get(stored["url"])
    assert media.status_code == 200 and media.content == AUDIO
    assert media.headers["content-type"] == "audio/mpeg"
    # Fetched once, as MP3, with the number's account and auth token (the fake refuses anything else).
    [fetch] = [r for r in fake_calls.log() if r.method == "GET"]
    assert fetch.path == f"/Recordings/{recording_sid}.mp3"
    assert recording_sid in fake_calls.recordings  # kept at Twilio unless the setting says otherwise

    # The conversation carries the stored copy, a file of the tenant served by the file API; the event says
    # where it is served.
    found = await messages(api, call["conversation_id"])
    [copy] = [m for m in found if m["body"] == "Voicemail stored in cxstack (42 s)"]
    [attachment] = copy["attachments"]
    assert attachment["id"] == stored["file_id"] and attachment["size"] == len(AUDIO)
    assert attachment["url"] == f"/v1/files/{stored['file_id']}/content"
    served = await api.get(attachment["url"])
    assert served.content == AUDIO and served.headers["content-type"] == "audio/mpeg"
    file = (await api.get(f"/v1/files/{stored['file_id']}")).json()
    assert (file["name"], file["source"]) == (f"{recording_sid}.mp3", "recording")
    assert (file["conversation_id"], file["message_id"]) == (call["conversation_id"], copy["id"])
    [event] = await events_of(runtime, "call.recording_stored")
    assert event.data["recording_id"] == stored["id"] and event.data["message_id"] == copy["id"]
    assert event.data["file_id"] == stored["file_id"]
    [left] = await events_of(runtime, "call.voicemail_left")
    assert left.data["recording_sid"] == recording_sid

    # Served to the tenant's API keys only.
    client.headers.pop("authorization", None)
    assert (await client.get(stored["url"])).status_code == 401


async def test_other_tenants_cannot_fetch_a_recording(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    runtime: Runtime,
    fake_calls: FakeTwilioCalls,
    other_tenant: TenantKey,
) -> None:
    call = await _voicemail(api)
    recording_sid = new_sid("RE")
    fake_calls.add_recording(recording_sid, AUDIO)
    await post_hook(api, "/recording", recording_params(call["call_sid"], recording_sid))
    await settle(runtime, until=lambda: _stored(fake_calls, recording_sid))
    [stored] = await _recordings(api, call["id"])
    other = {"headers": other_tenant.headers}
    assert (await client.get(stored["url"], **other)).status_code == 404
    assert (await client.get(f"/v1/files/{stored['file_id']}/content", **other)).status_code == 404
    assert (await client.get(f"/v1/channels/voice/recordings/{stored['id']}", **other)).status_code == 404
    assert (await client.get(f"/v1/channels/voice/calls/{call['id']}/recordings", **other)).status_code == 404


async def test_a_failed_download_is_retried_and_the_twilio_url_stays_listed_meanwhile(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _voicemail(api)
    recording_sid = new_sid("RE")
    fake_calls.add_recording(recording_sid, AUDIO)
    fake_calls.fail_next(503, 20500, "Service unavailable")
    fake_calls.fail_next(502, 20500, "Bad gateway")
    await post_hook(api, "/recording", recording_params(call["call_sid"], recording_sid))
    [waiting] = await _recordings(api, call["id"])
    assert waiting["status"] == "copying" and "api.twilio.com" in waiting["url"]
    early = await api.get(f"/v1/channels/voice/recordings/{waiting['id']}/media")
    assert early.status_code == 409 and "api.twilio.com" in early.json()["detail"]

    await settle(runtime, until=lambda: _stored(fake_calls, recording_sid))
    [stored] = await _recordings(api, call["id"])
    assert stored["status"] == "stored"
    assert (await api.get(stored["url"])).content == AUDIO
    assert len(await events_of(runtime, "call.recording_stored")) == 1


async def test_a_recording_twilio_no_longer_has_is_marked_failed_and_keeps_its_url(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _voicemail(api)
    recording_sid = new_sid("RE")  # never given to the fake: it answers 404
    await post_hook(api, "/recording", recording_params(call["call_sid"], recording_sid))
    await settle(runtime)
    [failed] = await _recordings(api, call["id"])
    assert failed["status"] == "failed" and "was not found" in failed["error"]
    assert failed["url"] == failed["provider_url"]
    assert await events_of(runtime, "call.recording_stored") == []


@pytest.mark.delete_recordings
async def test_with_the_setting_the_recording_is_deleted_at_twilio_once_copied(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call = await _voicemail(api)
    recording_sid = new_sid("RE")
    fake_calls.add_recording(recording_sid, AUDIO)
    await post_hook(api, "/recording", recording_params(call["call_sid"], recording_sid))
    await settle(runtime, until=lambda: recording_sid in fake_calls.deleted_recordings)
    [stored] = await _recordings(api, call["id"])
    assert stored["status"] == "stored" and stored["deleted_at_provider"] is True
    assert recording_sid not in fake_calls.recordings
    assert (await api.get(stored["url"])).content == AUDIO


async def test_a_conference_recording_is_attached_to_the_call_its_callback_url_names(
    api: httpx.AsyncClient, runtime: Runtime, fake_calls: FakeTwilioCalls
) -> None:
    call_sid, _ = await start_call(api)
    fake_calls.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    call = await the_call(api, call_sid)
    await api.post(
        f"/v1/channels/voice/calls/{call['id']}/connect", json={"agent_id": "a-1", "agent_name": "Ann"}
    )
    await settle(runtime, until=lambda: fake_calls.conference(call["id"]) is not None)
    live = fake_calls.conference(call["id"])
    assert live is not None
    [update] = fake_calls.received()
    conference = update.twiml().find("Dial/Conference")
    assert conference is not None
    callback = conference.get("recordingStatusCallback")
    assert callback is not None and callback.endswith(f"{HOOKS}/recording?call={call['id']}")

    recording_sid = new_sid("RE")
    fake_calls.add_recording(recording_sid, AUDIO)
    params = [(k, v) for k, v in recording_params(call_sid, recording_sid) if k != "CallSid"]
    params += [("ConferenceSid", live.sid), ("RecordingSource", "Conference")]
    response = await post_hook(api, f"/recording?call={call['id']}", params)
    assert response.status_code == 204, response.text
    await settle(runtime, until=lambda: _stored(fake_calls, recording_sid))
    [stored] = await _recordings(api, call["id"])
    assert stored["status"] == "stored" and stored["voicemail"] is False
    [attached] = await events_of(runtime, "call.recording_attached")
    assert attached.data["call_id"] == call["id"]
    # A conference recording whose callback names no call is refused.
    orphan = await post_hook(api, "/recording", params)
    assert orphan.status_code == 400 and orphan.json()["field"] == "CallSid"
