"""Threading inbound email, one email at a time: find an email's thread (joining threads found to be one),
and record a bounce, an automatic reply or a customer's email in it.

An inbound email belongs to the thread of any Message-ID it carries or names (its own, In-Reply-To,
References: References alone is enough); failing that, to the thread of the reply token in the address
it was sent to (``support+<token>@acme.example``, the Reply-To of every reply cxstack sends); failing
that, it starts a thread with a new conversation. See ``models`` for why arrival order does not matter.

``intake.ingest_emails`` takes in many emails at once and hands the ones that need more than a look-up
(a bounce, an automatic reply, threads to join, a reply found by its token only) to ``ingest_email``.
"""

from __future__ import annotations

import secrets
from typing import Any

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.models import EmailThread
from cxstack.channels.email.parsing import ParsedEmail
from cxstack.channels.email.received import (
    StoredAttachment,
    attachments_json,
    customer_message,
    email_row,
    fields_of,
    invalid_sender,
    no_sender,
    publish_received,
    received_email,
    record_attachments,
    record_raw_emails,
)
from cxstack.channels.email.repository import EmailRepository, ThreadView
from cxstack.channels.email.schemas import (
    BouncedRecipient,
    EmailAutoReplied,
    EmailBounced,
    ReceivedEmail,
)
from cxstack.channels.email.service import SOURCE
from cxstack.kit.errors import NotFound, ValidationFailed
from cxstack.kit.files import StoredFile
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationCreate, ConversationUpdate
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate

TOKEN_BYTES = 8


# -- threads ---------------------------------------------------------------------------------------


def new_token() -> str:
    """Return a new thread's reply token (the ``+tag`` of the Reply-To address its replies carry)."""
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
    """Start a thread with a new reply token in this unit of work; return it."""
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


def thread_of(
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


# -- one inbound email -----------------------------------------------------------------------------


def _customer_for(uow: UnitOfWork, *, tenant_id: str, address: str, name: str) -> str:
    try:
        return customers.lookup_customer(uow.session, tenant_id=tenant_id, kind="email", value=address).id
    except ValidationFailed as error:
        raise invalid_sender(address, error) from None
    except NotFound:
        created = customers.create_customer(
            uow, tenant_id=tenant_id, data=CustomerCreate(name=name[:200] or None, email=address)
        )
        return created.id


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
        return received_email(fields_of(existing), duplicate=True)
    if not repo.inbox_exists(inbox_id):
        raise NotFound(f"inbox {inbox_id} does not exist", field="inbox_id")
    email = email_row(
        email_id=new_id("eml"),
        tenant_id=tenant_id,
        inbox_id=inbox_id,
        parsed=parsed,
        raw=raw,
        attachments=attachments,
        attachment_ids=[],
        created_at=uow.clock.now(),
    )
    if parsed.kind == "bounce":
        _record_bounce(uow, repo, email, parsed)
    elif parsed.kind == "auto_reply":
        _record_auto_reply(uow, repo, email, parsed, token)
    else:
        _post_customer_email(uow, repo, email, parsed, token, raw, attachments)
    if email["raw_file_id"] is None:
        file_ids = record_attachments(
            uow, tenant_id=tenant_id, conversation_id=email["conversation_id"], attachments=attachments
        )
        email["attachments"] = attachments_json(attachments, file_ids)
        record_raw_emails(uow, tenant_id=tenant_id, emails=[(email, raw)])
    repo.insert_email(email)
    return received_email(email, duplicate=False)


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
        EmailBounced(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            from_address=email["from_address"],
            recipients=recipients,
            original_message_id=original_id,
            conversation_id=email["conversation_id"],
        ),
        tenant_id=repo.tenant_id,
        subject=email["conversation_id"] or email["id"],
        source=SOURCE,
    )


def _record_auto_reply(
    uow: UnitOfWork, repo: EmailRepository, email: dict[str, Any], parsed: ParsedEmail, token: str | None
) -> None:
    thread, _ = thread_of(uow, repo, parsed, token)
    if thread is not None:
        email["thread_id"], email["conversation_id"] = thread.id, thread.conversation_id
    reason = parsed.auto_reply_reason or "automatic reply"
    email["details"] = {"reason": reason}
    uow.publish(
        EmailAutoReplied(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            from_address=email["from_address"],
            subject=email["subject"],
            reason=reason,
            conversation_id=email["conversation_id"],
        ),
        tenant_id=repo.tenant_id,
        subject=email["conversation_id"] or email["id"],
        source=SOURCE,
    )


def _post_customer_email(
    uow: UnitOfWork,
    repo: EmailRepository,
    email: dict[str, Any],
    parsed: ParsedEmail,
    token: str | None,
    raw: StoredFile,
    attachments: list[StoredAttachment],
) -> None:
    tenant_id = repo.tenant_id
    if parsed.sender is None:
        raise no_sender()
    sender = parsed.sender.address
    thread, known = thread_of(uow, repo, parsed, token)
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
    file_ids = record_attachments(
        uow, tenant_id=tenant_id, conversation_id=thread.conversation_id, attachments=attachments
    )
    posted = conversations.post_message(
        uow,
        tenant_id=tenant_id,
        conversation_id=thread.conversation_id,
        data=customer_message(parsed, attachments, file_ids, author_id=customer_id),
    )
    customer_id = posted.message.author_id or posted.message.customer_id
    email.update(
        thread_id=thread.id,
        conversation_id=thread.conversation_id,
        cx_message_id=posted.message.id,
        customer_id=customer_id,
        attachments=attachments_json(attachments, file_ids),
    )
    record_raw_emails(uow, tenant_id=tenant_id, emails=[(email, raw)])
    repo.add_refs([parsed.message_id, *parsed.referenced_ids], thread.id, known=known)
    publish_received(uow, email, attachments_count=len(attachments), new_thread=new_thread)
