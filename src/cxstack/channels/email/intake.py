"""Inbound email: the emails that wait together for the writer are threaded and recorded in a few
statements, and an email alone is a batch of one, so there is one set of rules.

An inbound email belongs to the thread of any Message-ID it carries or names (its own, In-Reply-To,
References: References alone is enough); failing that, to the thread of the reply token in the address
it was sent to (``support+<token>@acme.example``, the Reply-To of every reply cxstack sends); failing
that, a customer's email starts a thread with a new conversation. An email naming the Message-IDs of
several threads joins them (``threads.join_threads``). See ``models`` for why arrival order does not
matter.

A customer's email is posted into its thread's conversation as a message of its sender, found or created
as a customer by email identity (the thread's own customer writing again is the conversation's customer,
whoever that is now, after any merge). A bounce is recorded in the thread of the email it bounced, an
automatic reply in the thread it names; neither is posted. A Message-ID already received for the tenant
changes nothing (``duplicate``).

For a run of emails, one query finds the Message-IDs received before (and the emails bounces name), one
the threads of every Message-ID named, one the senders' customers; new senders are created together, new
threads and their conversations inserted together, and the messages posted with ``post_messages``. An
email that joins threads ends its run: the run before it is written, the threads are joined, and the next
run starts with it.
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
from cxstack.channels.email.repository import EmailRepository, ThreadView
from cxstack.channels.email.schemas import ReceivedEmail
from cxstack.channels.email.threads import join_threads, new_token, record_auto_reply, record_bounce
from cxstack.kit.errors import DomainError, NotFound, ValidationFailed
from cxstack.kit.files import StoredFile
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationCreate
from cxstack.records.conversations.service import MessagePost, PostedMessage
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
class _NewConversation:
    """A thread that gets a conversation in this run: a new thread, or one that has none yet."""

    thread_id: str
    context: Context
    inbox_id: str
    customer_email: str
    customer_address: str
    subject: str
    #: The thread exists already (without a conversation; none is made so today) and is given this one.
    existing: bool
    conversation_id: str | None = None


@dataclass(slots=True)
class _Planned:
    """An email of a run: where it goes, and its row once written."""

    index: int
    context: Context
    request: InboundEmail
    thread_id: str | None
    #: The conversation of a thread that has one already (a new one is made with the thread).
    conversation_id: str | None
    #: The sender's email identity, when the customer is looked up or created by it.
    customer_email: str | None
    new_thread: bool
    email: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Run:
    """What a run of emails of one tenant knows: read before, or planned by the emails before."""

    repo: EmailRepository
    received: dict[str, dict[str, Any]]
    refs: dict[str, str]
    views: dict[str, tuple[ThreadView, str | None]]
    by_token: dict[str, ThreadView]
    senders: dict[str, str]
    planned: list[_Planned] = field(default_factory=list)
    first_of: dict[str, _Planned] = field(default_factory=dict)
    repeats: list[tuple[int, _Planned]] = field(default_factory=list)
    new_refs: dict[str, str] = field(default_factory=dict)
    new_conversations: dict[str, _NewConversation] = field(default_factory=dict)
    new_senders: dict[str, tuple[Context, str | None]] = field(default_factory=dict)
    #: The addresses of the run's inboxes, by id.
    inboxes: dict[str, str] = field(default_factory=dict)

    def view(self, thread_id: str) -> ThreadView:
        """Return a thread known to the database, following joins; raises NotFound."""
        view, joined_into = self.views.get(thread_id, (None, None))
        if view is None or joined_into is not None:
            return self.repo.thread_view(thread_id)
        return view


def ingest_emails(
    uow: UnitOfWork, requests: Sequence[tuple[Context, InboundEmail]]
) -> list[ReceivedEmail | DomainError]:
    """Take in many callers' inbound emails at once (see the module docstring); return each one's
    outcome, in order: what became of it, or the DomainError it failed with (nothing written for it).

    Fails with NotFound for an unknown inbox, ValidationFailed for a customer's email without a usable
    From address. Publishes what the records publish (``customer.created``, ``conversation.created``,
    ``message.received``...) and ``email.received``, ``email.bounced`` or ``email.auto_replied``; each
    email's events carry its caller's context. Raises (nothing written) when a post fails after the batch
    wrote for it; the database then runs each request alone.
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


def _read_run(uow: UnitOfWork, tenant_id: str, items: list[tuple[int, Context, InboundEmail]]) -> _Run:
    """Read what a run needs, in a few queries."""
    repo = EmailRepository(uow.session, tenant_id)
    requests = [request for _, _, request in items]
    originals = [
        r.parsed.bounce.original_message_id
        for r in requests
        if r.parsed.bounce is not None and r.parsed.bounce.original_message_id
    ]
    received = repo.emails_by_message_ids([r.parsed.message_id for r in requests] + originals)
    threaded = [r for r in requests if r.parsed.kind != "bounce"]
    refs, views = repo.refs_with_threads(
        [m for r in threaded for m in (r.parsed.message_id, *r.parsed.referenced_ids)]
    )
    # A token is read only for an email none of whose Message-IDs is known.
    tokens = [
        r.token
        for r in threaded
        if r.token and not any(m in refs for m in (r.parsed.message_id, *r.parsed.referenced_ids))
    ]
    senders = customers.customers_by_email(
        uow.session,
        tenant_id=tenant_id,
        emails=list({r.sender_email for r in threaded if r.parsed.kind == "message" and r.sender_email}),
    )
    return _Run(repo, received, refs, views, repo.threads_by_tokens(tokens), senders)


