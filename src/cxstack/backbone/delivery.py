"""Delivering log events to a subscription, inside one unit of work.

A subscription reads each log partition from its stored position. Handled event ids are recorded in the
same transaction as the handler's effects, so a redelivered event is skipped. A handler that raises has
its effects rolled back and the event parked for a retry with exponential backoff; later events of the same
subject queue behind it, so one subject's events reach the handler in order. After the last attempt the
event is dead-lettered and the queue behind it moves on.
"""

from __future__ import annotations

import traceback
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import orjson
import structlog
from sqlalchemy import String, Table, bindparam, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cxstack.backbone.envelope import Event
from cxstack.backbone.log import get_event, read_events
from cxstack.backbone.models import EventRecord, ParkedDelivery, ProcessedEvent, SubscriptionPosition
from cxstack.backbone.subscriptions import Subscription, sharing_payloads
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import NotFound

log = structlog.get_logger("cxstack.bus")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 300.0

    def delay_after(self, attempts: int) -> timedelta:
        """Return how long to wait before the attempt after ``attempts`` failed ones."""
        return timedelta(seconds=min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempts - 1)))


def _caused_by(uow: UnitOfWork, subscription: Subscription, event: Event) -> Context:
    return Context(
        correlation_id=event.correlationid,
        causation_id=event.id,
        actor=f"subscription:{subscription.name}",
        source=uow.context.source,
    )


def _child(uow: UnitOfWork, context: Context) -> UnitOfWork:
    return UnitOfWork(
        uow.session, catalog=uow.catalog, clock=uow.clock, context=context, partitions=uow.partitions
    )


def _handle(child: UnitOfWork, subscription: Subscription, event: Event) -> None:
    """Run the handler on ``event`` with ``child`` acting for it, and append what it published.

    ``child`` is one unit of work of the caller's savepoint, given each event's cause in turn; the caller
    adds ``child.appended`` to its own once that savepoint is released, so the events of a rolled-back
    savepoint are never reported as written.
    """
    child.context = Context(
        correlation_id=event.correlationid,
        causation_id=event.id,
        actor=child.context.actor,
        source=child.context.source,
    )
    subscription.handler(child, event)
    child.flush_events()


def _handle_batch(uow: UnitOfWork, subscription: Subscription, events: Sequence[Event]) -> list[Event]:
    """Run the batch handler on ``events``; return what it published, appended (as ``_handle``)."""
    assert subscription.batch_handler is not None
    batch = _child(uow, uow.context)
    subscription.batch_handler(
        [(batch.acting_for(_caused_by(uow, subscription, event)), event) for event in events]
    )
    batch.flush_events()
    return batch.appended


def _handle_together(
    uow: UnitOfWork, subscription: Subscription, events: Sequence[Event], marks: list[Event] | None = None
) -> tuple[int, Exception] | None:
    """Handle ``events`` in order in one savepoint and mark them processed.

    Returns None when all succeeded; else the index of the event whose handler raised and its error, with
    the savepoint (every event's effects) rolled back. With ``marks``, the handled events are added to it
    for the caller to record as processed (a delivery round records every subscription's in one statement,
    in the same transaction) instead of being recorded here.
    """
    if not events:
        return None
    if subscription.batch_handler is not None and len(events) > 1:
        try:
            with uow.session.begin_nested():
                appended = _handle_batch(uow, subscription, events)
                if marks is None:
                    _mark_processed(uow, subscription, events)
        except Exception:
            pass  # handled one at a time below, which finds the event that fails
        else:
            uow.appended.extend(appended)
            if marks is not None:
                marks.extend(events)
            return None
    child = _child(uow, _caused_by(uow, subscription, events[0]))
    index = 0  # of the event being handled, when a handler raises
    try:
        with uow.session.begin_nested():
            for event in events:
                _handle(child, subscription, event)
                index += 1
            if marks is None:
                _mark_processed(uow, subscription, events)
    except Exception as error:
        if index == len(events):
            raise  # not a handler's failure
        return index, error
    uow.appended.extend(child.appended)
    if marks is not None:
        marks.extend(events)
    return None


