"""SLA calendars, policies, the conversations they watch and the clocks that run on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class SlaCalendar(TenantScoped, Base):
    """When a tenant's team works: a time zone, weekly hours and holidays (``routing.sla.calendar``)."""

    __tablename__ = "sla_calendars"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    #: Weekday (``mon``..``sun``) to intervals ``{start, end, overnight}``, as ``Calendar.hours_out``.
    hours: Mapped[dict[str, Any]]
    #: ``[{date, name}]``, in date order.
    holidays: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SlaPolicy(TenantScoped, Base):
    """Targets for the conversations a policy matches (by priority, channel, queue and customer tier)."""

    __tablename__ = "sla_policies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The conditions; None matches any value.
    priority: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    queue_id: Mapped[str | None] = mapped_column(String(64))
    customer_tier: Mapped[str | None] = mapped_column(String(64))
    #: None: business time is around the clock.
    calendar_id: Mapped[str | None] = mapped_column(ForeignKey("sla_calendars.id"))
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    next_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    warn_before_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SlaConversation(TenantScoped, Base):
    """What the clocks of one conversation need to know of it between events."""

    __tablename__ = "sla_conversations"

    conversation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The policy matched when the conversation was created (None: no policy, no clocks).
    policy_id: Mapped[str | None] = mapped_column(String(32))
    #: The conversation waits on the customer (status ``pending``): its clocks are paused.
    waiting: Mapped[bool]
    #: The customer has written: their next message after an agent's answer starts a next-response clock.
    customer_wrote: Mapped[bool]
    #: An agent has answered since the customer last wrote: the customer's next message starts a
    #: next-response clock.
    answered: Mapped[bool]
    closed: Mapped[bool]
    created_at: Mapped[datetime]


class SlaClock(TenantScoped, Base):
    """One clock of a conversation: a metric's target measured in business time, on a durable timer."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_conversation", "tenant_id", "conversation_id", "started_at"),
        # The clocks at risk: running or breached ones by due time.
        Index("ix_sla_clocks_due", "tenant_id", "state", "due_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str] = mapped_column(String(32))
    #: ``first_response``, ``next_response`` or ``resolution``.
    metric: Mapped[str] = mapped_column(String(16))
    #: ``running``, ``paused``, ``met``, ``breached`` or ``cancelled`` (its conversation closed first).
    state: Mapped[str] = mapped_column(String(16))
    target_seconds: Mapped[int] = mapped_column(Integer)
    warn_before_seconds: Mapped[int | None] = mapped_column(Integer)
    #: The policy's calendar as it was when the clock started (None: around the clock).
    calendar: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime]
    #: Business seconds counted before ``resumed_at`` (while paused: all of them).
    elapsed_seconds: Mapped[float] = mapped_column(Float)
    #: When the clock last started running; None while it is paused or stopped.
    resumed_at: Mapped[datetime | None]
    #: When the target falls due while running; None while paused.
    due_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    #: When it was met, breached or cancelled.
    stopped_at: Mapped[datetime | None]
