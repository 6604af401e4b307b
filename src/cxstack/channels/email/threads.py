"""Threads of inbound and outbound email: their reply tokens, starting and joining them, and what a
bounce or an automatic reply found in a thread is recorded as.

Which thread an inbound email belongs to is decided by ``intake.ingest_emails``, the one path that takes
in inbound email (one email is a batch of one).
"""

from __future__ import annotations

import secrets
from typing import Any

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.models import EmailThread
from cxstack.channels.email.parsing import ParsedEmail
from cxstack.channels.email.repository import EmailRepository
from cxstack.channels.email.schemas import (
    BouncedRecipient,
    EmailAutoReplied,
    EmailBounced,
)
from cxstack.channels.email.service import SOURCE
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationUpdate

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


# -- bounces and automatic replies ---------------------------------------------------------------


def record_bounce(uow: UnitOfWork, repo: EmailRepository, email: dict[str, Any], parsed: ParsedEmail) -> None:
    """Put a bounce's recipients and the Message-ID it names in its row's ``details`` (the row in the
    thread of the email it bounced, if known); publishes ``email.bounced``."""
    assert parsed.bounce is not None
    original_id = parsed.bounce.original_message_id
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


def record_auto_reply(
    uow: UnitOfWork, repo: EmailRepository, email: dict[str, Any], parsed: ParsedEmail
) -> None:
    """Put why an email is an automatic reply in its row's ``details`` (the row in the thread it names, if
    any); publishes ``email.auto_replied``."""
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
