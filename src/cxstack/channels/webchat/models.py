"""The webchat channel's tables: each tenant's widget settings and the visitors who opened the widget."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class WebchatSettings(TenantScoped, Base):
    """A tenant's widget: the public key its pages embed, the secret that signs logged-in users, the
    pre-chat form, business hours and greeting. ``channel`` tells the webchat widget from an in-app key."""

    __tablename__ = "webchat_settings"
    __table_args__ = (UniqueConstraint("widget_key"), UniqueConstraint("tenant_id", "channel"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: ``webchat`` (the widget) or ``inapp`` (a company's own app).
    channel: Mapped[str] = mapped_column(String(16))
    #: Public: every visitor's browser sees it.
    widget_key: Mapped[str] = mapped_column(String(64))
    #: Secret: HMAC-SHA256 key of ``user_hash``; kept in clear because it is needed to verify.
    identity_secret: Mapped[str] = mapped_column(String(128))
    #: Whether an unsigned ``user_id`` is refused (``user_hash`` always is checked when given).
    require_verified: Mapped[bool]
    greeting: Mapped[str] = mapped_column(Text)
    offline_message: Mapped[str] = mapped_column(Text)
    #: ``{"name": "required"|"optional"|"off", "email": ...}``.
    prechat: Mapped[dict[str, Any]]
    #: ``{"timezone": "Europe/Berlin", "days": {"mon": [["09:00", "17:00"]], ...}}``, or empty: always open.
    business_hours: Mapped[dict[str, Any]]
    #: In-app: where reply notifications are posted for users with no open socket (the company's push
    #: service); None sends none.
    push_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebchatVisitor(TenantScoped, Base):
    """Someone who opened the widget (or a signed-in user of the company's app): the customer they are and
    the conversation their messages go to. The id is the visitor's bearer secret, kept in their browser."""

    __tablename__ = "webchat_visitors"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "user_id"),
        Index("ix_webchat_visitors_conversation", "tenant_id", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(32))
    #: The company's own user id, for a verified visitor; None for an anonymous one.
    user_id: Mapped[str | None] = mapped_column(String(200))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    #: In-app: sockets of this user open now (as their serve processes last recorded), and when that was.
    open_sockets: Mapped[int] = mapped_column(default=0)
    socket_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
