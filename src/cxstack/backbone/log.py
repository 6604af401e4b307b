"""Reading the event log."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cxstack.backbone.envelope import Event
from cxstack.backbone.models import EventRecord


def to_event(record: EventRecord) -> Event:
    return Event(
        id=record.id,
        type=record.type,
        source=record.source,
        subject=record.subject,
        time=record.time,
        tenant=record.tenant_id,
        data=record.data,
        dataschema=record.dataschema,
        correlationid=record.correlation_id,
        causationid=record.causation_id,
        actor=record.actor,
        seq=record.seq,
        partition=record.partition,
    )


#: The log's columns in the order ``_events_of`` unpacks them. Events are read as plain rows (SQLAlchemy Core)
#: rather than ORM objects: delivery reads thousands a second, and the ORM was most of its cost.
_COLUMNS = (
    EventRecord.seq,
    EventRecord.id,
    EventRecord.type,
    EventRecord.source,
    EventRecord.subject,
    EventRecord.time,
    EventRecord.tenant_id,
    EventRecord.data,
    EventRecord.dataschema,
    EventRecord.correlation_id,
    EventRecord.causation_id,
    EventRecord.actor,
    EventRecord.partition,
)


def _select_events() -> Select[Any]:
    return select(*_COLUMNS)


def _events_of(rows: Iterable[Any]) -> list[Event]:
    return [
        Event(
            id=id_,
            type=type_,
            source=source,
            subject=subject,
            time=time,
            tenant=tenant,
            data=data,
            dataschema=dataschema,
            correlationid=correlationid,
            causationid=causationid,
            actor=actor,
            seq=seq,
            partition=partition,
        )
        for (
            seq,
            id_,
            type_,
            source,
            subject,
            time,
            tenant,
            data,
            dataschema,
            correlationid,
            causationid,
            actor,
            partition,
        ) in rows
    ]


def read_events(
    session: Session,
    *,
    after: int,
    limit: int,
    types: Collection[str] | None = None,
    partitions: Collection[int] | None = None,
    tenant_id: str | None = None,
    subject: str | None = None,
) -> list[Event]:
    """Return up to ``limit`` events with ``seq > after`` in log order, filtered as asked."""
    query = _select_events().where(EventRecord.seq > after)
    if types is not None:
        query = query.where(EventRecord.type.in_(types))
    if partitions is not None:
        query = query.where(EventRecord.partition.in_(partitions))
    if tenant_id is not None:
        query = query.where(EventRecord.tenant_id == tenant_id)
    if subject is not None:
        query = query.where(EventRecord.subject == subject)
    return _events_of(session.connection().execute(query.order_by(EventRecord.seq).limit(limit)).all())


def head(session: Session) -> int:
    """Return the sequence number of the newest event, 0 for an empty log."""
    return session.scalar(select(func.coalesce(func.max(EventRecord.seq), 0))) or 0


def get_event(session: Session, event_id: str) -> Event | None:
    found = _events_of(session.connection().execute(_select_events().where(EventRecord.id == event_id)))
    return found[0] if found else None
