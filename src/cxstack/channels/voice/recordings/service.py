"""Recordings and transcripts the provider posts back, attached to the call's conversation.

A voicemail (the caller recorded a message from the menu) is the caller's message, with the recording
attached and its transcript as the next message; a recording of a call with an agent is a system message.
Each recording and transcription is attached once, however often the provider posts it.

Each recording is then copied into cxstack's file store by the ``voice.copy_recording`` effect (the MP3
fetched from the provider with the number's credentials), after which it is a file of the tenant in the
call's conversation, served by the file API (``/v1/files/{id}/content``) and by
``/v1/channels/voice/recordings/{id}/media``, and a message of the conversation carries that file; until
then the recording is listed with the provider's URL. A failed download is retried by the effect runner.
With ``CXSTACK_VOICE_DELETE_RECORDINGS_AFTER_COPY`` the provider's copy is deleted once cxstack has its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.service import route_for
from cxstack.channels.providers import ProviderAccount
from cxstack.channels.voice.calls.service import (
    call_refs,
    describe_duration,
    known_call,
    post_call_message,
    publish_call_event,
    record_callback,
)
from cxstack.channels.voice.models import VoiceCall, VoiceRecording
from cxstack.channels.voice.plugins.base import CallRejected, VoiceProvider
from cxstack.channels.voice.repository import VoiceRepository, call_by_sid
from cxstack.channels.voice.schemas import (
    CallRecordingAttached,
    RecordingOut,
    RecordingReport,
    RecordingStored,
    TranscriptAttached,
    TranscriptionReport,
    VoicemailLeft,
)
from cxstack.config import VoiceSettings
from cxstack.kit.errors import Conflict, NotFound
from cxstack.kit.files import FileStore, StoredFile
from cxstack.kit.ids import new_id
from cxstack.records.conversations.schemas import Attachment
from cxstack.records.files import service as files
from cxstack.records.files.schemas import FileOut


def _media_url(url: str) -> str:
    """A recording URL without an extension serves WAV (as the provider reports it); name the format for
    players."""
    return url if url.rsplit("/", 1)[-1].count(".") else f"{url}.wav"


#: The effect that copies a recording into the file store.
COPY_EFFECT = "voice.copy_recording"
MEDIA_ROUTE = "/v1/channels/voice/recordings/{id}/media"


def attach_recording(
    uow: UnitOfWork, *, tenant_id: str, report: RecordingReport, call: VoiceCall | None = None
) -> str | None:
    """Attach a completed recording to the call's conversation, once per recording; return the message id.

    A voicemail is the caller's message (``call.voicemail_left``); a recording of the call with an agent is
    a system message (``call.recording_attached``). The recording is listed on the call and copied into the
    file store after commit (``voice.copy_recording``). A recording that is not completed changes nothing.
    ``call`` is the call when the callback named it by its URL (a conference's recording names no call).
    Raises NotFound for an unknown call.
    """
    if call is None:
        if report.call_sid is None:
            raise NotFound("the recording callback names no call", field="CallSid")
        call = known_call(uow, tenant_id=tenant_id, call_sid=report.call_sid)
    if report.status != "completed" or not record_callback(uow, call, "recording", report.recording_sid):
        return None
    if VoiceRepository(uow.session, tenant_id).recording_by_sid(report.recording_sid) is not None:
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
    now = uow.clock.now()
    recording = VoiceRecording(
        id=new_id("rec"),
        tenant_id=tenant_id,
        call_id=call.id,
        conversation_id=call.conversation_id,
        recording_sid=report.recording_sid,
        provider_url=url,
        duration_s=report.duration_s,
        voicemail=voicemail,
        status="copying",
        file_key=None,
        size=None,
        content_type="audio/mpeg",
        message_id=None,
        error=None,
        deleted_at_provider=False,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(recording)
    enqueue_effect(
        uow,
        tenant_id=tenant_id,
        kind=COPY_EFFECT,
        key=f"{tenant_id}:{report.recording_sid}",
        payload={
            **call_refs(call),
            "recording_id": recording.id,
            "recording_sid": report.recording_sid,
            "url": report.url,
            "number": call.number,
        },
    )
    publish_call_event(
        uow,
        call,
        (VoicemailLeft if voicemail else CallRecordingAttached)(
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
        TranscriptAttached(
            **call_refs(call),
            transcription_sid=report.transcription_sid,
            recording_sid=report.recording_sid,
            message_id=message_id,
            voicemail=voicemail,
        ),
    )
    return message_id


def after_voicemail(session: Session, *, tenant_id: str, call_sid: str, provider: VoiceProvider) -> str:
    """The instructions after the caller finished a voicemail (the recording itself arrives by its
    callback)."""
    call = call_by_sid(session, call_sid)
    if call is None or call.tenant_id != tenant_id:
        raise NotFound(f"no call {call_sid} is known", field="CallSid")
    return provider.goodbye("Thank you for your message. Goodbye.")


# -- the copy in the file store --------------------------------------------------------------------


def _recording_out(row: VoiceRecording) -> RecordingOut:
    return RecordingOut(
        id=row.id,
        call_id=row.call_id,
        conversation_id=row.conversation_id,
        recording_sid=row.recording_sid,
        status=row.status,
        url=MEDIA_ROUTE.format(id=row.id) if row.status == "stored" else row.provider_url,
        provider_url=row.provider_url,
        file_id=row.file_id,
        duration_s=row.duration_s,
        size=row.size,
        content_type=row.content_type,
        voicemail=row.voicemail,
        message_id=row.message_id,
        error=row.error,
        deleted_at_provider=row.deleted_at_provider,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_recordings(session: Session, *, tenant_id: str, call_id: str) -> list[RecordingOut]:
    """Return the call's recordings, oldest first; raises NotFound for an unknown call."""
    repo = VoiceRepository(session, tenant_id)
    repo.get_call(call_id)
    return [_recording_out(row) for row in repo.recordings_of(call_id)]


def get_recording(session: Session, *, tenant_id: str, recording_id: str) -> RecordingOut:
    """Return a recording of the tenant; raises NotFound."""
    return _recording_out(VoiceRepository(session, tenant_id).recording(recording_id))


def stored_recording(session: Session, *, tenant_id: str, recording_id: str) -> FileOut:
    """Return the file a recording cxstack holds is; raises NotFound, Conflict (not copied yet: it is
    still at the provider's URL)."""
    row = VoiceRepository(session, tenant_id).recording(recording_id)
    if row.status != "stored" or row.file_id is None:
        raise Conflict(
            f"recording {recording_id} is not stored in cxstack yet ({row.status}); "
            f"it is at {row.provider_url}",
            field="recording_id",
        )
    return files.get_file(session, tenant_id=tenant_id, file_id=row.file_id)


@dataclass(frozen=True, slots=True)
class RecordingCopier:
    """Performs ``voice.copy_recording``: fetches the recording from the provider, stores it in the file
    store and (if set) deletes the provider's copy."""

    settings: VoiceSettings
    store: FileStore
    provider: VoiceProvider

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        number = str(job.payload["number"])
        route = await read(lambda session: route_for(session, number=number))
        if route is None or route.tenant_id != job.tenant_id:
            raise EffectFailed(f"the number {number} is no longer registered", code="number_removed")
        account = ProviderAccount(route.account_sid, route.auth_token)
        recording_sid = str(job.payload["recording_sid"])
        try:
            data = await self.provider.fetch_recording(
                account, recording_sid=recording_sid, reported_url=str(job.payload["url"])
            )
            stored = await asyncio.to_thread(self.store.put, data)
            deleted = False
            if self.settings.delete_recordings_after_copy:
                await self.provider.delete_recording(account, recording_sid=recording_sid)
                deleted = True
        except CallRejected as error:
            raise EffectFailed(error.message, code=error.code) from None
        return {"key": stored.key, "size": stored.size, "deleted": deleted}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        repo = VoiceRepository(uow.session, job.tenant_id)
        row = repo.recording(str(job.payload["recording_id"]))
        if row.status == "stored":
            return
        call = repo.get_call(row.call_id)
        stored = StoredFile(key=str(result["key"]), size=int(result["size"]))
        row.status, row.file_key, row.size = "stored", stored.key, stored.size
        row.deleted_at_provider = bool(result.get("deleted"))
        row.error, row.updated_at = None, uow.clock.now()
        [file] = files.add_files(
            uow,
            tenant_id=job.tenant_id,
            files=[
                files.NewFile(
                    name=f"{row.recording_sid}.mp3",
                    content_type=row.content_type,
                    stored=stored,
                    source="recording",
                    conversation_id=call.conversation_id,
                )
            ],
        )
        row.file_id = file.id
        url = MEDIA_ROUTE.format(id=row.id)
        length = f" ({describe_duration(row.duration_s)})" if row.duration_s is not None else ""
        message_id = post_call_message(
            uow,
            call,
            body=f"{'Voicemail' if row.voicemail else 'Call recording'} stored in cxstack{length}",
            client_id=f"recording:{row.recording_sid}:stored",
            attachments=[Attachment(id=file.id)],
        )
        row.message_id = message_id
        publish_call_event(
            uow,
            call,
            RecordingStored(
                **call_refs(call),
                recording_id=row.id,
                recording_sid=row.recording_sid,
                url=url,
                size=row.size,
                message_id=message_id,
                file_id=file.id,
            ),
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        row = VoiceRepository(uow.session, job.tenant_id).recording(str(job.payload["recording_id"]))
        if row.status != "stored":
            row.status, row.error, row.updated_at = "failed", failure.message, uow.clock.now()
