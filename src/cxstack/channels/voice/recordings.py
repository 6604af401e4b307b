"""Recordings and transcripts the provider posts back, attached to the call's conversation.

A voicemail (the caller recorded a message from the menu) is the caller's message, with the recording
attached and its transcript as the next message; a recording of a call with an agent is a system message.
Each recording and transcription is attached once, however often the provider posts it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxstack.backbone.errors import NotFound
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice import twiml
from cxstack.channels.voice.repository import call_by_sid
from cxstack.channels.voice.schemas import (
    RecordingAttached,
    RecordingReport,
    TranscriptAttached,
    TranscriptionReport,
)
from cxstack.channels.voice.service import (
    call_refs,
    describe_duration,
    known_call,
    post_call_message,
    publish_call_event,
    record_callback,
)
from cxstack.records.conversations.schemas import Attachment


def _media_url(url: str) -> str:
    """Twilio's recording URL without an extension serves WAV; name the format for players."""
    return url if url.rsplit("/", 1)[-1].count(".") else f"{url}.wav"


def attach_recording(uow: UnitOfWork, *, tenant_id: str, report: RecordingReport) -> str | None:
    """Attach a completed recording to the call's conversation, once per recording; return the message id.

    A voicemail is the caller's message (``call.voicemail_left``); a recording of the call with an agent is
    a system message (``call.recording_attached``). A recording that is not completed changes nothing.
    Raises NotFound for an unknown call.
    """
    call = known_call(uow, tenant_id=tenant_id, call_sid=report.call_sid)
    if report.status != "completed" or not record_callback(uow, call, "recording", report.recording_sid):
        return None
    voicemail = call.status == "voicemail" or call.ivr.get("option") == "voicemail"
    url = _media_url(report.url)
    length = f" ({describe_duration(report.duration_s)})" if report.duration_s is not None else ""
    attachment = Attachment(
        name=f"{report.recording_sid}.{url.rsplit('.', 1)[-1]}", content_type="audio/wav", size=0, url=url
    )
    if url.endswith(".mp3"):
        attachment = attachment.model_copy(update={"content_type": "audio/mpeg"})
    message_id = post_call_message(
        uow,
        call,
        body=f"Voicemail{length}" if voicemail else f"Call recording{length}",
        client_id=f"recording:{report.recording_sid}",
        direction="inbound" if voicemail else "outbound",
        author_kind="customer" if voicemail else "system",
        attachments=[attachment],
    )
    publish_call_event(
        uow,
        call,
        "call.voicemail_left" if voicemail else "call.recording_attached",
        RecordingAttached(
            **call_refs(call),
            recording_sid=report.recording_sid,
            url=url,
            duration_s=report.duration_s,
            message_id=message_id,
            voicemail=voicemail,
        ),
    )
    return message_id


def attach_transcript(uow: UnitOfWork, *, tenant_id: str, report: TranscriptionReport) -> str | None:
    """Post a recording's transcript to the call's conversation, once per transcription; return the
    message id (``call.transcript_attached``). A failed transcription changes nothing. Raises NotFound."""
    call = known_call(uow, tenant_id=tenant_id, call_sid=report.call_sid)
    if report.status != "completed" or not record_callback(
        uow, call, "transcription", report.transcription_sid
    ):
        return None
    voicemail = call.status == "voicemail" or call.ivr.get("option") == "voicemail"
    message_id = post_call_message(
        uow,
        call,
        body=report.text,
        client_id=f"transcription:{report.transcription_sid}",
        direction="inbound" if voicemail else "outbound",
        author_kind="customer" if voicemail else "system",
    )
    publish_call_event(
        uow,
        call,
        "call.transcript_attached",
        TranscriptAttached(
            **call_refs(call),
            transcription_sid=report.transcription_sid,
            recording_sid=report.recording_sid,
            message_id=message_id,
            voicemail=voicemail,
        ),
    )
    return message_id


def after_voicemail(session: Session, *, tenant_id: str, call_sid: str) -> str:
    """The TwiML after the caller finished a voicemail (the recording itself arrives by its callback)."""
    call = call_by_sid(session, call_sid)
    if call is None or call.tenant_id != tenant_id:
        raise NotFound(f"no call {call_sid} is known", field="CallSid")
    return twiml.goodbye("Thank you for your message. Goodbye.")
