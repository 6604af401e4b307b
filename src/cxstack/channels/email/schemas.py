"""Email channel payloads: inboxes for the API, the outcome of receiving an email, and the events this
channel publishes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel


class InboxCreate(StrictModel):
    address: str = Field(
        min_length=3,
        max_length=320,
        description="The address mail is received at (support@acme.example); unique across tenants, no '+'.",
    )
    name: str = Field(default="", max_length=200, description="Display name replies are sent under.")
    signing_key: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="The inbound-parse webhook signing key (Mailgun's HTTP webhook signing key).",
    )


class InboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    address: str
    name: str
    #: Whether a signing key is set (the key itself is never returned).
    has_signing_key: bool
    created_at: datetime


class ReceivedEmail(BaseModel):
    """What became of one inbound email for one inbox."""

    email_id: str
    inbox_id: str
    message_id: str
    kind: str
    thread_id: str | None
    conversation_id: str | None
    #: The conversation message it was posted as (customer messages only).
    conversation_message_id: str | None
    customer_id: str | None
    #: The raw email as received, a file of the tenant (``message/rfc822``, ``/v1/files/{id}``).
    raw_file_id: str | None = None
    #: True when this Message-ID had been received before and nothing was done this time.
    duplicate: bool


# -- event payloads ------------------------------------------------------------------------------


class InboxCreated(EventPayload, type="email_inbox.created"):
    """A tenant now receives mail at an address."""

    inbox_id: str
    address: str


class InboxDeleted(EventPayload, type="email_inbox.deleted"):
    """An inbox address was removed."""

    inbox_id: str
    address: str


class EmailReceived(EventPayload, type="email.received"):
    """A customer's email was threaded and posted into a conversation."""

    email_id: str
    inbox_id: str
    message_id: str
    thread_id: str
    conversation_id: str
    conversation_message_id: str
    customer_id: str
    from_address: str
    subject: str
    attachments_count: int
    #: True when the email started a new thread (no Message-ID or reply token matched).
    new_thread: bool
    #: The raw email as received, a file of the tenant (``message/rfc822``, ``/v1/files/{id}``).
    raw_file_id: str | None = None


class BouncedRecipient(BaseModel):
    address: str
    action: str
    status: str
    diagnostic: str
    permanent: bool


class EmailBounced(EventPayload, type="email.bounced"):
    """A bounce (delivery status notification) arrived: mail cxstack sent (or someone sent) did not reach
    a recipient."""

    email_id: str
    inbox_id: str
    message_id: str
    from_address: str
    recipients: list[BouncedRecipient]
    #: The Message-ID of the mail that bounced, and the conversation it came from, where known.
    original_message_id: str | None
    conversation_id: str | None


class EmailAutoReplied(EventPayload, type="email.auto_replied"):
    """An automatic reply (out of office, autoresponder) arrived; it is not posted as a customer message."""

    email_id: str
    inbox_id: str
    message_id: str
    from_address: str
    subject: str
    reason: str
    conversation_id: str | None


class EmailSent(EventPayload, type="email.sent"):
    """A reply was handed to the SMTP relay."""

    email_id: str
    inbox_id: str
    message_id: str
    thread_id: str
    conversation_id: str
    conversation_message_id: str
    to: list[str]
    in_reply_to: str | None


class EmailSendFailed(EventPayload, type="email.send_failed"):
    """A reply could not be sent and will not be retried (refused by the relay, nowhere to send it)."""

    conversation_id: str
    conversation_message_id: str
    reason: str
    email_id: str | None = None


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    InboxCreated,
    InboxDeleted,
    EmailReceived,
    EmailBounced,
    EmailAutoReplied,
    EmailSent,
    EmailSendFailed,
)
