"""Conversation and message payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.inputs import Attributes
from cxstack.kit.models import StrictModel

Channel = Literal["webchat", "email", "sms", "voice", "inapp"]
CHANNELS: tuple[str, ...] = ("webchat", "email", "sms", "voice", "inapp")
Status = Literal["open", "pending", "snoozed", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Direction = Literal["inbound", "outbound"]
AuthorKind = Literal["customer", "agent", "bot", "system"]
Visibility = Literal["public", "internal"]
VISIBILITIES: tuple[str, ...] = ("public", "internal")


def shown_to_customer(visibility: str) -> bool:
    """The one rule of who sees a message: a ``public`` message is the conversation with the customer and
    reaches them on their channel (webchat and in-app sockets and REST, push, SMS, email); an ``internal``
    one (what the system records about a call, its recordings) is for agents and the timeline only, and no
    channel ever hands it to the customer."""
    return visibility == "public"


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
    #: The teams whose work it is (the queue's routing put it in); empty: every team's.
    team_ids: list[str] = Field(default_factory=list)
    message_count: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    last_message_at: datetime | None


class ConversationCountsOut(BaseModel):
    """How many open or pending conversations (of those the caller sees) each inbox section holds."""

    all_open: int = Field(description="Every open or pending conversation the caller sees.")
    unassigned: int = Field(description="Those assigned to nobody.")
    mine: int | None = Field(description="Those assigned to the signed-in person; null for an API key.")
    my_teams: int | None = Field(
        description="Those that are the work of one of the signed-in person's teams; null for an API key."
    )
    by_status: dict[str, int] = Field(description="``open`` and ``pending``: how many are in each.")


class Attachment(BaseModel):
    """A file attached to a message.

    Posting, an attachment names one of the tenant's files by ``id`` (an upload's answer, or a file listed
    under ``/v1/files``; the whole object a message or an upload showed may be sent back as it is), or
    links to a file kept elsewhere by ``url`` (an http(s) URL, such as a provider's media URL; ``name``
    and ``content_type`` then say what it is). A file of cxstack's is resolved through the tenant's file
    records only: an id or a ``cxstack-file://sha256/<hex>`` reference that is not a file of the tenant,
    in this conversation or in none yet, is refused (422 naming ``attachments[i]``), never looked up
    elsewhere. Its content type and size are the file's; ``name`` may rename it in this message.

    Shown in a message (and its event), a file of cxstack's carries its ``id`` and ``url`` is where the
    file API serves its bytes (``/v1/files/{id}/content``, tenant API key, relative to cxstack's origin);
    a link has no ``id`` and its own ``url``. ``name``, ``content_type``, ``size`` and ``url`` are always
    there.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=32, description="A file id (file_...).")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    content_type: str | None = Field(default=None, min_length=1, max_length=100)
    size: int | None = Field(default=None, ge=0, description="Bytes.")
    url: str | None = Field(default=None, min_length=1, max_length=2048)


class MessageCreate(BaseModel):
    # Bodies keep their whitespace exactly, so this model does not strip strings.
    model_config = ConfigDict(extra="forbid")

    direction: Direction
    body: str = Field(default="", description=f"Text of at most {MAX_BODY_BYTES} bytes of UTF-8.")
    author_kind: AuthorKind | None = Field(
        default=None, description="Defaults to customer for inbound messages, agent for outbound ones."
    )
    author_id: str | None = Field(default=None, max_length=80)
    visibility: Visibility = Field(
        default="public",
        description="public: the customer sees it on their channel; internal: agents and the timeline only.",
    )
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


class MessageDelivery(BaseModel):
    """Why a message to the customer did not reach them: ``refused`` (cxstack would not send it, e.g.
    ``opted_out``: the phone texted STOP) or ``failed`` (the provider refused it or stayed unreachable)."""

    status: Literal["refused", "failed"]
    error_code: str = Field(description="Why, e.g. opted_out, no_phone, no_number, or the provider's code.")
    detail: str


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    customer_id: str
    direction: str
    author_kind: str
    author_id: str | None
    visibility: str = "public"
    channel: str
    body: str
    content_type: str
    attachments: list[Attachment]
    client_id: str | None
    created_at: datetime
    delivery: MessageDelivery | None = Field(
        default=None, description="Set when the message did not reach the customer, and why."
    )


# -- event payloads ------------------------------------------------------------------------------


class ConversationCreated(EventPayload, type="conversation.created"):
    """A conversation was started."""

    conversation_id: str
    customer_id: str
    channel: str
    status: str
    subject: str | None
    assignee: str | None
    priority: str


class ConversationUpdated(EventPayload, type="conversation.updated"):
    """Fields of a conversation changed (including the customer it belongs to).

    ``changes`` holds the new values, ``previous`` the old ones.

    A ``customer_id`` among the changes means the conversation (and its messages) moved to another customer.
    """

    conversation_id: str
    customer_id: str
    changes: dict[str, Any]
    previous: dict[str, Any]


class ConversationChannelChanged(EventPayload, type="conversation.channel_changed"):
    """A conversation moved to another channel."""

    conversation_id: str
    customer_id: str
    from_channel: str
    to_channel: str


class ConversationClosed(EventPayload, type="conversation.closed"):
    """A conversation was closed."""

    conversation_id: str
    customer_id: str
    channel: str
    message_count: int


class ConversationReopened(EventPayload, type="conversation.reopened"):
    """A closed conversation reopened."""

    conversation_id: str
    customer_id: str
    channel: str
    status: str
    #: ``request`` when someone reopened it, ``inbound_message`` when the customer wrote again.
    reason: str


class MessagePublished(EventPayload):
    """Everything a reader of a message event needs, so that no handler has to read the message back."""

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
    #: The attached files, each with the URL of the file API that serves it (``url``).
    attachments: tuple[Attachment, ...] = ()
    #: ``internal`` messages never reach the customer (see ``shown_to_customer``).
    visibility: str = "public"


class MessageReceived(MessagePublished, type="message.received"):
    """A customer's message arrived (an inbound message: the customer wrote)."""


class MessageSent(MessagePublished, type="message.sent"):
    """A message was sent to a customer (an outbound message: an agent, a bot or the system wrote)."""


class MessageDeliveryFailed(EventPayload, type="message.delivery_failed"):
    """A message to a customer was not delivered: refused (the phone opted out...) or failed.

    See ``MessageDelivery``.
    """

    message_id: str
    conversation_id: str
    customer_id: str
    channel: str
    status: str
    error_code: str
    detail: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    ConversationCreated,
    ConversationUpdated,
    ConversationChannelChanged,
    ConversationClosed,
    ConversationReopened,
    MessageReceived,
    MessageSent,
    MessageDeliveryFailed,
)
