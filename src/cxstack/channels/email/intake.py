"""Inbound email in bulk: the emails that wait together for the writer are threaded and posted in a few
statements.

``ingest_emails`` does for many inbound emails what ``threads.ingest_email`` does for one: one query finds
the Message-IDs received before, one the threads of every Message-ID named, one the senders' customers;
new senders are created together, new threads and their conversations inserted together, and the messages
posted with ``post_messages``. An email that needs more (a bounce, an automatic reply, threads to join, a
reply found by its token only) goes through ``threads.ingest_email`` by itself, after those before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email.parsing import ParsedEmail
from cxstack.channels.email.received import (
    StoredAttachment,
    customer_message,
    email_row,
    invalid_sender,
    no_sender,
    publish_received,
    received_email,
    record_attachments,
    record_raw_emails,
)
from cxstack.channels.email.repository import EmailRepository
from cxstack.channels.email.schemas import ReceivedEmail
from cxstack.channels.email.threads import ingest_email, new_token
from cxstack.kit.errors import DomainError, NotFound, ValidationFailed
from cxstack.kit.files import StoredFile
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationCreate
from cxstack.records.conversations.service import MessagePost
from cxstack.records.customers import service as customers


@dataclass(frozen=True, slots=True)
class InboundEmail:
    """One parsed and stored inbound email for one inbox, as ``ingest_emails`` takes it."""

    tenant_id: str
    inbox_id: str
    token: str | None
    parsed: ParsedEmail
    raw: StoredFile
    attachments: list[StoredAttachment]
    #: The sender's address as customers' email identities hold it (None without a usable one).
    sender_email: str | None = None
    #: Why the sender's address cannot be a customer's email identity, if it cannot.
    sender_error: ValidationFailed | None = None


def sender_identity(parsed: ParsedEmail) -> tuple[str | None, ValidationFailed | None]:
    """Return the email's sender as customers' email identities hold it, or why it cannot be one (no
    database needed: done before the write)."""
    if parsed.sender is None:
        return None, None
    address = parsed.sender.address
    try:
        return customers.normalise_email(address), None
    except ValidationFailed as error:
        return None, invalid_sender(address, error)


def inbound_email(
    *,
    tenant_id: str,
    inbox_id: str,
    token: str | None,
    parsed: ParsedEmail,
    raw: StoredFile,
    attachments: list[StoredAttachment],
    sender: tuple[str | None, ValidationFailed | None] | None = None,
) -> InboundEmail:
    """Return the request ``ingest_emails`` takes for an email; ``sender`` is ``sender_identity(parsed)``,
    worked out here when not given."""
    sender_email, sender_error = sender if sender is not None else sender_identity(parsed)
    return InboundEmail(tenant_id, inbox_id, token, parsed, raw, attachments, sender_email, sender_error)


@dataclass(slots=True)
class _NewThread:
    id: str
    context: Context
    inbox_id: str
    customer_email: str
    customer_address: str
    subject: str
    customer_id: str | None = None
    conversation_id: str | None = None


@dataclass(slots=True)
class _Planned:
    """An email of a run that is posted with the others: where it goes, and its row."""

    index: int
    context: Context
    request: InboundEmail
    thread_id: str
    #: The conversation of an existing thread (a new thread's is made with it).
    conversation_id: str | None
    #: The sender's email identity, when the customer is looked up or created by it.
    customer_email: str | None
    new_thread: bool
    email: dict[str, Any] = field(default_factory=dict)


def ingest_emails(
    uow: UnitOfWork, requests: Sequence[tuple[Context, InboundEmail]]
) -> list[ReceivedEmail | DomainError]:
    """Take in many callers' inbound emails at once, each as ``threads.ingest_email`` would; return each
    one's outcome, in order: what became of it, or the DomainError it failed with (nothing written for it).

    Customers' emails are taken in together (see the module docstring); an email that needs more is taken
    in by ``threads.ingest_email`` by itself, after those before it. Each email's events carry its caller's
    context.
    """
    outcomes: list[ReceivedEmail | DomainError | None] = [None] * len(requests)
    by_tenant: dict[str, list[int]] = {}
    for index, (_, request) in enumerate(requests):
        by_tenant.setdefault(request.tenant_id, []).append(index)
    for tenant_id, indices in by_tenant.items():
        items = [(index, *requests[index]) for index in indices]
        while items:
            items = items[_ingest_run(uow, tenant_id, items, outcomes) :]
    answered = [outcome for outcome in outcomes if outcome is not None]
    assert len(answered) == len(requests)
    return answered


def _ingest_run(
    uow: UnitOfWork,
    tenant_id: str,
    items: list[tuple[int, Context, InboundEmail]],
    outcomes: list[ReceivedEmail | DomainError | None],
) -> int:
    """Take in ``items`` together up to the first that needs taking in by itself, then that one; return
    how many of ``items`` were answered."""
    repo = EmailRepository(uow.session, tenant_id)
    received = repo.emails_by_message_ids([request.parsed.message_id for _, _, request in items])
    inboxes = repo.inboxes_among([request.inbox_id for _, _, request in items])
    named = [
        message_id
        for _, _, request in items
        if request.parsed.kind == "message"
        for message_id in (request.parsed.message_id, *request.parsed.referenced_ids)
    ]
    refs, views = repo.refs_with_threads(named)
    senders = customers.customers_by_email(
        uow.session,
        tenant_id=tenant_id,
        emails=list({r.sender_email for _, _, r in items if r.sender_email is not None}),
    )

    planned: list[_Planned] = []
    first_of: dict[str, _Planned] = {}
    repeats: list[tuple[int, _Planned]] = []
    new_refs: dict[str, str] = {}
    new_threads: dict[str, _NewThread] = {}
    new_senders: dict[str, tuple[Context, str | None]] = {}
    alone: int | None = None
    for position, (index, context, request) in enumerate(items):
        parsed = request.parsed
        if parsed.message_id in received:
            outcomes[index] = received_email(received[parsed.message_id], duplicate=True)
            continue
        if parsed.message_id in first_of:
            repeats.append((index, first_of[parsed.message_id]))
            continue
        if request.inbox_id not in inboxes:
            outcomes[index] = NotFound(f"inbox {request.inbox_id} does not exist", field="inbox_id")
            continue
        if parsed.kind != "message":
            alone = position
            break
        if parsed.sender is None:
            outcomes[index] = no_sender()
            continue
        sender = parsed.sender.address
        ids = [parsed.message_id, *parsed.referenced_ids]
        found = {thread for m in ids if (thread := refs.get(m) or new_refs.get(m)) is not None}
        if len(found) > 1 or (not found and request.token):
            alone = position
            break
        conversation_id: str | None = None
        new_thread = not found
        if found:
            (thread_id,) = found
            if thread_id in new_threads:
                by_thread_customer = new_threads[thread_id].customer_address == sender
            else:
                view, joined_into = views.get(thread_id, (None, None))
                if view is None or joined_into is not None or view.conversation_id is None:
                    alone = position
                    break
                conversation_id = view.conversation_id
                by_thread_customer = view.customer_address == sender
        else:
            thread_id, by_thread_customer = new_id("eth"), False
        customer_email: str | None = None
        if not by_thread_customer:
            if request.sender_error is not None or request.sender_email is None:
                outcomes[index] = request.sender_error or no_sender()
                continue
            customer_email = request.sender_email
            if customer_email not in senders and customer_email not in new_senders:
                new_senders[customer_email] = (context, parsed.sender.name[:200] or None)
        if new_thread:
            assert customer_email is not None
            new_threads[thread_id] = _NewThread(
                id=thread_id,
                context=context,
                inbox_id=request.inbox_id,
                customer_email=customer_email,
                customer_address=sender,
                subject=parsed.subject,
            )
        for message_id in ids:
            if message_id not in refs and message_id not in new_refs:
                new_refs[message_id] = thread_id
        item = _Planned(index, context, request, thread_id, conversation_id, customer_email, new_thread)
        planned.append(item)
        first_of[parsed.message_id] = item

    if planned:
        _write_planned(uow, repo, planned, new_threads, senders, new_senders, new_refs)
    for index, first in repeats:
        outcomes[index] = received_email(first.email, duplicate=True)
    for item in planned:
        outcomes[item.index] = received_email(item.email, duplicate=False)
    if alone is None:
        return len(items)
    index, context, request = items[alone]
    mark = len(uow.events)
    try:
        with uow.session.begin_nested():
            outcomes[index] = ingest_email(
                uow.acting_for(context),
                tenant_id=tenant_id,
                inbox_id=request.inbox_id,
                token=request.token,
                parsed=request.parsed,
                raw=request.raw,
                attachments=request.attachments,
            )
    except DomainError as error:
        del uow.events[mark:]
        outcomes[index] = error
    return alone + 1


def _write_planned(
    uow: UnitOfWork,
    repo: EmailRepository,
    planned: list[_Planned],
    new_threads: dict[str, _NewThread],
    senders: dict[str, str],
    new_senders: dict[str, tuple[Context, str | None]],
    new_refs: dict[str, str],
) -> None:
    """Create the new senders and threads of a run, post its emails and record them.

    Raises the first error a post fails with (the emails are then taken in one at a time)."""
    tenant_id = repo.tenant_id
    customer_ids = dict(senders)
    if new_senders:
        customer_ids.update(
            customers.create_customers_by_email(
                uow,
                tenant_id=tenant_id,
                people=[(context, email, name) for email, (context, name) in new_senders.items()],
            )
        )
    now = uow.clock.now()
    thread_rows: list[dict[str, Any]] = []
    for thread in new_threads.values():
        thread.customer_id = customer_ids[thread.customer_email]
        # Without a flush before each: the conversations are inserted together by the flush below.
        with uow.session.no_autoflush:
            conversation = conversations.create_conversation(
                uow.acting_for(thread.context),
                tenant_id=tenant_id,
                data=ConversationCreate(
                    customer_id=thread.customer_id, channel="email", subject=thread.subject[:500] or None
                ),
            )
        thread.conversation_id = conversation.id
        thread_rows.append(
            {
                "id": thread.id,
                "tenant_id": tenant_id,
                "inbox_id": thread.inbox_id,
                "conversation_id": conversation.id,
                "customer_id": thread.customer_id,
                "customer_address": thread.customer_address,
                "token": new_token(),
                "subject": thread.subject,
                "joined_into_id": None,
                "created_at": now,
            }
        )
    repo.insert_threads(thread_rows)
    uow.session.flush()

    posts: list[tuple[Context, MessagePost]] = []
    file_ids: list[list[str]] = []
    for item in planned:
        if item.conversation_id is None:
            item.conversation_id = new_threads[item.thread_id].conversation_id
        assert item.conversation_id is not None
        request = item.request
        author_id = customer_ids[item.customer_email] if item.customer_email is not None else None
        ids = record_attachments(
            uow, tenant_id=tenant_id, conversation_id=item.conversation_id, attachments=request.attachments
        )
        file_ids.append(ids)
        data = customer_message(request.parsed, request.attachments, ids, author_id=author_id)
        posts.append((item.context, MessagePost(tenant_id, item.conversation_id, data)))
    posted = conversations.post_messages(uow, posts)

    rows: list[dict[str, Any]] = []
    for item, outcome, ids in zip(planned, posted, file_ids, strict=True):
        if isinstance(outcome, DomainError):
            raise outcome
        request = item.request
        item.email = email_row(
            email_id=new_id("eml"),
            tenant_id=tenant_id,
            inbox_id=request.inbox_id,
            parsed=request.parsed,
            raw=request.raw,
            attachments=request.attachments,
            attachment_ids=ids,
            created_at=now,
            thread_id=item.thread_id,
            conversation_id=item.conversation_id,
            cx_message_id=outcome.message.id,
            customer_id=outcome.message.author_id or outcome.message.customer_id,
        )
        rows.append(item.email)
    record_raw_emails(uow, tenant_id=tenant_id, emails=[(item.email, item.request.raw) for item in planned])
    for item in planned:
        request = item.request
        publish_received(
            uow,
            item.email,
            attachments_count=len(request.attachments),
            new_thread=item.new_thread,
            context=item.context,
        )
    repo.insert_refs(new_refs)
    repo.insert_emails(rows)
