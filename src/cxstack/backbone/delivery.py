"""Delivering log events to a subscription, inside one unit of work.

A subscription reads each log partition from its stored position. Handled event ids are recorded in the
same transaction as the handler's effects, so a redelivered event is skipped. A handler that raises has
its effects rolled back and the event parked for a retry with exponential backoff; later events of the same
subject queue behind it, so one subject's events reach the handler in order. After the last attempt the
event is dead-lettered and the queue behind it moves on.
"""

from __future__ import annotations

import traceback
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from cxstack.backbone.envelope import Event
from cxstack.backbone.errors import NotFound
from cxstack.backbone.log import get_event, read_events
from cxstack.backbone.models import ParkedDelivery, ProcessedEvent, SubscriptionPosition
from cxstack.backbone.subscriptions import Subscription
from cxstack.backbone.unit_of_work import Context, UnitOfWork


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 300.0

    def delay_after(self, attempts: int) -> timedelta:
        """Return how long to wait before the attempt after ``attempts`` failed ones."""
        return timedelta(seconds=min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempts - 1)))


def _handle(uow: UnitOfWork, subscription: Subscription, event: Event) -> None:
    child = UnitOfWork(
        uow.session,
        catalog=uow.catalog,
        clock=uow.clock,
        context=Context(
            correlation_id=event.correlationid,
            causation_id=event.id,
            actor=f"subscription:{subscription.name}",
            source=uow.context.source,
        ),
        partitions=uow.partitions,
    )
    subscription.handler(child, event)
    child.flush_events()
    uow.appended.extend(child.appended)


def _mark_processed(uow: UnitOfWork, subscription: Subscription, events: Iterable[Event]) -> None:
    now = uow.clock.now()
    rows = [{"subscription": subscription.name, "event_id": e.id, "processed_at": now} for e in events]
    if rows:
        uow.session.execute(insert(ProcessedEvent), rows)


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))[-4000:]


def _park(
    uow: UnitOfWork,
    subscription: Subscription,
    event: Event,
    *,
    policy: RetryPolicy,
    error: BaseException | None,
) -> None:
    now = uow.clock.now()
    uow.session.add(
        ParkedDelivery(
            subscription=subscription.name,
            event_seq=event.seq,
            event_id=event.id,
            tenant_id=event.tenant,
            event_type=event.type,
            subject=event.subject,
            partition=event.partition,
            attempts=0 if error is None else 1,
            next_attempt_at=now if error is None else now + policy.delay_after(1),
            last_error="" if error is None else _error_text(error),
            blocked=error is None,
            created_at=now,
            dead_at=None,
        )
    )
    uow.session.flush()


def _positions(
    uow: UnitOfWork, subscription: Subscription, partitions: Collection[int]
) -> dict[int, SubscriptionPosition]:
    rows = uow.session.scalars(
        select(SubscriptionPosition).where(
            SubscriptionPosition.subscription == subscription.name,
            SubscriptionPosition.partition.in_(partitions),
        )
    ).all()
    found = {row.partition: row for row in rows}
    for partition in partitions:
        if partition not in found:
            row = SubscriptionPosition(subscription=subscription.name, partition=partition, position=0)
            uow.session.add(row)
            found[partition] = row
    return found


def deliver_new_events(
    uow: UnitOfWork,
    *,
    subscription: Subscription,
    partitions: Collection[int],
    batch_size: int,
    policy: RetryPolicy,
) -> int:
    """Deliver the next batch of unread events of ``partitions``; return how many events were read."""
    session = uow.session
    positions = _positions(uow, subscription, partitions)
    after = min(row.position for row in positions.values())
    read = read_events(
        session, after=after, limit=batch_size, types=subscription.types, partitions=list(partitions)
    )
    if not read:
        return 0
    events = [e for e in read if e.seq > positions[e.partition].position]
    waiting_subjects = set(
        session.scalars(
            select(ParkedDelivery.subject).where(
                ParkedDelivery.subscription == subscription.name, ParkedDelivery.dead_at.is_(None)
            )
        )
    )
    handled = set(
        session.scalars(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.subscription == subscription.name,
                ProcessedEvent.event_id.in_([e.id for e in events]),
            )
        )
    )
    runnable: list[Event] = []
    for event in events:
        if event.id in handled:
            continue
        if event.subject in waiting_subjects:
            _park(uow, subscription, event, policy=policy, error=None)
        else:
            runnable.append(event)
    try:
        # The common case: every handler succeeds, so the batch costs one savepoint.
        with session.begin_nested():
            for event in runnable:
                _handle(uow, subscription, event)
            _mark_processed(uow, subscription, runnable)
    except Exception:
        for event in runnable:
            if event.subject in waiting_subjects:
                _park(uow, subscription, event, policy=policy, error=None)
                continue
            try:
                with session.begin_nested():
                    _handle(uow, subscription, event)
                    _mark_processed(uow, subscription, [event])
            except Exception as error:
                _park(uow, subscription, event, policy=policy, error=error)
                waiting_subjects.add(event.subject)
    # Every owned partition has been read up to the last event of this batch.
    last = read[-1].seq
    for row in positions.values():
        row.position = max(row.position, last)
    session.flush()
    return len(read)


