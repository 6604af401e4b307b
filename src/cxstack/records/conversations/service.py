"""Conversation operations: start, change, close and reopen conversations, find where customers' next
messages go, and move conversations between customers (for merges). Messages are posted and listed in
``messages`` and offered here with the rest."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.prepared import Document, Rows, session_rows
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.clock import utc
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations import inbox, transitions

# The message operations, part of this domain's public surface (other layers import only ``service``).
from cxstack.records.conversations.delivery import DeliveryChecks as DeliveryChecks
from cxstack.records.conversations.delivery import record_delivery_failure as record_delivery_failure
from cxstack.records.conversations.inbox import InboxCounts as InboxCounts
from cxstack.records.conversations.inbox import InboxFilter as InboxFilter
from cxstack.records.conversations.messages import MessagePost as MessagePost
from cxstack.records.conversations.messages import MessageTooLarge as MessageTooLarge
from cxstack.records.conversations.messages import PostedMessage as PostedMessage
from cxstack.records.conversations.messages import list_messages as list_messages
from cxstack.records.conversations.messages import post_message as post_message
from cxstack.records.conversations.messages import post_messages as post_messages
from cxstack.records.conversations.models import Conversation
from cxstack.records.conversations.repository import ConversationReads, ConversationRepository
from cxstack.records.conversations.schemas import (
    ConversationCreate,
    ConversationCreated,
    ConversationOut,
    ConversationUpdate,
    ConversationUpdated,
)
from cxstack.records.customers.identities import normalise_email, normalise_phone
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.tags.service import normalise_tag


def _out(conversation: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(conversation)


@dataclass(frozen=True)
class ConversationCreation:
    """One caller's request to start a conversation in ``tenant_id``."""

    tenant_id: str
    data: ConversationCreate


