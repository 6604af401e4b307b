"""The file records: every file cxstack holds belongs to one tenant and (once sent) one conversation.

The bytes stay content-addressed in the file store (``sha256`` is their key), but a file is only ever
found through its record, by the tenant that owns it: the same bytes from two tenants are two records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class FileRecord(TenantScoped, Base):
    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_conversation", "tenant_id", "conversation_id", "id"),
        Index("ix_files_sha256", "tenant_id", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The conversation it was sent in; None for an upload not attached to a message yet.
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    #: The conversation message it came with (attached to, or the message a raw email became).
    message_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    #: The SHA-256 of the bytes (hex): their key in the file store.
    sha256: Mapped[str] = mapped_column(String(64))
    #: ``upload``, ``email_attachment``, ``email`` (a raw email) or ``recording``.
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
