"""The timeline of a customer: writing projection rows from events and reading them back in order."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cxstack.backbone.envelope import Event
from cxstack.backbone.errors import ValidationFailed
from cxstack.backbone.pagination import MAX_PAGE_SIZE, Page
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.timeline.models import TimelineEntry
from cxstack.records.timeline.schemas import EntryFacts, TimelineEntryOut

SUMMARY_LENGTH = 500
#: Built once: the projection writes one entry for nearly every event, so statement building adds up.
_ENTRIES = cast(Table, TimelineEntry.__table__)
_INSERT_ENTRY = {
    "postgresql": postgresql.insert(_ENTRIES).on_conflict_do_nothing(index_elements=["event_id"]),
    "sqlite": sqlite.insert(_ENTRIES).on_conflict_do_nothing(index_elements=["event_id"]),
}


def record_entry(uow: UnitOfWork, *, event: Event, facts: EntryFacts) -> None:
    """Add the timeline entry of ``event``; an event already recorded is left as it is."""
    dialect = uow.session.get_bind().dialect.name
    uow.session.execute(
        _INSERT_ENTRY["postgresql" if dialect == "postgresql" else "sqlite"],
        [
            {
                "tenant_id": event.tenant,
                "customer_id": facts.customer_id,
                "occurred_at": facts.occurred_at,
                "event_seq": event.seq,
                "event_id": event.id,
                "kind": event.type,
                "channel": facts.channel,
                "conversation_id": facts.conversation_id,
                "summary": facts.summary[:SUMMARY_LENGTH],
                "ref_id": facts.ref_id,
            }
        ],
    )


def move_conversation_entries(
    uow: UnitOfWork, *, tenant_id: str, conversation_id: str, customer_id: str
) -> int:
    """Give every entry of a conversation to another customer; return how many moved."""
    result = uow.session.execute(
        update(TimelineEntry)
        .where(TimelineEntry.tenant_id == tenant_id, TimelineEntry.conversation_id == conversation_id)
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def clear_timeline(uow: UnitOfWork) -> None:
    """Drop every entry of every tenant (before a replay rebuilds them)."""
    uow.session.execute(delete(TimelineEntry))


def _encode_cursor(entry: TimelineEntry) -> str:
    raw = f"{entry.occurred_at.isoformat()}|{entry.event_seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        at, _, seq = raw.partition("|")
        occurred_at = datetime.fromisoformat(at)
        if occurred_at.tzinfo is None:
            raise ValueError("naive time")
        return occurred_at, int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(
            "cursor is not valid; pass next_cursor from a previous page", field="cursor"
        ) from None


def customer_timeline(
    session: Session,
    *,
    tenant_id: str,
    customer_id: str,
    cursor: str | None,
    limit: int,
    channel: str | None = None,
    newest_first: bool = False,
) -> Page[TimelineEntryOut]:
    """Return a page of a customer's timeline in the order things happened (or the reverse).

    Raises NotFound for an unknown customer, ValidationFailed for a bad cursor or limit.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    CustomerRepository(session, tenant_id).get(customer_id)
    query = select(TimelineEntry).where(
        TimelineEntry.tenant_id == tenant_id, TimelineEntry.customer_id == customer_id
    )
    if channel is not None:
        query = query.where(TimelineEntry.channel == channel)
    if cursor is not None:
        at, seq = _decode_cursor(cursor)
        if newest_first:
            query = query.where(
                or_(
                    TimelineEntry.occurred_at < at,
                    and_(TimelineEntry.occurred_at == at, TimelineEntry.event_seq < seq),
                )
            )
        else:
            query = query.where(
                or_(
                    TimelineEntry.occurred_at > at,
                    and_(TimelineEntry.occurred_at == at, TimelineEntry.event_seq > seq),
                )
            )
    if newest_first:
        query = query.order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.event_seq.desc())
    else:
        query = query.order_by(TimelineEntry.occurred_at, TimelineEntry.event_seq)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(items=[TimelineEntryOut.model_validate(row) for row in rows[:limit]], next_cursor=next_cursor)
