"""Tag payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

TargetType = Literal["customer", "conversation", "case"]
TARGET_TYPES: tuple[str, ...] = ("customer", "conversation", "case")


class TagIn(StrictModel):
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$", description="#rrggbb")


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    colour: str | None
    created_at: datetime


class TargetTagsOut(BaseModel):
    """The tags on one customer, conversation or case, by name."""

    target_type: str
    target_id: str
    tags: list[TagOut]


# -- event payloads ------------------------------------------------------------------------------


class TagAdded(EventPayload, type="tag.added"):
    """A tag was put on a customer, conversation or case."""

    tag_id: str
    tag: str
    target_type: str
    target_id: str


class TagRemoved(EventPayload, type="tag.removed"):
    """A tag was taken off a customer, conversation or case."""

    tag_id: str
    tag: str
    target_type: str
    target_id: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    TagAdded,
    TagRemoved,
)
