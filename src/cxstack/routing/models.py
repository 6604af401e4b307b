"""Routing's tables: queues, agents' routing profiles and presence, the work items between them, agents'
open routing sockets on every process, and a per-tenant version that tells a process whether its engine
in memory still reflects the database.

The database is the record; the engine (``routing/engine.py``) is rebuilt from these rows whenever the
version it was built at is not the tenant's version any more (a restart, another process's decision, a
transaction that rolled back after the engine changed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class RoutingQueue(TenantScoped, Base):
    """A queue: which new work it takes (``channels``, in ``position`` order among the tenant's queues),
    what its items require and how agents are picked (see ``QueueConfig``)."""

    __tablename__ = "routing_queues"
    __table_args__ = (Index("uq_routing_queues_tenant_name", "tenant_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    channels: Mapped[list[str]]
    #: Only new work whose conversation or customer has these attribute values (``conversation.<key>``,
    #: ``customer.<key>``): a VIP queue for ``customer.tier = gold``, a Spanish one for
    #: ``conversation.language = es``.
    conditions: Mapped[dict[str, Any]]
    #: Where escalated work goes when no other queue is named (tier 1 to tier 2).
    escalation_queue_id: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    skills: Mapped[dict[str, Any]]
    language: Mapped[str | None] = mapped_column(String(16))
    team_ids: Mapped[list[str]]
    strategy: Mapped[str] = mapped_column(String(20))
    sticky_seconds: Mapped[int] = mapped_column(Integer)
    fallback: Mapped[list[Any]]
    aging_per_minute: Mapped[float]
    wrap_up_seconds: Mapped[int] = mapped_column(Integer)
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer)
    service_level_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RoutingAgent(TenantScoped, Base):
    """A user's routing profile (skills, languages, capacity per channel) and presence."""

    __tablename__ = "routing_agents"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    skills: Mapped[dict[str, Any]]
    languages: Mapped[list[str]]
    capacity: Mapped[dict[str, Any]]
    voice_with_other_work: Mapped[bool]
    presence: Mapped[str] = mapped_column(String(16))
    presence_since: Mapped[datetime]
    wrap_up_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RoutingItem(TenantScoped, Base):
    """A piece of work to route: a new conversation, or a queued call (``kind``), until it is completed or
    cancelled. ``offers`` counts the offers made, so that an offer's time-out that comes after the offer
    was answered finds another number and does nothing."""

    __tablename__ = "routing_items"
    __table_args__ = (
        Index("ix_routing_items_open", "tenant_id", "state"),
        Index("ix_routing_items_conversation", "tenant_id", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[str] = mapped_column(String(32))
    #: The team a transfer kept the work to: offered only to that team's agents (None: the queue's teams).
    team_id: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(16))
    #: waiting, offered, assigned, completed, cancelled.
    state: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    offers: Mapped[int] = mapped_column(Integer)
    declines: Mapped[int] = mapped_column(Integer)
    offer_expires_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class RoutingConnection(TenantScoped, Base):
    """An agent's open routing socket, as the process holding it last said (``seen_at``, renewed every
    heartbeat): a row not renewed for three heartbeats belongs to a process that stopped, and is swept."""

    __tablename__ = "routing_connections"
    __table_args__ = (
        Index("ix_routing_connections_agent", "tenant_id", "agent_id"),
        Index("ix_routing_connections_process", "process_id"),
        Index("ix_routing_connections_seen", "seen_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(32))
    #: The serve process holding the socket (a random id it makes when it starts).
    process_id: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class RoutingVersion(Base):
    """How many routing transactions a tenant has committed: an engine built at another number is stale.
    On PostgreSQL the row is also the tenant's routing lock (``SELECT ... FOR UPDATE``)."""

    __tablename__ = "routing_versions"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
