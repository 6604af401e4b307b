"""Conversation and message operations: start, change, close and reopen conversations, post and list
messages, find where customers' next messages go, and move conversations between customers (for merges)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.clock import utc
from cxstack.backbone.errors import Conflict, DomainError, NotFound, ValidationFailed
from cxstack.backbone.ids import new_id
from cxstack.backbone.pagination import Page
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.records.conversations.models import Conversation
from cxstack.records.conversations.repository import ConversationRepository
from cxstack.records.conversations.schemas import (
    MAX_BODY_BYTES,
    ConversationChannelChanged,
    ConversationClosed,
    ConversationCreate,
    ConversationCreated,
    ConversationOut,
    ConversationReopened,
    ConversationUpdate,
    ConversationUpdated,
    MessageCreate,
    MessageOut,
    MessageReceived,
    MessageSent,
)
from cxstack.records.customers.repository import CustomerRepository

SOURCE = "cxstack/records"


class MessageTooLarge(DomainError):
    status = 413
    code = "message_too_large"
    title = "Message too large"


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A posted message, and whether this call created it (False: a resend of a known ``client_id``)."""

    message: MessageOut
    created: bool


def _out(conversation: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(conversation)


def _publish_updated(
    uow: UnitOfWork, conversation: Conversation, changes: dict[str, Any], previous: dict[str, Any]
) -> None:
    uow.publish(
        "conversation.updated",
        tenant_id=conversation.tenant_id,
        subject=conversation.id,
        source=SOURCE,
        data=ConversationUpdated(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            changes=changes,
            previous=previous,
        ),
    )


def _change_channel(uow: UnitOfWork, conversation: Conversation, channel: str, *, at: datetime) -> None:
    previous = conversation.channel
    conversation.channel = channel
    conversation.updated_at = at
    uow.publish(
        "conversation.channel_changed",
        tenant_id=conversation.tenant_id,
        subject=conversation.id,
        source=SOURCE,
        data=ConversationChannelChanged(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            from_channel=previous,
            to_channel=channel,
        ),
    )


def _close(uow: UnitOfWork, conversation: Conversation, *, at: datetime) -> None:
    conversation.status = "closed"
    conversation.closed_at = at
    conversation.updated_at = at
    uow.publish(
        "conversation.closed",
        tenant_id=conversation.tenant_id,
        subject=conversation.id,
        source=SOURCE,
        data=ConversationClosed(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            message_count=conversation.message_count,
        ),
    )


def _reopen(uow: UnitOfWork, conversation: Conversation, *, status: str, reason: str, at: datetime) -> None:
    conversation.status = status
    conversation.closed_at = None
    conversation.updated_at = at
    uow.publish(
        "conversation.reopened",
        tenant_id=conversation.tenant_id,
        subject=conversation.id,
        source=SOURCE,
        data=ConversationReopened(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            status=status,
            reason=reason,
        ),
    )


def create_conversation(uow: UnitOfWork, *, tenant_id: str, data: ConversationCreate) -> ConversationOut:
    """Start a conversation with a customer of the tenant; return it.

    Raises NotFound for an unknown customer, Conflict for one merged into another. Publishes
    ``conversation.created``.
    """
    customer = CustomerRepository(uow.session, tenant_id).get(data.customer_id)
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer.id} was merged into {customer.merged_into_id}; use that one",
            field="customer_id",
            merged_into_id=customer.merged_into_id,
        )
    now = uow.clock.now()
    conversation = Conversation(
        id=new_id("cnv"),
        tenant_id=tenant_id,
        customer_id=customer.id,
        origin_channel=data.channel,
        channel=data.channel,
        status=data.status,
        subject=data.subject,
        assignee=data.assignee,
        priority=data.priority,
        attributes=data.attributes,
        message_count=0,
        created_at=now,
        updated_at=now,
        closed_at=None,
        last_message_at=None,
    )
    uow.session.add(conversation)
    uow.publish(
        "conversation.created",
        tenant_id=tenant_id,
        subject=conversation.id,
        source=SOURCE,
        data=ConversationCreated(
            conversation_id=conversation.id,
            customer_id=customer.id,
            channel=data.channel,
            status=data.status,
            subject=data.subject,
            assignee=data.assignee,
            priority=data.priority,
        ),
    )
    return _out(conversation)


