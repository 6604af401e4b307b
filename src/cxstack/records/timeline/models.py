"""The timeline projection: one row per interaction of a customer, on any channel, built from events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, Sequence64, TenantScoped

#: Entries outside conversations (customer, identity, case and note entries) are few beside messages;
#: the indexes that only merges and case moves need cover just those.
_OUTSIDE_CONVERSATIONS = text("conversation_id IS NULL")


class TimelineEntry(TenantScoped, Base):
    """A projection row: dropped and rebuilt from the event log by a replay."""

    __tablename__ = "timeline_entries"
    __table_args__ = (
        Index("ix_timeline_entries_customer", "tenant_id", "customer_id", "occurred_at", "event_seq"),
        Index("ix_timeline_entries_conversation", "tenant_id", "conversation_id"),
        Index(
            "ix_timeline_entries_record",
            "tenant_id",
            "ref_id",
            sqlite_where=_OUTSIDE_CONVERSATIONS,
            postgresql_where=_OUTSIDE_CONVERSATIONS,
        ),
        Index(
            "ix_timeline_entries_origin",
            "tenant_id",
            "origin_customer_id",
            sqlite_where=_OUTSIDE_CONVERSATIONS,
            postgresql_where=_OUTSIDE_CONVERSATIONS,
        ),
    )

    id: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=True)
    #: The customer whose timeline shows the entry now (after moves and merges).
    customer_id: Mapped[str] = mapped_column(String(32))
    #: The customer the source event named; merges and their undo are worked out from it.
    origin_customer_id: Mapped[str] = mapped_column(String(32))
    #: The log position of the event that gave the entry its ``customer_id``: a move older than that
    #: one, handled late, leaves the entry alone.
    owner_seq: Mapped[int] = mapped_column(Sequence64)
    occurred_at: Mapped[datetime]
    #: The position of the source event in the log: the order of entries that occurred at the same time.
    event_seq: Mapped[int] = mapped_column(Sequence64)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: The event type it records (``message.received``).
    kind: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(500))
    #: The record the entry is about: a message, conversation, identity, case, note or customer id.
    ref_id: Mapped[str] = mapped_column(String(32))


class TimelineMerge(TenantScoped, Base):
    """A customer merge as the projection has seen it (``customer.merged``, ``customer.unmerged``).

    Kept so that entries handled after their merge still land where the merge put them.
    """

    __tablename__ = "timeline_merges"
    __table_args__ = (
        Index("ix_timeline_merges_source", "tenant_id", "source_customer_id"),
        Index("ix_timeline_merges_target", "tenant_id", "target_customer_id"),
    )

    merge_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_customer_id: Mapped[str] = mapped_column(String(32))
    target_customer_id: Mapped[str] = mapped_column(String(32))
    #: Log positions of ``customer.merged`` and ``customer.unmerged``; none until that event is handled.
    merged_seq: Mapped[int | None] = mapped_column(Sequence64)
    unmerged_seq: Mapped[int | None] = mapped_column(Sequence64)
    #: Ids the merge moved, and those its undo moved back, by kind (identities, conversations...).
    moved: Mapped[dict[str, Any]]
    moved_back: Mapped[dict[str, Any]]
