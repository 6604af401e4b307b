"""The voice channel's tables: each tenant's IVR, calls, the provider callbacks already processed, and
requests to continue a conversation by phone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class VoiceIvr(TenantScoped, Base):
    """A tenant's phone menu: the greeting, and the options a caller picks by keypad or by voice."""

    __tablename__ = "voice_ivrs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    greeting: Mapped[str] = mapped_column(Text)
    #: ``IvrOption`` documents, in menu order.
    options: Mapped[list[Any]]
    voicemail_prompt: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class VoiceCall(TenantScoped, Base):
    """One phone call at the provider, the customer and conversation it belongs to, and where it stands."""

    __tablename__ = "voice_calls"
    __table_args__ = (
        UniqueConstraint("call_sid"),
        Index("ix_voice_calls_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The provider's id of the call (unique across tenants: callbacks name only it). None for an outgoing
    #: call the provider has not yet created.
    call_sid: Mapped[str | None] = mapped_column(String(64))
    account_sid: Mapped[str] = mapped_column(String(64))
    #: The tenant's number the call reached (E.164); its registration holds the provider credentials.
    number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32))
    #: ``inbound`` or ``outbound``.
    direction: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    #: The escalation this call answered, when it continues a conversation started elsewhere.
    escalation_id: Mapped[str | None] = mapped_column(String(32))
    #: cxstack's state: dialing (an outgoing call not yet answered), ringing, in_menu, queued, voicemail,
    #: in_progress, held, completed, busy, no_answer, failed, canceled.
    status: Mapped[str] = mapped_column(String(20))
    #: The newest status the provider reported (``CallStatus``).
    provider_status: Mapped[str] = mapped_column(String(20))
    #: How many menu prompts the caller has heard.
    menu_attempts: Mapped[int]
    #: What the menu collected: ``digits``, ``speech``, ``confidence``, ``option`` (the option's key).
    ivr: Mapped[dict[str, Any]]
    queue: Mapped[str | None] = mapped_column(String(80))
    skill: Mapped[str | None] = mapped_column(String(80))
    agent_id: Mapped[str | None] = mapped_column(String(80))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    duration_s: Mapped[int | None]
    #: The provider's id of the conference the caller and their agent talk in (one per call, named after
    #: the call's id), while it runs.
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    #: The conference's participants as the provider reported them: ``call_sid``, ``role`` (customer or
    #: agent), ``label``, ``agent_id``, ``hold``, ``joined_at``, ``left_at``.
    participants: Mapped[list[Any]]
    #: An outgoing call's request: ``agent_id``, ``agent_name``, ``agent_phone`` of the agent who asked
    #: for it (empty when the answered call is queued for routing), ``queue``.
    callback: Mapped[dict[str, Any]]
    #: Why the provider refused the call (an outgoing call it would not place).
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    #: Each change asked of the provider gets the next number (the key of its effect).
    updates: Mapped[int]
    #: Changes not yet made at the provider, oldest first (``n``, ``action``, ``twiml``): the first is in
    #: flight; the next is handed over when it is done, so the provider sees them in order.
    pending_updates: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    @classmethod
    def new(cls, *, at: datetime, **fields: Any) -> VoiceCall:
        """A call as it starts (nothing collected, routed or asked of the provider yet), with ``fields``
        (which say whose call it is and where it stands) over those blanks."""
        blank: dict[str, Any] = {
            "escalation_id": None,
            "menu_attempts": 0,
            "ivr": {},
            "queue": None,
            "skill": None,
            "agent_id": None,
            "agent_name": None,
            "duration_s": None,
            "conference_sid": None,
            "participants": [],
            "callback": {},
            "error_code": None,
            "error_message": None,
            "updates": 0,
            "pending_updates": [],
            "answered_at": None,
            "ended_at": None,
        }
        return cls(**{**blank, **fields, "created_at": at, "updated_at": at})


class VoiceCallbackReceipt(TenantScoped, Base):
    """A provider callback already processed: a retry of it changes nothing."""

    __tablename__ = "voice_callback_receipts"
    __table_args__ = (UniqueConstraint("tenant_id", "call_sid", "kind", "value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    #: ``status``, ``recording``, ``transcription`` or ``conference``.
    kind: Mapped[str] = mapped_column(String(20))
    #: The status reported, the recording's or transcription's provider id, or a conference event's
    #: conference id and sequence number.
    value: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class VoiceRecording(TenantScoped, Base):
    """A recording of a call: listed with the provider's URL until it is copied into cxstack's file store,
    then a file of the tenant (``file_id``) served by cxstack."""

    __tablename__ = "voice_recordings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "recording_sid"),
        Index("ix_voice_recordings_call", "tenant_id", "call_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    recording_sid: Mapped[str] = mapped_column(String(64))
    #: Where the provider serves it.
    provider_url: Mapped[str] = mapped_column(Text)
    duration_s: Mapped[int | None]
    voicemail: Mapped[bool]
    #: ``copying`` (the provider's URL is the only copy), ``stored`` (in the file store), ``failed``.
    status: Mapped[str] = mapped_column(String(16))
    #: The file store's key (SHA-256 of the bytes) once stored.
    file_key: Mapped[str | None] = mapped_column(String(64))
    #: The file the stored copy is (``/v1/files/{id}``), once stored.
    file_id: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None]
    content_type: Mapped[str] = mapped_column(String(100))
    #: The message of the conversation that carries the stored copy.
    message_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    #: Whether the provider's copy was deleted once stored.
    deleted_at_provider: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VoiceEscalation(TenantScoped, Base):
    """A customer's request to continue a conversation by phone: their next call joins it."""

    __tablename__ = "voice_escalations"
    __table_args__ = (Index("ix_voice_escalations_customer", "tenant_id", "customer_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    #: ``waiting`` for the call, ``connected`` once a call joined the conversation.
    status: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
