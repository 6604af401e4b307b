"""Webchat payloads: widget settings for the management API, and the receipt events of live chats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

PrechatField = Literal["required", "optional", "off"]


class Prechat(StrictModel):
    """Which pre-chat form fields the widget asks for before the first message."""

    name: PrechatField = "off"
    email: PrechatField = "off"


class WebchatSettingsIn(StrictModel):
    """A tenant's widget settings; fields left out keep their value (defaults on first write)."""

    greeting: str | None = Field(default=None, max_length=2000, description="Shown when the panel opens.")
    offline_message: str | None = Field(
        default=None, max_length=2000, description="Shown outside business hours, above the email field."
    )
    prechat: Prechat | None = None
    business_hours: dict[str, Any] | None = Field(
        default=None,
        description=(
            'Empty: always open. Else {"timezone": "Europe/Berlin", "days": {"mon": [["09:00", "17:00"]]}}; '
            "a day left out is closed."
        ),
    )
    require_verified: bool | None = Field(
        default=None, description="Refuse visitors who are not signed in with user_id and user_hash."
    )
    rotate_secret: bool = Field(default=False, description="Issue a new identity-verification secret.")
    push_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="In-app: your push service's URL, posted a notification of each reply to a user with no "
        "open socket (null: none).",
    )


class WebchatSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: str
    widget_key: str = Field(description="Public: the data-tenant attribute of the script tag (or app key).")
    identity_secret: str = Field(
        description="Secret: user_hash = hex HMAC-SHA256(user_id) keyed with it, computed on your server."
    )
    require_verified: bool
    greeting: str
    offline_message: str
    prechat: dict[str, Any]
    business_hours: dict[str, Any]
    push_url: str | None
    created_at: datetime
    updated_at: datetime


class UploadOut(BaseModel):
    """An uploaded file, a file of the tenant: reference it in a message's ``attachments`` (by ``id``, or
    send this object back as it is)."""

    id: str
    name: str
    content_type: str
    size: int
    #: Where the file API serves it to the tenant's agents (``/v1/files/{id}/content``).
    url: str


# -- event payloads ------------------------------------------------------------------------------


class ChatReceipt(EventPayload):
    """A message reached the other side's screen (``chat.delivered``) or was read there (``chat.read``);
    ``by`` is who received it: ``visitor`` or ``agent``."""

    conversation_id: str
    message_id: str
    channel: str
    by: str
    actor: str


class ChatDelivered(ChatReceipt, type="chat.delivered"):
    """A live-chat message reached the other side."""


class ChatRead(ChatReceipt, type="chat.read"):
    """A live-chat message was read by the other side."""


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    ChatDelivered,
    ChatRead,
)