def get_conversation(session: Session, *, tenant_id: str, conversation_id: str) -> ConversationOut:
    """Return a conversation; raises NotFound (also for another tenant's)."""
    return _out(ConversationRepository(session, tenant_id).get(conversation_id))


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
) -> Page[ConversationOut]:
    """Return a page of conversations in creation order, filtered as asked; raises ValidationFailed."""
    page = ConversationRepository(session, tenant_id).list_page(
        cursor=cursor,
        limit=limit,
        customer_id=customer_id,
        status=status,
        channel=channel,
        assignee=assignee,
        updated_after=utc(updated_after) if updated_after is not None else None,
        descending=newest_first,
    )
    return Page(items=[_out(c) for c in page.items], next_cursor=page.next_cursor)


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
        _change_channel(uow, conversation, given["channel"], at=now)
    changes: dict[str, Any] = {}
    previous: dict[str, Any] = {}
    status = given.get("status")
    if status is not None and status != conversation.status:
        if status == "closed":
            _close(uow, conversation, at=now)
        elif conversation.status == "closed":
            _reopen(uow, conversation, status=status, reason="request", at=now)
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
        _publish_updated(uow, conversation, changes, previous)
    uow.session.flush()
    return _out(conversation)


def close_conversation(uow: UnitOfWork, *, tenant_id: str, conversation_id: str) -> ConversationOut:
    """Close a conversation (closing a closed one changes nothing); raises NotFound.

    Publishes ``conversation.closed``.
    """
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id, for_update=True)
    if conversation.status != "closed":
        _close(uow, conversation, at=uow.clock.now())
    return _out(conversation)


def reopen_conversation(uow: UnitOfWork, *, tenant_id: str, conversation_id: str) -> ConversationOut:
    """Reopen a closed conversation (an open one is left as it is); raises NotFound.

    Publishes ``conversation.reopened``.
    """
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id, for_update=True)
    if conversation.status == "closed":
        _reopen(uow, conversation, status="open", reason="request", at=uow.clock.now())
    return _out(conversation)


def _author_kind(data: MessageCreate) -> str:
    kind = data.author_kind or ("customer" if data.direction == "inbound" else "agent")
    if kind == "customer" and data.direction != "inbound":
        raise ValidationFailed("a message written by the customer is inbound", field="author_kind")
    if kind in ("agent", "bot") and data.direction != "outbound":
        raise ValidationFailed(f"a message written by a {kind} is outbound", field="author_kind")
    return kind


def _checked(data: MessageCreate) -> str:
    """Check a message on its own; return its author kind. Raises MessageTooLarge, ValidationFailed."""
    size = len(data.body.encode())
    if size > MAX_BODY_BYTES:
        raise MessageTooLarge(
            f"the message body is {size} bytes of UTF-8; the limit is {MAX_BODY_BYTES} bytes (64 KiB)",
            field="body",
            limit=MAX_BODY_BYTES,
        )
    if not data.body and not data.attachments:
        raise ValidationFailed("a message needs a body or at least one attachment", field="body")
    return _author_kind(data)


def _resent(
    repo: ConversationRepository, conversation_id: str, client_id: str | None
) -> PostedMessage | None:
    """Return the message already posted with ``client_id``, if any."""
    if client_id is None:
        return None
    existing_id = repo.message_id_by_client_id(conversation_id, client_id)
    if existing_id is None:
        return None
    return _posted_before(repo, existing_id)


def _posted_before(repo: ConversationRepository, message_id: str) -> PostedMessage:
    return PostedMessage(message=MessageOut.model_validate(repo.get_message(message_id)), created=False)


@dataclass(frozen=True, slots=True)
class MessagePost:
    """One caller's message for ``post_messages``."""

    tenant_id: str
    conversation_id: str
    data: MessageCreate


@dataclass(frozen=True, slots=True)
class _Posting:
    """A checked message on its way into a conversation."""

    context: Context
    post: MessagePost
    author_kind: str


