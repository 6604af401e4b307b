"""Routing's API payloads and the events it publishes: every decision is an event with its reason, so a
supervisor can see why a conversation went where it went."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel
from cxstack.routing.model import MAX_PROFICIENCY, MIN_PROFICIENCY, Presence, Strategy

Channel = Literal["webchat", "email", "sms", "voice", "inapp"]
CHANNELS: tuple[str, ...] = ("webchat", "email", "sms", "voice", "inapp")
Proficiency = Annotated[int, Field(ge=MIN_PROFICIENCY, le=MAX_PROFICIENCY)]
ConditionKey = Annotated[str, Field(min_length=1, max_length=120)]
SkillName = Annotated[str, Field(min_length=1, max_length=60)]


# -- events -------------------------------------------------------------------------------------------


class RoutingItemEvent(EventPayload):
    """The work item an event of routing is about (a base: it names no event type)."""

    item_id: str
    conversation_id: str
    queue_id: str
    channel: str


class RoutingQueued(RoutingItemEvent, type="routing.queued"):
    """New work waits in a queue (``reason``: the rule that chose the queue)."""

    customer_id: str
    kind: str
    priority: int
    reason: str


class RoutingOffered(RoutingItemEvent, type="routing.offered"):
    """An agent is offered the work until ``expires_at``; why them: the queue's ``strategy``, their
    proficiency on each required skill, the fallback step reached and how long the work had waited."""

    agent_id: str
    offer: int
    expires_at: datetime
    strategy: str
    matched_skills: dict[str, int]
    fallback_step: int
    wait_seconds: float


class RoutingAccepted(RoutingItemEvent, type="routing.accepted"):
    """The agent took the offer."""

    agent_id: str
    wait_seconds: float


class RoutingAssigned(RoutingItemEvent, type="routing.assigned"):
    """The work is the agent's (the conversation's assignee); a queued call (``kind`` call) is then
    connected to them by the voice channel."""

    agent_id: str
    kind: str = "conversation"
    call_id: str | None = None


class RoutingDeclined(RoutingItemEvent, type="routing.declined"):
    """The agent turned the offer down; the work waits again (``declines``: how many times so far)."""

    agent_id: str
    declines: int
    note: str | None = None


class RoutingExpired(RoutingItemEvent, type="routing.expired"):
    """An offer ran out unanswered; the work waits again, for another agent first."""

    agent_id: str
    declines: int


class RoutingTransferred(RoutingItemEvent, type="routing.transferred"):
    """The work moved to another queue, to a team (offered only to its agents, in ``to_queue_id`` or the
    queue it was in) or was offered to a named agent, with a note for them."""

    from_agent_id: str | None
    to_queue_id: str | None
    to_agent_id: str | None
    note: str | None
    to_team_id: str | None = None


class RoutingEscalated(RoutingItemEvent, type="routing.escalated"):
    """The work was escalated (to another queue, tier 1 to tier 2, or to a named agent such as a
    supervisor) with its reason; it keeps its conversation and everything in it."""

    from_queue_id: str
    from_agent_id: str | None
    to_queue_id: str | None
    to_agent_id: str | None
    reason: str


class RoutingCompleted(RoutingItemEvent, type="routing.completed"):
    """The work is done (the conversation closed): its agent's capacity is free."""

    agent_id: str | None
    state: str


class RoutingOfferTimedOut(EventPayload, type="routing.offer_timed_out"):
    """An offer's time came (a durable timer): unless it was answered, it expires."""

    item_id: str
    offer: int


class RoutingWaitWidened(EventPayload, type="routing.wait_widened"):
    """An item has waited long enough for its queue's next fallback step: route it again."""

    item_id: str


class AgentPresenceChanged(EventPayload, type="agent.presence_changed"):
    """An agent's presence changed (``until``: when a wrap-up ends)."""

    agent_id: str
    presence: str
    previous: str
    until: datetime | None = None


