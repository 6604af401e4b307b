"""Posting and listing a conversation's messages: one at a time or many callers' at once (the webchat, SMS
and email intakes), each client id posted once, and the conversation moved to the message's channel or
reopened by an inbound message where it has to be."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import DomainError, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations import transitions
from cxstack.records.conversations.delivery import DeliveryChecks
from cxstack.records.conversations.repository import ConversationRepository, not_found
from cxstack.records.conversations.schemas import (
    MAX_BODY_BYTES,
    Attachment,
    MessageCreate,
    MessageDelivery,
    MessageOut,
    MessageReceived,
    MessageSent,
    shown_to_customer,
)
from cxstack.records.files import service as files


class MessageTooLarge(DomainError):
    status = 413
    code = "message_too_large"
    title = "Message too large"


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A posted message, and whether this call created it (False: a resend of a known ``client_id``)."""

    message: MessageOut
    created: bool


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
    """One caller's message for ``post_messages``; ``checks`` (the channels' recipient checks) make a
    message to a customer its channel will not deliver to say so in its ``delivery`` at once."""

    tenant_id: str
    conversation_id: str
    data: MessageCreate
    checks: DeliveryChecks | None = None


@dataclass(frozen=True, slots=True)
class _Posting:
    """A checked message on its way into a conversation."""

    context: Context
    post: MessagePost
    author_kind: str
    #: Its attachments as the message shows them, files resolved through the tenant's records.
    attachments: list[Attachment] = field(default_factory=list)


def post_message(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    conversation_id: str,
    data: MessageCreate,
    checks: DeliveryChecks | None = None,
) -> PostedMessage:
    """Add a message to a conversation, or return the one already posted with the same ``client_id``.

    A message on another channel moves the conversation there (``conversation.channel_changed``); an
    inbound message reopens a closed conversation (``conversation.reopened``) and makes a pending or
    snoozed one open again (``conversation.updated``). Attached files are the tenant's own, in this
    conversation or in none yet (they join it); see ``files.resolve_attachments``. Publishes
    ``message.received`` (inbound) or ``message.sent`` (outbound). Raises MessageTooLarge (413) for a body
    over 64 KiB, AttachmentUnknown (422) for a file that is not the tenant's or is another conversation's,
    ValidationFailed, NotFound; nothing is written then.
    """
    (outcome,) = post_messages(uow, [(uow.context, MessagePost(tenant_id, conversation_id, data, checks))])
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
                continue
            postings = _with_attachments(uow.session, tenant_id, conversation_id, postings, outcomes)
            if not postings:
                continue
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


def _with_attachments(
    session: Session,
    tenant_id: str,
    conversation_id: str,
    postings: list[tuple[int, _Posting]],
    outcomes: list[PostedMessage | DomainError | None],
) -> list[tuple[int, _Posting]]:
    """Return the postings with their attachments resolved; one whose attachments are refused gets its
    error as its outcome and is left out."""
    resolved: list[tuple[int, _Posting]] = []
    for index, posting in postings:
        if not posting.post.data.attachments:
            resolved.append((index, posting))
            continue
        try:
            shown = files.resolve_attachments(
                session,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                attachments=posting.post.data.attachments,
            )
        except DomainError as error:
            outcomes[index] = error
            continue
        resolved.append((index, replace(posting, attachments=shown)))
    return resolved


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
                    transitions.change_channel(acting, conversation, data.channel, at=now)
                if data.direction == "inbound" and conversation.status != "open":
                    if conversation.status == "closed":
                        transitions.reopen(
                            acting, conversation, status="open", reason="inbound_message", at=now
                        )
                    else:
                        transitions.publish_updated(
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
    delivery: MessageDelivery | None = None
    if (
        posting.post.checks is not None
        and data.direction == "outbound"
        and shown_to_customer(data.visibility)
    ):
        delivery = posting.post.checks.refusal(
            uow.session, tenant_id=posting.post.tenant_id, channel=channel, customer_id=customer_id
        )
    rows.append(
        {
            "id": message_id,
            "tenant_id": posting.post.tenant_id,
            "conversation_id": conversation_id,
            "customer_id": customer_id,
            "direction": data.direction,
            "author_kind": author_kind,
            "author_id": author_id,
            "visibility": data.visibility,
            "channel": channel,
            "body": data.body,
            "content_type": data.content_type,
            "attachments": [attachment.model_dump() for attachment in posting.attachments],
            "client_id": data.client_id,
            "created_at": now,
            "delivery": delivery.model_dump() if delivery is not None else None,
        }
    )
    file_ids = [attachment.id for attachment in posting.attachments if attachment.id is not None]
    if file_ids:
        files.bind_files(
            uow.session,
            tenant_id=posting.post.tenant_id,
            conversation_id=conversation_id,
            message_id=message_id,
            file_ids=file_ids,
        )
    inbound = data.direction == "inbound"
    uow.publish(
        (MessageReceived if inbound else MessageSent)(
            message_id=message_id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            channel=channel,
            direction=data.direction,
            author_kind=author_kind,
            author_id=author_id,
            body=data.body,
            content_type=data.content_type,
            attachments_count=len(posting.attachments),
            client_id=data.client_id,
            created_at=now,
            attachments=tuple(posting.attachments),
            visibility=data.visibility,
        ),
        tenant_id=posting.post.tenant_id,
        subject=conversation_id,
        source=transitions.SOURCE,
        context=posting.context,
    )
    return PostedMessage(
        message=MessageOut(
            id=message_id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            direction=data.direction,
            author_kind=author_kind,
            author_id=author_id,
            visibility=data.visibility,
            channel=channel,
            body=data.body,
            content_type=data.content_type,
            attachments=posting.attachments,
            client_id=data.client_id,
            created_at=now,
            delivery=delivery,
        ),
        created=True,
    )


def list_messages(
    session: Session,
    *,
    tenant_id: str,
    conversation_id: str,
    cursor: str | None,
    limit: int,
    visibility: Visibility | None = None,
) -> Page[MessageOut]:
    """Return a page of a conversation's messages, oldest first; raises NotFound (also for a conversation
    ``visibility`` does not see), ValidationFailed."""
    repo = ConversationRepository(session, tenant_id)
    conversation = repo.get(conversation_id)
    if visibility is not None and not visibility.allows(
        team_ids=conversation.team_ids, assignee=conversation.assignee
    ):
        raise not_found(conversation_id)
    page = repo.messages_page(conversation_id, cursor=cursor, limit=limit)
    return Page(items=[MessageOut.model_validate(m) for m in page.items], next_cursor=page.next_cursor)
