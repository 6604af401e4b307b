"""Tags of a tenant and the taggings that put them on customers, conversations and cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Tag(TenantScoped, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Normalised: lowercase letters, digits and ``-_:/``, 1-64 characters.
    name: Mapped[str] = mapped_column(String(64))
    #: ``#rrggbb``, or none.
    colour: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime]


class Tagging(TenantScoped, Base):
    """One tag on one target (``customer``, ``conversation`` or ``case``)."""

    __tablename__ = "taggings"
    __table_args__ = (Index("ix_taggings_target", "tenant_id", "target_type", "target_id"),)

    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
