"""Twilio Programmable Voice: reading its form-encoded call webhooks, and its REST API's call update
(``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with new TwiML).

Signatures (``X-Twilio-Signature``) are Twilio's for voice and messaging alike; the SMS channel's Twilio
plugin checks them for both.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from cxstack.backbone.errors import ValidationFailed
from cxstack.channels.sms.plugins.base import FormParams, MalformedWebhook
from cxstack.channels.voice.schemas import (
    PROVIDER_STATUS_RANK,
    CallStatusReport,
    IncomingCall,
    MenuInput,
    RecordingReport,
    TranscriptionReport,
)
from cxstack.records.customers.service import normalise_phone

API_VERSION = "2010-04-01"
DEFAULT_API_URL = "https://api.twilio.com"
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
_TRANSCRIPTION_SID = re.compile(r"^TR[0-9a-fA-F]{32}$")
#: The longest speech result kept.
MAX_SPEECH = 1000


class CallUpdateRejected(Exception):
    """Twilio refused the change for good (the call is over, unknown, or the TwiML is invalid)."""

    def __init__(self, message: str, *, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TwilioUnavailable(Exception):
    """Twilio could not be reached or failed on its side: the update may be retried."""


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
    value = _required(values, name)
    try:
        return normalise_phone(value, field=name)
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
        call_sid=_sid(values, "CallSid", _CALL_SID),
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


async def update_call(
    *, api_url: str, account_sid: str, auth_token: str, call_sid: str, twiml: str, timeout_s: float
) -> dict[str, Any]:
    """Give a live call new TwiML (Twilio's call update); return Twilio's call resource.

    Raises CallUpdateRejected for a 4xx answer (Twilio's error ``code`` and ``message`` carried over),
    TwilioUnavailable for 429, 5xx and network failures.
    """
    url = f"{api_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            response = await http.post(url, data={"Twiml": twiml}, auth=(account_sid, auth_token))
    except httpx.HTTPError as error:
        raise TwilioUnavailable(f"Twilio could not be reached: {error!r}") from error
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code == 200:
        return answer
    code = answer.get("code")
    detail = str(answer.get("message") or response.text[:500] or response.reason_phrase)
    if response.status_code == 429 or response.status_code >= 500:
        raise TwilioUnavailable(f"Twilio answered {response.status_code}: {detail}")
    raise CallUpdateRejected(detail, code=str(code) if code is not None else str(response.status_code))
