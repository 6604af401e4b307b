"""Sending a conversation's outbound messages as email replies, threaded so that the customer's mail
program shows them in the thread and the customer's answer finds its way back.

Each reply carries In-Reply-To (the last inbound Message-ID of the thread), References (that email's
chain and its id), a Message-ID of its own (``<message id>.<reply token>@<inbox domain>``, recorded so a
reply to it threads back), and Reply-To ``<inbox local part>+<reply token>@<inbox domain>``.

A reply is decided once per conversation message: ``send_reply`` (the ``message.sent`` subscription)
checks it can be sent, builds it, stores its raw bytes and records the outbound email (unique per tenant
and message, ``pending``) and the ``email.send`` effect in the handler's transaction. The relay is called
by that effect (``ReplySender``) once the transaction has committed, outside any transaction, so a slow
relay holds up no write. A relay's permanent refusal fails the reply (``email.send_failed``); a relay that
cannot be reached or says "try later" is tried again with backoff. Were the process to die after the
relay accepted the mail and before its outcome was recorded, the effect sends it again with the same
Message-ID, which mail programs show once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, formataddr
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.models import EmailInbox, EmailMessage, EmailThread
from cxstack.channels.email.received import RAW_CONTENT_TYPE
from cxstack.channels.email.repository import EmailRepository
from cxstack.channels.email.schemas import EmailSendFailed, EmailSent
from cxstack.channels.email.service import SOURCE
from cxstack.channels.email.threads import start_thread
from cxstack.kit.errors import NotFound
from cxstack.kit.files import FileStore
from cxstack.kit.ids import new_id
from cxstack.kit.smtp_relay import RelayRefused, RelaySettings, send_via_relay
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageSent, shown_to_customer
from cxstack.records.customers import service as customers
from cxstack.records.files import service as files

log = logging.getLogger(__name__)

#: The most Message-IDs a References header carries (the thread's first, then the newest).
MAX_REFERENCES = 20
#: The effect that hands one reply to the SMTP relay.
SEND_EFFECT = "email.send"
#: Why a reply was not sent, kept in its ``details``: refused by the relay for good, or the relay could not
#: be reached to the last attempt (such a reply is sent if its effect is retried).
REFUSED = "relay_refused"
UNAVAILABLE = "relay_unavailable"


def reply_address(inbox_address: str, token: str) -> str:
    local, _, domain = inbox_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def _subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return "Re: your message"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def _chain(previous: EmailMessage | None) -> tuple[str | None, list[str]]:
    if previous is None:
        return None, []
    references = [*previous.reference_ids, previous.message_id]
    if len(references) > MAX_REFERENCES:
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    return previous.message_id, references


def _fail(
    uow: UnitOfWork, data: MessageSent, tenant_id: str, reason: str, email_id: str | None = None
) -> None:
    log.warning("email reply for message %s not sent: %s", data.message_id, reason)
    uow.publish(
        EmailSendFailed(
            conversation_id=data.conversation_id,
            conversation_message_id=data.message_id,
            reason=reason,
            email_id=email_id,
        ),
        tenant_id=tenant_id,
        subject=data.conversation_id,
        source=SOURCE,
    )


def _recipient(
    uow: UnitOfWork, repo: EmailRepository, thread: EmailThread | None, data: MessageSent
) -> str | None:
    if thread is not None:
        last_inbound = repo.latest_email_of_thread(thread.id, direction="inbound")
        if last_inbound is not None and last_inbound.from_address:
            return last_inbound.from_address
    try:
        customer = customers.get_customer(uow.session, tenant_id=repo.tenant_id, customer_id=data.customer_id)
    except NotFound:
        return None
    return customer.email


def send_reply(
    uow: UnitOfWork, *, tenant_id: str, data: MessageSent, relay: RelaySettings | None, store: FileStore
) -> None:
    """Queue an outbound message of an email conversation as a reply to the customer, once.

    Does nothing for other channels, inbound messages, a message handled before, or a tenant with no inbox
    (it does not use email). Publishes ``email.send_failed`` when it cannot be sent (no relay configured,
    no address for the customer). Otherwise records the outbound email ``pending`` and queues the
    ``email.send`` effect, which hands it to the relay once this transaction commits (see ``ReplySender``).
    """
    if data.channel != "email" or data.direction != "outbound" or not shown_to_customer(data.visibility):
        return
    repo = EmailRepository(uow.session, tenant_id)
    if repo.email_for_conversation_message(data.message_id) is not None:
        return
    thread = repo.thread_of_conversation(data.conversation_id)
    inbox: EmailInbox | None = repo.find_inbox(thread.inbox_id) if thread is not None else None
    inbox = inbox or repo.first_inbox()
    if inbox is None:
        log.info("tenant %s has no email inbox; message %s is not emailed", tenant_id, data.message_id)
        return
    recipient = _recipient(uow, repo, thread, data)
    if not recipient:
        _fail(uow, data, tenant_id, "the customer has no email address")
        return
    if relay is None:
        _fail(uow, data, tenant_id, "no SMTP relay is configured (CXSTACK_SMTP_RELAY_HOST)")
        return
    if thread is None:
        conversation = conversations.get_conversation(
            uow.session, tenant_id=tenant_id, conversation_id=data.conversation_id
        )
        thread = start_thread(
            uow,
            tenant_id=tenant_id,
            inbox_id=inbox.id,
            conversation_id=data.conversation_id,
            customer_id=data.customer_id,
            customer_address=recipient,
            subject=conversation.subject or "",
        )
        uow.session.flush()
    previous = repo.latest_email_of_thread(thread.id, direction="inbound") or repo.latest_email_of_thread(
        thread.id
    )
    in_reply_to, references = _chain(previous)
    domain = inbox.address.rpartition("@")[2]
    message_id = f"{data.message_id.lower()}.{thread.token}@{domain}"

    mime = MimeMessage()
    mime["From"] = formataddr((inbox.name, inbox.address)) if inbox.name else inbox.address
    mime["To"] = str(Address(addr_spec=recipient))
    mime["Reply-To"] = reply_address(inbox.address, thread.token)
    mime["Subject"] = _subject(thread.subject or (previous.subject if previous else ""))
    mime["Date"] = format_datetime(data.created_at)
    mime["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mime["In-Reply-To"] = f"<{in_reply_to}>"
        mime["References"] = " ".join(f"<{ref}>" for ref in references)
    mime.set_content(data.body or " ")
    raw = mime.as_bytes()
    stored = store.put(raw)

    email_id = new_id("eml")
    [raw_file] = files.add_files(
        uow,
        tenant_id=tenant_id,
        files=[
            files.NewFile(
                name=f"{email_id}.eml",
                content_type=RAW_CONTENT_TYPE,
                stored=stored,
                source="email",
                conversation_id=data.conversation_id,
                message_id=data.message_id,
            )
        ],
    )
    email = EmailMessage(
        id=email_id,
        tenant_id=tenant_id,
        inbox_id=inbox.id,
        message_id=message_id,
        direction="outbound",
        kind="message",
        status="pending",
        thread_id=thread.id,
        conversation_id=data.conversation_id,
        cx_message_id=data.message_id,
        customer_id=data.customer_id,
        from_address=inbox.address,
        to_addresses=[recipient],
        cc_addresses=[],
        subject=str(mime["Subject"]),
        in_reply_to=in_reply_to,
        reference_ids=references,
        sent_at=data.created_at,
        raw_key=stored.key,
        raw_size=stored.size,
        raw_file_id=raw_file.id,
        attachments=[],
        details={},
        created_at=uow.clock.now(),
    )
    uow.session.add(email)
    repo.add_refs([message_id], thread.id)
    # The row claims the reply: a concurrent delivery of the same event fails here, before queueing.
    uow.session.flush()
    enqueue_effect(
        uow,
        tenant_id=tenant_id,
        kind=SEND_EFFECT,
        key=f"{tenant_id}:{data.message_id}",
        payload={"email_id": email.id},
    )


# -- the email.send effect -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """What one attempt at sending a reply needs, read just before it."""

    unsent: bool
    status: str
    sender: str
    recipients: list[str]
    raw: bytes


def _unsent(email: EmailMessage) -> bool:
    """Whether a reply is still to go out: queued, or given up on for a relay that could not be reached
    (its effect may be retried)."""
    return email.status == "pending" or (
        email.status == "failed" and email.details.get("reason") == UNAVAILABLE
    )


def _outgoing(session: Session, *, tenant_id: str, email_id: str, store: FileStore) -> _Outgoing | None:
    email = EmailRepository(session, tenant_id).email_by_id(email_id)
    if email is None:
        return None
    unsent = _unsent(email)
    return _Outgoing(
        unsent=unsent,
        status=email.status,
        sender=email.from_address,
        recipients=list(email.to_addresses),
        raw=store.get(email.raw_key) if unsent else b"",
    )


class ReplySender:
    """The ``email.send`` effect: hands a pending reply to the SMTP relay, outside any transaction.

    A permanent refusal (5xx) fails the reply for good (``failed``, ``email.send_failed``); a relay that
    cannot be reached or answers "try later" (4xx) is tried again; after the last attempt the reply is
    ``failed`` too. Each outcome is recorded with the effect's own (see ``cxstack.backbone.effects``).
    """

    def __init__(self, relay: RelaySettings | None, store: FileStore) -> None:
        self.relay = relay
        self.store = store

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        email_id = str(job.payload["email_id"])
        outgoing = await read(
            partial(_outgoing, tenant_id=job.tenant_id, email_id=email_id, store=self.store)
        )
        if outgoing is None or not outgoing.unsent:
            return {"skipped": outgoing.status if outgoing else "missing"}
        if self.relay is None:
            raise EffectFailed(
                "no SMTP relay is configured (CXSTACK_SMTP_RELAY_HOST)", details={"reason": REFUSED}
            )
        try:
            answer = await send_via_relay(
                self.relay, outgoing.raw, sender=outgoing.sender, recipients=outgoing.recipients
            )
        except RelayRefused as refused:
            raise EffectFailed(
                f"the relay refused the message: {refused}",
                code=str(refused.code),
                details={"reason": REFUSED},
            ) from refused
        return {"answer": answer[:500]}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        """Mark the reply sent; publish ``email.sent``."""
        if "skipped" in result:
            return
        email = EmailRepository(uow.session, job.tenant_id).email_by_id(str(job.payload["email_id"]))
        if email is None or not _unsent(email):
            return
        email.status = "sent"
        email.details = {}
        assert email.thread_id is not None and email.conversation_id is not None
        assert email.cx_message_id is not None
        uow.publish(
            EmailSent(
                email_id=email.id,
                inbox_id=email.inbox_id,
                message_id=email.message_id,
                thread_id=email.thread_id,
                conversation_id=email.conversation_id,
                conversation_message_id=email.cx_message_id,
                to=list(email.to_addresses),
                in_reply_to=email.in_reply_to,
            ),
            tenant_id=email.tenant_id,
            subject=email.conversation_id,
            source=SOURCE,
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        """Record why the reply did not go out (refused, or the relay unreachable to the last attempt);
        publish ``email.send_failed``."""
        email = EmailRepository(uow.session, job.tenant_id).email_by_id(str(job.payload["email_id"]))
        if email is None or not _unsent(email):
            return
        reason = UNAVAILABLE if failure.gave_up else str(failure.details.get("reason", REFUSED))
        email.status = "failed"
        email.details = {"error": failure.message, "code": failure.code, "reason": reason}
        assert email.conversation_id is not None and email.cx_message_id is not None
        log.warning("email reply for message %s not sent: %s", email.cx_message_id, failure.message)
        uow.publish(
            EmailSendFailed(
                conversation_id=email.conversation_id,
                conversation_message_id=email.cx_message_id,
                reason=failure.message,
                email_id=email.id,
            ),
            tenant_id=email.tenant_id,
            subject=email.conversation_id,
            source=SOURCE,
        )
