"""The timeline of a customer: writing projection rows from events and reading them back in order."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, and_, bindparam, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cxstack.backbone.envelope import Event
from cxstack.backbone.prepared import Document, PreparedRead, Rows, session_rows
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.orm import UTCDateTime
from cxstack.kit.pagination import MAX_PAGE_SIZE, Page
from cxstack.records.conversations import service as conversations
from cxstack.records.customers.service import require_customer
from cxstack.records.timeline.models import TimelineEntry, TimelineMerge
from cxstack.records.timeline.schemas import EntryFacts, TimelineEntryOut

SUMMARY_LENGTH = 500
#: Entries about a case: they move with the case (``case.updated``), as conversation entries move with
#: their conversation (``conversation.updated``).
CASE_KINDS = frozenset({"case.created", "case.status_changed"})
#: Ids per statement when moving entries by id (well under every driver's limit on bound parameters).
_CHUNK = 500
#: The first half of the two-part advisory lock keys on a tenant's merges (see ``_hold_merges``).
MERGES_LOCK_SPACE = 0x746D6C6E  # "tmln"
#: Built once: the projection writes one entry for nearly every event, so statement building adds up.
_ENTRIES = cast(Table, TimelineEntry.__table__)
_INSERT_ENTRY = {
    "postgresql": postgresql.insert(_ENTRIES).on_conflict_do_nothing(index_elements=["event_id"]),
    "sqlite": sqlite.insert(_ENTRIES).on_conflict_do_nothing(index_elements=["event_id"]),
}


def follows_a_record(kind: str, conversation_id: str | None) -> bool:
    """Whether an entry's customer is set by its conversation's or case's own events (else by merges)."""
    return conversation_id is not None or kind in CASE_KINDS


def record_entry(uow: UnitOfWork, *, event: Event, facts: EntryFacts) -> None:
    """Add the timeline entry of ``event``; an event already recorded is left as it is.

    An entry outside conversations and cases goes to the customer that the merges seen so far put it
    with: one handled after the merge of its customer lands on the merge's target.
    """
    record_entries(uow, [(event, facts)])


def record_entries(uow: UnitOfWork, entries: Sequence[tuple[Event, EntryFacts]]) -> None:
    """Add the entries of ``entries`` in one statement, each placed as ``record_entry`` places it: the
    merges that may carry those outside conversations and cases are read once per tenant for all of
    them. Nothing between them may change the merges (the caller ends a run at a merge's event)."""
    placed: list[dict[str, object]] = []
    through_merges: dict[str, list[tuple[Event, EntryFacts]]] = {}
    for event, facts in entries:
        if follows_a_record(event.type, facts.conversation_id):
            placed.append(_entry_row(event, facts, customer_id=facts.customer_id, owner_seq=event.seq))
        else:
            through_merges.setdefault(event.tenant, []).append((event, facts))
    for tenant_id, theirs in through_merges.items():
        _hold_merges(uow, tenant_id=tenant_id, exclusive=False)
        merges = _merges_from(
            uow.session, tenant_id=tenant_id, customer_ids={facts.customer_id for _, facts in theirs}
        )
        by_source = _by_source(merges)
        for event, facts in theirs:
            customer_id, owner_seq = facts.customer_id, event.seq
            if by_source:
                customer_id, owner_seq = _owner(
                    by_source,
                    origin_customer_id=facts.customer_id,
                    seq=event.seq,
                    kind=event.type,
                    ref_id=facts.ref_id,
                )
            placed.append(_entry_row(event, facts, customer_id=customer_id, owner_seq=owner_seq))
    _insert_entries(uow, placed)


def _entry_row(event: Event, facts: EntryFacts, *, customer_id: str, owner_seq: int) -> dict[str, object]:
    return {
        "tenant_id": event.tenant,
        "customer_id": customer_id,
        "origin_customer_id": facts.customer_id,
        "owner_seq": owner_seq,
        "occurred_at": facts.occurred_at,
        "event_seq": event.seq,
        "event_id": event.id,
        "kind": event.type,
        "channel": facts.channel,
        "conversation_id": facts.conversation_id,
        "summary": facts.summary[:SUMMARY_LENGTH],
        "ref_id": facts.ref_id,
    }


