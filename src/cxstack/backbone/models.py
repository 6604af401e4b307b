"""Tables of the backbone: the event log (which is the outbox), subscriptions' positions and
processed ids, parked and dead-lettered deliveries, durable timers, the relay's position and the workers
sharing the log's partitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, Sequence64


class EventRecord(Base):
    """One row of the append-only event log. Written in the same transaction as the change it reports."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_partition_seq", "partition", "seq"),)

    seq: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(80), index=True)
    source: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(80), index=True)
    partition: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime]
    dataschema: Mapped[str] = mapped_column(String(160))
    correlation_id: Mapped[str] = mapped_column(String(32))
    causation_id: Mapped[str | None] = mapped_column(String(32))
    #: Who made the change (the unit of work's actor).
    actor: Mapped[str | None] = mapped_column(String(120))
    data: Mapped[dict[str, Any]]


class SubscriptionPosition(Base):
    """How far a subscription has read one partition of the log, and which worker holds that partition."""

    __tablename__ = "subscription_positions"

    subscription: Mapped[str] = mapped_column(String(120), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Sequence64, default=0)
    owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None]


class ProcessedEvent(Base):
    """An event a subscription has handled; written in the handler's own transaction.

    Kept while the event could still reach the subscription again (a retry, a lease take-over); pruned once
    every partition's position has passed it (``delivery.prune_processed``).
    """

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_subscription_seq", "subscription", "event_seq"),)

    subscription: Mapped[str] = mapped_column(String(120), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_seq: Mapped[int] = mapped_column(Sequence64)
    processed_at: Mapped[datetime]


class ParkedDelivery(Base):
    """A delivery that failed: waiting for its next attempt, or dead (``dead_at`` set) after the last one.

    While a live parked delivery exists for a subject, later events of that subject queue behind it, so
    each subscription sees one subject's events in order.
    """

    __tablename__ = "parked_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription", "event_id"),
        Index("ix_parked_deliveries_due", "subscription", "dead_at", "next_attempt_at"),
        Index("ix_parked_deliveries_subject", "subscription", "subject"),
    )

    id: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=True)
    subscription: Mapped[str] = mapped_column(String(120))
    event_seq: Mapped[int] = mapped_column(Sequence64)
    event_id: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(80))
    partition: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: A delivery queued behind an earlier failure of the same subject has not failed itself.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    dead_at: Mapped[datetime | None]


class Timer(Base):
    """A durable timer: when ``fire_at`` passes, the event it carries is published."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_timers_due", "fired_at", "fire_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(160))
    event_type: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]]
    fire_at: Mapped[datetime]
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    fired_event_id: Mapped[str | None] = mapped_column(String(32))
    #: Set when its event could not be published (a payload that no longer validates): it is not tried
    #: again until it is scheduled anew.
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class RelayPosition(Base):
    """How far the relay has published the log to the broker (scale-out driver)."""

    __tablename__ = "relay_positions"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(Sequence64, default=0)


class BusWorker(Base):
    """A worker process sharing subscriptions' partitions (scale-out driver); alive while it heartbeats."""

    __tablename__ = "bus_workers"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class EffectRecord(Base):
    """A durable job that acts on the outside world (an HTTP call to a provider) after the transaction that
    wanted it committed: run at least once, retried with backoff, and visible when it gives up.

    ``kind`` and ``key`` name the job once: enqueueing the same pair again changes nothing. A claimed job
    (``running``) is due again at ``next_attempt_at``, which is its claim's end: a worker that dies holding
    it lets another take it over.
    """

    __tablename__ = "effects"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_effects_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    #: ``pending``, ``running`` (claimed), ``done``, ``failed`` (for good) or ``dead`` (out of attempts).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None]
    correlation_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