def post_message(
    uow: UnitOfWork, *, tenant_id: str, conversation_id: str, data: MessageCreate
) -> PostedMessage:
    """Add a message to a conversation, or return the one already posted with the same ``client_id``.

    A message on another channel moves the conversation there (``conversation.channel_changed``); an
    inbound message reopens a closed conversation (``conversation.reopened``) and makes a pending or
    snoozed one open again (``conversation.updated``). Publishes ``message.received`` (inbound) or
    ``message.sent`` (outbound). Raises MessageTooLarge (413) for a body over 64 KiB, ValidationFailed,
    NotFound; nothing is written then.
    """
    (outcome,) = post_messages(uow, [(uow.context, MessagePost(tenant_id, conversation_id, data))])
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def post_messages(
    uow: UnitOfWork, requests: Sequence[tuple[Context, MessagePost]]
) -> list[PostedMessage | DomainError]:
    """Post many callers' messages at once, each as ``post_message`` would; return each one's outcome, in
    order: its PostedMessage, or the DomainError it failed with (nothing written for it).

    Each message's events carry its caller's context. The messages of one tenant cost one read of their
    conversations, one look-up of client ids, one insert and one counter update per conversation (in one
    statement), unless one of them moves or reopens its conversation: that conversation's are posted one
    at a time.
    """
    outcomes: list[PostedMessage | DomainError | None] = [None] * len(requests)
    by_tenant: dict[str, dict[str, list[tuple[int, _Posting]]]] = {}
    for index, (context, post) in enumerate(requests):
        try:
            author_kind = _checked(post.data)
        except DomainError as error:
            outcomes[index] = error
            continue
        conversations = by_tenant.setdefault(post.tenant_id, {})
        conversations.setdefault(post.conversation_id, []).append(
            (index, _Posting(context, post, author_kind))
        )
    for tenant_id in sorted(by_tenant):
        conversations = by_tenant[tenant_id]
        repo = ConversationRepository(uow.session, tenant_id)
        # Locked in id order on PostgreSQL: two groups locking in one order never deadlock.
        targets = repo.message_targets(sorted(conversations), for_update=True)
        together: list[tuple[Any, list[tuple[int, _Posting]]]] = []
        for conversation_id in sorted(conversations):
            postings = conversations[conversation_id]
            target = targets.get(conversation_id)
            if target is None:
                missing = NotFound(f"conversation {conversation_id} does not exist", field="conversation_id")
                for index, _ in postings:
                    outcomes[index] = missing
            elif any(_moves(posting.post.data, target) for _, posting in postings):
                for index, posting in postings:
                    outcomes[index] = _post_alone(uow, repo, posting)
            else:
                together.append((target, postings))
        if together:
            posted = _append(uow, repo, [(target, [p for _, p in postings]) for target, postings in together])
            for (_, postings), answers in zip(together, posted, strict=True):
                for (index, _), answer in zip(postings, answers, strict=True):
                    outcomes[index] = answer
    return [outcome for outcome in outcomes if outcome is not None]


def _moves(data: MessageCreate, target: Any) -> bool:
    """Whether posting ``data`` changes the conversation itself: another channel, or an inbound message
    to a conversation that is not open."""
    return (data.channel is not None and data.channel != target.channel) or (
        data.direction == "inbound" and target.status != "open"
    )


def _post_alone(
    uow: UnitOfWork, repo: ConversationRepository, posting: _Posting
) -> PostedMessage | DomainError:
    """Post one message that may move or reopen its conversation, in a savepoint of its own."""
    conversation_id = posting.post.conversation_id
    data = posting.post.data
    mark = len(uow.events)
    try:
        with uow.session.begin_nested():
            target = repo.message_target(conversation_id, for_update=True)
            if target is None:
                raise NotFound(f"conversation {conversation_id} does not exist", field="conversation_id")
            if _moves(data, target):
                # The rarer paths change the conversation itself; they go through the mapped object, after
                # making sure this is not a resend (which must change nothing).
                resent = _resent(repo, conversation_id, data.client_id)
                if resent is not None:
                    return resent
                acting = uow.acting_for(posting.context)
                conversation = repo.get(conversation_id)
                now = uow.clock.now()
                if data.channel is not None and data.channel != conversation.channel:
                    _change_channel(acting, conversation, data.channel, at=now)
                if data.direction == "inbound" and conversation.status != "open":
                    if conversation.status == "closed":
                        _reopen(acting, conversation, status="open", reason="inbound_message", at=now)
                    else:
                        _publish_updated(
                            acting, conversation, {"status": "open"}, {"status": conversation.status}
                        )
                        conversation.status = "open"
                uow.session.flush()
                target = repo.message_target(conversation_id, for_update=False)
            [[posted]] = _append(uow, repo, [(target, [posting])])
            return posted
    except DomainError as error:
        del uow.events[mark:]
        return error