def _insert_entries(uow: UnitOfWork, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    dialect = uow.session.get_bind().dialect.name
    uow.session.execute(_INSERT_ENTRY["postgresql" if dialect == "postgresql" else "sqlite"], rows)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def move_conversation_entries(
    uow: UnitOfWork, *, tenant_id: str, conversation_id: str, customer_id: str, seq: int
) -> int:
    """Give the entries of a conversation to another customer, as of the event at log position ``seq``;
    entries already placed by a later event stay. Return how many moved."""
    return _move_record_entries(
        uow,
        TimelineEntry.conversation_id.in_([conversation_id]),
        tenant_id=tenant_id,
        customer_id=customer_id,
        seq=seq,
    )


def move_case_entries(uow: UnitOfWork, *, tenant_id: str, case_id: str, customer_id: str, seq: int) -> int:
    """Give the entries of a case to another customer, as of the event at log position ``seq``; entries
    already placed by a later event stay. Return how many moved."""
    return _move_record_entries(
        uow, _case_entries([case_id]), tenant_id=tenant_id, customer_id=customer_id, seq=seq
    )


def _case_entries(case_ids: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        TimelineEntry.conversation_id.is_(None),
        TimelineEntry.kind.in_(sorted(CASE_KINDS)),
        TimelineEntry.ref_id.in_(case_ids),
    )


def _move_record_entries(
    uow: UnitOfWork, which: ColumnElement[bool], *, tenant_id: str, customer_id: str, seq: int
) -> int:
    result = uow.session.execute(
        update(TimelineEntry)
        .where(TimelineEntry.tenant_id == tenant_id, which, TimelineEntry.owner_seq < seq)
        .values(customer_id=customer_id, owner_seq=seq)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def delete_note_entries(uow: UnitOfWork, *, tenant_id: str, note_id: str) -> int:
    """Remove the entry of a deleted note (its body is no longer shown); return how many went."""
    result = uow.session.execute(
        delete(TimelineEntry)
        .where(
            TimelineEntry.tenant_id == tenant_id,
            TimelineEntry.conversation_id.is_(None),
            TimelineEntry.ref_id == note_id,
            TimelineEntry.kind == "note.added",
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


# -- merges ----------------------------------------------------------------------------------------


def _hold_merges(uow: UnitOfWork, *, tenant_id: str, exclusive: bool) -> None:
    """Hold the tenant's merges until this transaction ends: shared to place a new entry through them,
    exclusive to change them and place the entries they reach.

    Without it, on PostgreSQL an entry written by one worker while another handles its customer's merge
    could miss the merge, and the merge miss the entry: both read before the other committed. The
    embedded driver needs nothing: its single writer runs transactions one after another.
    """
    if uow.session.get_bind().dialect.name != "postgresql":
        return
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    uow.session.execute(
        text(f"SELECT {lock}(:space, hashtext(:tenant))"), {"space": MERGES_LOCK_SPACE, "tenant": tenant_id}
    )


def merge_customer_entries(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    merge_id: str,
    source_customer_id: str,
    target_customer_id: str,
    moved: dict[str, list[str]],
    seq: int,
) -> None:
    """Show the source customer's entries on the target's timeline (``customer.merged`` at ``seq``).

    The conversations and cases the merge moved take their entries along; the source's other entries
    (its creation, identities, notes) follow it to the target. Handling it again changes nothing.
    """
    _hold_merges(uow, tenant_id=tenant_id, exclusive=True)
    merge = _merge_row(uow, tenant_id, merge_id, source_customer_id, target_customer_id)
    merge.merged_seq = seq
    merge.moved = {kind: list(ids) for kind, ids in moved.items()}
    _move_records(uow, tenant_id=tenant_id, ids=moved, customer_id=target_customer_id, seq=seq)
    _place_customer_entries(uow, tenant_id=tenant_id, customer_id=source_customer_id)


def unmerge_customer_entries(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    merge_id: str,
    source_customer_id: str,
    target_customer_id: str,
    moved_back: dict[str, list[str]],
    seq: int,
) -> None:
    """Undo ``merge_customer_entries`` (``customer.unmerged`` at ``seq``): what the merge brought goes
    back to the source, except the identities and notes the undo left with the target.

    The conversations and cases moved back take their entries along. Handling it again changes nothing.
    """
    _hold_merges(uow, tenant_id=tenant_id, exclusive=True)
    merge = _merge_row(uow, tenant_id, merge_id, source_customer_id, target_customer_id)
    merge.unmerged_seq = seq
    merge.moved_back = {kind: list(ids) for kind, ids in moved_back.items()}
    _move_records(uow, tenant_id=tenant_id, ids=moved_back, customer_id=source_customer_id, seq=seq)
    _place_customer_entries(uow, tenant_id=tenant_id, customer_id=source_customer_id)


def _merge_row(
    uow: UnitOfWork, tenant_id: str, merge_id: str, source_customer_id: str, target_customer_id: str
) -> TimelineMerge:
    merge = uow.session.get(TimelineMerge, merge_id)
    if merge is None:
        merge = TimelineMerge(
            merge_id=merge_id,
            tenant_id=tenant_id,
            source_customer_id=source_customer_id,
            target_customer_id=target_customer_id,
            merged_seq=None,
            unmerged_seq=None,
            moved={},
            moved_back={},
        )
        uow.session.add(merge)
    return merge


def _move_records(
    uow: UnitOfWork, *, tenant_id: str, ids: dict[str, list[str]], customer_id: str, seq: int
) -> None:
    conversations, cases = ids.get("conversations", []), ids.get("cases", [])
    for start in range(0, len(conversations), _CHUNK):
        chunk = conversations[start : start + _CHUNK]
        _move_record_entries(
            uow,
            TimelineEntry.conversation_id.in_(chunk),
            tenant_id=tenant_id,
            customer_id=customer_id,
            seq=seq,
        )
    for start in range(0, len(cases), _CHUNK):
        chunk = cases[start : start + _CHUNK]
        _move_record_entries(uow, _case_entries(chunk), tenant_id=tenant_id, customer_id=customer_id, seq=seq)


def _merges_from(session: Session, *, tenant_id: str, customer_ids: set[str]) -> list[TimelineMerge]:
    """Return the merges seen so far that lead on from ``customer_ids``: theirs, their targets', and so on."""
    found: dict[str, TimelineMerge] = {}
    seen, frontier = set(customer_ids), sorted(customer_ids)
    while frontier:
        reached: set[str] = set()
        for start in range(0, len(frontier), _CHUNK):
            for row in session.scalars(
                select(TimelineMerge).where(
                    TimelineMerge.tenant_id == tenant_id,
                    TimelineMerge.source_customer_id.in_(frontier[start : start + _CHUNK]),
                )
            ):
                found[row.merge_id] = row
                reached.add(row.target_customer_id)
        frontier = sorted(reached - seen)
        seen |= reached
    return list(found.values())


def _merged_into(session: Session, *, tenant_id: str, customer_id: str) -> set[str]:
    """Return ``customer_id`` and every customer a merge seen so far brought into it, at any depth."""
    found, frontier = {customer_id}, [customer_id]
    while frontier:
        sources: set[str] = set()
        for start in range(0, len(frontier), _CHUNK):
            sources.update(
                session.scalars(
                    select(TimelineMerge.source_customer_id).where(
                        TimelineMerge.tenant_id == tenant_id,
                        TimelineMerge.target_customer_id.in_(frontier[start : start + _CHUNK]),
                    )
                )
            )
        frontier = sorted(sources - found)
        found |= sources
    return found


def _goes_back(merge: TimelineMerge, *, kind: str, ref_id: str) -> bool:
    """Whether undoing ``merge`` takes an entry that came with it back to the source customer.

    The source's record itself (its creation) always goes back; an identity or note goes back unless
    the merge moved it and the undo left it with the target.
    """
    record_kind = {"identity.linked": "identities", "note.added": "notes"}.get(kind)
    if record_kind is None:
        return True
    return ref_id not in merge.moved.get(record_kind, []) or ref_id in merge.moved_back.get(record_kind, [])


def _by_source(merges: Sequence[TimelineMerge]) -> dict[str, list[TimelineMerge]]:
    """Group the merges whose ``customer.merged`` was seen by source customer, oldest first."""
    by_source: dict[str, list[TimelineMerge]] = {}
    for merge in sorted(
        (m for m in merges if m.merged_seq is not None), key=lambda m: cast(int, m.merged_seq)
    ):
        by_source.setdefault(merge.source_customer_id, []).append(merge)
    return by_source


def _owner(
    by_source: dict[str, list[TimelineMerge]], *, origin_customer_id: str, seq: int, kind: str, ref_id: str
) -> tuple[str, int]:
    """Return the customer an entry outside conversations and cases belongs to, and the log position
    that decided it: the customer its event named, carried through every later merge of that customer
    (and of the customer it was merged into), and back by each undo that takes it back.

    The answer depends only on the merges seen, not on the order they were seen in.
    """
    customer_id, at = origin_customer_id, seq
    while True:
        following = next((m for m in by_source.get(customer_id, []) if cast(int, m.merged_seq) > at), None)
        if following is None:
            return customer_id, at
        merged_at = cast(int, following.merged_seq)
        if following.unmerged_seq is not None and _goes_back(following, kind=kind, ref_id=ref_id):
            at = max(following.unmerged_seq, merged_at)
        else:
            customer_id, at = following.target_customer_id, merged_at


def _place_customer_entries(uow: UnitOfWork, *, tenant_id: str, customer_id: str) -> None:
    """Work out again where the entries outside conversations and cases go of ``customer_id`` and of
    every customer merged into it, after a merge of ``customer_id`` was seen or undone."""
    session = uow.session
    merged_into = _merged_into(session, tenant_id=tenant_id, customer_id=customer_id)
    by_source = _by_source(_merges_from(session, tenant_id=tenant_id, customer_ids=merged_into))
    origins = sorted(merged_into)
    changes: list[dict[str, object]] = []
    for start in range(0, len(origins), _CHUNK):
        rows = session.execute(
            select(
                TimelineEntry.id,
                TimelineEntry.origin_customer_id,
                TimelineEntry.event_seq,
                TimelineEntry.kind,
                TimelineEntry.ref_id,
                TimelineEntry.customer_id,
                TimelineEntry.owner_seq,
            ).where(
                TimelineEntry.tenant_id == tenant_id,
                TimelineEntry.conversation_id.is_(None),
                TimelineEntry.origin_customer_id.in_(origins[start : start + _CHUNK]),
                TimelineEntry.kind.not_in(sorted(CASE_KINDS)),
            )
        )
        for entry_id, origin, event_seq, kind, ref_id, current, current_seq in rows:
            owner, owner_seq = _owner(
                by_source, origin_customer_id=origin, seq=event_seq, kind=kind, ref_id=ref_id
            )
            if (owner, owner_seq) != (current, current_seq):
                changes.append({"id": entry_id, "customer_id": owner, "owner_seq": owner_seq})
    if changes:
        session.execute(update(TimelineEntry), changes)


def clear_timeline(uow: UnitOfWork) -> None:
    """Drop every entry of every tenant, and the merges seen (before a replay rebuilds them)."""
    uow.session.execute(delete(TimelineEntry))
    uow.session.execute(delete(TimelineMerge))


def _encode_cursor(entry: dict[str, Any]) -> str:
    raw = f"{entry['occurred_at'].isoformat()}|{entry['event_seq']}"
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
    visibility: Visibility | None = None,
) -> Page[TimelineEntryOut]:
    """Return a page of a customer's timeline in the order things happened (or the reverse), without the
    entries of conversations ``visibility`` (None: everything) does not see.

    Raises NotFound for an unknown customer, ValidationFailed for a bad cursor or limit.
    """
    hidden: frozenset[str] = frozenset()
    if visibility is not None:
        hidden = frozenset(
            conversations.unseen_conversation_ids(
                session, tenant_id=tenant_id, customer_id=customer_id, visibility=visibility
            )
        )
    page = read_customer_timeline(
        session_rows(session),
        tenant_id=tenant_id,
        customer_id=customer_id,
        cursor=cursor,
        limit=limit,
        channel=channel,
        newest_first=newest_first,
        hidden=hidden,
    )
    return Page(
        items=[TimelineEntryOut.model_validate({**entry, "event_id": entry["id"]}) for entry in page.items],
        next_cursor=page.next_cursor,
    )


def read_customer_timeline(
    rows: Rows,
    *,
    tenant_id: str,
    customer_id: str,
    cursor: str | None,
    limit: int,
    channel: str | None = None,
    newest_first: bool = False,
    hidden: frozenset[str] = frozenset(),
) -> Page[Document]:
    """``customer_timeline`` through prepared reads (``Database.read_rows``), each entry as
    ``TimelineEntryOut`` shows it, without the entries of the conversations in ``hidden``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    at, seq = _decode_cursor(cursor) if cursor is not None else (None, None)
    entries: list[Document] = []
    first = True
    while True:
        found = rows.all(
            _timeline_page(channel=channel is not None, after=at is not None, newest_first=newest_first),
            tenant_id=tenant_id,
            customer_id=customer_id,
            channel=channel,
            at=at,
            seq=seq,
            limit=limit + 1,
        )
        if first and not found:  # an unknown customer has no entries either: only then is it worth asking
            require_customer(rows, tenant_id=tenant_id, customer_id=customer_id)
        first = False
        entries += [entry for entry in found if entry["conversation_id"] not in hidden]
        if len(found) <= limit or len(entries) > limit:
            break
        # Entries left out made the page short: read on from the last one read.
        at, seq = found[-1]["occurred_at"], found[-1]["event_seq"]
    next_cursor = _encode_cursor(entries[limit - 1]) if len(entries) > limit else None
    items = entries[:limit]
    for entry in items:
        del entry["event_seq"]
    return Page(items=items, next_cursor=next_cursor)


_PAGE_COLUMNS = [
    _ENTRIES.c.event_id.label("id"),
    *(_ENTRIES.c[name] for name in ("customer_id", "occurred_at", "kind", "channel", "conversation_id")),
    *(_ENTRIES.c[name] for name in ("summary", "ref_id", "event_seq")),
]


@functools.cache
def _timeline_page(*, channel: bool, after: bool, newest_first: bool) -> PreparedRead:
    """The page statement of each shape a timeline request can take, built once."""
    query = select(*_PAGE_COLUMNS).where(
        _ENTRIES.c.tenant_id == bindparam("tenant_id"), _ENTRIES.c.customer_id == bindparam("customer_id")
    )
    if channel:
        query = query.where(_ENTRIES.c.channel == bindparam("channel"))
    if after:
        at, seq = bindparam("at", type_=UTCDateTime()), bindparam("seq", type_=Integer())
        if newest_first:
            query = query.where(
                or_(
                    _ENTRIES.c.occurred_at < at,
                    and_(_ENTRIES.c.occurred_at == at, _ENTRIES.c.event_seq < seq),
                )
            )
        else:
            query = query.where(
                or_(
                    _ENTRIES.c.occurred_at > at,
                    and_(_ENTRIES.c.occurred_at == at, _ENTRIES.c.event_seq > seq),
                )
            )
    if newest_first:
        query = query.order_by(_ENTRIES.c.occurred_at.desc(), _ENTRIES.c.event_seq.desc())
    else:
        query = query.order_by(_ENTRIES.c.occurred_at, _ENTRIES.c.event_seq)
    return PreparedRead(query.limit(bindparam("limit", type_=Integer())))
