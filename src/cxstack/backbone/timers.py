"""Durable timers: rows that publish their event once their time has passed, surviving restarts.

Firing and marking a timer fired happen in one transaction, so a timer fires exactly once into the log.
On PostgreSQL due timers are claimed with ``FOR UPDATE SKIP LOCKED``, so any number of workers can share
them.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import delete, select

from cxstack.backbone.events import EventPayload
from cxstack.backbone.models import Timer
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.clock import utc
from cxstack.kit.ids import new_id

log = structlog.get_logger("cxstack.timers")


def schedule_timer(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    key: str,
    fire_at: datetime,
    subject: str,
    event: EventPayload,
) -> Timer:
    """Schedule (or move) the timer ``key`` of a tenant to publish ``event`` at ``fire_at``.

    The payload's class is checked against the catalog now, so a timer never holds an event it could not
    publish; raises UnknownEventType or InvalidEventPayload.
    """
    payload = uow.catalog.encode(event)
    event_type = event.event_type
    existing = uow.session.scalar(select(Timer).where(Timer.tenant_id == tenant_id, Timer.key == key))
    now = uow.clock.now()
    if existing is not None:
        existing.fire_at = utc(fire_at)
        existing.event_type = event_type
        existing.subject = subject
        existing.payload = payload
        existing.fired_at = None
        existing.fired_event_id = None
        existing.failed_at = None
        existing.error = None
        return existing
    timer = Timer(
        id=new_id("tmr"),
        tenant_id=tenant_id,
        key=key,
        event_type=event_type,
        subject=subject,
        payload=payload,
        fire_at=utc(fire_at),
        created_at=now,
        fired_at=None,
        fired_event_id=None,
    )
    uow.session.add(timer)
    return timer


def cancel_timer(uow: UnitOfWork, *, tenant_id: str, key: str) -> bool:
    """Cancel a pending timer; return whether there was one to cancel."""
    result = uow.session.execute(
        delete(Timer).where(Timer.tenant_id == tenant_id, Timer.key == key, Timer.fired_at.is_(None))
    )
    return bool(getattr(result, "rowcount", 0))


def fire_due_timers(uow: UnitOfWork, *, limit: int = 200) -> int:
    """Publish the event of every due timer (up to ``limit``) and mark it fired; return how many fired.

    Each timer fires in its own savepoint: one whose event no longer validates (its type left the catalog,
    its payload model changed since it was scheduled) is marked failed with the error, logged once, and not
    tried again; the others still fire.
    """
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.failed_at.is_(None), Timer.fire_at <= uow.clock.now())
        .order_by(Timer.fire_at)
        .limit(limit)
    )
    if uow.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = uow.session.scalars(query).all()
    fired = 0
    for timer in due:
        timer_id = timer.id
        child = UnitOfWork(
            uow.session,
            catalog=uow.catalog,
            clock=uow.clock,
            context=Context(causation_id=timer_id, actor="timer", source=uow.context.source),
            partitions=uow.partitions,
        )
        try:
            with uow.session.begin_nested():
                event = child.publish(
                    uow.catalog.decode(timer.event_type, timer.payload),
                    tenant_id=timer.tenant_id,
                    subject=timer.subject,
                )
                child.flush_events()
                timer.fired_at = uow.clock.now()
                timer.fired_event_id = event.id
        except Exception as error:
            log.exception("timer could not fire", timer_id=timer_id)
            timer.failed_at = uow.clock.now()
            timer.error = f"{type(error).__name__}: {error}"[:2000]
            continue
        uow.appended.extend(child.appended)
        fired += 1
    uow.session.flush()
    return fired