class AgentConnectionLost(EventPayload, type="agent.connection_lost"):
    """An agent's routing sockets have all been closed for a while (a durable timer): an available agent
    is set away."""

    agent_id: str


EVENT_TYPES: tuple[type[EventPayload], ...] = (
    RoutingQueued,
    RoutingOffered,
    RoutingAccepted,
    RoutingAssigned,
    RoutingDeclined,
    RoutingExpired,
    RoutingTransferred,
    RoutingEscalated,
    RoutingCompleted,
    RoutingOfferTimedOut,
    RoutingWaitWidened,
    AgentPresenceChanged,
    AgentConnectionLost,
)


# -- configuration ------------------------------------------------------------------------------------


class FallbackStepIn(StrictModel):
    """From ``after_seconds`` of waiting, the queue's requirements widen (steps accumulate)."""

    after_seconds: float = Field(ge=0, le=86_400)
    min_proficiency: Proficiency | None = None
    drop_skills: list[SkillName] = Field(default_factory=list, max_length=20)
    any_team: bool = False
    any_language: bool = False


class QueueIn(StrictModel):
    """A queue. New work on ``channels`` goes to the first queue (by ``position``) that takes its channel
    (a queued call to the queue named by the voice menu)."""

    name: str = Field(min_length=1, max_length=120)
    position: int = Field(default=0, ge=0, le=10_000)
    channels: list[Channel] = Field(default_factory=list, max_length=5)
    conditions: dict[ConditionKey, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict,
        max_length=10,
        description=(
            "Only new work that meets all of these (inbound rules): ``inbox`` (the address an email was "
            "sent to), ``number`` (the number texted or called, E.164), ``language`` (the conversation's, "
            "else the customer's ``language`` attribute; ``es`` takes ``es-MX``), "
            "``conversation.<attribute>`` or ``customer.<attribute>`` (that attribute's value)."
        ),
    )
    escalation_queue_id: str | None = Field(
        default=None, max_length=32, description="Where escalated work goes when no target is named."
    )
    priority: int = Field(default=0, ge=-1000, le=1000)
    skills: dict[SkillName, Proficiency] = Field(default_factory=dict, max_length=20)
    language: str | None = Field(default=None, min_length=2, max_length=16)
    team_ids: list[str] = Field(default_factory=list, max_length=50)
    strategy: Strategy = Strategy.SKILLS
    sticky_seconds: int = Field(default=3600, ge=0, le=30 * 86_400)
    fallback: list[FallbackStepIn] = Field(default_factory=list, max_length=10)
    aging_per_minute: float = Field(default=1.0, ge=0, le=1000)
    wrap_up_seconds: int = Field(default=0, ge=0, le=3600)
    offer_timeout_seconds: int = Field(default=30, ge=5, le=3600)
    service_level_seconds: int = Field(default=20, ge=1, le=86_400)


class QueueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    position: int
    channels: list[str]
    conditions: dict[str, str]
    escalation_queue_id: str | None
    priority: int
    skills: dict[str, int]
    language: str | None
    team_ids: list[str]
    strategy: str
    sticky_seconds: int
    fallback: list[FallbackStepIn]
    aging_per_minute: float
    wrap_up_seconds: int
    offer_timeout_seconds: int
    service_level_seconds: int
    created_at: datetime
    updated_at: datetime


def _default_capacity() -> dict[Channel, int]:
    return {"webchat": 3, "email": 2, "sms": 3, "inapp": 3, "voice": 1}


class QueueList(BaseModel):
    """Every queue of the tenant, in the order new work is matched against them."""

    data: list[QueueOut]


class AgentProfileIn(StrictModel):
    """What routing knows of an agent: skills (1-5), languages, capacity per channel (voice is exclusive:
    an agent on a call takes nothing else)."""

    skills: dict[SkillName, Proficiency] = Field(default_factory=dict, max_length=50)
    languages: list[Annotated[str, Field(min_length=2, max_length=16)]] = Field(
        default_factory=list, max_length=20
    )
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: _default_capacity()
    )
    voice_with_other_work: bool = False


