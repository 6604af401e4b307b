"""Mention payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

#: Why a handle in a note notified nobody.
NotNotifiedReason = Literal["unknown", "disabled", "not_in_sight", "author", "too_many"]


class MentionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    conversation_id: str
    note_id: str
    author: str
    excerpt: str
    created_at: datetime
    read_at: datetime | None


class MentionCheck(StrictModel):
    """A note's text as the composer has it, before it is added to the conversation."""

    conversation_id: str = Field(min_length=1, max_length=32)
    body: str = Field(min_length=1, max_length=16 * 1024)


class MentionedOut(BaseModel):
    handle: str = Field(description="As written: @[Name](usr_...) or @email.")
    user_id: str
    name: str


class NotNotifiedOut(BaseModel):
    handle: str
    reason: NotNotifiedReason = Field(
        description=(
            "unknown: no such person in the tenant; disabled: their account is disabled; not_in_sight: "
            "they do not see the conversation; author: the note's own author; too_many: past the 50 "
            "people a note mentions."
        )
    )


class MentionCheckOut(BaseModel):
    """Who a note with this text would notify, and which handles would notify nobody, and why."""

    mentioned: list[MentionedOut]
    not_notified: list[NotNotifiedOut]


# -- event payloads ------------------------------------------------------------------------------


class MentionCreated(EventPayload, type="mention.created"):
    """A person was mentioned in an internal note on a conversation they see."""

    mention_id: str
    user_id: str
    conversation_id: str
    note_id: str
    author: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (MentionCreated,)
