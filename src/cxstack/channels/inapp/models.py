"""The in-app channel's tables: the devices of app users, where reply notifications are pushed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.backbone.schema import Base, TenantScoped


class InappDevice(TenantScoped, Base):
    """A device of an app user (a visitor of the in-app channel) with its push token."""

    __tablename__ = "inapp_devices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token"),
        Index("ix_inapp_devices_visitor", "tenant_id", "visitor_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime]