def _ingest_run(
    uow: UnitOfWork,
    tenant_id: str,
    items: list[tuple[int, Context, InboundEmail]],
    outcomes: list[ReceivedEmail | DomainError | None],
) -> int:
    """Take in ``items`` together up to the first that joins threads; return how many were answered (that
    one not among them: it is taken in by the next run, once its threads are joined)."""
    run = _read_run(uow, tenant_id, items)
    inboxes = run.inboxes = run.repo.inboxes_among([request.inbox_id for _, _, request in items])
    answered = len(items)
    for position, (index, context, request) in enumerate(items):
        parsed = request.parsed
        if parsed.message_id in run.received:
            outcomes[index] = received_email(run.received[parsed.message_id], duplicate=True)
            continue
        if parsed.message_id in run.first_of:
            run.repeats.append((index, run.first_of[parsed.message_id]))
            continue
        if request.inbox_id not in inboxes:
            outcomes[index] = NotFound(f"inbox {request.inbox_id} does not exist", field="inbox_id")
            continue
        if parsed.kind == "message" and parsed.sender is None:
            outcomes[index] = no_sender()
            continue
        try:
            planned = _plan(uow, run, index, context, request)
        except _JoinFirst:
            answered = position
            break
        except DomainError as error:
            outcomes[index] = error
            continue
        run.planned.append(planned)
        run.first_of[parsed.message_id] = planned

    if run.planned:
        _write_planned(uow, run)
    for index, first in run.repeats:
        outcomes[index] = received_email(first.email, duplicate=True)
    for item in run.planned:
        outcomes[item.index] = received_email(item.email, duplicate=False)
    return answered


class _JoinFirst(Exception):
    """The email joins threads after the emails planned before it: they are written first."""


def _plan(uow: UnitOfWork, run: _Run, index: int, context: Context, request: InboundEmail) -> _Planned:
    """Return where an email goes; raises the DomainError it fails with (nothing written then), or
    _JoinFirst. Joins the threads it names when nothing is planned before it in its run."""
    parsed = request.parsed
    if parsed.kind == "bounce":
        thread_id, conversation_id = _bounced_thread(run, parsed)
        return _Planned(index, context, request, thread_id, conversation_id, None, new_thread=False)
    ids = [parsed.message_id, *parsed.referenced_ids]
    named = {ref for m in ids if (ref := run.refs.get(m) or run.new_refs.get(m)) is not None}
    found = {t if t in run.new_conversations else run.view(t).id for t in named}
    if len(found) > 1:
        if run.planned:
            raise _JoinFirst
        survivor = run.view(min(found))
        if parsed.kind == "message":
            _sender_or_error(request, survivor.conversation_id is not None, survivor.customer_address)
        join_threads(uow.acting_for(context), run.repo, sorted(found))
        raise _JoinFirst
    thread: ThreadView | _NewConversation | None = None
    if found:
        (thread_id,) = found
        thread = run.new_conversations.get(thread_id) or run.view(thread_id)
    elif request.token:
        thread = run.by_token.get(request.token)
        if thread is not None and thread.id in run.new_conversations:
            thread = run.new_conversations[thread.id]
    if isinstance(thread, _NewConversation):
        thread_id, conversation_id, address = thread.thread_id, None, thread.customer_address
        has_conversation = True
    elif thread is not None:
        thread_id, conversation_id, address = thread.id, thread.conversation_id, thread.customer_address
        has_conversation = conversation_id is not None
    else:
        thread_id, conversation_id, address, has_conversation = None, None, "", False
    if parsed.kind == "auto_reply":
        return _Planned(index, context, request, thread_id, conversation_id, None, new_thread=False)

    assert parsed.sender is not None
    customer_email = _sender_or_error(request, has_conversation, address)
    if customer_email is not None and customer_email not in run.senders:
        run.new_senders.setdefault(customer_email, (context, parsed.sender.name[:200] or None))
    if not has_conversation:
        assert customer_email is not None
        existing = thread_id is not None
        thread_id = thread_id or new_id("eth")
        run.new_conversations[thread_id] = _NewConversation(
            thread_id=thread_id,
            context=context,
            inbox_id=request.inbox_id,
            customer_email=customer_email,
            customer_address=parsed.sender.address,
            subject=parsed.subject,
            existing=existing,
        )
    assert thread_id is not None
    for message_id in ids:
        if message_id not in run.refs and message_id not in run.new_refs:
            run.new_refs[message_id] = thread_id
    return _Planned(
        index, context, request, thread_id, conversation_id, customer_email, new_thread=not has_conversation
    )