def _deliver_in_order(
    uow: UnitOfWork,
    subscription: Subscription,
    events: Sequence[Event],
    *,
    waiting: set[str],
    policy: RetryPolicy,
    marks: list[Event] | None = None,
) -> None:
    """Deliver ``events`` (in log order) in as few savepoints as their handlers' failures allow.

    A failed event is parked for a retry, having made one attempt; the later events of its subject, and of
    every subject in ``waiting`` (those with a delivery parked already), queue behind it. Each handler runs
    once per event, except the events before a failure in the same savepoint: their effects rolled back with
    it, so they run again. ``marks``: as for ``_handle_together``.
    """
    rest = list(events)
    while rest:
        ready: list[Event] = []
        for event in rest:
            if event.subject in waiting:
                _park(uow, subscription, event, policy=policy, error=None)
            else:
                ready.append(event)
        failure = _handle_together(uow, subscription, ready, marks)
        if failure is None:
            return
        index, error = failure
        failed = ready[index]
        _deliver_in_order(uow, subscription, ready[:index], waiting=waiting, policy=policy, marks=marks)
        # Should an earlier event of its subject have failed on its second run, it queues behind that one.
        queued = failed.subject in waiting
        _park(uow, subscription, failed, policy=policy, error=None if queued else error)
        waiting.add(failed.subject)
        rest = ready[index + 1 :]


def _processed(uow: UnitOfWork, subscription: Subscription, event_id: str) -> bool:
    found = uow.session.scalar(
        select(ProcessedEvent.event_id).where(
            ProcessedEvent.subscription == subscription.name, ProcessedEvent.event_id == event_id
        )
    )
    return found is not None


def _mark_processed(uow: UnitOfWork, subscription: Subscription, events: Sequence[Event]) -> None:
    if not events:
        return
    # One INSERT ... SELECT rather than a row each: far fewer parameters to bind per event.
    processed = cast(Table, ProcessedEvent.__table__)
    uow.session.connection().execute(
        insert(processed).from_select(
            ["subscription", "event_id", "event_seq", "processed_at"],
            select(
                literal(subscription.name, String()),
                EventRecord.id,
                EventRecord.seq,
                literal(uow.clock.now(), processed.c.processed_at.type),
            ).where(EventRecord.id.in_([event.id for event in events])),
        )
    )


def prune_processed(uow: UnitOfWork, *, subscription: Subscription, processed_before: datetime) -> int:
    """Forget the handled ids, recorded before ``processed_before``, of events every partition of
    ``subscription`` has read past; return how many.

    Delivery reads only events after a partition's position, a retry runs only a parked event (not yet
    recorded as handled), and a replay starts afresh: an id at or below every position is never asked
    about again.
    """
    rows, floor = uow.session.execute(
        select(func.count(), func.min(SubscriptionPosition.position)).where(
            SubscriptionPosition.subscription == subscription.name
        )
    ).one()
    if rows < uow.partitions or not floor:
        return 0  # a partition not read yet: it may be before any of them
    pruned = uow.session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.subscription == subscription.name,
            ProcessedEvent.event_seq <= floor,
            ProcessedEvent.processed_at < processed_before,
        )
    )
    return int(getattr(pruned, "rowcount", 0) or 0)


