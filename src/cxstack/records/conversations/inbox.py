"""The inbox an agent works from: conversations filtered by who has them, their teams, channel, status,
priority, tag, queue and a search, in creation or update order, and the counts of the inbox's sections.

Every query here is one tenant's, and a signed-in person's is narrowed to what they see
(``records.conversations.visibility``) before any filter applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union,
    union_all,
)
from sqlalchemy import column as column_
from sqlalchemy.orm import Session, aliased

from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.pagination import (
    MAX_PAGE_SIZE,
    Page,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    encode_time_cursor,
)
from cxstack.records.accounts.repository import contains_pattern
from cxstack.records.conversations.models import Conversation, Message
from cxstack.records.conversations.visibility import seen_by
from cxstack.records.customers.models import Customer
from cxstack.records.tags.repository import tagged_target_ids

Sort = Literal["created", "updated"]
#: The statuses of the work still to do: what the inbox counts.
OPEN_STATUSES = ("open", "pending")


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """What an inbox list asks for; every condition given must hold (each tuple: any of its values)."""

    customer_id: str | None = None
    statuses: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    #: Assigned to this person.
    assignee: str | None = None
    #: Assigned to nobody.
    unassigned: bool = False
    #: The work of one of these teams (an empty tuple matches nothing: a person in no team has no team's
    #: work); None: any.
    team_ids: tuple[str, ...] | None = None
    #: A normalised tag name.
    tag: str | None = None
    queue_id: str | None = None
    #: Search text (``search_condition``), and the customers its email or phone resolves to.
    text: str | None = None
    text_customer_ids: tuple[str, ...] = ()
    updated_after: datetime | None = None


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def of_teams(team_ids: tuple[str, ...], *, postgres: bool) -> ColumnElement[bool]:
    """The conversations that are the work of one of ``team_ids`` (those of no team are not)."""
    if not team_ids:
        return literal(False)
    elements = func.jsonb_array_elements_text if postgres else func.json_each
    teams = elements(Conversation.team_ids).table_valued("value")
    return select(literal(1)).select_from(teams).where(teams.c.value.in_(sorted(team_ids))).exists()


#: The shortest text the SQLite trigram indexes find (a trigram is three characters); a shorter one is
#: looked for by reading the rows.
MIN_INDEXED_SEARCH = 3


def _containing_sqlite(
    model: Any, column: Any, index: str, tenant_id: str, text: str, *wanted: Any
) -> Select[Any]:
    """``wanted`` (columns of ``model``) of the tenant's rows whose ``column`` contains ``text``, found
    through the trigram index ``index`` (migration 0002), each hit then read by its rowid."""
    # A trigram phrase matches the rows that contain it, case-insensitively; nothing in it is an operator.
    phrase = '"' + text.replace('"', '""') + '"'
    indexed = table(index, column_(column.key), column_("rowid"))
    name = model.__tablename__
    hits = select(indexed.c.rowid).where(indexed.c[column.key].op("MATCH")(phrase))
    # The unary + keeps SQLite from walking the tenant's rows by a tenant index and asking the text index
    # about each: the hits are read by rowid and the tenant checked on them.
    return select(*wanted).where(
        literal_column(f"{name}.rowid").in_(hits), literal_column(f"+{name}.tenant_id") == tenant_id
    )


def search_condition(
    tenant_id: str, text: str, customer_ids: tuple[str, ...], *, postgres: bool
) -> ColumnElement[bool]:
    """The conversations whose customer is one of ``customer_ids`` (those the text's email or phone
    resolves to) or whose name contains ``text``, whose subject contains it, or one of whose messages
    does; case-insensitive, LIKE's wildcards taken literally.

    The containments are read through trigram indexes (migration 0002): pg_trgm serves ILIKE as written;
    on SQLite the FTS5 trigram indexes are asked (a text shorter than a trigram is looked for by reading
    the rows). The matching conversations' ids are gathered first, so that the page is read by id
    rather than by walking every conversation of the tenant past each condition."""
    pattern = contains_pattern(text)
    if not postgres and len(text) < MIN_INDEXED_SEARCH:
        return or_(
            Conversation.customer_id.in_(sorted(customer_ids)),
            Conversation.customer_id.in_(
                select(Customer.id).where(
                    Customer.tenant_id == tenant_id, Customer.name.ilike(pattern, escape="\\")
                )
            ),
            Conversation.subject.ilike(pattern, escape="\\"),
            Conversation.id.in_(
                select(Message.conversation_id).where(
                    Message.tenant_id == tenant_id, Message.body.ilike(pattern, escape="\\")
                )
            ),
        )
    if postgres:
        named = select(Customer.id).where(
            Customer.tenant_id == tenant_id, Customer.name.ilike(pattern, escape="\\")
        )
        subjects = select(Conversation.id).where(
            Conversation.tenant_id == tenant_id, Conversation.subject.ilike(pattern, escape="\\")
        )
        written = select(Message.conversation_id).where(
            Message.tenant_id == tenant_id, Message.body.ilike(pattern, escape="\\")
        )
    else:
        named = _containing_sqlite(Customer, Customer.name, "customers_text", tenant_id, text, Customer.id)
        subjects = _containing_sqlite(
            Conversation, Conversation.subject, "conversations_text", tenant_id, text, Conversation.id
        )
        written = _containing_sqlite(
            Message, Message.body, "messages_text", tenant_id, text, Message.conversation_id
        )
    theirs = select(Conversation.id).where(
        Conversation.tenant_id == tenant_id, Conversation.customer_id.in_(named)
    )
    parts: list[Select[Any]] = [theirs, subjects, written]
    if customer_ids:
        parts.append(
            select(Conversation.id).where(
                Conversation.tenant_id == tenant_id, Conversation.customer_id.in_(sorted(customer_ids))
            )
        )
    return Conversation.id.in_(union(*parts))


def filtered(
    session: Session, tenant_id: str, wanted: InboxFilter, visibility: Visibility | None
) -> Select[Any]:
    """The tenant's conversations ``visibility`` (None: everything) sees that match ``wanted``."""
    postgres = _postgres(session)
    query = select(Conversation).where(Conversation.tenant_id == tenant_id)
    if visibility is not None:
        query = query.where(seen_by(visibility, dialect="postgresql" if postgres else "sqlite"))
    if wanted.customer_id is not None:
        query = query.where(Conversation.customer_id == wanted.customer_id)
    if wanted.statuses:
        query = query.where(Conversation.status.in_(wanted.statuses))
    if wanted.channels:
        query = query.where(Conversation.channel.in_(wanted.channels))
    if wanted.priorities:
        query = query.where(Conversation.priority.in_(wanted.priorities))
    if wanted.assignee is not None:
        query = query.where(Conversation.assignee == wanted.assignee)
    if wanted.unassigned:
        query = query.where(Conversation.assignee.is_(None))
    if wanted.team_ids is not None:
        query = query.where(of_teams(wanted.team_ids, postgres=postgres))
    if wanted.tag is not None:
        tagged = tagged_target_ids(tenant_id=tenant_id, target_type="conversation", tag=wanted.tag)
        query = query.where(Conversation.id.in_(tagged))
    if wanted.queue_id is not None:
        query = query.where(Conversation.attributes["queue_id"].as_string() == wanted.queue_id)
    if wanted.text is not None:
        query = query.where(
            search_condition(tenant_id, wanted.text, wanted.text_customer_ids, postgres=postgres)
        )
    if wanted.updated_after is not None:
        query = query.where(Conversation.updated_at > wanted.updated_after)
    return query


