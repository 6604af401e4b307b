"""Twilio Programmable Voice behind the voice provider base class.

Reads its form-encoded call and conference webhooks (signed with ``X-Twilio-Signature``, as Twilio signs
messaging webhooks too), renders TwiML (XML built, never concatenated), and makes the REST API calls the
voice channel needs (``/2010-04-01/Accounts/{AccountSid}/...``): creating an outgoing call (``Calls.json``),
giving a live call new TwiML (``Calls/{CallSid}.json``), adding, holding and removing a conference's
participants (``Conferences/{ConferenceSid}/Participants...``), and fetching and deleting recordings
(``Recordings/{RecordingSid}``). Every request is form-encoded with HTTP basic auth (the account SID and its
auth token); Twilio answers JSON.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import Element, SubElement, tostring

import httpx
from starlette.requests import Request

from cxstack.channels.providers import FormParams, MalformedWebhook, ProviderAccount
from cxstack.channels.twilio import rest, webhooks
from cxstack.channels.twilio.forms import (
    ACCOUNT_SID,
    first_values,
    required,
    sid,
    webhook_country,
    webhook_phone,
)
from cxstack.channels.voice.plugins.base import (
    AgentLeg,
    CallRejected,
    PlacedCall,
    ProviderUnavailable,
    VoiceProvider,
)
from cxstack.channels.voice.schemas import (
    PROVIDER_STATUS_RANK,
    AnsweredCall,
    CallStatusReport,
    ConferenceReport,
    IncomingCall,
    IvrDefinition,
    MenuInput,
    RecordingReport,
    TranscriptionReport,
)

_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
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
#: The conference events Twilio reports to the conference status callback.
CONFERENCE_CALLBACK_EVENTS = "start end join leave hold"
#: The longest speech result kept.
MAX_SPEECH = 1000
MENU_TIMEOUT_S = 6
#: Twilio transcribes recordings of up to two minutes.
VOICEMAIL_MAX_S = 120


def _phone(values: dict[str, str], name: str) -> str:
    """The number in ``name`` (``From``, ``To``), a national one read in Twilio's ``FromCountry`` or
    ``ToCountry``."""
    value = required(values, name)
    country = webhook_country(values.get(f"{name}Country"), field=f"{name}Country")
    return webhook_phone(value, field=name, country=country)


def _status(values: dict[str, str], name: str = "CallStatus") -> str:
    status = required(values, name).lower()
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
    value = required(values, name)
    if not value.startswith(("https://", "http://")) or len(value) > 2048:
        raise MalformedWebhook(f"{name} {value[:100]!r} is not an http(s) URL", field=name)
    return value


def _sid_or_none(values: dict[str, str], name: str, pattern: re.Pattern[str]) -> str | None:
    if not (values.get(name) or "").strip():
        return None
    return sid(values, name, pattern)


def recording_media_url(*, api_url: str, account_sid: str, recording_sid: str, reported_url: str) -> str:
    """Where to fetch a recording as MP3: the ``RecordingUrl`` Twilio reported, with ``.mp3``, when it is on
    the configured API's host (the credentials go nowhere else); else the recording's path there."""
    reported, api = urlsplit(reported_url), urlsplit(api_url)
    if (reported.scheme, reported.netloc) == (api.scheme, api.netloc):
        base = reported_url.rsplit(".", 1)[0] if reported_url.rsplit("/", 1)[-1].count(".") else reported_url
        return f"{base}.mp3"
    return rest.account_url(api_url, account_sid, f"Recordings/{recording_sid}.mp3")


def _document(root: Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode")


def _say(parent: Element, text: str) -> None:
    SubElement(parent, "Say").text = text


class TwilioVoiceProvider(VoiceProvider):
    name: ClassVar[str] = "twilio"
    signature_header: ClassVar[str] = "X-Twilio-Signature"

    def __init__(
        self,
        *,
        api_url: str = rest.DEFAULT_API_URL,
        timeout_s: float = 10.0,
        download_timeout_s: float = 60.0,
    ) -> None:
        self.api_url = api_url
        self.timeout_s = timeout_s
        self.download_timeout_s = download_timeout_s

    # -- webhooks -------------------------------------------------------------------------------------

    async def read_form(self, request: Request) -> FormParams:
        return await webhooks.read_form(request)

    def signed_url(self, request: Request) -> str:
        return webhooks.signed_url(request)

    def signature_problem(
        self, request: Request, params: FormParams, *, auth_token: str
    ) -> tuple[str, str] | None:
        return webhooks.signature_problem(request, params, auth_token=auth_token)

    def account_of(self, params: FormParams) -> str:
        account_sid = webhooks.form_value(params, "AccountSid")
        if not account_sid:
            raise MalformedWebhook("the webhook has no AccountSid", field="AccountSid")
        return account_sid

    def called_number(self, params: FormParams) -> str:
        raw = webhooks.form_value(params, "To")
        if not raw:
            raise MalformedWebhook("the webhook has no To", field="To")
        country = webhook_country(webhooks.form_value(params, "ToCountry"), field="ToCountry")
        return webhook_phone(raw, field="To", country=country)

    def call_named(self, params: FormParams) -> str | None:
        return webhooks.form_value(params, "CallSid") or None

    def call_sid_of(self, params: FormParams) -> str:
        return sid(first_values(params), "CallSid", _CALL_SID)

    def conference_name(self, params: FormParams) -> str:
        name = webhooks.form_value(params, "FriendlyName")
        if not name:
            raise MalformedWebhook("the webhook has no FriendlyName", field="FriendlyName")
        return name

    # -- reading webhooks -----------------------------------------------------------------------------

    def parse_incoming(self, params: FormParams) -> IncomingCall:
        """Read the incoming-call webhook; raises MalformedWebhook naming the field at fault."""
        values = first_values(params)
        direction = (values.get("Direction") or "inbound").strip()
        if direction != "inbound":
            raise MalformedWebhook(f"Direction {direction!r} is not an incoming call", field="Direction")
        return IncomingCall(
            call_sid=sid(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            from_number=_phone(values, "From"),
            to_number=_phone(values, "To"),
            status=_status(values),
            direction=direction,
        )

    def parse_menu_input(self, params: FormParams) -> MenuInput:
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
            call_sid=sid(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            digits=digits,
            speech=speech,
            confidence=confidence,
        )

    def parse_status(self, params: FormParams) -> CallStatusReport:
        """Read a call status callback; raises MalformedWebhook."""
        values = first_values(params)
        return CallStatusReport(
            call_sid=sid(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            status=_status(values),
            duration_s=_seconds(values, "CallDuration"),
        )

    def parse_recording(self, params: FormParams) -> RecordingReport:
        """Read a recording status callback (or a ``<Record>`` action); raises MalformedWebhook."""
        values = first_values(params)
        status = (values.get("RecordingStatus") or "completed").strip().lower()
        if status not in ("in-progress", "completed", "absent", "failed"):
            raise MalformedWebhook(
                f"RecordingStatus {status!r} is not a recording status", field="RecordingStatus"
            )
        return RecordingReport(
            call_sid=_sid_or_none(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            recording_sid=sid(values, "RecordingSid", _RECORDING_SID),
            url=_url(values, "RecordingUrl"),
            status=status,
            duration_s=_seconds(values, "RecordingDuration"),
        )

    def parse_transcription(self, params: FormParams) -> TranscriptionReport:
        """Read a transcription callback; raises MalformedWebhook."""
        values = first_values(params)
        status = required(values, "TranscriptionStatus").lower()
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
            call_sid=sid(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            transcription_sid=sid(values, "TranscriptionSid", _TRANSCRIPTION_SID),
            recording_sid=sid(values, "RecordingSid", _RECORDING_SID) if recording else None,
            status=status,
            text=text,
        )

    def parse_answered(self, params: FormParams) -> AnsweredCall:
        """Read the webhook of an outgoing call the callee answered; raises MalformedWebhook."""
        values = first_values(params)
        return AnsweredCall(
            call_sid=sid(values, "CallSid", _CALL_SID),
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            status=_status(values),
        )

    def parse_conference(self, params: FormParams) -> ConferenceReport:
        """Read a conference status callback; raises MalformedWebhook."""
        values = first_values(params)
        event = required(values, "StatusCallbackEvent").lower()
        if event not in CONFERENCE_EVENTS:
            raise MalformedWebhook(
                f"StatusCallbackEvent {event!r} is not a conference event", field="StatusCallbackEvent"
            )
        hold = (values.get("Hold") or "").strip().lower()
        label = (values.get("ParticipantLabel") or "").strip()
        return ConferenceReport(
            account_sid=sid(values, "AccountSid", ACCOUNT_SID),
            conference_sid=sid(values, "ConferenceSid", _CONFERENCE_SID),
            friendly_name=required(values, "FriendlyName"),
            event=event,
            call_sid=_sid_or_none(values, "CallSid", _CALL_SID),
            label=label[:80] or None,
            hold={"true": True, "false": False}.get(hold),
            sequence=(values.get("SequenceNumber") or "").strip()[:20],
        )

    # -- requests to Twilio's REST API ------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        account: ProviderAccount,
        path: str,
        *,
        data: dict[str, str] | list[tuple[str, str]] | None = None,
        url: str | None = None,
        timeout_s: float | None = None,
        gone_ok: bool = False,
    ) -> httpx.Response | None:
        """Send one request about the account's resource at ``path`` (or at ``url``); return Twilio's 2xx
        answer, or None for a 404 when ``gone_ok``. Raises CallRejected for Twilio's refusal,
        ProviderUnavailable when it cannot answer."""
        try:
            return await rest.request(
                method,
                url or rest.account_url(self.api_url, account.account_sid, path),
                account_sid=account.account_sid,
                auth_token=account.auth_token,
                timeout_s=timeout_s or self.timeout_s,
                data=data,
            )
        except rest.TwilioRejected as error:
            if gone_ok and error.status == 404:
                return None
            raise CallRejected(error.message, code=error.code) from None
        except rest.TwilioUnavailable as error:
            raise ProviderUnavailable(error.message) from error

    async def _json(
        self,
        method: str,
        account: ProviderAccount,
        path: str,
        *,
        data: dict[str, str] | list[tuple[str, str]],
    ) -> dict[str, Any]:
        response = await self._request(method, account, path, data=data)
        assert response is not None
        return rest.json_of(response)

    async def place_call(
        self, account: ProviderAccount, *, to: str, from_: str, url: str, status_callback: str
    ) -> PlacedCall:
        """POST ``Calls.json``: the call fetches its TwiML from ``url`` (``POST``) once answered."""
        response = await self._request(
            "POST",
            account,
            "Calls.json",
            data=[
                ("To", to),
                ("From", from_),
                ("Url", url),
                ("Method", "POST"),
                ("StatusCallback", status_callback),
                ("StatusCallbackMethod", "POST"),
                *[
                    ("StatusCallbackEvent", event)
                    for event in ("initiated", "ringing", "answered", "completed")
                ],
            ],
        )
        assert response is not None
        answer = rest.json_of(response)
        if not isinstance(answer.get("sid"), str) or not _CALL_SID.match(answer["sid"]):
            raise ProviderUnavailable(f"Twilio's answer names no call: {response.text[:200]}")
        return PlacedCall(call_sid=str(answer["sid"]), status=str(answer.get("status")))

    async def redirect_call(self, account: ProviderAccount, *, call_sid: str, instructions: str) -> str:
        """POST ``Calls/{CallSid}.json`` with the new ``Twiml``."""
        answer = await self._json("POST", account, f"Calls/{call_sid}.json", data={"Twiml": instructions})
        return str(answer.get("status", ""))

    async def bridge_agent(
        self, account: ProviderAccount, *, conference: str, from_: str, to: str, agent_id: str
    ) -> AgentLeg:
        """POST ``Conferences/{name}/Participants.json`` (a conference of that name is created when none
        runs)."""
        form = {
            "From": from_,
            "To": to,
            "Label": self.agent_label(agent_id),
            "StartConferenceOnEnter": "true",
            "EndConferenceOnExit": "false",
            "Beep": "false",
        }
        answer = await self._json(
            "POST", account, f"Conferences/{quote(conference, safe='')}/Participants.json", data=form
        )
        return AgentLeg(
            conference_sid=str(answer.get("conference_sid") or ""), call_sid=str(answer.get("call_sid") or "")
        )

    async def hold_participant(
        self,
        account: ProviderAccount,
        *,
        conference_sid: str,
        participant: str,
        hold: bool,
        hold_music_url: str,
    ) -> None:
        """POST ``Conferences/{ConferenceSid}/Participants/{CallSid}.json`` with ``Hold`` (``HoldUrl``)."""
        form = {"Hold": "true" if hold else "false"}
        if hold:
            form |= {"HoldUrl": hold_music_url, "HoldMethod": "GET"}
        await self._request(
            "POST",
            account,
            f"Conferences/{conference_sid}/Participants/{quote(participant, safe='')}.json",
            data=form,
        )

    async def hang_up_participant(
        self, account: ProviderAccount, *, conference_sid: str, participant: str
    ) -> None:
        """DELETE ``Conferences/{ConferenceSid}/Participants/{CallSid or label}.json``."""
        await self._request(
            "DELETE",
            account,
            f"Conferences/{conference_sid}/Participants/{quote(participant, safe='')}.json",
            gone_ok=True,
        )

    async def fetch_recording(
        self, account: ProviderAccount, *, recording_sid: str, reported_url: str
    ) -> bytes:
        """GET the recording's MP3 (see ``recording_media_url``); an empty answer may be retried."""
        url = recording_media_url(
            api_url=self.api_url,
            account_sid=account.account_sid,
            recording_sid=recording_sid,
            reported_url=reported_url,
        )
        response = await self._request("GET", account, "", url=url, timeout_s=self.download_timeout_s)
        assert response is not None
        if not response.content:
            raise ProviderUnavailable(f"Twilio served recording {recording_sid} empty")
        return response.content

    async def delete_recording(self, account: ProviderAccount, *, recording_sid: str) -> None:
        """DELETE ``Recordings/{RecordingSid}.json``."""
        await self._request("DELETE", account, f"Recordings/{recording_sid}.json", gone_ok=True)

    # -- TwiML ------------------------------------------------------------------------------------------

    def menu(self, ivr: IvrDefinition, *, attempt: int, apology: str | None = None) -> str:
        root = Element("Response")
        hints = ",".join(dict.fromkeys(word for option in ivr.options for word in option.keywords))
        gather = SubElement(
            root,
            "Gather",
            {
                "input": "dtmf speech",
                "numDigits": "1",
                "timeout": str(MENU_TIMEOUT_S),
                "action": f"{self.hooks}/gather?attempt={attempt}",
                "method": "POST",
                **({"hints": hints} if hints else {}),
            },
        )
        _say(gather, apology if apology else ivr.greeting)
        for option in ivr.options:
            _say(gather, option.prompt)
        # Silence: the gather's action is not called, so go there without input.
        SubElement(root, "Redirect", {"method": "POST"}).text = f"{self.hooks}/gather?attempt={attempt}"
        return _document(root)

    def enqueue(self, *, queue: str, announcement: str, wait_url: str | None) -> str:
        """Without ``wait_url`` the caller hears Twilio's default hold music."""
        root = Element("Response")
        _say(root, announcement)
        attributes = {"waitUrl": wait_url, "waitUrlMethod": "POST"} if wait_url else {}
        SubElement(root, "Enqueue", attributes).text = queue
        return _document(root)

    def hold_loop(self, *, hold_music_url: str) -> str:
        root = Element("Response")
        SubElement(root, "Play", {"loop": "0"}).text = hold_music_url
        return _document(root)

    def voicemail(self, *, prompt: str) -> str:
        root = Element("Response")
        _say(root, prompt)
        SubElement(
            root,
            "Record",
            {
                "action": f"{self.hooks}/voicemail",
                "method": "POST",
                "maxLength": str(VOICEMAIL_MAX_S),
                "finishOnKey": "#",
                "playBeep": "true",
                "recordingStatusCallback": f"{self.hooks}/recording",
                "recordingStatusCallbackMethod": "POST",
                "transcribe": "true",
                "transcribeCallback": f"{self.hooks}/transcription",
            },
        )
        return _document(root)

    def goodbye(self, text: str) -> str:
        root = Element("Response")
        _say(root, text)
        SubElement(root, "Hangup")
        return _document(root)

    def conference(
        self, *, name: str, public_url: str | None, hold_music_url: str, announcement: str | None = None
    ) -> str:
        root = Element("Response")
        if announcement:
            _say(root, announcement)
        dial = SubElement(root, "Dial")
        attributes = {
            "participantLabel": self.customer_label,
            "startConferenceOnEnter": "false",
            "endConferenceOnExit": "true",
            "beep": "false",
            "waitUrl": hold_music_url,
            "waitMethod": "GET",
        }
        if public_url:
            base = public_url.rstrip("/")
            attributes |= {
                "statusCallback": f"{base}{self.hooks}/conference",
                "statusCallbackEvent": CONFERENCE_CALLBACK_EVENTS,
                "statusCallbackMethod": "POST",
                "record": "record-from-start",
                "recordingStatusCallback": f"{base}{self.hooks}/recording?call={name}",
                "recordingStatusCallbackMethod": "POST",
            }
        SubElement(dial, "Conference", attributes).text = name
        return _document(root)