def _release_next(uow: UnitOfWork, subscription: Subscription, subject: str) -> None:
    """Let the oldest delivery queued behind a finished one of ``subject`` run."""
    following = uow.session.scalar(
        select(ParkedDelivery)
        .where(
            ParkedDelivery.subscription == subscription.name,
            ParkedDelivery.subject == subject,
            ParkedDelivery.dead_at.is_(None),
            ParkedDelivery.blocked.is_(True),
        )
        .order_by(ParkedDelivery.event_seq)
        .limit(1)
    )
    if following is not None:
        following.blocked = False
        following.next_attempt_at = uow.clock.now()


def _attempt_parked(
    uow: UnitOfWork, subscription: Subscription, parked: ParkedDelivery, *, policy: RetryPolicy
) -> bool:
    event = get_event(uow.session, parked.event_id)
    if event is None:  # the log is append-only; a missing event means a broken database
        raise NotFound(f"event {parked.event_id} of a parked delivery is not in the log")
    try:
        with uow.session.begin_nested():
            _handle(uow, subscription, event)
            _mark_processed(uow, subscription, [event])
    except Exception as error:
        parked.attempts += 1
        parked.last_error = _error_text(error)
        if parked.attempts >= policy.max_attempts:
            if parked.dead_at is None:
                parked.dead_at = uow.clock.now()
                _release_next(uow, subscription, parked.subject)
        else:
            parked.next_attempt_at = uow.clock.now() + policy.delay_after(parked.attempts)
        uow.session.flush()
        return False
    was_live = parked.dead_at is None
    uow.session.execute(delete(ParkedDelivery).where(ParkedDelivery.id == parked.id))
    if was_live:
        _release_next(uow, subscription, parked.subject)
    uow.session.flush()
    return True


def retry_due_deliveries(
    uow: UnitOfWork,
    *,
    subscription: Subscription,
    partitions: Collection[int],
    policy: RetryPolicy,
    limit: int = 100,
) -> int:
    """Attempt parked deliveries whose time has come; return how many were attempted."""
    due = uow.session.scalars(
        select(ParkedDelivery)
        .where(
            ParkedDelivery.subscription == subscription.name,
            ParkedDelivery.partition.in_(partitions),
            ParkedDelivery.dead_at.is_(None),
            ParkedDelivery.blocked.is_(False),
            ParkedDelivery.next_attempt_at <= uow.clock.now(),
        )
        .order_by(ParkedDelivery.event_seq)
        .limit(limit)
    ).all()
    for parked in due:
        _attempt_parked(uow, subscription, parked, policy=policy)
    return len(due)


def retry_dead_letter(
    uow: UnitOfWork, *, subscription: Subscription, dead_letter_id: int, policy: RetryPolicy
) -> bool:
    """Run a dead-lettered delivery's handler once more now; return True if it succeeded (and is gone).

    Raises NotFound for an unknown id. A failure keeps it dead-lettered with the new error.
    """
    parked = uow.session.scalar(
        select(ParkedDelivery).where(
            ParkedDelivery.id == dead_letter_id,
            ParkedDelivery.subscription == subscription.name,
            ParkedDelivery.dead_at.is_not(None),
        )
    )
    if parked is None:
        raise NotFound(f"no dead letter {dead_letter_id} for subscription {subscription.name!r}")
    return _attempt_parked(uow, subscription, parked, policy=policy)


def reset_subscription(uow: UnitOfWork, *, subscription: Subscription, to_seq: int = 0) -> None:
    """Rewind ``subscription`` so that it reads the log again after ``to_seq`` (a replay).

    Drops its projection first (its ``reset`` hook), its processed ids and its parked deliveries.
    """
    if subscription.reset is not None:
        subscription.reset(uow)
    session = uow.session
    session.execute(delete(ProcessedEvent).where(ProcessedEvent.subscription == subscription.name))
    session.execute(delete(ParkedDelivery).where(ParkedDelivery.subscription == subscription.name))
    session.execute(
        update(SubscriptionPosition)
        .where(SubscriptionPosition.subscription == subscription.name)
        .values(position=to_seq)
    )