def _error_text(error: BaseException) -> str:
    """The failure as it is kept with a parked delivery: its traceback's end, with U+0000 (which
    PostgreSQL cannot store in text) written as ``\\x00``."""
    return "".join(traceback.format_exception(error))[-4000:].replace("\x00", "\\x00")


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
    uow: UnitOfWork, subscription: Subscription, partitions: Collection[int], owner: str | None = None
) -> dict[int, SubscriptionPosition]:
    """Return the position rows of ``partitions``, on PostgreSQL locked until commit; with ``owner``, only
    the rows it owns (their rows are created by the leases, see ``cxstack.backbone.leases``).

    The lock makes a lease take-over wait for this transaction, and the ``owner`` check makes a worker whose
    lease was taken over skip the partition, so no partition is delivered by two workers.
    """
    query = select(SubscriptionPosition).where(
        SubscriptionPosition.subscription == subscription.name,
        SubscriptionPosition.partition.in_(partitions),
    )
    if owner is not None:
        # Locked in key order, as the lease renewal locks them, so the two never deadlock.
        owned = uow.session.scalars(
            query.where(SubscriptionPosition.owner == owner)
            .order_by(SubscriptionPosition.partition)
            .with_for_update(of=SubscriptionPosition)
        ).all()
        return {row.partition: row for row in owned}
    if _locks_positions(uow):
        # Rounds of one subscription that run at once (a drain beside the bus's own task, or two
        # processes) take turns, instead of handling the same events twice.
        locked = query.order_by(SubscriptionPosition.partition).with_for_update(of=SubscriptionPosition)
        found = {row.partition: row for row in uow.session.scalars(locked)}
        missing = [partition for partition in partitions if partition not in found]
        if missing:
            uow.session.execute(
                pg_insert(SubscriptionPosition)
                .values([{"subscription": subscription.name, "partition": p, "position": 0} for p in missing])
                .on_conflict_do_nothing()
            )
            found = {row.partition: row for row in uow.session.scalars(locked)}
        return found
    rows = uow.session.scalars(query).all()
    found = {row.partition: row for row in rows}
    for partition in partitions:
        if partition not in found:
            row = SubscriptionPosition(subscription=subscription.name, partition=partition, position=0)
            uow.session.add(row)
            found[partition] = row
    return found


def _locks_positions(uow: UnitOfWork) -> bool:
    return uow.session.get_bind().dialect.name == "postgresql"


@dataclass(slots=True)
class _Reader:
    """One subscription's part in a delivery round: the positions it may advance, and what it collected."""

    subscription: Subscription
    #: Partition to position, of the partitions this round delivers (on PostgreSQL, locked).
    positions: dict[int, int]
    #: Subjects with a live parked delivery: later events of theirs queue behind it.
    waiting: set[str]
    #: Events handled this round, recorded as processed when the round ends.
    marks: list[Event]
    #: The sequence number every partition of ``positions`` has been read up to this round (0: none).
    read_to: int = 0

    @property
    def after(self) -> int:
        return min(self.positions.values())


def _unlocked_positions(
    uow: UnitOfWork, wanted: Sequence[tuple[Subscription, Collection[int]]]
) -> dict[str, dict[int, int]]:
    rows = uow.session.execute(
        select(
            SubscriptionPosition.subscription, SubscriptionPosition.partition, SubscriptionPosition.position
        ).where(
            SubscriptionPosition.subscription.in_([subscription.name for subscription, _ in wanted]),
            SubscriptionPosition.partition.in_(_union(partitions for _, partitions in wanted)),
        )
    )
    found: dict[str, dict[int, int]] = {}
    for name, partition, position in rows:
        found.setdefault(name, {})[partition] = position
    return found


def _union(sets: Iterable[Collection[int]]) -> list[int]:
    merged: set[int] = set()
    for partitions in sets:
        merged.update(partitions)
    return sorted(merged)


