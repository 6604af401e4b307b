"""Helpers for voice tests: the forms Twilio posts for calls, signed as Twilio signs them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode
from xml.etree.ElementTree import Element, fromstring

import httpx
from tests.channels.support import events_of as events_of
from tests.channels.support import settle as settle
from tests.channels.twilio_fake import new_sid, sign

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 8 + "0123456789abcdef" + "e" * 8
NUMBER = "+14155550100"
CALLER = "+14155552671"
BASE_URL = "http://cxstack.test"
HOOKS = "/hooks/voice/twilio"
PUBLIC_URL = "https://cx.example.com"


async def register_number(
    api: httpx.AsyncClient, *, number: str = NUMBER, auth_token: str = AUTH_TOKEN
) -> None:
    response = await api.post(
        "/v1/channels/sms/numbers",
        json={"number": number, "account_sid": ACCOUNT_SID, "auth_token": auth_token},
    )
    assert response.status_code == 201, response.text


def call_params(
    call_sid: str, *, from_: str = CALLER, to: str = NUMBER, status: str = "ringing", **extra: str
) -> list[tuple[str, str]]:
    """The form Twilio posts for a call (incoming call, gather, status callback: the common fields)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to,
        "CalledCity": "SAN FRANCISCO",
        "CalledCountry": "US",
        "CalledState": "CA",
        "Caller": from_,
        "CallerCountry": "US",
        "Direction": "inbound",
        "From": from_,
        "FromCountry": "US",
        "To": to,
        "ToCountry": "US",
        **extra,
    }
    return list(params.items())


def recording_params(call_sid: str, recording_sid: str, *, duration: str = "42") -> list[tuple[str, str]]:
    """What Twilio posts to a recordingStatusCallback (no From/To: only the call names the tenant)."""
    return [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", call_sid),
        ("RecordingSid", recording_sid),
        (
            "RecordingUrl",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
        ),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", duration),
        ("RecordingChannels", "1"),
        ("RecordingStartTime", "Mon, 23 Nov 2026 14:00:00 +0000"),
        ("RecordingSource", "RecordVerb"),
        ("ErrorCode", "0"),
    ]


def conference_params(
    call_id: str,
    conference_sid: str,
    event: str,
    sequence: int,
    *,
    call_sid: str | None = None,
    label: str | None = None,
    hold: bool | None = None,
) -> list[tuple[str, str]]:
    """What Twilio posts to a conference's statusCallback."""
    params = [
        ("AccountSid", ACCOUNT_SID),
        ("ConferenceSid", conference_sid),
        ("FriendlyName", call_id),
        ("StatusCallbackEvent", event),
        ("SequenceNumber", str(sequence)),
        ("Timestamp", "Mon, 23 Nov 2026 14:00:00 +0000"),
    ]
    if call_sid is not None:
        params += [("CallSid", call_sid), ("Muted", "false"), ("EndConferenceOnExit", "false")]
        params.append(("Hold", "true" if hold else "false"))
    if label is not None:
        params.append(("ParticipantLabel", label))
    return params


def transcription_params(call_sid: str, recording_sid: str, text: str) -> list[tuple[str, str]]:
    sid = new_sid("TR")
    return [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", call_sid),
        ("From", CALLER),
        ("To", NUMBER),
        ("CallStatus", "completed"),
        ("RecordingSid", recording_sid),
        (
            "RecordingUrl",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
        ),
        ("TranscriptionSid", sid),
        ("TranscriptionText", text),
        ("TranscriptionStatus", "completed"),
        (
            "TranscriptionUrl",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{sid}",
        ),
        ("ApiVersion", "2010-04-01"),
    ]


async def post_hook(
    client: httpx.AsyncClient,
    path: str,
    params: Sequence[tuple[str, str]],
    *,
    auth_token: str | None = AUTH_TOKEN,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post a form to ``/hooks/voice/twilio<path>`` as Twilio does, signed for the URL posted to (or
    ``signed_url``); ``auth_token=None`` posts it unsigned."""
    url = HOOKS + path
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if auth_token is not None:
        sent["X-Twilio-Signature"] = sign(signed_url or BASE_URL + url, params, auth_token)
    request = client.build_request("POST", url, content=urlencode(list(params)), headers=sent)
    request.headers.pop("authorization", None)
    return await client.send(request)


def twiml(response: httpx.Response) -> Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = fromstring(response.text)
    assert root.tag == "Response"
    return root


def said(root: Element) -> list[str]:
    return [element.text or "" for element in root.iter("Say")]


async def start_call(client: httpx.AsyncClient, *, from_: str = CALLER) -> tuple[str, Element]:
    """An incoming call from ``from_``: its CallSid and the TwiML cxstack answered with."""
    call_sid = new_sid("CA")
    response = await post_hook(client, "/incoming", call_params(call_sid, from_=from_))
    return call_sid, twiml(response)


async def press(client: httpx.AsyncClient, call_sid: str, digits: str, *, attempt: int = 1) -> Element:
    params = call_params(call_sid, status="in-progress", Digits=digits, FinishedOnKey="")
    return twiml(await post_hook(client, f"/gather?attempt={attempt}", params))


async def say(client: httpx.AsyncClient, call_sid: str, speech: str, *, attempt: int = 1) -> Element:
    params = call_params(call_sid, status="in-progress", SpeechResult=speech, Confidence="0.91")
    return twiml(await post_hook(client, f"/gather?attempt={attempt}", params))


async def status(client: httpx.AsyncClient, call_sid: str, call_status: str, **extra: str) -> httpx.Response:
    params = call_params(call_sid, status=call_status, CallbackSource="call-progress-events", **extra)
    return await post_hook(client, "/status", params)


async def the_call(api: httpx.AsyncClient, call_sid: str) -> dict[str, Any]:
    calls = (await api.get("/v1/channels/voice/calls")).json()["data"]
    [found] = [call for call in calls if call["call_sid"] == call_sid]
    assert isinstance(found, dict)
    return found


async def messages(api: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 200})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


#: A menu with two queues and a voicemail option.
IVR = {
    "greeting": "Welcome to Acme.",
    "options": [
        {
            "key": "billing",
            "digit": "1",
            "keywords": ["billing", "payment", "invoice"],
            "prompt": "For billing and payments, press 1 or say billing.",
            "queue": "billing",
            "skill": "payments",
        },
        {
            "key": "sales",
            "digit": "2",
            "keywords": ["sales", "buy"],
            "prompt": "To buy, press 2 or say sales.",
            "queue": "sales",
        },
        {
            "key": "voicemail",
            "digit": "3",
            "keywords": ["message", "voicemail"],
            "prompt": "To leave a message, press 3.",
            "action": "voicemail",
        },
    ],
}


async def set_ivr(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/channels/voice/ivr", json=IVR)
    assert response.status_code == 200, response.text
