"""Mentions: a person named with ``@`` in an internal note on a conversation they see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Mention(TenantScoped, Base):
    """One person mentioned in one note (a note naming them twice mentions them once)."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "note_id", "user_id", name="uq_mentions_tenant_note_user"),
        Index("ix_mentions_user", "tenant_id", "user_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The person mentioned.
    user_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    note_id: Mapped[str] = mapped_column(String(32))
    #: Who wrote the note, as the note names them (``user:<id>``, ``api_key:<id>`` or a name given).
    author: Mapped[str] = mapped_column(String(200))
    #: The start of the note, mentions shown as ``@Name``.
    excerpt: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