class AgentOut(BaseModel):
    user_id: str
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    voice_with_other_work: bool
    presence: str
    presence_since: datetime
    wrap_up_until: datetime | None
    #: Items in hand per channel, offers included.
    load: dict[str, int]


class PresenceIn(StrictModel):
    presence: Literal["available", "away", "busy", "offline"] = Field(
        description="Wrap-up is set by routing after work, for the queue's wrap-up time."
    )


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    conversation_id: str
    call_id: str | None
    customer_id: str
    channel: str
    queue_id: str
    #: The team a transfer kept the work to (offered only to its agents); None: the queue's teams.
    team_id: str | None
    priority: int
    state: str
    agent_id: str | None
    offers: int
    declines: int
    offer_expires_at: datetime | None
    enqueued_at: datetime
    assigned_at: datetime | None
    ended_at: datetime | None


class OfferAnswerIn(StrictModel):
    """Who answers: the signed-in agent, or, for an integration with an API key, ``agent_id``."""

    agent_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=1000)


class TransferIn(StrictModel):
    """Move the work to a queue, to a team (with or without a queue), or offer it to an agent, with a note
    for whoever takes it next."""

    to_queue_id: str | None = Field(default=None, max_length=32)
    to_team_id: str | None = Field(
        default=None,
        max_length=32,
        description=(
            "Offer the work only to agents of this team, at every fallback step, in ``to_queue_id`` or the "
            "queue it is in; it waits while none of them can take it."
        ),
    )
    to_agent_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=1000)


class EscalateIn(StrictModel):
    """Escalate work: to ``to_queue_id``, to ``to_agent_id`` (a supervisor, say), or, with neither, to the
    escalation queue of the queue it is in."""

    reason: str = Field(min_length=1, max_length=1000)
    to_queue_id: str | None = Field(default=None, max_length=32)
    to_agent_id: str | None = Field(default=None, max_length=32)


class QueueNow(BaseModel):
    queue_id: str
    name: str
    waiting: int
    offered: int
    oldest_wait_seconds: float
    #: Open work of the queue that agents declined or let time out at least once, and the most declines
    #: any of it has had (repeated declines, for a supervisor to look into).
    declined: int
    most_declines: int
    #: Share of the work that reached an agent in the last hour within the queue's service level time
    #: (None: nothing reached an agent in the hour).
    service_level: float | None
    #: Work of the queue that reached an agent today (since midnight in the overview's time zone), and the
    #: share of it that did within the queue's service level time (None: none reached an agent today).
    answered_today: int
    service_level_today: float | None
    #: Work of the queue that ended today before it reached an agent (its conversation closed, or its
    #: caller hung up, while it waited or was offered; not work a call on the conversation took over).
    abandoned_today: int
    #: Agents available now who may take the queue's work: in one of its teams (any, for a queue open to
    #: every team) and with capacity on one of its channels.
    agents_available: int


class AgentWorkNow(BaseModel):
    """A piece of open work offered or assigned to an agent."""

    item_id: str
    conversation_id: str
    channel: str
    state: str


class AgentNow(BaseModel):
    agent_id: str
    name: str
    presence: str
    #: Since when the agent has had this presence.
    presence_since: datetime
    wrap_up_until: datetime | None
    load: dict[str, int]
    capacity: dict[str, int]
    items: list[str]
    #: The same open work, with its conversation and channel.
    work: list[AgentWorkNow]


class OverviewOut(BaseModel):
    """What a supervisor sees now: every queue and every agent."""

    at: datetime
    #: The time zone whose midnight starts "today" for the queues' daily figures.
    tz: str
    queues: list[QueueNow]
    agents: list[AgentNow]


PRESENCES: tuple[str, ...] = tuple(p.value for p in Presence)
