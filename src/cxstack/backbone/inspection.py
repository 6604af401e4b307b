"""Looking into the backbone: the event log, subscriptions' progress and dead letters.

The queries behind ``cxstack events ...`` and the operations API. Every function takes ``tenant_id``:
a tenant's API passes its own; the operator's CLI passes ``None`` to see every tenant.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cxstack.backbone.delivery import RetryPolicy, retry_dead_letter
from cxstack.backbone.envelope import Event
from cxstack.backbone.log import get_event, head, read_events, to_event
from cxstack.backbone.models import EventRecord, ParkedDelivery, SubscriptionPosition
from cxstack.backbone.subscriptions import Subscription, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.inputs import MAX_INT64
from cxstack.kit.pagination import MAX_PAGE_SIZE, Page

# -- what the CLI and the API show ---------------------------------------------------------------


class CloudEventOut(BaseModel):
    """An event of the log as a structured-mode CloudEvents 1.0 object."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str
    dataschema: str
    tenant: str
    correlationid: str
    causationid: str | None = None
    actor: str | None = Field(
        default=None,
        description="Who made the change: user:<id>, api_key:<id>, cli:<name>, subscription:<name>...",
    )
    sequence: str = Field(description="The event's position in the log (its seq), as a string.")
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> CloudEventOut:
        return cls.model_validate(event.to_cloudevent())


class DeadLetterOut(BaseModel):
    """A delivery that failed every attempt and waits for an operator."""

    id: int
    subscription: str
    tenant_id: str
    event_id: str
    event_seq: int
    event_type: str
    subject: str
    attempts: int
    error: str = Field(description="The last line of the last error.")
    created_at: datetime
    dead_at: datetime


class DeadLetterDetail(DeadLetterOut):
    last_error: str = Field(description="The traceback of the last attempt.")
    event: CloudEventOut | None = Field(description="The event, as it is in the log.")


class RetryOutcome(BaseModel):
    """What retrying a dead letter did: it succeeded (and is gone) or failed again (and stays)."""

    dead_letter_id: int
    subscription: str
    tenant_id: str
    event_id: str
    succeeded: bool
    attempts: int
    error: str | None = Field(description="The traceback of the failed retry; null when it succeeded.")


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    name: str
    description: str
    types: frozenset[str]
    #: The lowest position over the log's partitions: everything up to it has been read.
    position: int
    head: int
    #: Events of the subscription's types it has not read yet.
    lag: int
    #: Deliveries waiting for a retry (or queued behind one of the same subject).
    parked: int
    dead: int


# -- the event log -------------------------------------------------------------------------------


def recent_events(
    session: Session,
    *,
    tenant_id: str | None,
    types: Collection[str] | None = None,
    subject: str | None = None,
    before: int | None = None,
    limit: int,
) -> list[Event]:
    """Return up to ``limit`` events, newest first (with ``seq < before`` when given), filtered as asked."""
    query = select(EventRecord)
    if tenant_id is not None:
        query = query.where(EventRecord.tenant_id == tenant_id)
    if types:
        query = query.where(EventRecord.type.in_(types))
    if subject is not None:
        query = query.where(EventRecord.subject == subject)
    if before is not None:
        query = query.where(EventRecord.seq < before)
    records = session.scalars(query.order_by(EventRecord.seq.desc()).limit(limit)).all()
    return [to_event(record) for record in records]


def events_after(
    session: Session,
    *,
    tenant_id: str | None,
    after: int,
    types: Collection[str] | None = None,
    subject: str | None = None,
    limit: int,
) -> list[Event]:
    """Return up to ``limit`` events with ``seq > after`` in log order, filtered as asked."""
    return read_events(
        session, after=after, limit=limit, types=types or None, tenant_id=tenant_id, subject=subject
    )