def create_conversation(uow: UnitOfWork, *, tenant_id: str, data: ConversationCreate) -> ConversationOut:
    """Start a conversation with a customer of the tenant; return it.

    Raises NotFound for an unknown customer, Conflict for one merged into another. Publishes
    ``conversation.created``. (``create_conversations`` with one request.)
    """
    (outcome,) = create_conversations(uow, [(uow.context, ConversationCreation(tenant_id, data))])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def create_conversations(
    uow: UnitOfWork, requests: Sequence[tuple[Context, ConversationCreation]]
) -> list[ConversationOut | Exception]:
    """Start a conversation per request (a batched write: a query for the customers and an insert per
    tenant); answer each with its conversation, or NotFound for an unknown customer, Conflict for one
    merged into another. Publishes ``conversation.created`` with each request's context."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for _, request in requests:
        wanted[request.tenant_id].add(request.data.customer_id)
    customers = {
        tenant_id: CustomerRepository(uow.session, tenant_id).merge_states(sorted(ids))
        for tenant_id, ids in wanted.items()
    }
    now = uow.clock.now()
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outcomes: list[ConversationOut | Exception] = []
    for context, request in requests:
        data = request.data
        known = customers[request.tenant_id]
        if data.customer_id not in known:
            outcomes.append(NotFound(f"customer {data.customer_id} does not exist", field="customer_id"))
            continue
        merged_into = known[data.customer_id]
        if merged_into is not None:
            outcomes.append(
                Conflict(
                    f"customer {data.customer_id} was merged into {merged_into}; use that one",
                    field="customer_id",
                    merged_into_id=merged_into,
                )
            )
            continue
        row: dict[str, Any] = {
            "id": new_id("cnv"),
            "customer_id": data.customer_id,
            "origin_channel": data.channel,
            "channel": data.channel,
            "status": data.status,
            "subject": data.subject,
            "assignee": data.assignee,
            "priority": data.priority,
            "attributes": data.attributes,
            "team_ids": [],
            "message_count": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "last_message_at": None,
        }
        rows[request.tenant_id].append(row)
        uow.publish(
            ConversationCreated(
                conversation_id=row["id"],
                customer_id=data.customer_id,
                channel=data.channel,
                status=data.status,
                subject=data.subject,
                assignee=data.assignee,
                priority=data.priority,
            ),
            tenant_id=request.tenant_id,
            subject=row["id"],
            source=transitions.SOURCE,
            context=context,
        )
        outcomes.append(ConversationOut(**row))
    for tenant_id, tenant_rows in rows.items():
        ConversationRepository(uow.session, tenant_id).insert_conversations(tenant_rows)
    return outcomes


def get_conversation(
    session: Session, *, tenant_id: str, conversation_id: str, visibility: Visibility | None = None
) -> ConversationOut:
    """Return a conversation; raises NotFound (also for another tenant's, and for one ``visibility`` does
    not see)."""
    rows = session_rows(session)
    return ConversationOut.model_validate(
        read_conversation(rows, tenant_id=tenant_id, conversation_id=conversation_id, visibility=visibility)
    )


def read_conversation(
    rows: Rows, *, tenant_id: str, conversation_id: str, visibility: Visibility | None = None
) -> Document:
    """Return a conversation as ``ConversationOut`` shows it, through prepared reads
    (``Database.read_rows``); raises NotFound (also for one ``visibility`` does not see)."""
    return ConversationReads(rows, tenant_id).conversation(conversation_id, visibility=visibility)


def require_seen(
    session: Session, *, tenant_id: str, conversation_id: str, visibility: Visibility | None
) -> None:
    """Raises NotFound unless the conversation exists and ``visibility`` (None: everything) sees it."""
    get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id, visibility=visibility)


def seen_conversation_ids(
    session: Session, *, tenant_id: str, conversation_ids: Sequence[str], visibility: Visibility
) -> set[str]:
    """Return the ids among ``conversation_ids`` of the tenant's conversations ``visibility`` sees, in one
    query per 500 ids."""
    return ConversationRepository(session, tenant_id).seen_ids(conversation_ids, visibility)


def conversation_audiences(
    session: Session, *, tenant_id: str, conversation_ids: Sequence[str]
) -> dict[str, tuple[list[str], str | None]]:
    """Return, by id, the teams and the assignee of the tenant's conversations among ``conversation_ids``:
    what ``Visibility.allows`` needs to tell whether a person sees each, for any number of people at once."""
    return ConversationRepository(session, tenant_id).audiences(conversation_ids)


def unseen_conversation_ids(
    session: Session, *, tenant_id: str, customer_id: str, visibility: Visibility
) -> list[str]:
    """Return the ids of the customer's conversations ``visibility`` does not see, in order."""
    return ConversationRepository(session, tenant_id).unseen_ids_of_customer(customer_id, visibility)


def set_teams(uow: UnitOfWork, *, tenant_id: str, conversation_id: str, team_ids: Sequence[str]) -> None:
    """Make the conversation the work of ``team_ids`` (routing's queue's teams; empty: every team's), which
    decides who of the tenant's agents and supervisors see it. A conversation that is gone is left alone."""
    ConversationRepository(uow.session, tenant_id).set_teams(conversation_id, list(dict.fromkeys(team_ids)))


def list_conversations(
    session: Session,
    *,
    tenant_id: str,
    cursor: str | None,
    limit: int,
    customer_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    updated_after: datetime | None = None,
    newest_first: bool = False,
    visibility: Visibility | None = None,
) -> Page[ConversationOut]:
    """Return a page of conversations in creation order, filtered as asked, of those ``visibility`` (None:
    everything) sees; raises ValidationFailed. (``list_inbox`` with these filters.)"""
    wanted = InboxFilter(
        customer_id=customer_id,
        statuses=(status,) if status is not None else (),
        channels=(channel,) if channel is not None else (),
        assignee=assignee,
        updated_after=updated_after,
    )
    return list_inbox(
        session,
        tenant_id=tenant_id,
        wanted=wanted,
        cursor=cursor,
        limit=limit,
        newest_first=newest_first,
        visibility=visibility,
    )


