"""Reading the event log."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
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
        seq=record.seq,
        partition=record.partition,
    )


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
    query = select(EventRecord).where(EventRecord.seq > after)
    if types is not None:
        query = query.where(EventRecord.type.in_(types))
    if partitions is not None:
        query = query.where(EventRecord.partition.in_(partitions))
    if tenant_id is not None:
        query = query.where(EventRecord.tenant_id == tenant_id)
    if subject is not None:
        query = query.where(EventRecord.subject == subject)
    records: Sequence[EventRecord] = session.scalars(query.order_by(EventRecord.seq).limit(limit)).all()
    return [to_event(record) for record in records]


def head(session: Session) -> int:
    """Return the sequence number of the newest event, 0 for an empty log."""
    return session.scalar(select(func.coalesce(func.max(EventRecord.seq), 0))) or 0


def get_event(session: Session, event_id: str) -> Event | None:
    record = session.scalar(select(EventRecord).where(EventRecord.id == event_id))
    return None if record is None else to_event(record)
