"""TwiML documents the voice channel answers with or gives a live call (XML built, never concatenated)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

from cxstack.channels.voice.schemas import IvrDefinition

#: Where Twilio's webhooks for calls are served; TwiML names them relative to the URL Twilio posted to.
HOOKS = "/hooks/voice/twilio"
MENU_TIMEOUT_S = 6
#: Twilio transcribes recordings of up to two minutes.
VOICEMAIL_MAX_S = 120


def _document(root: Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode")


def _say(parent: Element, text: str) -> None:
    SubElement(parent, "Say").text = text


def menu(ivr: IvrDefinition, *, attempt: int, apology: str | None = None) -> str:
    """The greeting (first time) or an apology, then the options, gathered by keypad or speech."""
    root = Element("Response")
    hints = ",".join(dict.fromkeys(word for option in ivr.options for word in option.keywords))
    gather = SubElement(
        root,
        "Gather",
        {
            "input": "dtmf speech",
            "numDigits": "1",
            "timeout": str(MENU_TIMEOUT_S),
            "action": f"{HOOKS}/gather?attempt={attempt}",
            "method": "POST",
            **({"hints": hints} if hints else {}),
        },
    )
    _say(gather, apology if apology else ivr.greeting)
    for option in ivr.options:
        _say(gather, option.prompt)
    # Silence: the gather's action is not called, so go there without input.
    SubElement(root, "Redirect", {"method": "POST"}).text = f"{HOOKS}/gather?attempt={attempt}"
    return _document(root)


def enqueue(*, queue: str, announcement: str, wait_url: str | None) -> str:
    """Put the caller in ``queue``; ``wait_url`` answers with what they hear while waiting (Twilio's
    default hold music without it)."""
    root = Element("Response")
    _say(root, announcement)
    attributes = {"waitUrl": wait_url, "waitUrlMethod": "POST"} if wait_url else {}
    SubElement(root, "Enqueue", attributes).text = queue
    return _document(root)


def hold_loop(*, hold_music_url: str) -> str:
    """What a queued caller hears while waiting (the ``<Enqueue>`` wait URL answers this)."""
    root = Element("Response")
    SubElement(root, "Play", {"loop": "0"}).text = hold_music_url
    return _document(root)


def voicemail(*, prompt: str) -> str:
    root = Element("Response")
    _say(root, prompt)
    SubElement(
        root,
        "Record",
        {
            "action": f"{HOOKS}/voicemail",
            "method": "POST",
            "maxLength": str(VOICEMAIL_MAX_S),
            "finishOnKey": "#",
            "playBeep": "true",
            "recordingStatusCallback": f"{HOOKS}/recording",
            "recordingStatusCallbackMethod": "POST",
            "transcribe": "true",
            "transcribeCallback": f"{HOOKS}/transcription",
        },
    )
    return _document(root)


def goodbye(text: str) -> str:
    root = Element("Response")
    _say(root, text)
    SubElement(root, "Hangup")
    return _document(root)


#: The label of the customer's leg in a call's conference (agents' legs are ``agent:<agent_id>``).
CUSTOMER_LABEL = "customer"
#: The conference events Twilio reports to the conference status callback.
CONFERENCE_CALLBACK_EVENTS = "start end join leave hold"


def agent_label(agent_id: str) -> str:
    return f"agent:{agent_id}"


def conference(
    *, name: str, public_url: str | None, hold_music_url: str, announcement: str | None = None
) -> str:
    """Put the customer's leg in the call's conference ``name``: they hear hold music until an agent joins,
    and the conference ends when they leave. With ``public_url`` the conference reports its events to the
    conference callback and is recorded from its start (the recording comes back to the recording callback,
    naming the call)."""
    root = Element("Response")
    if announcement:
        _say(root, announcement)
    dial = SubElement(root, "Dial")
    attributes = {
        "participantLabel": CUSTOMER_LABEL,
        "startConferenceOnEnter": "false",
        "endConferenceOnExit": "true",
        "beep": "false",
        "waitUrl": hold_music_url,
        "waitMethod": "GET",
    }
    if public_url:
        base = public_url.rstrip("/")
        attributes |= {
            "statusCallback": f"{base}{HOOKS}/conference",
            "statusCallbackEvent": CONFERENCE_CALLBACK_EVENTS,
            "statusCallbackMethod": "POST",
            "record": "record-from-start",
            "recordingStatusCallback": f"{base}{HOOKS}/recording?call={name}",
            "recordingStatusCallbackMethod": "POST",
        }
    SubElement(dial, "Conference", attributes).text = name
    return _document(root)