def _sender_or_error(request: InboundEmail, has_conversation: bool, thread_address: str) -> str | None:
    """Return the email identity a customer's email is posted by: None when its sender is the thread's
    own customer (the thread has a conversation and the same From address). Raises ValidationFailed for a
    sender that cannot be a customer's email identity."""
    assert request.parsed.sender is not None
    if has_conversation and thread_address == request.parsed.sender.address:
        return None
    if request.sender_error is not None or request.sender_email is None:
        raise request.sender_error or no_sender()
    return request.sender_email


def _bounced_thread(run: _Run, parsed: ParsedEmail) -> tuple[str | None, str | None]:
    """Return the thread and conversation of the email a bounce names (both None when unknown)."""
    assert parsed.bounce is not None
    original_id = parsed.bounce.original_message_id
    if not original_id:
        return None, None
    before = run.first_of.get(original_id)
    if before is not None:
        return before.thread_id, before.conversation_id
    original = run.received.get(original_id)
    if original is None or original["thread_id"] is None:
        return None, None
    if original["thread_id"] in run.new_conversations:
        return original["thread_id"], None
    view = run.repo.thread_view(original["thread_id"])
    return view.id, view.conversation_id


def _write_planned(uow: UnitOfWork, run: _Run) -> None:
    """Create the new senders and conversations of a run, post its customers' emails, record every email
    and publish their events.

    Raises the first error a post fails with (the emails are then taken in one at a time)."""
    repo, tenant_id = run.repo, run.repo.tenant_id
    customer_ids = dict(run.senders)
    if run.new_senders:
        customer_ids.update(
            customers.create_customers_by_email(
                uow,
                tenant_id=tenant_id,
                people=[(context, email, name) for email, (context, name) in run.new_senders.items()],
            )
        )
    now = uow.clock.now()
    thread_rows: list[dict[str, Any]] = []
    for new in run.new_conversations.values():
        customer_id = customer_ids[new.customer_email]
        # Without a flush before each: the conversations are inserted together by the flush below.
        with uow.session.no_autoflush:
            conversation = conversations.create_conversation(
                uow.acting_for(new.context),
                tenant_id=tenant_id,
                data=ConversationCreate(
                    customer_id=customer_id,
                    channel="email",
                    subject=new.subject[:500] or None,
                    # The inbox the mail was sent to, where routing's inbound rules find it.
                    attributes={"inbox": run.inboxes[new.inbox_id]},
                ),
            )
        new.conversation_id = conversation.id
        if new.existing:
            thread = repo.thread(new.thread_id)
            thread.conversation_id, thread.customer_id = conversation.id, customer_id
            thread.customer_address = new.customer_address
            continue
        thread_rows.append(
            {
                "id": new.thread_id,
                "tenant_id": tenant_id,
                "inbox_id": new.inbox_id,
                "conversation_id": conversation.id,
                "customer_id": customer_id,
                "customer_address": new.customer_address,
                "token": new_token(),
                "subject": new.subject,
                "joined_into_id": None,
                "created_at": now,
            }
        )
    repo.insert_threads(thread_rows)
    uow.session.flush()

    posts: list[tuple[Context, MessagePost]] = []
    file_ids: list[list[str]] = []
    for item in run.planned:
        started = run.new_conversations.get(item.thread_id) if item.thread_id is not None else None
        if started is not None:
            item.conversation_id = started.conversation_id
        request = item.request
        ids = record_attachments(
            uow, tenant_id=tenant_id, conversation_id=item.conversation_id, attachments=request.attachments
        )
        file_ids.append(ids)
        if request.parsed.kind == "message":
            assert item.conversation_id is not None
            author_id = customer_ids[item.customer_email] if item.customer_email is not None else None
            data = customer_message(request.parsed, request.attachments, ids, author_id=author_id)
            posts.append((item.context, MessagePost(tenant_id, item.conversation_id, data)))
    posted = iter(conversations.post_messages(uow, posts))

    for item, ids in zip(run.planned, file_ids, strict=True):
        request = item.request
        message: PostedMessage | None = None
        if request.parsed.kind == "message":
            outcome = next(posted)
            if isinstance(outcome, DomainError):
                raise outcome
            message = outcome
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
            cx_message_id=message.message.id if message is not None else None,
            customer_id=(message.message.author_id or message.message.customer_id) if message else None,
        )
    record_raw_emails(
        uow, tenant_id=tenant_id, emails=[(item.email, item.request.raw) for item in run.planned]
    )
    for item in run.planned:
        request = item.request
        if request.parsed.kind == "bounce":
            record_bounce(uow.acting_for(item.context), repo, item.email, request.parsed)
        elif request.parsed.kind == "auto_reply":
            record_auto_reply(uow.acting_for(item.context), repo, item.email, request.parsed)
        else:
            publish_received(
                uow,
                item.email,
                attachments_count=len(request.attachments),
                new_thread=item.new_thread,
                context=item.context,
            )
    repo.insert_refs(run.new_refs)
    repo.insert_emails([item.email for item in run.planned])