def list_inbox(
    session: Session,
    *,
    tenant_id: str,
    wanted: InboxFilter,
    cursor: str | None,
    limit: int,
    sort: inbox.Sort = "created",
    newest_first: bool = False,
    visibility: Visibility | None = None,
) -> Page[ConversationOut]:
    """Return a page of the conversations ``visibility`` (None: everything) sees that match ``wanted``
    (``inbox_filter`` makes one from a search), by creation or by last update; raises ValidationFailed
    (a bad limit or cursor)."""
    if wanted.updated_after is not None:
        wanted = replace(wanted, updated_after=utc(wanted.updated_after))
    page = inbox.page_of(
        session, tenant_id, wanted, visibility, cursor=cursor, limit=limit, sort=sort, descending=newest_first
    )
    return Page(items=[_out(c) for c in page.items], next_cursor=page.next_cursor)


def count_inbox(
    session: Session,
    *,
    tenant_id: str,
    wanted: InboxFilter,
    visibility: Visibility | None,
    user_id: str | None,
    team_ids: Sequence[str] = (),
) -> InboxCounts:
    """Count the open and pending conversations ``visibility`` sees that match ``wanted``'s channels,
    priorities, tag, queue and search: all, unassigned, ``user_id``'s (None: no person, no such count)
    and ``team_ids``' (the person's teams), and by status; one query."""
    return inbox.counts(
        session, tenant_id, visibility=visibility, user_id=user_id, team_ids=tuple(team_ids), wanted=wanted
    )


#: A search that may be a phone number: digits and what people write between them.
_PHONE_LIKE = re.compile(r"^\+?[0-9 ().-]{7,}$")
MAX_SEARCH_LENGTH = 200


def inbox_filter(session: Session, *, tenant_id: str, q: str | None = None, **wanted: Any) -> InboxFilter:
    """Return the ``InboxFilter`` of ``wanted`` and the search ``q``: a customer's name (part of it), their
    email or phone (the whole of it, as any identity look-up reads it), a conversation's subject or the
    text of one of its messages (part of either). Raises ValidationFailed for an empty or too long
    search or a tag that cannot be one."""
    tag = wanted.pop("tag", None)
    if tag is not None:
        wanted["tag"] = normalise_tag(tag)
    if q is None:
        return InboxFilter(**wanted)
    text = q.strip()
    if not text or len(text) > MAX_SEARCH_LENGTH:
        raise ValidationFailed(f"q must be 1 to {MAX_SEARCH_LENGTH} characters", field="q")
    customers = CustomerRepository(session, tenant_id)
    found: list[str] = []
    for kind, looks_like, normalise in (
        ("email", "@" in text, normalise_email),
        ("phone", bool(_PHONE_LIKE.match(text)), normalise_phone),
    ):
        if looks_like:
            try:
                value = normalise(text)
            except ValidationFailed:
                continue
            found += customers.customers_by_identity(kind=kind, values=[value]).values()
    return InboxFilter(**wanted, text=text, text_customer_ids=tuple(sorted(set(found))))


def conversations_to_join(
    session: Session, *, tenant_id: str, customer_ids: Sequence[str], channel: str
) -> dict[str, str]:
    """Return {customer id: conversation id}: where each customer's next message on ``channel`` goes, the
    newest conversation on ``channel`` that is not closed, else the newest not closed on any channel, in
    one query. Customers with every conversation closed (or none) are left out: a new one is to start."""
    found: dict[str, str] = {}
    elsewhere: dict[str, str] = {}
    for customer_id, conversation_id, on in ConversationRepository(session, tenant_id).open_of_customers(
        customer_ids
    ):
        if on == channel:
            found.setdefault(customer_id, conversation_id)
        else:
            elsewhere.setdefault(customer_id, conversation_id)
    return {**elsewhere, **found}