def _encode_event_cursor(direction: Literal["after", "before"], seq: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode().rstrip("=")


def _decode_event_cursor(cursor: str) -> tuple[Literal["after", "before"], int]:
    invalid = ValidationFailed("cursor is not valid; pass next_cursor from a previous page", field="cursor")
    try:
        value = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    direction, _, seq = value.partition(":")
    # isdigit() holds for other scripts' digits too; and a seq beyond 64 bits is no seq either.
    if not (seq.isascii() and seq.isdigit()) or int(seq) > MAX_INT64:
        raise invalid
    if direction == "after":
        return "after", int(seq)
    if direction == "before":
        return "before", int(seq)
    raise invalid


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")


def events_page(
    session: Session,
    *,
    tenant_id: str,
    types: Collection[str] | None = None,
    subject: str | None = None,
    after: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[CloudEventOut]:
    """Return one page of a tenant's events: newest first, or in log order after ``after`` (a seq).

    ``cursor`` (a previous page's ``next_cursor``) continues in that page's direction. Raises
    ValidationFailed for a bad limit or cursor.
    """
    _check_limit(limit)
    direction: Literal["after", "before"] = "after" if after is not None else "before"
    seq = after
    if cursor is not None:
        direction, seq = _decode_event_cursor(cursor)
    if direction == "after":
        events = events_after(
            session, tenant_id=tenant_id, after=seq or 0, types=types, subject=subject, limit=limit + 1
        )
    else:
        events = recent_events(
            session, tenant_id=tenant_id, types=types, subject=subject, before=seq, limit=limit + 1
        )
    has_more = len(events) > limit
    events = events[:limit]
    next_cursor = _encode_event_cursor(direction, events[-1].seq) if has_more and events else None
    return Page(items=[CloudEventOut.of(event) for event in events], next_cursor=next_cursor)


def count_events(
    session: Session, *, after: int = 0, types: Collection[str] | None = None, tenant_id: str | None = None
) -> int:
    """Return how many events with ``seq > after`` (of ``types`` when given) the log holds."""
    query = select(func.count()).select_from(EventRecord).where(EventRecord.seq > after)
    if types:
        query = query.where(EventRecord.type.in_(types))
    if tenant_id is not None:
        query = query.where(EventRecord.tenant_id == tenant_id)
    return session.scalar(query) or 0


# -- subscriptions -------------------------------------------------------------------------------


def subscription_statuses(
    session: Session, *, registry: SubscriptionRegistry, partitions: int
) -> list[SubscriptionStatus]:
    """Return each registered subscription's position, lag and parked and dead deliveries."""
    log_head = head(session)
    names = [subscription.name for subscription in registry]
    stored: dict[str, dict[int, int]] = {name: {} for name in names}
    for name, partition, position in session.execute(
        select(
            SubscriptionPosition.subscription, SubscriptionPosition.partition, SubscriptionPosition.position
        ).where(SubscriptionPosition.subscription.in_(names))
    ):
        stored[name][partition] = position
    parked: dict[tuple[str, bool], int] = {}
    for name, dead, count in session.execute(
        select(ParkedDelivery.subscription, ParkedDelivery.dead_at.is_not(None), func.count())
        .where(ParkedDelivery.subscription.in_(names))
        .group_by(ParkedDelivery.subscription, ParkedDelivery.dead_at.is_not(None))
    ):
        parked[(name, bool(dead))] = count
    statuses = []
    for subscription in registry:
        positions = stored[subscription.name]
        lowest = min((positions.get(partition, 0) for partition in range(partitions)), default=0)
        statuses.append(
            SubscriptionStatus(
                name=subscription.name,
                description=subscription.description,
                types=subscription.types,
                position=lowest,
                head=log_head,
                lag=_unread(session, subscription, lowest),
                parked=parked.get((subscription.name, False), 0),
                dead=parked.get((subscription.name, True), 0),
            )
        )
    return statuses


def _unread(session: Session, subscription: Subscription, lowest: int) -> int:
    position = SubscriptionPosition
    query = (
        select(func.count())
        .select_from(EventRecord)
        .outerjoin(
            position,
            and_(position.subscription == subscription.name, position.partition == EventRecord.partition),
        )
        .where(
            EventRecord.seq > lowest,
            EventRecord.type.in_(subscription.types),
            EventRecord.seq > func.coalesce(position.position, 0),
        )
    )
    return session.scalar(query) or 0


# -- dead letters --------------------------------------------------------------------------------


def _last_line(error: str) -> str:
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _dead_letter_out(row: ParkedDelivery) -> DeadLetterOut:
    assert row.dead_at is not None
    return DeadLetterOut(
        id=row.id,
        subscription=row.subscription,
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        event_seq=row.event_seq,
        event_type=row.event_type,
        subject=row.subject,
        attempts=row.attempts,
        error=_last_line(row.last_error),
        created_at=row.created_at,
        dead_at=row.dead_at,
    )


def _parse_id_cursor(cursor: str) -> int:
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_INT64:
        raise ValidationFailed("cursor is not valid; pass next_cursor from a previous page", field="cursor")
    return int(cursor)


def list_dead_letters(
    session: Session,
    *,
    tenant_id: str | None,
    subscription: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DeadLetterOut]:
    """Return one page of dead letters, oldest first; raises ValidationFailed for a bad limit or cursor."""
    _check_limit(limit)
    query = select(ParkedDelivery).where(ParkedDelivery.dead_at.is_not(None))
    if tenant_id is not None:
        query = query.where(ParkedDelivery.tenant_id == tenant_id)
    if subscription is not None:
        query = query.where(ParkedDelivery.subscription == subscription)
    if cursor is not None:
        query = query.where(ParkedDelivery.id > _parse_id_cursor(cursor))
    rows = list(session.scalars(query.order_by(ParkedDelivery.id).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[_dead_letter_out(row) for row in rows],
        next_cursor=str(rows[-1].id) if has_more and rows else None,
    )


def dead_letter_ids(session: Session, *, tenant_id: str | None, subscription: str | None = None) -> list[int]:
    """Return the ids of every dead letter, oldest first, filtered as asked."""
    query = select(ParkedDelivery.id).where(ParkedDelivery.dead_at.is_not(None))
    if tenant_id is not None:
        query = query.where(ParkedDelivery.tenant_id == tenant_id)
    if subscription is not None:
        query = query.where(ParkedDelivery.subscription == subscription)
    return list(session.scalars(query.order_by(ParkedDelivery.id)))


def _find_dead_letter(session: Session, *, tenant_id: str | None, dead_letter_id: int) -> ParkedDelivery:
    query = select(ParkedDelivery).where(
        ParkedDelivery.id == dead_letter_id, ParkedDelivery.dead_at.is_not(None)
    )
    if tenant_id is not None:
        query = query.where(ParkedDelivery.tenant_id == tenant_id)
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id} does not exist", field="dead_letter_id")
    return row


def get_dead_letter(session: Session, *, tenant_id: str | None, dead_letter_id: int) -> DeadLetterDetail:
    """Return a dead letter with its event and last traceback; raises NotFound (also for another
    tenant's)."""
    row = _find_dead_letter(session, tenant_id=tenant_id, dead_letter_id=dead_letter_id)
    event = get_event(session, row.event_id)
    return DeadLetterDetail(
        **_dead_letter_out(row).model_dump(),
        last_error=row.last_error,
        event=CloudEventOut.of(event) if event is not None else None,
    )


def retry_dead_letter_by_id(
    uow: UnitOfWork,
    *,
    registry: SubscriptionRegistry,
    policy: RetryPolicy,
    tenant_id: str | None,
    dead_letter_id: int,
) -> RetryOutcome:
    """Run a dead letter's handler once more now and return the outcome.

    On success the dead letter is gone; on failure it stays with the new error and one more attempt.
    Raises NotFound (also for another tenant's), Conflict when its subscription is not registered here.
    """
    row = _find_dead_letter(uow.session, tenant_id=tenant_id, dead_letter_id=dead_letter_id)
    try:
        subscription = registry.get(row.subscription)
    except KeyError:
        raise Conflict(
            f"dead letter {dead_letter_id} belongs to subscription {row.subscription!r}, "
            "which this process does not register",
            field="dead_letter_id",
        ) from None
    outcome = RetryOutcome(
        dead_letter_id=row.id,
        subscription=row.subscription,
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        succeeded=False,
        attempts=row.attempts,
        error=None,
    )
    if retry_dead_letter(uow, subscription=subscription, dead_letter_id=dead_letter_id, policy=policy):
        return outcome.model_copy(update={"succeeded": True, "attempts": outcome.attempts + 1})
    return outcome.model_copy(update={"attempts": row.attempts, "error": row.last_error})
