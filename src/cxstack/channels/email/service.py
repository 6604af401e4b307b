"""Email channel operations: manage inboxes, and take in one parsed email for one inbox: record it, find
its thread, and post a customer's message into the thread's conversation (bounces and automatic replies
are recorded and published, never posted).

Threading
---------
An inbound email belongs to the thread of any Message-ID it carries or names (its own, In-Reply-To,
References: References alone is enough); failing that, to the thread of the reply token in the address
it was sent to (``support+<token>@acme.example``, the Reply-To of every reply cxstack sends); failing
that, it starts a thread with a new conversation. See ``models`` for why arrival order does not matter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from cxstack.backbone.errors import Conflict, DomainError, NotFound, ValidationFailed
from cxstack.backbone.files import StoredFile
from cxstack.backbone.ids import new_id
from cxstack.backbone.pagination import Page
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email.models import EmailInbox, EmailMessage, EmailThread
from cxstack.channels.email.parsing import ParsedEmail
from cxstack.channels.email.repository import EmailRepository, ThreadView, inbox_by_address
from cxstack.channels.email.schemas import (
    BouncedRecipient,
    EmailAutoReplied,
    EmailBounced,
    EmailReceived,
    InboxCreate,
    InboxCreated,
    InboxDeleted,
    InboxOut,
    ReceivedEmail,
)
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import (
    MAX_ATTACHMENTS,
    MAX_BODY_BYTES,
    Attachment,
    ConversationCreate,
    ConversationUpdate,
    MessageCreate,
)
from cxstack.records.conversations.service import MessagePost
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate

SOURCE = "cxstack/channels/email"
TOKEN_BYTES = 8


class EmailTooLarge(DomainError):
    status = 413
    code = "email_too_large"
    title = "Email too large"


class UnknownRecipient(DomainError):
    """No inbox receives mail at the address. 406: inbound-parse providers (Mailgun) do not retry it."""

    status = 406
    code = "unknown_recipient"
    title = "Unknown recipient"


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    filename: str
    content_type: str
    file: StoredFile


# -- inboxes ---------------------------------------------------------------------------------------


def normalise_inbox_address(address: str, *, field: str = "address") -> str:
    """Return an inbox address lower-cased; raises ValidationFailed for an invalid one or one with ``+``."""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"{address!r} is not a valid email address: {error}", field=field) from None
    normalised = valid.normalized.lower()
    if "+" in normalised.split("@", 1)[0]:
        raise ValidationFailed(
            "an inbox address cannot contain '+': cxstack puts the reply token after it", field=field
        )
    return normalised


def _inbox_out(inbox: EmailInbox) -> InboxOut:
    return InboxOut(
        id=inbox.id,
        address=inbox.address,
        name=inbox.name,
        has_signing_key=inbox.signing_key is not None,
        created_at=inbox.created_at,
    )


def create_inbox(uow: UnitOfWork, *, tenant_id: str, data: InboxCreate) -> InboxOut:
    """Receive mail for the tenant at an address; raises ValidationFailed, Conflict (the address is taken,
    by this tenant or another). Publishes ``email_inbox.created``."""
    address = normalise_inbox_address(data.address)
    if inbox_by_address(uow.session, address) is not None:
        raise Conflict(f"{address} is already an inbox", field="address")
    inbox = EmailInbox(
        id=new_id("ibx"),
        tenant_id=tenant_id,
        address=address,
        name=data.name,
        signing_key=data.signing_key,
        created_at=uow.clock.now(),
    )
    uow.session.add(inbox)
    uow.session.flush()
    uow.publish(
        "email_inbox.created",
        tenant_id=tenant_id,
        subject=inbox.id,
        source=SOURCE,
        data=InboxCreated(inbox_id=inbox.id, address=address),
    )
    return _inbox_out(inbox)


def get_inbox(session: Session, *, tenant_id: str, inbox_id: str) -> InboxOut:
    """Return an inbox; raises NotFound (also for another tenant's)."""
    return _inbox_out(EmailRepository(session, tenant_id).get_inbox(inbox_id))


def list_inboxes(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[InboxOut]:
    """Return a page of the tenant's inboxes, oldest first."""
    page = EmailRepository(session, tenant_id).inboxes_page(cursor=cursor, limit=limit)
    return Page(items=[_inbox_out(inbox) for inbox in page.items], next_cursor=page.next_cursor)


def delete_inbox(uow: UnitOfWork, *, tenant_id: str, inbox_id: str) -> None:
    """Stop receiving mail at an inbox's address; raises NotFound. Publishes ``email_inbox.deleted``."""
    inbox = EmailRepository(uow.session, tenant_id).get_inbox(inbox_id)
    uow.session.delete(inbox)
    uow.publish(
        "email_inbox.deleted",
        tenant_id=tenant_id,
        subject=inbox.id,
        source=SOURCE,
        data=InboxDeleted(inbox_id=inbox.id, address=inbox.address),
    )


def find_inbox(session: Session, *, address: str) -> tuple[str, str, str | None] | None:
    """Return ``(tenant_id, inbox_id, signing_key)`` of the inbox at ``address`` (its ``+tag`` ignored)."""
    local, _, domain = address.strip().lower().rpartition("@")
    inbox = inbox_by_address(session, f"{local.partition('+')[0]}@{domain}")
    return None if inbox is None else (inbox.tenant_id, inbox.id, inbox.signing_key)


# -- threads ---------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def start_thread(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    inbox_id: str,
    conversation_id: str | None,
    customer_id: str | None,
    customer_address: str,
    subject: str,
) -> EmailThread:
    thread = EmailThread(
        id=new_id("eth"),
        tenant_id=tenant_id,
        inbox_id=inbox_id,
        conversation_id=conversation_id,
        customer_id=customer_id,
        customer_address=customer_address,
        token=new_token(),
        subject=subject,
        joined_into_id=None,
        created_at=uow.clock.now(),
    )
    uow.session.add(thread)
    return thread


def join_threads(uow: UnitOfWork, repo: EmailRepository, thread_ids: list[str]) -> EmailThread:
    """Join threads found to be one: the oldest survives; return it.

    The others' refs and emails move to it and each keeps ``joined_into_id``, so its reply token still
    leads to the survivor. From then on every message of the thread goes to the survivor's conversation;
    a joined thread's own conversation keeps the messages it already had and is marked with the
    attribute ``email_joined_into`` naming the survivor's conversation.
    """
    threads = [repo.thread(thread_id) for thread_id in thread_ids]
    survivor = min(threads, key=lambda thread: thread.id)
    for thread in threads:
        if thread.id == survivor.id:
            continue
        repo.move_thread(from_thread_id=thread.id, to_thread_id=survivor.id)
        thread.joined_into_id = survivor.id
        if thread.conversation_id and thread.conversation_id != survivor.conversation_id:
            conversations.update_conversation(
                uow,
                tenant_id=repo.tenant_id,
                conversation_id=thread.conversation_id,
                data=ConversationUpdate(attributes={"email_joined_into": survivor.conversation_id}),
            )
    return survivor


def _thread_of(
    uow: UnitOfWork, repo: EmailRepository, parsed: ParsedEmail, token: str | None
) -> tuple[EmailThread | ThreadView | None, dict[str, str]]:
    """Return the thread of an email (or None) and the refs already known among its Message-IDs."""
    known = repo.refs_of([parsed.message_id, *parsed.referenced_ids])
    found = sorted(set(known.values()))
    if len(found) > 1:
        return join_threads(uow, repo, found), known
    if found:
        return repo.thread_view(found[0]), known
    return (repo.thread_by_token(token) if token else None), known


# -- inbound ---------------------------------------------------------------------------------------


def _customer_for(uow: UnitOfWork, *, tenant_id: str, address: str, name: str) -> str:
    try:
        return customers.lookup_customer(uow.session, tenant_id=tenant_id, kind="email", value=address).id
    except ValidationFailed as error:
        raise ValidationFailed(
            f"the sender {address!r} is not a valid email address: {error.detail}", field="from"
        ) from None
    except NotFound:
        created = customers.create_customer(
            uow, tenant_id=tenant_id, data=CustomerCreate(name=name[:200] or None, email=address)
        )
        return created.id


def _body_of(parsed: ParsedEmail, attachments: list[StoredAttachment]) -> str:
    body = parsed.reply_text or parsed.text
    if not body and not attachments:
        body = parsed.subject or "(no text)"
    encoded = body.encode()
    if len(encoded) > MAX_BODY_BYTES:
        # The conversation keeps the first 64 KiB; the whole message stays in the raw email.
        body = encoded[: MAX_BODY_BYTES - 3].decode("utf-8", "ignore") + "…"
    return body


def client_id_of(message_id: str) -> str:
    """Return the conversation ``client_id`` of an email: stable for its Message-ID, at most 128 chars."""
    return "email:" + hashlib.sha256(message_id.encode()).hexdigest()[:48]


def _received(email: dict[str, Any], *, duplicate: bool) -> ReceivedEmail:
    return ReceivedEmail(
        email_id=email["id"],
        inbox_id=email["inbox_id"],
        message_id=email["message_id"],
        kind=email["kind"],
        thread_id=email["thread_id"],
        conversation_id=email["conversation_id"],
        conversation_message_id=email["cx_message_id"],
        customer_id=email["customer_id"],
        duplicate=duplicate,
    )


def _fields(email: EmailMessage) -> dict[str, Any]:
    columns = ("id", "inbox_id", "message_id", "kind", "thread_id", "conversation_id", "cx_message_id")
    return {**{column: getattr(email, column) for column in columns}, "customer_id": email.customer_id}


def ingest_email(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    inbox_id: str,
    token: str | None,
    parsed: ParsedEmail,
    raw: StoredFile,
    attachments: list[StoredAttachment],
) -> ReceivedEmail:
    """Record one inbound email for an inbox of the tenant and act on it; return what became of it.

    A customer's email is threaded (see the module docstring), its sender found or created as a customer
    by email identity, and posted into the thread's conversation (``message.received``,
    ``email.received``). A bounce publishes ``email.bounced`` and an automatic reply
    ``email.auto_replied``; neither is posted. A Message-ID already received for the tenant changes
    nothing (``duplicate``). Raises NotFound for an unknown inbox, ValidationFailed for a customer's
    email without a usable From address; nothing is written then.
    """
    repo = EmailRepository(uow.session, tenant_id)
    if repo.has_email(parsed.message_id):
        existing = repo.email_by_message_id(parsed.message_id)
        assert existing is not None
        return _received(_fields(existing), duplicate=True)
    if not repo.inbox_exists(inbox_id):
        raise NotFound(f"inbox {inbox_id} does not exist", field="inbox_id")
    email: dict[str, Any] = {
        "id": new_id("eml"),
        "tenant_id": tenant_id,
        "inbox_id": inbox_id,
        "message_id": parsed.message_id,
        "direction": "inbound",
        "kind": parsed.kind,
        "status": "received",
        "thread_id": None,
        "conversation_id": None,
        "cx_message_id": None,
        "customer_id": None,
        "from_address": parsed.sender.address if parsed.sender else "",
        "to_addresses": [mailbox.address for mailbox in parsed.to],
        "cc_addresses": [mailbox.address for mailbox in parsed.cc],
        "subject": parsed.subject,
        "in_reply_to": parsed.in_reply_to[0] if parsed.in_reply_to else None,
        "reference_ids": parsed.references,
        "sent_at": parsed.date,
        "raw_key": raw.key,
        "raw_size": raw.size,
        "attachments": [
            {"name": a.filename, "content_type": a.content_type, "size": a.file.size, "url": a.file.url}
            for a in attachments
        ],
        "details": {},
        "created_at": uow.clock.now(),
    }
    if parsed.kind == "bounce":
        _record_bounce(uow, repo, email, parsed)
    elif parsed.kind == "auto_reply":
        _record_auto_reply(uow, repo, email, parsed, token)
    else:
        _post_customer_email(uow, repo, email, parsed, token, attachments)
    repo.insert_email(email)
    return _received(email, duplicate=False)


def _record_bounce(
    uow: UnitOfWork, repo: EmailRepository, email: dict[str, Any], parsed: ParsedEmail
) -> None:
    assert parsed.bounce is not None
    original_id = parsed.bounce.original_message_id
    original = repo.email_by_message_id(original_id) if original_id else None
    if original is not None and original.thread_id is not None:
        thread = repo.thread(original.thread_id)
        email["thread_id"], email["conversation_id"] = thread.id, thread.conversation_id
    recipients = [
        BouncedRecipient(
            address=r.address,
            action=r.action,
            status=r.status,
            diagnostic=r.diagnostic,
            permanent=r.permanent,
        )
        for r in parsed.bounce.recipients
    ]
    email["details"] = {
        "recipients": [r.model_dump() for r in recipients],
        "original_message_id": original_id,
    }
    uow.publish(
        "email.bounced",
        tenant_id=repo.tenant_id,
        subject=email["conversation_id"] or email["id"],
        source=SOURCE,
        data=EmailBounced(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            from_address=email["from_address"],
            recipients=recipients,
            original_message_id=original_id,
            conversation_id=email["conversation_id"],
        ),
    )


def _record_auto_reply(
    uow: UnitOfWork, repo: EmailRepository, email: dict[str, Any], parsed: ParsedEmail, token: str | None
) -> None:
    thread, _ = _thread_of(uow, repo, parsed, token)
    if thread is not None:
        email["thread_id"], email["conversation_id"] = thread.id, thread.conversation_id
    reason = parsed.auto_reply_reason or "automatic reply"
    email["details"] = {"reason": reason}
    uow.publish(
        "email.auto_replied",
        tenant_id=repo.tenant_id,
        subject=email["conversation_id"] or email["id"],
        source=SOURCE,
        data=EmailAutoReplied(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            from_address=email["from_address"],
            subject=email["subject"],
            reason=reason,
            conversation_id=email["conversation_id"],
        ),
    )


def _post_customer_email(
    uow: UnitOfWork,
    repo: EmailRepository,
    email: dict[str, Any],
    parsed: ParsedEmail,
    token: str | None,
    attachments: list[StoredAttachment],
) -> None:
    tenant_id = repo.tenant_id
    if parsed.sender is None:
        raise ValidationFailed("the email has no From address", field="from")
    sender = parsed.sender.address
    thread, known = _thread_of(uow, repo, parsed, token)
    # The thread's own customer writing again is the conversation's customer (whoever that is now, after
    # any merge): no identity look-up needed. Anyone else is found or created by address.
    by_thread_customer = (
        thread is not None and thread.conversation_id is not None and (thread.customer_address == sender)
    )
    customer_id = (
        None
        if by_thread_customer
        else _customer_for(uow, tenant_id=tenant_id, address=sender, name=parsed.sender.name)
    )
    new_thread = thread is None or thread.conversation_id is None
    if thread is None or thread.conversation_id is None:
        assert customer_id is not None
        conversation = conversations.create_conversation(
            uow,
            tenant_id=tenant_id,
            data=ConversationCreate(
                customer_id=customer_id, channel="email", subject=parsed.subject[:500] or None
            ),
        )
        if thread is None:
            thread = start_thread(
                uow,
                tenant_id=tenant_id,
                inbox_id=email["inbox_id"],
                conversation_id=conversation.id,
                customer_id=customer_id,
                customer_address=sender,
                subject=parsed.subject,
            )
        else:
            # A thread without a conversation (none is made so today): give it this one.
            thread = repo.thread(thread.id)
            thread.conversation_id, thread.customer_id = conversation.id, customer_id
            thread.customer_address = sender
    assert thread.conversation_id is not None
    posted = conversations.post_message(
        uow,
        tenant_id=tenant_id,
        conversation_id=thread.conversation_id,
        data=MessageCreate(
            direction="inbound",
            body=_body_of(parsed, attachments),
            author_kind="customer",
            author_id=customer_id,
            channel="email",
            attachments=[
                Attachment(name=a.filename, content_type=a.content_type, size=a.file.size, url=a.file.url)
                for a in attachments[:MAX_ATTACHMENTS]
            ],
            client_id=client_id_of(parsed.message_id),
        ),
    )
    customer_id = posted.message.author_id or posted.message.customer_id
    email.update(
        thread_id=thread.id,
        conversation_id=thread.conversation_id,
        cx_message_id=posted.message.id,
        customer_id=customer_id,
    )
    repo.add_refs([parsed.message_id, *parsed.referenced_ids], thread.id, known=known)
    uow.publish(
        "email.received",
        tenant_id=tenant_id,
        subject=thread.conversation_id,
        source=SOURCE,
        data=EmailReceived(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            thread_id=thread.id,
            conversation_id=thread.conversation_id,
            conversation_message_id=posted.message.id,
            customer_id=customer_id,
            from_address=email["from_address"],
            subject=email["subject"],
            attachments_count=len(attachments),
            new_thread=new_thread,
        ),
    )


# -- inbound, many at once -------------------------------------------------------------------------


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
        return None, ValidationFailed(
            f"the sender {address!r} is not a valid email address: {error.detail}", field="from"
        )


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
    """Take in many callers' inbound emails at once, each as ``ingest_email`` would; return each one's
    outcome, in order: what became of it, or the DomainError it failed with (nothing written for it).

    Customers' emails are handled together: one query finds the Message-IDs received before, one the
    threads of every Message-ID named, one the senders' customers; new senders are created together and
    the messages posted with ``post_messages``. An email that needs more (a bounce, an automatic reply,
    threads to join, a reply found by its token only) is taken in by itself, after those before it.
    Each email's events carry its caller's context.
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
            outcomes[index] = _received(received[parsed.message_id], duplicate=True)
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
            outcomes[index] = ValidationFailed("the email has no From address", field="from")
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
                outcomes[index] = request.sender_error or ValidationFailed(
                    "the email has no From address", field="from"
                )
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
        outcomes[index] = _received(first.email, duplicate=True)
    for item in planned:
        outcomes[item.index] = _received(item.email, duplicate=False)
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
    for item in planned:
        if item.conversation_id is None:
            item.conversation_id = new_threads[item.thread_id].conversation_id
        assert item.conversation_id is not None
        parsed, attachments = item.request.parsed, item.request.attachments
        author_id = customer_ids[item.customer_email] if item.customer_email is not None else None
        data = MessageCreate(
            direction="inbound",
            body=_body_of(parsed, attachments),
            author_kind="customer",
            author_id=author_id,
            channel="email",
            attachments=[
                Attachment(name=a.filename, content_type=a.content_type, size=a.file.size, url=a.file.url)
                for a in attachments[:MAX_ATTACHMENTS]
            ],
            client_id=client_id_of(parsed.message_id),
        )
        posts.append((item.context, MessagePost(tenant_id, item.conversation_id, data)))
    posted = conversations.post_messages(uow, posts)

    rows: list[dict[str, Any]] = []
    for item, outcome in zip(planned, posted, strict=True):
        if isinstance(outcome, DomainError):
            raise outcome
        request, parsed, conversation_id = item.request, item.request.parsed, item.conversation_id
        assert conversation_id is not None
        customer_id = outcome.message.author_id or outcome.message.customer_id
        item.email = {
            "id": new_id("eml"),
            "tenant_id": tenant_id,
            "inbox_id": request.inbox_id,
            "message_id": parsed.message_id,
            "direction": "inbound",
            "kind": parsed.kind,
            "status": "received",
            "thread_id": item.thread_id,
            "conversation_id": conversation_id,
            "cx_message_id": outcome.message.id,
            "customer_id": customer_id,
            "from_address": parsed.sender.address if parsed.sender else "",
            "to_addresses": [mailbox.address for mailbox in parsed.to],
            "cc_addresses": [mailbox.address for mailbox in parsed.cc],
            "subject": parsed.subject,
            "in_reply_to": parsed.in_reply_to[0] if parsed.in_reply_to else None,
            "reference_ids": parsed.references,
            "sent_at": parsed.date,
            "raw_key": request.raw.key,
            "raw_size": request.raw.size,
            "attachments": [
                {"name": a.filename, "content_type": a.content_type, "size": a.file.size, "url": a.file.url}
                for a in request.attachments
            ],
            "details": {},
            "created_at": now,
        }
        rows.append(item.email)
        uow.publish(
            "email.received",
            tenant_id=tenant_id,
            subject=conversation_id,
            source=SOURCE,
            context=item.context,
            data=EmailReceived(
                email_id=item.email["id"],
                inbox_id=request.inbox_id,
                message_id=parsed.message_id,
                thread_id=item.thread_id,
                conversation_id=conversation_id,
                conversation_message_id=outcome.message.id,
                customer_id=customer_id,
                from_address=item.email["from_address"],
                subject=parsed.subject,
                attachments_count=len(request.attachments),
                new_thread=item.new_thread,
            ),
        )
    repo.insert_refs(new_refs)
    repo.insert_emails(rows)
