"""Note payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel
from cxstack.records.tags.schemas import TargetType

#: The largest note body, in bytes of UTF-8.
MAX_BODY_BYTES = 16 * 1024


class NoteCreate(StrictModel):
    target_type: TargetType
    target_id: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=MAX_BODY_BYTES, description="At most 16 KiB of UTF-8.")
    author: str | None = Field(
        default=None, min_length=1, max_length=200, description="Who wrote it; the API key when not given."
    )


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    target_type: str
    target_id: str
    author: str
    body: str
    created_at: datetime


# -- event payloads ------------------------------------------------------------------------------


class NoteAdded(EventPayload, type="note.added"):
    """An internal note was added to a record."""

    note_id: str
    target_type: str
    target_id: str
    author: str
    body: str


class NoteDeleted(EventPayload, type="note.deleted"):
    """An internal note was deleted."""

    note_id: str
    target_type: str
    target_id: str


class NoteMoved(EventPayload, type="note.moved"):
    """A customer's note now belongs to another customer (a merge, or its undo)."""

    note_id: str
    from_customer_id: str
    to_customer_id: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    NoteAdded,
    NoteDeleted,
    NoteMoved,
)
