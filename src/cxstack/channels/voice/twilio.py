"""Twilio Programmable Voice: reading its form-encoded call and conference webhooks, and the REST API calls
the voice channel makes (``/2010-04-01/Accounts/{AccountSid}/...``): creating an outgoing call
(``Calls.json``), giving a live call new TwiML (``Calls/{CallSid}.json``), adding, holding and removing a
conference's participants (``Conferences/{ConferenceSid}/Participants...``), and fetching and deleting
recordings (``Recordings/{RecordingSid}``). Every request is form-encoded with HTTP basic auth (the account
SID and its auth token); Twilio answers JSON.

Signatures (``X-Twilio-Signature``) are Twilio's for voice and messaging alike; the SMS channel's Twilio
plugin checks them for both.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from cxstack.channels.sms.plugins.base import FormParams, MalformedWebhook
from cxstack.channels.sms.plugins.twilio import webhook_country
from cxstack.channels.voice.schemas import (
    PROVIDER_STATUS_RANK,
    AnsweredCall,
    CallStatusReport,
    ConferenceReport,
    IncomingCall,
    MenuInput,
    RecordingReport,
    TranscriptionReport,
)
from cxstack.kit.errors import ValidationFailed
from cxstack.records.customers.service import normalise_phone

API_VERSION = "2010-04-01"
DEFAULT_API_URL = "https://api.twilio.com"
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
_TRANSCRIPTION_SID = re.compile(r"^TR[0-9a-fA-F]{32}$")
_CONFERENCE_SID = re.compile(r"^CF[0-9a-fA-F]{32}$")
#: The conference events cxstack asks for and records.
CONFERENCE_EVENTS = (
    "conference-start",
    "conference-end",
    "participant-join",
    "participant-leave",
    "participant-hold",
    "participant-unhold",
    "participant-mute",
    "participant-unmute",
    "participant-modify",
    "participant-speech-start",
    "participant-speech-stop",
    "announcement-end",
    "announcement-fail",
)
#: The longest speech result kept.
MAX_SPEECH = 1000


class TwilioRejected(Exception):
    """Twilio refused the request for good (a 4xx answer: the call is over or unknown, a number it will
    not call, invalid TwiML); ``code`` is Twilio's error code, ``status`` the HTTP status."""

    def __init__(self, message: str, *, code: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class TwilioUnavailable(Exception):
    """Twilio could not be reached or failed on its side (429, 5xx): the request may be retried."""


def first_values(params: FormParams) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in params:
        found.setdefault(name, value)
    return found


def _required(values: dict[str, str], name: str) -> str:
    value = values.get(name)
    if value is None or not value.strip():
        raise MalformedWebhook(f"the webhook has no {name}", field=name)
    return value.strip()


def _sid(values: dict[str, str], name: str, pattern: re.Pattern[str]) -> str:
    value = _required(values, name)
    if not pattern.match(value):
        raise MalformedWebhook(f"{name} {value!r} is not a Twilio id", field=name)
    return value


def call_sid_of(params: FormParams) -> str:
    """Return the ``CallSid`` of any call webhook; raises MalformedWebhook."""
    return _sid(first_values(params), "CallSid", _CALL_SID)


def _phone(values: dict[str, str], name: str) -> str:
    """The number in ``name`` (``From``, ``To``), a national one read in Twilio's ``FromCountry`` or
    ``ToCountry``."""
    value = _required(values, name)
    country = webhook_country(values.get(f"{name}Country"), field=f"{name}Country")
    try:
        return normalise_phone(value, region=country, field=name)
    except ValidationFailed as error:
        raise MalformedWebhook(error.detail, field=name) from None


def _status(values: dict[str, str], name: str = "CallStatus") -> str:
    status = _required(values, name).lower()
    if status not in PROVIDER_STATUS_RANK:
        raise MalformedWebhook(
            f"{name} {status!r} is not one of {', '.join(sorted(PROVIDER_STATUS_RANK))}", field=name
        )
    return status


def _seconds(values: dict[str, str], name: str) -> int | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise MalformedWebhook(f"{name} {raw!r} is not a number of seconds", field=name)
    return int(raw)


def _url(values: dict[str, str], name: str) -> str:
    value = _required(values, name)
    if not value.startswith(("https://", "http://")) or len(value) > 2048:
        raise MalformedWebhook(f"{name} {value[:100]!r} is not an http(s) URL", field=name)
    return value


def parse_incoming(params: FormParams) -> IncomingCall:
    """Read the incoming-call webhook; raises MalformedWebhook naming the field at fault."""
    values = first_values(params)
    direction = (values.get("Direction") or "inbound").strip()
    if direction != "inbound":
        raise MalformedWebhook(f"Direction {direction!r} is not an incoming call", field="Direction")
    return IncomingCall(
        call_sid=_sid(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        from_number=_phone(values, "From"),
        to_number=_phone(values, "To"),
        status=_status(values),
        direction=direction,
    )


def parse_menu_input(params: FormParams) -> MenuInput:
    """Read a ``<Gather>`` callback (``Digits`` or ``SpeechResult``, both absent when the caller said
    nothing); raises MalformedWebhook."""
    values = first_values(params)
    digits = (values.get("Digits") or "").strip() or None
    if digits is not None and not re.fullmatch(r"[0-9*#]{1,20}", digits):
        raise MalformedWebhook(f"Digits {digits!r} are not keypad keys", field="Digits")
    speech = " ".join((values.get("SpeechResult") or "").split())[:MAX_SPEECH] or None
    raw_confidence = (values.get("Confidence") or "").strip()
    confidence: float | None = None
    if raw_confidence:
        try:
            confidence = float(raw_confidence)
        except ValueError:
            raise MalformedWebhook(
                f"Confidence {raw_confidence!r} is not a number", field="Confidence"
            ) from None
    return MenuInput(
        call_sid=_sid(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        digits=digits,
        speech=speech,
        confidence=confidence,
    )


def parse_status(params: FormParams) -> CallStatusReport:
    """Read a call status callback; raises MalformedWebhook."""
    values = first_values(params)
    return CallStatusReport(
        call_sid=_sid(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        status=_status(values),
        duration_s=_seconds(values, "CallDuration"),
    )


def parse_recording(params: FormParams) -> RecordingReport:
    """Read a recording status callback (or a ``<Record>`` action); raises MalformedWebhook."""
    values = first_values(params)
    status = (values.get("RecordingStatus") or "completed").strip().lower()
    if status not in ("in-progress", "completed", "absent", "failed"):
        raise MalformedWebhook(
            f"RecordingStatus {status!r} is not a recording status", field="RecordingStatus"
        )
    return RecordingReport(
        call_sid=_sid_or_none(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        recording_sid=_sid(values, "RecordingSid", _RECORDING_SID),
        url=_url(values, "RecordingUrl"),
        status=status,
        duration_s=_seconds(values, "RecordingDuration"),
    )


def parse_transcription(params: FormParams) -> TranscriptionReport:
    """Read a transcription callback; raises MalformedWebhook."""
    values = first_values(params)
    status = _required(values, "TranscriptionStatus").lower()
    if status not in ("completed", "failed"):
        raise MalformedWebhook(
            f"TranscriptionStatus {status!r} is not completed or failed", field="TranscriptionStatus"
        )
    text = (values.get("TranscriptionText") or "").strip()
    if status == "completed" and not text:
        raise MalformedWebhook(
            "a completed transcription has no TranscriptionText", field="TranscriptionText"
        )
    recording = (values.get("RecordingSid") or "").strip()
    return TranscriptionReport(
        call_sid=_sid(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        transcription_sid=_sid(values, "TranscriptionSid", _TRANSCRIPTION_SID),
        recording_sid=_sid(values, "RecordingSid", _RECORDING_SID) if recording else None,
        status=status,
        text=text,
    )


def _sid_or_none(values: dict[str, str], name: str, pattern: re.Pattern[str]) -> str | None:
    if not (values.get(name) or "").strip():
        return None
    return _sid(values, name, pattern)


def parse_answered(params: FormParams) -> AnsweredCall:
    """Read the webhook of an outgoing call the callee answered; raises MalformedWebhook."""
    values = first_values(params)
    return AnsweredCall(
        call_sid=_sid(values, "CallSid", _CALL_SID),
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        status=_status(values),
    )


def parse_conference(params: FormParams) -> ConferenceReport:
    """Read a conference status callback; raises MalformedWebhook."""
    values = first_values(params)
    event = _required(values, "StatusCallbackEvent").lower()
    if event not in CONFERENCE_EVENTS:
        raise MalformedWebhook(
            f"StatusCallbackEvent {event!r} is not a conference event", field="StatusCallbackEvent"
        )
    hold = (values.get("Hold") or "").strip().lower()
    label = (values.get("ParticipantLabel") or "").strip()
    return ConferenceReport(
        account_sid=_sid(values, "AccountSid", _ACCOUNT_SID),
        conference_sid=_sid(values, "ConferenceSid", _CONFERENCE_SID),
        friendly_name=_required(values, "FriendlyName"),
        event=event,
        call_sid=_sid_or_none(values, "CallSid", _CALL_SID),
        label=label[:80] or None,
        hold={"true": True, "false": False}.get(hold),
        sequence=(values.get("SequenceNumber") or "").strip()[:20],
    )


def _url_of(api_url: str, account_sid: str, path: str) -> str:
    return f"{api_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/{path}"


async def _request(
    method: str,
    url: str,
    *,
    account_sid: str,
    auth_token: str,
    timeout_s: float,
    data: dict[str, str] | list[tuple[str, str]] | None = None,
) -> httpx.Response:
    """Send one request to Twilio's REST API; return a 2xx answer.

    Raises TwilioRejected for a 4xx answer (but 429), TwilioUnavailable for 429, 5xx and network failures.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            if data is None:
                response = await http.request(method, url, auth=(account_sid, auth_token))
            else:
                pairs = list(data.items()) if isinstance(data, dict) else data
                response = await http.request(
                    method,
                    url,
                    content=urlencode(pairs),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    auth=(account_sid, auth_token),
                )
    except httpx.HTTPError as error:
        raise TwilioUnavailable(f"Twilio could not be reached: {error!r}") from error
    if 200 <= response.status_code < 300:
        return response
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    code = answer.get("code")
    detail = str(answer.get("message") or response.text[:500] or response.reason_phrase)
    if response.status_code == 429 or response.status_code >= 500:
        raise TwilioUnavailable(f"Twilio answered {response.status_code}: {detail}")
    raise TwilioRejected(
        detail, code=str(code) if code is not None else str(response.status_code), status=response.status_code
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


async def update_call(
    *, api_url: str, account_sid: str, auth_token: str, call_sid: str, twiml: str, timeout_s: float
) -> dict[str, Any]:
    """Give a live call new TwiML (Twilio's call update); return Twilio's call resource.

    Raises TwilioRejected for a 4xx answer (Twilio's error ``code`` and ``message`` carried over),
    TwilioUnavailable for 429, 5xx and network failures.
    """
    response = await _request(
        "POST",
        _url_of(api_url, account_sid, f"Calls/{call_sid}.json"),
        account_sid=account_sid,
        auth_token=auth_token,
        timeout_s=timeout_s,
        data={"Twiml": twiml},
    )
    return _json(response)


async def create_call(
    *,
    api_url: str,
    account_sid: str,
    auth_token: str,
    to: str,
    from_: str,
    url: str,
    status_callback: str,
    timeout_s: float,
) -> dict[str, Any]:
    """Create an outgoing call that fetches its TwiML from ``url`` once answered, and reports its progress
    (initiated, ringing, answered, completed) to ``status_callback``; return Twilio's call resource (its
    ``sid``). Raises TwilioRejected, TwilioUnavailable."""
    response = await _request(
        "POST",
        _url_of(api_url, account_sid, "Calls.json"),
        account_sid=account_sid,
        auth_token=auth_token,
        timeout_s=timeout_s,
        data=[
            ("To", to),
            ("From", from_),
            ("Url", url),
            ("Method", "POST"),
            ("StatusCallback", status_callback),
            ("StatusCallbackMethod", "POST"),
            *[("StatusCallbackEvent", event) for event in ("initiated", "ringing", "answered", "completed")],
        ],
    )
    answer = _json(response)
    if not isinstance(answer.get("sid"), str) or not _CALL_SID.match(answer["sid"]):
        raise TwilioUnavailable(f"Twilio's answer names no call: {response.text[:200]}")
    return answer


async def add_participant(
    *,
    api_url: str,
    account_sid: str,
    auth_token: str,
    conference: str,
    form: dict[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    """Dial a participant into ``conference`` (its sid, or its friendly name, which creates it when no
    conference of that name runs); return Twilio's participant resource (``call_sid``,
    ``conference_sid``). Raises TwilioRejected, TwilioUnavailable."""
    response = await _request(
        "POST",
        _url_of(api_url, account_sid, f"Conferences/{quote(conference, safe='')}/Participants.json"),
        account_sid=account_sid,
        auth_token=auth_token,
        timeout_s=timeout_s,
        data=form,
    )
    return _json(response)


async def update_participant(
    *,
    api_url: str,
    account_sid: str,
    auth_token: str,
    conference_sid: str,
    participant: str,
    form: dict[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    """Change a conference participant (``Hold``, ``HoldUrl``...), named by its call sid or label; return
    Twilio's participant resource. Raises TwilioRejected, TwilioUnavailable."""
    response = await _request(
        "POST",
        _url_of(
            api_url,
            account_sid,
            f"Conferences/{conference_sid}/Participants/{quote(participant, safe='')}.json",
        ),
        account_sid=account_sid,
        auth_token=auth_token,
        timeout_s=timeout_s,
        data=form,
    )
    return _json(response)


async def remove_participant(
    *,
    api_url: str,
    account_sid: str,
    auth_token: str,
    conference_sid: str,
    participant: str,
    timeout_s: float,
) -> None:
    """Hang up a conference participant (by call sid or label). Raises TwilioRejected, TwilioUnavailable."""
    await _request(
        "DELETE",
        _url_of(
            api_url,
            account_sid,
            f"Conferences/{conference_sid}/Participants/{quote(participant, safe='')}.json",
        ),
        account_sid=account_sid,
        auth_token=auth_token,
        timeout_s=timeout_s,
    )


def recording_media_url(*, api_url: str, account_sid: str, recording_sid: str, reported_url: str) -> str:
    """Where to fetch a recording as MP3: the ``RecordingUrl`` Twilio reported, with ``.mp3``, when it is on
    the configured API's host (the credentials go nowhere else); else the recording's path there."""
    reported, api = urlsplit(reported_url), urlsplit(api_url)
    if (reported.scheme, reported.netloc) == (api.scheme, api.netloc):
        base = reported_url.rsplit(".", 1)[0] if reported_url.rsplit("/", 1)[-1].count(".") else reported_url
        return f"{base}.mp3"
    return _url_of(api_url, account_sid, f"Recordings/{recording_sid}.mp3")


async def download_recording(*, url: str, account_sid: str, auth_token: str, timeout_s: float) -> bytes:
    """Return a recording's bytes. Raises TwilioRejected (404: deleted), TwilioUnavailable."""
    response = await _request("GET", url, account_sid=account_sid, auth_token=auth_token, timeout_s=timeout_s)
    return response.content


async def delete_recording(
    *, api_url: str, account_sid: str, auth_token: str, recording_sid: str, timeout_s: float
) -> None:
    """Delete a recording at Twilio; one already gone counts as deleted. Raises TwilioRejected,
    TwilioUnavailable."""
    try:
        await _request(
            "DELETE",
            _url_of(api_url, account_sid, f"Recordings/{recording_sid}.json"),
            account_sid=account_sid,
            auth_token=auth_token,
            timeout_s=timeout_s,
        )
    except TwilioRejected as error:
        if error.status != 404:
            raise
