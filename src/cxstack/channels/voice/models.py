"""The voice channel's tables: each tenant's IVR, calls, the provider callbacks already processed, and
requests to continue a conversation by phone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.backbone.schema import Base, TenantScoped


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
    #: The provider's id of the call (unique across tenants: callbacks name only it).
    call_sid: Mapped[str] = mapped_column(String(64))
    account_sid: Mapped[str] = mapped_column(String(64))
    #: The tenant's number the call reached (E.164); its registration holds the provider credentials.
    number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    #: The escalation this call answered, when it continues a conversation started elsewhere.
    escalation_id: Mapped[str | None] = mapped_column(String(32))
    #: cxstack's state: ringing, in_menu, queued, voicemail, in_progress, held, completed, busy,
    #: no_answer, failed, canceled.
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
    #: Each change asked of the provider gets the next number (the key of its effect).
    updates: Mapped[int]
    #: Changes not yet made at the provider, oldest first (``n``, ``action``, ``twiml``): the first is in
    #: flight; the next is handed over when it is done, so the provider sees them in order.
    pending_updates: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class VoiceCallbackReceipt(TenantScoped, Base):
    """A provider callback already processed: a retry of it changes nothing."""

    __tablename__ = "voice_callback_receipts"
    __table_args__ = (UniqueConstraint("tenant_id", "call_sid", "kind", "value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    #: ``status``, ``recording`` or ``transcription``.
    kind: Mapped[str] = mapped_column(String(20))
    #: The status reported, or the recording's or transcription's provider id.
    value: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


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
