"""SLA payloads for the API and the events the clocks publish."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel
from cxstack.kit.pagination import Cursor
from cxstack.records.conversations.schemas import Channel, Priority

Metric = Literal["first_response", "next_response", "resolution"]
METRICS: tuple[str, ...] = ("first_response", "next_response", "resolution")
ClockState = Literal["running", "paused", "met", "breached", "cancelled"]
#: The longest target: a year.
MAX_TARGET_SECONDS = 366 * 86_400


class IntervalIn(StrictModel):
    start: str = Field(description="Local time of day, HH:MM.", examples=["09:00"])
    end: str = Field(description="Local time of day, HH:MM (24:00 for midnight).", examples=["17:00"])
    overnight: bool = Field(default=False, description="The interval ends the next day (22:00 to 06:00).")


class HolidayIn(StrictModel):
    date: date
    name: str | None = Field(default=None, max_length=200)


Hours = dict[str, list[IntervalIn]]
HOURS_DESCRIPTION = (
    "Weekday (mon..sun) to working intervals of the local wall clock; a day left out is closed."
)


class CalendarCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64, description="An IANA time zone, e.g. Europe/Berlin.")
    hours: Hours = Field(description=HOURS_DESCRIPTION)
    holidays: list[HolidayIn] = Field(default_factory=list, description="Local dates nobody works.")


class CalendarUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    hours: Hours | None = Field(default=None, description=HOURS_DESCRIPTION)
    holidays: list[HolidayIn] | None = None


class IntervalOut(BaseModel):
    start: str
    end: str
    overnight: bool


class HolidayOut(BaseModel):
    date: date
    name: str | None


class CalendarOut(BaseModel):
    id: str
    name: str
    timezone: str
    hours: dict[str, list[IntervalOut]]
    holidays: list[HolidayOut]
    created_at: datetime
    updated_at: datetime


Target = Field(default=None, gt=0, le=MAX_TARGET_SECONDS, description="Business seconds; null: no target.")


class PolicyFields(StrictModel):
    priority: Priority | None = Field(default=None, description="Match conversations of this priority.")
    channel: Channel | None = Field(default=None, description="Match conversations on this channel.")
    queue_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Match conversations whose attributes.queue_id is this.",
    )
    customer_tier: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Match customers whose attributes.tier is this.",
    )
    calendar_id: str | None = Field(
        default=None, max_length=32, description="The business hours the targets count in; null: 24/7."
    )
    first_response_seconds: int | None = Target
    next_response_seconds: int | None = Target
    resolution_seconds: int | None = Target
    warn_before_seconds: int | None = Field(
        default=None,
        gt=0,
        le=MAX_TARGET_SECONDS,
        description="Publish sla.warned when this many business seconds are left; below every target.",
    )


class PolicyCreate(PolicyFields):
    name: str = Field(min_length=1, max_length=200)


class PolicyUpdate(PolicyFields):
    """The fields given replace the policy's (null clears a condition, a target or the calendar)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)


class PolicyOut(BaseModel):
    id: str
    name: str
    priority: str | None
    channel: str | None
    queue_id: str | None
    customer_tier: str | None
    calendar_id: str | None
    first_response_seconds: int | None
    next_response_seconds: int | None
    resolution_seconds: int | None
    warn_before_seconds: int | None
    created_at: datetime
    updated_at: datetime


class ClockOut(BaseModel):
    id: str
    metric: Metric
    state: ClockState
    policy_id: str
    target_seconds: int
    started_at: datetime
    due_at: datetime | None = Field(description="When the target falls due; null while paused or stopped.")
    business_seconds_left: float | None = Field(
        description="Business seconds until due (negative once overdue); null once stopped."
    )
    warned_at: datetime | None
    stopped_at: datetime | None = Field(description="When it was met, breached or cancelled.")


class ConversationSlaOut(BaseModel):
    conversation_id: str
    policy_id: str | None = Field(description="The policy matched when the conversation was created.")
    clocks: list[ClockOut] = Field(description="Oldest first.")


class AtRiskClockOut(BaseModel):
    """A clock at risk: running into its warning window (or the horizon asked for), overdue, or breached
    while its conversation is still open."""

    conversation_id: str
    clock_id: str
    metric: Metric
    state: ClockState = Field(description="``running``, or ``breached`` once due.")
    due_at: datetime
    business_seconds_left: float = Field(description="Business seconds until due (negative once overdue).")
    warned_at: datetime | None


class AtRiskPageOut(BaseModel):
    """One page of the clocks at risk, soonest due first."""

    data: list[AtRiskClockOut]
    next_cursor: Cursor | None = Field(
        description="Pass as cursor to get the next page; null on the last page."
    )
    total: int = Field(description="How many clocks at risk the caller sees, on every page together.")


# -- event payloads ------------------------------------------------------------------------------


class SlaClockEvent(EventPayload):
    """What every SLA event says: which clock, of which conversation, under which policy, due when."""

    clock_id: str
    conversation_id: str
    policy_id: str
    metric: str
    due_at: datetime


class SlaWarned(SlaClockEvent, type="sla.warned"):
    """An SLA clock has its policy's ``warn_before_seconds`` of business time left before it breaches."""


class SlaBreached(SlaClockEvent, type="sla.breached"):
    """An SLA clock reached its due time before its target was met."""


class SlaMet(SlaClockEvent, type="sla.met"):
    """An SLA target was met before its due time (the agent answered, the conversation was closed)."""

    met_at: datetime


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (SlaWarned, SlaBreached, SlaMet)
