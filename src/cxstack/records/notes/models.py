"""Internal notes on a customer, a case or a conversation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Note(TenantScoped, Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_target", "tenant_id", "target_type", "target_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: ``customer``, ``case`` or ``conversation``.
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