def _nothing_to_read(uow: UnitOfWork, wanted: Sequence[tuple[Subscription, Collection[int]]]) -> bool:
    """Look, without locking, whether the partitions of ``wanted`` surely hold no unread event (most
    wake-ups find none, and taking the row locks is a write that costs a commit flush)."""
    found = _unlocked_positions(uow, wanted)
    after: int | None = None
    for subscription, partitions in wanted:
        positions = found.get(subscription.name, {})
        if any(partition not in positions for partition in partitions):
            return False  # a partition without a position row yet: not sure
        lowest = min(positions[partition] for partition in partitions)
        after = lowest if after is None else min(after, lowest)
    types = set().union(*(subscription.types for subscription, _ in wanted))
    unread = read_events(
        uow.session,
        after=after or 0,
        limit=1,
        types=types,
        partitions=_union(partitions for _, partitions in wanted),
    )
    return not unread


def _round_positions(
    uow: UnitOfWork, wanted: Sequence[tuple[Subscription, Collection[int]]], owner: str | None
) -> dict[str, dict[int, int]]:
    """Return every subscription's positions in its partitions of ``wanted``, on PostgreSQL locked until
    commit, in key order; with ``owner``, only the rows it owns (their rows are created by the leases, see
    ``cxstack.backbone.leases``); else a partition without a row gets one at 0.

    The lock makes a lease take-over wait for this transaction, and the ``owner`` check makes a worker whose
    lease was taken over skip the partition, so no partition is delivered by two workers. Rounds that run at
    once (a drain beside the bus's own task, or two processes) take turns instead of handling the same
    events twice. Rows are locked in (subscription, partition) order, as the lease renewal locks them, so
    the two never deadlock.
    """
    position = SubscriptionPosition
    query = (
        select(position.subscription, position.partition, position.position)
        .where(
            position.subscription.in_([subscription.name for subscription, _ in wanted]),
            position.partition.in_(_union(partitions for _, partitions in wanted)),
        )
        .order_by(position.subscription, position.partition)
    )
    locks = owner is not None or _locks_positions(uow)
    if owner is not None:
        query = query.where(position.owner == owner)
    if locks:
        query = query.with_for_update(of=position)

    def load() -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        for name, partition, at in uow.session.execute(query):
            found.setdefault(name, {})[partition] = at
        return found

    found = load()
    if owner is not None:
        return found
    missing: list[dict[str, str | int]] = [
        {"subscription": subscription.name, "partition": partition, "position": 0}
        for subscription, partitions in wanted
        for partition in partitions
        if partition not in found.get(subscription.name, {})
    ]
    if missing:
        if locks:
            uow.session.execute(pg_insert(position).values(missing).on_conflict_do_nothing())
            found = load()
        else:
            uow.session.execute(insert(position), missing)
            for row in missing:
                found.setdefault(str(row["subscription"]), {})[int(row["partition"])] = 0
    return found


def _record_processed(uow: UnitOfWork, readers: Sequence[_Reader]) -> None:
    """Record the events every reader handled this round as processed, in one statement.

    The rows travel as one JSON parameter: binding thousands of parameters one by one cost more than
    writing them.
    """
    rows = [(reader.subscription.name, event.id, event.seq) for reader in readers for event in reader.marks]
    if not rows:
        return
    processed_at = bindparam("now", uow.clock.now(), type_=ProcessedEvent.__table__.c.processed_at.type)
    if uow.session.get_bind().dialect.name == "postgresql":
        source = (
            "SELECT r->>0, r->>1, (r->>2)::bigint, :now FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r"
        )
    else:
        source = (
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
            " json_extract(value, '$[2]'), :now FROM json_each(:rows)"
        )
    columns = "subscription, event_id, event_seq, processed_at"
    statement = text(f"INSERT INTO {ProcessedEvent.__tablename__} ({columns}) {source}").bindparams(
        processed_at, bindparam("rows", orjson.dumps(rows).decode())
    )
    uow.session.execute(statement)


