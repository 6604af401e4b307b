"""Conversation and message payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.catalog import EventType
from cxstack.backbone.inputs import Attributes
from cxstack.records.customers.schemas import StrictModel

Channel = Literal["webchat", "email", "sms", "voice", "inapp"]
CHANNELS: tuple[str, ...] = ("webchat", "email", "sms", "voice", "inapp")
Status = Literal["open", "pending", "snoozed", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Direction = Literal["inbound", "outbound"]
AuthorKind = Literal["customer", "agent", "bot", "system"]

#: The largest message body accepted, in bytes of UTF-8.
MAX_BODY_BYTES = 64 * 1024
MAX_ATTACHMENTS = 20


class ConversationCreate(StrictModel):
    customer_id: str = Field(min_length=1, max_length=32)
    channel: Channel = Field(description="The channel the conversation starts on.")
    subject: str | None = Field(default=None, max_length=500)
    assignee: str | None = Field(default=None, max_length=80, description="Who works on it (an id).")
    priority: Priority = "normal"
    status: Literal["open", "pending"] = "open"
    attributes: Attributes = Field(default_factory=dict)


class ConversationUpdate(StrictModel):
    """Fields to change; ``status: closed`` closes and leaving ``closed`` reopens, as the actions do."""

    subject: str | None = Field(default=None, max_length=500)
    assignee: str | None = Field(default=None, max_length=80)
    priority: Priority | None = None
    status: Status | None = None
    channel: Channel | None = Field(default=None, description="Move the conversation to this channel.")
    attributes: Attributes | None = Field(
        default=None, description="Merged key by key; a null value removes a key."
    )


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    origin_channel: str
    channel: str
    status: str
    subject: str | None
    assignee: str | None
    priority: str
    attributes: dict[str, Any]
    message_count: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    last_message_at: datetime | None


class Attachment(BaseModel):
    """What is known of an attached file; the file itself lives in the file store at ``url``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=0, description="Bytes.")
    url: str = Field(min_length=1, max_length=2048)


class MessageCreate(BaseModel):
    # Bodies keep their whitespace exactly, so this model does not strip strings.
    model_config = ConfigDict(extra="forbid")

    direction: Direction
    body: str = Field(default="", description=f"Text of at most {MAX_BODY_BYTES} bytes of UTF-8.")
    author_kind: AuthorKind | None = Field(
        default=None, description="Defaults to customer for inbound messages, agent for outbound ones."
    )
    author_id: str | None = Field(default=None, max_length=80)
    channel: Channel | None = Field(
        default=None,
        description="Defaults to the conversation's channel; another channel moves the conversation there.",
    )
    content_type: str = Field(default="text/plain", pattern=r"^[a-z]+/[a-z0-9.+-]+$", max_length=100)
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The sender's id for this message; posting it again returns the first message.",
    )


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    customer_id: str
    direction: str
    author_kind: str
    author_id: str | None
    channel: str
    body: str
    content_type: str
    attachments: list[Attachment]
    client_id: str | None
    created_at: datetime


# -- event payloads ------------------------------------------------------------------------------


class ConversationCreated(BaseModel):
    conversation_id: str
    customer_id: str
    channel: str
    status: str
    subject: str | None
    assignee: str | None
    priority: str


class ConversationUpdated(BaseModel):
    """Fields that changed: ``changes`` holds the new values, ``previous`` the old ones.

    A ``customer_id`` among the changes means the conversation (and its messages) moved to another customer.
    """

    conversation_id: str
    customer_id: str
    changes: dict[str, Any]
    previous: dict[str, Any]


class ConversationChannelChanged(BaseModel):
    conversation_id: str
    customer_id: str
    from_channel: str
    to_channel: str


class ConversationClosed(BaseModel):
    conversation_id: str
    customer_id: str
    channel: str
    message_count: int


class ConversationReopened(BaseModel):
    conversation_id: str
    customer_id: str
    channel: str
    status: str
    #: ``request`` when someone reopened it, ``inbound_message`` when the customer wrote again.
    reason: str


class MessagePublished(BaseModel):
    """Everything a reader of a message event needs, so that no handler has to read the message back."""

    # Frozen: valid once built, so publishing it need not validate it again (the busiest event there is).
    model_config = ConfigDict(frozen=True)

    message_id: str
    conversation_id: str
    customer_id: str
    channel: str
    direction: str
    author_kind: str
    author_id: str | None
    body: str
    content_type: str
    attachments_count: int
    client_id: str | None
    created_at: datetime


class MessageReceived(MessagePublished):
    """An inbound message: the customer wrote."""


class MessageSent(MessagePublished):
    """An outbound message: an agent, a bot or the system wrote to the customer."""


EVENT_TYPES = (
    EventType("conversation.created", ConversationCreated, description="A conversation was started."),
    EventType(
        "conversation.updated",
        ConversationUpdated,
        description="Fields of a conversation changed (including the customer it belongs to).",
    ),
    EventType(
        "conversation.channel_changed",
        ConversationChannelChanged,
        description="A conversation moved to another channel.",
    ),
    EventType("conversation.closed", ConversationClosed, description="A conversation was closed."),
    EventType("conversation.reopened", ConversationReopened, description="A closed conversation reopened."),
    EventType("message.received", MessageReceived, description="A customer's message arrived."),
    EventType("message.sent", MessageSent, description="A message was sent to a customer."),
)
