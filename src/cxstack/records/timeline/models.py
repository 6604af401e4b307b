"""The timeline projection: one row per interaction of a customer, on any channel, built from events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.backbone.schema import Base, Sequence64, TenantScoped


class TimelineEntry(TenantScoped, Base):
    """A projection row: dropped and rebuilt from the event log by a replay."""

    __tablename__ = "timeline_entries"
    __table_args__ = (
        Index("ix_timeline_entries_customer", "tenant_id", "customer_id", "occurred_at", "event_seq"),
        Index("ix_timeline_entries_conversation", "tenant_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    #: The position of the source event in the log: the order of entries that occurred at the same time.
    event_seq: Mapped[int] = mapped_column(Sequence64)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: The event type it records (``message.received``).
    kind: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(500))
    #: The record the entry is about: a message, conversation, identity or customer id.
    ref_id: Mapped[str] = mapped_column(String(32))