def _advance_positions(uow: UnitOfWork, readers: Sequence[_Reader]) -> None:
    """Move every reader's partitions up to what it read this round, in one statement per distinct
    (read-to, partitions) pair: usually one for the whole round."""
    by_target: dict[tuple[int, frozenset[int]], list[str]] = {}
    for reader in readers:
        if reader.read_to:
            key = (reader.read_to, frozenset(reader.positions))
            by_target.setdefault(key, []).append(reader.subscription.name)
    position = SubscriptionPosition
    for (read_to, partitions), names in by_target.items():
        uow.session.execute(
            update(position)
            .where(
                position.subscription.in_(names),
                position.partition.in_(sorted(partitions)),
                position.position < read_to,
            )
            .values(position=read_to)
            .execution_options(synchronize_session=False)
        )


def deliver_round(
    uow: UnitOfWork,
    *,
    subscriptions: Sequence[tuple[Subscription, Collection[int]]],
    batch_size: int,
    policy: RetryPolicy,
    owner: str | None = None,
) -> int:
    """Deliver the next unread events of each (subscription, its partitions); return how many events were
    read from the log.

    The log is read once for all of them: from the lowest position of those near it, up to ``batch_size``
    events of any of their types and partitions, and each subscription takes what it has not read yet of
    its own types and partitions. A subscription far behind the others (one added later, a replay) is read
    for in a batch of its own, so it neither holds back nor slows the others. Each subscription keeps its
    own positions, handled ids, parked deliveries and per-subject order; a handler that fails is parked
    (see ``_deliver_in_order``) and the others go on. What the round handled is recorded as processed in one
    statement, and the positions advance in one, in the transaction of the handlers' effects.

    With ``owner`` (a worker holding partition leases), only the partitions it still owns are delivered.
    An event's payload is decoded once for all the subscriptions that handle it (``sharing_payloads``).
    """
    with sharing_payloads():
        return _deliver_round(
            uow, subscriptions=subscriptions, batch_size=batch_size, policy=policy, owner=owner
        )


def _deliver_round(
    uow: UnitOfWork,
    *,
    subscriptions: Sequence[tuple[Subscription, Collection[int]]],
    batch_size: int,
    policy: RetryPolicy,
    owner: str | None,
) -> int:
    wanted = [(subscription, partitions) for subscription, partitions in subscriptions if partitions]
    if not wanted:
        return 0
    session = uow.session
    if (owner is not None or _locks_positions(uow)) and _nothing_to_read(uow, wanted):
        return 0
    found = _round_positions(uow, wanted, owner)
    readers: list[_Reader] = []
    for subscription, partitions in wanted:
        mine = found.get(subscription.name, {})
        positions = {partition: mine[partition] for partition in partitions if partition in mine}
        if positions:
            readers.append(_Reader(subscription, positions, set(), []))
    if not readers:
        return 0
    names = [reader.subscription.name for reader in readers]
    by_name = {reader.subscription.name: reader for reader in readers}
    for name, subject in session.execute(
        select(ParkedDelivery.subscription, ParkedDelivery.subject)
        .where(ParkedDelivery.subscription.in_(names), ParkedDelivery.dead_at.is_(None))
        .distinct()
    ):
        by_name[name].waiting.add(subject)

    read_total = 0
    pending = sorted(readers, key=lambda reader: reader.after)
    while pending:
        lead = pending[0].after
        types = set().union(*(reader.subscription.types for reader in pending))
        read = read_events(
            session,
            after=lead,
            limit=batch_size,
            types=types,
            partitions=_union(reader.positions for reader in pending),
        )
        if not read:
            break
        read_total += len(read)
        last = read[-1].seq
        # Those already past this batch wait for the next one (when the batch was full: else there is none).
        group = [reader for reader in pending if reader.after < last]
        pending = [reader for reader in pending if reader.after >= last] if len(read) >= batch_size else []
        handled = set(
            session.execute(
                select(ProcessedEvent.subscription, ProcessedEvent.event_id).where(
                    ProcessedEvent.subscription.in_([reader.subscription.name for reader in group]),
                    ProcessedEvent.event_seq > lead,
                    ProcessedEvent.event_seq <= last,
                )
            ).all()
        )
        for reader in group:
            name, types_of, positions = reader.subscription.name, reader.subscription.types, reader.positions
            events = [
                event
                for event in read
                if event.type in types_of
                and event.seq > positions.get(event.partition, last)
                and (name, event.id) not in handled
            ]
            if events and len(readers) == 1:
                # Alone in its round: a failure fails the round, which is this subscription's alone.
                _deliver_in_order(
                    uow,
                    reader.subscription,
                    events,
                    waiting=reader.waiting,
                    policy=policy,
                    marks=reader.marks,
                )
            elif events:
                appended, marked = len(uow.appended), len(reader.marks)
                try:
                    with session.begin_nested():
                        # The common case: every handler succeeds, so the batch costs one savepoint more.
                        _deliver_in_order(
                            uow,
                            reader.subscription,
                            events,
                            waiting=reader.waiting,
                            policy=policy,
                            marks=reader.marks,
                        )
                except Exception:
                    # Not a handler's failure (those are parked): this subscription's part of the round is
                    # undone, to be read again next round, and the others' part goes on.
                    log.exception("delivery failed", subscription=name)
                    del uow.appended[appended:]
                    del reader.marks[marked:]
                    continue
            # Every partition of the reader has been read up to the last event of this batch.
            reader.read_to = last
    _record_processed(uow, readers)
    _advance_positions(uow, readers)
    return read_total


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
    failure: tuple[int, Exception] | None = None
    # Handled meanwhile by another delivery of the same subscription: done, without running it twice.
    if not _processed(uow, subscription, event.id):
        try:
            failure = _handle_together(uow, subscription, [event])
        except Exception as marking_failed:  # recording it as processed failed
            failure = (0, marking_failed)
    if failure is not None:
        parked.attempts += 1
        parked.last_error = _error_text(failure[1])
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