def _ordered(query: Select[Any], columns: Any, *, sort: Sort, descending: bool, after: Any) -> Select[Any]:
    """``query`` past the cursor's ``after`` (an id, or a time and an id), ordered by ``columns``'s id or
    update time then id."""
    if sort == "created":
        if after is not None:
            query = query.where(columns.id < after if descending else columns.id > after)
        return query.order_by(columns.id.desc() if descending else columns.id)
    if after is not None:
        at, last_id = after
        if descending:
            beyond = or_(columns.updated_at < at, and_(columns.updated_at == at, columns.id < last_id))
        else:
            beyond = or_(columns.updated_at > at, and_(columns.updated_at == at, columns.id > last_id))
        query = query.where(beyond)
    if descending:
        return query.order_by(columns.updated_at.desc(), columns.id.desc())
    return query.order_by(columns.updated_at, columns.id)


def page_of(
    session: Session,
    tenant_id: str,
    wanted: InboxFilter,
    visibility: Visibility | None,
    *,
    cursor: str | None,
    limit: int,
    sort: Sort,
    descending: bool,
) -> Page[Conversation]:
    """One page of the conversations ``filtered`` gives, by creation (id) or by last update then id;
    raises ValidationFailed for a bad limit or cursor."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    after: Any = None
    if cursor is not None:
        after = decode_cursor(cursor) if sort == "created" else decode_time_cursor(cursor)
    if len(wanted.statuses) <= 1:
        query = _ordered(
            filtered(session, tenant_id, wanted, visibility),
            Conversation,
            sort=sort,
            descending=descending,
            after=after,
        )
    else:
        # One ordered read a status, merged: SQLite (no statistics) given ``status IN (...)`` would walk
        # every conversation of the tenant in id order rather than sort what the status index finds.
        parts = [
            select(
                _ordered(
                    filtered(session, tenant_id, replace(wanted, statuses=(status,)), visibility),
                    Conversation,
                    sort=sort,
                    descending=descending,
                    after=after,
                )
                .limit(limit + 1)
                .subquery()
            )
            for status in wanted.statuses
        ]
        merged = aliased(Conversation, union_all(*parts).subquery())
        query = _ordered(select(merged), merged, sort=sort, descending=descending, after=None)
    rows: list[Conversation] = list(session.scalars(query.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    if last is None:
        return Page(items=rows, next_cursor=None)
    if sort == "created":
        return Page(items=rows, next_cursor=encode_cursor(last.id))
    return Page(items=rows, next_cursor=encode_time_cursor(last.updated_at, last.id))


@dataclass(frozen=True, slots=True)
class InboxCounts:
    """How many open or pending conversations each inbox section holds (``mine`` and ``my_teams`` are
    None for a caller who is no person)."""

    all_open: int
    unassigned: int
    mine: int | None
    my_teams: int | None
    by_status: dict[str, int]


def counts(
    session: Session,
    tenant_id: str,
    *,
    visibility: Visibility | None,
    user_id: str | None,
    team_ids: tuple[str, ...],
    wanted: InboxFilter,
) -> InboxCounts:
    """Count the open and pending conversations ``visibility`` sees that match ``wanted``, by section and
    by status, in one query."""
    postgres = _postgres(session)
    sections = replace(wanted, statuses=OPEN_STATUSES, assignee=None, unassigned=False, team_ids=None)
    base = filtered(session, tenant_id, sections, visibility)
    one = literal(1)
    columns: list[Any] = [
        Conversation.status,
        func.count(),
        func.sum(case((Conversation.assignee.is_(None), one), else_=0)),
    ]
    if user_id is not None:
        columns.append(func.sum(case((Conversation.assignee == user_id, one), else_=0)))
        columns.append(func.sum(case((of_teams(team_ids, postgres=postgres), one), else_=0)))
    rows = session.execute(base.with_only_columns(*columns).group_by(Conversation.status)).all()
    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    unassigned = mine = my_teams = 0
    for row in rows:
        by_status[row[0]] = int(row[1])
        unassigned += int(row[2] or 0)
        if user_id is not None:
            mine += int(row[3] or 0)
            my_teams += int(row[4] or 0)
    return InboxCounts(
        all_open=sum(by_status.values()),
        unassigned=unassigned,
        mine=mine if user_id is not None else None,
        my_teams=my_teams if user_id is not None else None,
        by_status=by_status,
    )
