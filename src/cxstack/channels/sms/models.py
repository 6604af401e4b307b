"""The SMS channel's tables: inbound receipts, opt-outs, outbound sends and status callbacks (the numbers
they use are in ``channels.numbers``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class SmsInboundReceipt(TenantScoped, Base):
    """One inbound message the provider delivered; a retry of the same provider id is processed once."""

    __tablename__ = "sms_inbound_receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_sid"),
        Index("ix_sms_inbound_receipts_sender", "tenant_id", "from_number", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number_id: Mapped[str] = mapped_column(String(32))
    message_sid: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(32))
    #: ``stop``, ``start`` or ``help`` when the message was an opt-out keyword; empty otherwise.
    keyword: Mapped[str] = mapped_column(String(8), default="")
    received_at: Mapped[datetime]


class SmsOptOut(TenantScoped, Base):
    """Whether a phone number has opted out of a tenant's messages (the last STOP or START wins)."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (UniqueConstraint("tenant_id", "phone"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    #: The customer whose message last changed the state.
    customer_id: Mapped[str] = mapped_column(String(32))
    opted_out: Mapped[bool]
    #: The word the customer sent (``STOP``, ``UNSUBSCRIBE``, ``START``...).
    keyword: Mapped[str] = mapped_column(String(20))
    message_sid: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class SmsOutbound(TenantScoped, Base):
    """One outbound message's send: one row per message, so a redelivered event never sends twice."""

    __tablename__ = "sms_outbound"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_sms_outbound_provider_sid", "tenant_id", "provider_sid"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    number_id: Mapped[str | None] = mapped_column(String(32))
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    #: ``pending`` (queued for the provider), ``refused`` (never sent), a provider status (``queued`` ...
    #: ``delivered``), or ``failed``.
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SmsStatusReceipt(TenantScoped, Base):
    """One delivery status callback; the same status of the same message is processed once.

    ``outbound_id`` is empty while the send it reports on is not yet recorded (a callback that overtook
    the send's own transaction); recording the send applies it.
    """

    __tablename__ = "sms_status_receipts"
    __table_args__ = (UniqueConstraint("tenant_id", "provider_sid", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    outbound_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
