"""In-app payloads: messages and devices of the app API, and the push events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from cxstack.backbone.catalog import EventType
from cxstack.records.conversations.schemas import MAX_ATTACHMENTS, Attachment, MessageOut
from cxstack.records.customers.schemas import StrictModel


class AppMessageIn(BaseModel):
    """A message from the app user; ``client_id`` makes a resend return the first message."""

    # Bodies keep their whitespace exactly.
    model_config = {"extra": "forbid"}

    client_id: str = Field(min_length=1, max_length=128)
    body: str = ""
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AppMessages(BaseModel):
    conversation_id: str | None
    data: list[MessageOut]


class DeviceIn(StrictModel):
    platform: Literal["ios", "android", "web"]
    token: str = Field(min_length=8, max_length=512)


class PushSent(BaseModel):
    conversation_id: str
    message_id: str
    user_id: str
    devices: int
    provider: str


class PushFailed(BaseModel):
    conversation_id: str
    message_id: str
    user_id: str
    reason: str


EVENT_TYPES = (
    EventType("inapp.push_sent", PushSent, description="A reply was pushed to an app user's devices."),
    EventType("inapp.push_failed", PushFailed, description="A reply's push notification could not be sent."),
)
