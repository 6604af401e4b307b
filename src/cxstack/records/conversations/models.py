"""Conversations (one thread with a customer that may cross channels) and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Conversation(TenantScoped, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # Conversations named by id within a tenant (``tenant_id = ? AND id IN (...)``): without it SQLite,
        # which has no statistics here, reads every conversation of the tenant for more than a few ids.
        Index("ix_conversations_tenant_id_id", "tenant_id", "id"),
        Index("ix_conversations_tenant_customer", "tenant_id", "customer_id", "id"),
        Index("ix_conversations_tenant_status", "tenant_id", "status", "id"),
        Index("ix_conversations_tenant_updated_at", "tenant_id", "updated_at"),
        # The inbox: a person's or nobody's conversations of some statuses, and those of some statuses by
        # their last change (``records.conversations.inbox``).
        Index("ix_conversations_tenant_assignee", "tenant_id", "assignee", "status", "id"),
        Index("ix_conversations_tenant_status_updated_at", "tenant_id", "status", "updated_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    #: The channel the conversation started on; ``channel`` is where it is now.
    origin_channel: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(500))
    assignee: Mapped[str | None] = mapped_column(String(80))
    priority: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]]
    #: The teams whose work it is (those of the queue routing put it in); empty: every team's.
    team_ids: Mapped[list[str]] = mapped_column(default=list)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]


class Message(TenantScoped, Base):
    """One message of a conversation, in either direction, on the channel it travelled."""

    __tablename__ = "messages"
    __table_args__ = (
        # A channel resending a message with the same client id gets the first one back. The tenant leads so
        # that the look-up of a batch's client ids (every query names the tenant) is planned on this index.
        UniqueConstraint("tenant_id", "conversation_id", "client_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    author_kind: Mapped[str] = mapped_column(String(8))
    author_id: Mapped[str | None] = mapped_column(String(80))
    #: ``public`` (the customer sees it) or ``internal`` (agents and the timeline only).
    visibility: Mapped[str] = mapped_column(String(8), default="public", server_default="public")
    channel: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))
    attachments: Mapped[list[Any]]
    client_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    #: Why the message did not reach the customer (``MessageDelivery``); None while nothing says so.
    delivery: Mapped[dict[str, Any] | None]