def update_conversation(
    uow: UnitOfWork, *, tenant_id: str, conversation_id: str, data: ConversationUpdate
) -> ConversationOut:
    """Change the fields given and return the conversation.

    A new ``channel`` publishes ``conversation.channel_changed``; ``status: closed`` closes it
    (``conversation.closed``) and a status other than closed reopens a closed one (``conversation.reopened``);
    other changes publish ``conversation.updated``. Raises NotFound, ValidationFailed.
    """
    given = data.model_dump(exclude_unset=True)
    for field in ("priority", "status", "channel"):
        if field in given and given[field] is None:
            raise ValidationFailed(f"{field} cannot be null", field=field)
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id, for_update=True)
    now = uow.clock.now()
    if "channel" in given and given["channel"] != conversation.channel:
        transitions.change_channel(uow, conversation, given["channel"], at=now)
    changes: dict[str, Any] = {}
    previous: dict[str, Any] = {}
    status = given.get("status")
    if status is not None and status != conversation.status:
        if status == "closed":
            transitions.close(uow, conversation, at=now)
        elif conversation.status == "closed":
            transitions.reopen(uow, conversation, status=status, reason="request", at=now)
        else:
            previous["status"], changes["status"] = conversation.status, status
            conversation.status = status
    for field in ("subject", "assignee", "priority"):
        if field in given and given[field] != getattr(conversation, field):
            previous[field], changes[field] = getattr(conversation, field), given[field]
            setattr(conversation, field, given[field])
    if given.get("attributes") is not None:
        merged = {**conversation.attributes, **given["attributes"]}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != conversation.attributes:
            previous["attributes"], changes["attributes"] = conversation.attributes, merged
            conversation.attributes = merged
    if changes:
        conversation.updated_at = now
        transitions.publish_updated(uow, conversation, changes, previous)
    uow.session.flush()
    return _out(conversation)


def close_conversation(uow: UnitOfWork, *, tenant_id: str, conversation_id: str) -> ConversationOut:
    """Close a conversation (closing a closed one changes nothing); raises NotFound.

    Publishes ``conversation.closed``.
    """
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id, for_update=True)
    if conversation.status != "closed":
        transitions.close(uow, conversation, at=uow.clock.now())
    return _out(conversation)


def reopen_conversation(uow: UnitOfWork, *, tenant_id: str, conversation_id: str) -> ConversationOut:
    """Reopen a closed conversation (an open one is left as it is); raises NotFound.

    Publishes ``conversation.reopened``.
    """
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id, for_update=True)
    if conversation.status == "closed":
        transitions.reopen(uow, conversation, status="open", reason="request", at=uow.clock.now())
    return _out(conversation)


def move_customer(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    from_customer_id: str,
    to_customer_id: str,
    conversation_ids: Sequence[str] | None = None,
) -> list[str]:
    """Move conversations (and their messages) of one customer to another; return the ids moved, in order.

    All of ``from_customer_id``'s conversations, or only those of ``conversation_ids`` that still belong
    to it (the others are left alone and not returned). The target may be a merged customer (undoing a
    merge moves conversations back to one). Raises ValidationFailed for the same customer, NotFound for an
    unknown target. Publishes ``conversation.updated`` with the customer change for each conversation.
    """
    if conversation_ids is not None and not conversation_ids:
        return []
    if from_customer_id == to_customer_id:
        raise ValidationFailed(
            "conversations cannot move to the customer they belong to", field="to_customer_id"
        )
    if CustomerRepository(uow.session, tenant_id).find(to_customer_id) is None:
        raise NotFound(f"customer {to_customer_id} does not exist", field="to_customer_id")
    repo = ConversationRepository(uow.session, tenant_id)
    moving = repo.ids_of_customer(from_customer_id, among=conversation_ids)
    if not moving:
        return []
    now = uow.clock.now()
    repo.reassign_customer(moving, customer_id=to_customer_id, at=now)
    for conversation_id in moving:
        uow.publish(
            ConversationUpdated(
                conversation_id=conversation_id,
                customer_id=to_customer_id,
                changes={"customer_id": to_customer_id},
                previous={"customer_id": from_customer_id},
            ),
            tenant_id=tenant_id,
            subject=conversation_id,
            source=transitions.SOURCE,
        )
    return moving
