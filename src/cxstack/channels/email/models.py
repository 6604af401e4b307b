"""The email channel's tables: inboxes (the addresses a tenant receives mail at), threads, every email in
and out, and the Message-IDs that find a thread.

How threads are found, in any arrival order
-------------------------------------------
Each email stored writes one ``email_thread_refs`` row for its own Message-ID and one for every
Message-ID it names in In-Reply-To and References, all pointing at its thread. A later email looks up its
own Message-ID and those it names: a parent that arrives after its reply finds the thread the reply
started (the reply registered the parent's id), and a reply finds its parent's. When the ids lead to two
threads, the two are joined: the older one survives, the other's refs and emails move to it and it keeps
``joined_into_id`` (see ``threads.join_threads`` for what that means for conversations).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class EmailInbox(TenantScoped, Base):
    """An address mail is received at. The address selects the tenant, so it is unique across tenants."""

    __tablename__ = "email_inboxes"
    __table_args__ = (UniqueConstraint("address"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    #: The display name replies are sent under ("Acme Support").
    name: Mapped[str] = mapped_column(String(200), default="")
    #: The inbound-parse provider's webhook signing key (Mailgun's "HTTP webhook signing key").
    signing_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class EmailThread(TenantScoped, Base):
    """A conversation carried by email: its reply token, and the conversation its customer messages go to."""

    __tablename__ = "email_threads"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token"),
        Index("ix_email_threads_conversation", "tenant_id", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    inbox_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    #: The address of the customer the thread is with (its first sender, or whom cxstack first wrote to).
    customer_address: Mapped[str] = mapped_column(String(320), default="")
    #: Put in the Reply-To of outbound mail as ``<local>+<token>@<domain>``; a reply to it finds the thread.
    token: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text, default="")
    #: Set when this thread was found to be part of another one and joined to it.
    joined_into_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class EmailMessage(TenantScoped, Base):
    """One email, inbound or outbound, with its raw bytes in the file store (``raw_key``); an inbound
    one's raw bytes are also a file of the tenant (``raw_file_id``, served by ``/v1/files/{id}``).

    An inbound email is processed once per tenant and Message-ID; an outbound one is sent once per
    conversation message (``cx_message_id``).
    """

    __tablename__ = "email_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id", name="uq_email_messages_message_id"),
        UniqueConstraint("tenant_id", "cx_message_id", name="uq_email_messages_cx_message_id"),
        Index("ix_email_messages_thread", "tenant_id", "thread_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    inbox_id: Mapped[str] = mapped_column(String(32))
    #: The Message-ID header, without angle brackets.
    message_id: Mapped[str] = mapped_column(String(998))
    direction: Mapped[str] = mapped_column(String(10))
    #: ``message`` (a person wrote it), ``bounce`` or ``auto_reply``.
    kind: Mapped[str] = mapped_column(String(20))
    #: ``received``; for outbound mail ``pending`` (queued for the relay), then ``sent`` or ``failed``.
    status: Mapped[str] = mapped_column(String(20))
    thread_id: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    #: The conversation message this email became (inbound) or was sent for (outbound).
    cx_message_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    from_address: Mapped[str] = mapped_column(String(320))
    to_addresses: Mapped[list[str]]
    cc_addresses: Mapped[list[str]]
    subject: Mapped[str] = mapped_column(Text, default="")
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    reference_ids: Mapped[list[str]]
    sent_at: Mapped[datetime | None]
    raw_key: Mapped[str] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(Integer)
    #: The file (``message/rfc822``) that is this email as received.
    raw_file_id: Mapped[str | None] = mapped_column(String(32))
    attachments: Mapped[list[Any]]
    #: Bounce recipients, the auto-reply's reason, or why a send failed.
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class EmailThreadRef(TenantScoped, Base):
    """A Message-ID known to belong to a thread: an email's own, or one an email named as its ancestor."""

    __tablename__ = "email_thread_refs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_email_thread_refs_thread", "tenant_id", "thread_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998))
    thread_id: Mapped[str] = mapped_column(String(32))