def _due(
    uow: UnitOfWork, subscription: Subscription, partitions: Collection[int], *, limit: int
) -> Sequence[ParkedDelivery]:
    return uow.session.scalars(
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


def with_due_retries(uow: UnitOfWork, names: Collection[str]) -> set[str]:
    """Return which of the subscriptions ``names`` have a parked delivery due now (one look for a round)."""
    if not names:
        return set()
    return set(
        uow.session.scalars(
            select(ParkedDelivery.subscription)
            .where(
                ParkedDelivery.subscription.in_(list(names)),
                ParkedDelivery.dead_at.is_(None),
                ParkedDelivery.blocked.is_(False),
                ParkedDelivery.next_attempt_at <= uow.clock.now(),
            )
            .distinct()
        )
    )


def retry_due_deliveries(
    uow: UnitOfWork,
    *,
    subscription: Subscription,
    partitions: Collection[int],
    policy: RetryPolicy,
    limit: int = 100,
    owner: str | None = None,
) -> int:
    """Attempt parked deliveries whose time has come; return how many were attempted.

    With ``owner``, only in the partitions it still owns (see ``deliver_round``).
    """
    if owner is not None or _locks_positions(uow):
        # Look before locking, as in deliver_round: usually nothing is due.
        if not _due(uow, subscription, partitions, limit=1):
            return 0
        partitions = list(_positions(uow, subscription, partitions, owner))
        if not partitions:
            return 0
    due = _due(uow, subscription, partitions, limit=limit)
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

    Drops its projection first (its ``reset`` hook), its processed ids and its parked deliveries. The
    projection is dropped whole, so a replay that should rebuild it starts from 0.
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
    # A subscription that never ran has no position rows yet; create them so it starts at ``to_seq``.
    existing = set(
        session.scalars(
            select(SubscriptionPosition.partition).where(
                SubscriptionPosition.subscription == subscription.name
            )
        )
    )
    for partition in range(uow.partitions):
        if partition not in existing:
            session.add(
                SubscriptionPosition(subscription=subscription.name, partition=partition, position=to_seq)
            )
    session.flush()