def _append(
    uow: UnitOfWork, repo: ConversationRepository, groups: Sequence[tuple[Any, Sequence[_Posting]]]
) -> list[list[PostedMessage]]:
    """Insert checked messages into their conversations (``groups``: each target with its postings, none
    of which moves it) and publish their events; return each group's answers. A message whose
    ``client_id`` its conversation has (or an earlier posting has) is not inserted again and answers
    with the first."""
    pairs = sorted(
        {
            (target.id, posting.post.data.client_id)
            for target, postings in groups
            for posting in postings
            if posting.post.data.client_id
        }
    )
    known = repo.message_ids_by_client_ids(pairs) if pairs else {}
    now = uow.clock.now()
    answers: list[list[PostedMessage]] = []
    first_with: dict[tuple[str, str], PostedMessage] = {}
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for target, postings in groups:
        conversation_id: str = target.id
        customer_id: str = target.customer_id
        answered: list[PostedMessage] = []
        answers.append(answered)
        for posting in postings:
            data = posting.post.data
            client_id = data.client_id
            if client_id is not None:
                if (conversation_id, client_id) in known:
                    answered.append(_posted_before(repo, known[conversation_id, client_id]))
                    continue
                if (conversation_id, client_id) in first_with:
                    first = first_with[conversation_id, client_id]
                    answered.append(PostedMessage(message=first.message, created=False))
                    continue
            posted = _new_message(uow, posting, conversation_id, customer_id, target.channel, now, rows)
            counts[conversation_id] = counts.get(conversation_id, 0) + 1
            if client_id is not None:
                first_with[conversation_id, client_id] = posted
            answered.append(posted)
    if rows:
        repo.append_messages(rows, counts=counts, at=now)
    return answers


def _new_message(
    uow: UnitOfWork,
    posting: _Posting,
    conversation_id: str,
    customer_id: str,
    conversation_channel: str,
    now: datetime,
    rows: list[dict[str, Any]],
) -> PostedMessage:
    """Add the row of a new message to ``rows``, publish its event and return its answer."""
    data = posting.post.data
    author_kind = posting.author_kind
    author_id = data.author_id
    if author_id is None and author_kind == "customer":
        author_id = customer_id
    message_id = new_id("msg")
    channel = data.channel or conversation_channel
    rows.append(
        {
            "id": message_id,
            "tenant_id": posting.post.tenant_id,
            "conversation_id": conversation_id,
            "customer_id": customer_id,
            "direction": data.direction,
            "author_kind": author_kind,
            "author_id": author_id,
            "channel": channel,
            "body": data.body,
            "content_type": data.content_type,
            "attachments": [attachment.model_dump() for attachment in data.attachments],
            "client_id": data.client_id,
            "created_at": now,
        }
    )
    inbound = data.direction == "inbound"
    uow.publish(
        "message.received" if inbound else "message.sent",
        tenant_id=posting.post.tenant_id,
        subject=conversation_id,
        source=SOURCE,
        context=posting.context,
        data=(MessageReceived if inbound else MessageSent)(
            message_id=message_id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            channel=channel,
            direction=data.direction,
            author_kind=author_kind,
            author_id=author_id,
            body=data.body,
            content_type=data.content_type,
            attachments_count=len(data.attachments),
            client_id=data.client_id,
            created_at=now,
        ),
    )
    return PostedMessage(
        message=MessageOut(
            id=message_id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            direction=data.direction,
            author_kind=author_kind,
            author_id=author_id,
            channel=channel,
            body=data.body,
            content_type=data.content_type,
            attachments=data.attachments,
            client_id=data.client_id,
            created_at=now,
        ),
        created=True,
    )


def list_messages(
    session: Session, *, tenant_id: str, conversation_id: str, cursor: str | None, limit: int
) -> Page[MessageOut]:
    """Return a page of a conversation's messages, oldest first; raises NotFound, ValidationFailed."""
    repo = ConversationRepository(session, tenant_id)
    repo.get(conversation_id)
    page = repo.messages_page(conversation_id, cursor=cursor, limit=limit)
    return Page(items=[MessageOut.model_validate(m) for m in page.items], next_cursor=page.next_cursor)


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
            "conversation.updated",
            tenant_id=tenant_id,
            subject=conversation_id,
            source=SOURCE,
            data=ConversationUpdated(
                conversation_id=conversation_id,
                customer_id=to_customer_id,
                changes={"customer_id": to_customer_id},
                previous={"customer_id": from_customer_id},
            ),
        )
    return moving
