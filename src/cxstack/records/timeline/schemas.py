"""Timeline payloads for the API, and the facts of one entry as the projection writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload

#: The timeline publishes no events of its own; it is a projection of others'.
#: The events this domain publishes: none (it is a projection of others' events).
EVENT_TYPES: tuple[type[EventPayload], ...] = ()


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What an event contributes to a customer's timeline."""

    customer_id: str
    occurred_at: datetime
    summary: str
    ref_id: str
    channel: str | None = None
    conversation_id: str | None = None


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(validation_alias="event_id", description="The id of the event the entry records.")
    customer_id: str
    occurred_at: datetime
    kind: str = Field(description="The event type, e.g. message.received.")
    channel: str | None
    conversation_id: str | None
    summary: str
    ref_id: str = Field(
        description="The record the entry is about: message, conversation, identity, case, note, customer."
    )
