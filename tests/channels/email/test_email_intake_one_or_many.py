"""One set of rules for inbound email: the same emails taken in one at a time (each a batch of one) and
all in one batch, each on an empty database, leave the same customers, conversations, messages, files,
email rows and events, and answer each email the same."""

from __future__ import annotations

from collections import Counter
from email.message import EmailMessage as MimeMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.channels.email.support import INBOX, compose, fixture_bytes
from tests.channels.support import events_of, runtime_on_empty_database, settle
from tests.conftest import make_tenant

from cxstack.backbone.unit_of_work import Context
from cxstack.channels.email.intake import InboundEmail, inbound_email, ingest_emails
from cxstack.channels.email.models import EmailMessage, EmailThread
from cxstack.channels.email.parsing import parse_email
from cxstack.channels.email.received import StoredAttachment
from cxstack.channels.email.schemas import InboxCreate, ReceivedEmail
from cxstack.channels.email.service import create_inbox
from cxstack.config import Settings
from cxstack.kit.errors import DomainError
from cxstack.kit.files import local_file_store
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.models import Conversation, Message
from cxstack.records.customers.models import Customer
from cxstack.records.files.models import FileRecord
from cxstack.runtime import Runtime

ADA = "Ada Lovelace <ada@example.com>"
BOB = "Bob <bob@example.com>"
SAM = "Sam <sam@example.com>"
#: Where an email that names no thread goes: a thread's reply token, filled in once the seed exists.
SEED_TOKEN = "<seed-token>"


def _with_attachments(message_id: str) -> bytes:
    message = MimeMessage()
    message["From"] = "Carol <carol@example.com>"
    message["To"] = INBOX
    message["Subject"] = "Photos of the damage"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("Two photos attached.")
    message.add_attachment(b"\x89PNG one", maintype="image", subtype="png", filename="front.png")
    message.add_attachment(b"%PDF two", maintype="application", subtype="pdf", filename="receipt.pdf")
    return message.as_bytes()


def _bounce_of(message_id: str) -> bytes:
    """The DSN fixture, bouncing the email ``message_id``."""
    raw = fixture_bytes("dsn_bounce.eml")
    return raw.replace(b"msg_01HR9ZZZZZZZ.deadbeef@acme.example", message_id.encode())


#: (the raw email, the token of the address it was sent to): every case the intake knows.
EMAILS: list[tuple[bytes, str | None]] = [
    # A new thread, then replies: by In-Reply-To, by References alone.
    (compose(sender=ADA, message_id="a1@example.com", subject="Broken mug", body="My mug broke."), None),
    (compose(sender=ADA, message_id="a2@example.com", in_reply_to="a1@example.com", body="Still."), None),
    (compose(sender=ADA, message_id="a3@example.com", references=["a1@example.com"], body="Hello?"), None),
    # A reply that names no Message-ID known, to the address with the (closed) seed thread's token.
    (compose(sender=SAM, message_id="t1@example.com", subject="Re: Old order", body="Any news?"), SEED_TOKEN),
    (_bounce_of("a1@example.com"), None),
    (
        compose(
            sender=ADA,
            message_id="ooo@example.com",
            in_reply_to="a1@example.com",
            body="I am out of the office.",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        None,
    ),
    (_with_attachments("c1@example.com"), None),
    # The same Message-ID again.
    (compose(sender=ADA, message_id="a2@example.com", in_reply_to="a1@example.com", body="Still."), None),
    # Two emails of one new thread.
    (compose(sender=BOB, message_id="b1@example.com", subject="Invoice", body="Where is it?"), None),
    (compose(sender=BOB, message_id="b2@example.com", in_reply_to="b1@example.com", body="Found it."), None),
    # Someone else writing in Ada's thread is a customer of their own.
    (
        compose(sender="Dave <dave@example.com>", message_id="d1@example.com", in_reply_to="a2@example.com"),
        None,
    ),
    (compose(sender="Eve <eve@localhost>", message_id="e1@example.com"), None),
    # Naming the Message-IDs of two threads joins them; later replies go to the one that survives.
    (compose(sender=ADA, message_id="j1@example.com", references=["s1@example.com", "a1@example.com"]), None),
    (compose(sender=ADA, message_id="a4@example.com", in_reply_to="a3@example.com", body="Thanks."), None),
]


async def _seed(runtime: Runtime) -> tuple[str, str, str]:
    """A tenant, its inbox, and a thread of Sam's whose conversation is closed; return the tenant, the
    inbox and the thread's reply token."""
    tenant = await make_tenant(runtime, "acme")
    inbox = await runtime.db.write(
        lambda uow: create_inbox(uow, tenant_id=tenant.tenant_id, data=InboxCreate(address=INBOX))
    )
    seed = compose(sender=SAM, message_id="s1@example.com", subject="Old order", body="Where is my order?")
    [(_, request)] = _requests(runtime, tenant.tenant_id, inbox.id, [(seed, None)], token="")
    [received] = await runtime.db.write(lambda uow: ingest_emails(uow, [(uow.context, request)]))
    assert isinstance(received, ReceivedEmail) and received.conversation_id is not None
    conversation_id = received.conversation_id
    await runtime.db.write(
        lambda uow: conversations.close_conversation(
            uow, tenant_id=tenant.tenant_id, conversation_id=conversation_id
        )
    )
    token = await runtime.db.read(
        lambda session: session.scalar(select(EmailThread.token).where(EmailThread.id == received.thread_id))
    )
    assert token is not None
    return tenant.tenant_id, inbox.id, token


def _requests(
    runtime: Runtime, tenant_id: str, inbox_id: str, emails: list[tuple[bytes, str | None]], *, token: str
) -> list[tuple[Context, InboundEmail]]:
    store = local_file_store(runtime.settings.data_dir)
    requests = []
    for number, (raw, to_token) in enumerate(emails):
        parsed = parse_email(raw)
        attachments = [
            StoredAttachment(a.filename, a.content_type, store.put(a.data)) for a in parsed.attachments
        ]
        request = inbound_email(
            tenant_id=tenant_id,
            inbox_id=inbox_id,
            token=token if to_token == SEED_TOKEN else to_token,
            parsed=parsed,
            raw=store.put(raw),
            attachments=attachments,
        )
        requests.append((Context(actor=f"caller-{number}", correlation_id=f"corr-{number}"), request))
    return requests


async def _take_in(settings: Settings, name: str, *, batch_size: int) -> dict[str, Any]:
    """Take in ``EMAILS`` on an empty database in batches of ``batch_size``; return what became of them."""
    async with runtime_on_empty_database(settings, name) as runtime:
        tenant_id, inbox_id, token = await _seed(runtime)
        requests = _requests(runtime, tenant_id, inbox_id, EMAILS, token=token)
        outcomes: list[ReceivedEmail | DomainError] = []
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            outcomes += await runtime.db.write(lambda uow, batch=batch: ingest_emails(uow, batch))
        await settle(runtime)
        state = await runtime.db.read(lambda session: _state(session, tenant_id, outcomes))
        # Each event with the context of the email it was published for (the seed's have none of those).
        state["events"] = Counter(
            (e.type, e.correlationid if (e.correlationid or "").startswith("corr-") else None)
            for e in await events_of(runtime)
        )
        return state


def _state(session: Session, tenant_id: str, outcomes: list[ReceivedEmail | DomainError]) -> dict[str, Any]:
    """The tenant's records, with ids replaced by what names them in both runs: a customer by its email, a
    conversation by the first client id of its messages, a message by its client id."""
    customers = session.scalars(select(Customer).where(Customer.tenant_id == tenant_id)).all()
    customer = {c.id: c.email for c in customers}
    messages = session.scalars(
        select(Message).where(Message.tenant_id == tenant_id).order_by(Message.created_at, Message.id)
    ).all()
    by_conversation: dict[str, list[Message]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    conversation = {cid: min(str(m.client_id) for m in found) for cid, found in by_conversation.items()}
    client_id = {m.id: m.client_id for m in messages}

    def name(conversation_id: str | None) -> str | None:
        return None if conversation_id is None else conversation[conversation_id]

    answers: list[Any] = []
    for outcome in outcomes:
        if isinstance(outcome, DomainError):
            answers.append((type(outcome).__name__, outcome.field))
        else:
            answers.append(
                (
                    outcome.kind,
                    outcome.duplicate,
                    name(outcome.conversation_id),
                    customer.get(outcome.customer_id or ""),
                    client_id.get(outcome.conversation_message_id or ""),
                )
            )
    threads = {
        t.id: t for t in session.scalars(select(EmailThread).where(EmailThread.tenant_id == tenant_id))
    }
    emails = session.scalars(select(EmailMessage).where(EmailMessage.tenant_id == tenant_id)).all()
    files = session.scalars(select(FileRecord).where(FileRecord.tenant_id == tenant_id)).all()
    raw_of = {f"{e.id}.eml": f"raw of {e.message_id}" for e in emails}
    return {
        "answers": answers,
        "customers": sorted((c.email, c.name, c.merged_into_id is None) for c in customers),
        "conversations": sorted(
            (
                name(c.id),
                customer[c.customer_id],
                c.channel,
                c.status,
                c.subject,
                sorted((k, v if k == "inbox" else name(v)) for k, v in c.attributes.items()),
                [
                    (
                        m.direction,
                        m.author_kind,
                        customer.get(m.author_id or ""),
                        m.body,
                        m.client_id,
                        [a["name"] for a in m.attachments],
                    )
                    for m in by_conversation[c.id]
                ],
            )
            for c in session.scalars(select(Conversation).where(Conversation.tenant_id == tenant_id))
        ),
        "emails": sorted(
            (
                e.message_id,
                e.kind,
                e.direction,
                name(threads[e.thread_id].conversation_id) if e.thread_id else None,
                name(e.conversation_id),
                customer.get(e.customer_id or ""),
                client_id.get(e.cx_message_id or ""),
                sorted(a["name"] for a in e.attachments),
                e.raw_file_id is not None,
                {k: v for k, v in e.details.items()},
            )
            for e in emails
        ),
        "threads": sorted(
            (name(t.conversation_id), t.customer_address, t.joined_into_id is not None)
            for t in threads.values()
        ),
        "files": sorted(
            (
                f.source,
                raw_of.get(f.name, f.name),
                f.content_type,
                name(f.conversation_id),
                client_id.get(f.message_id or ""),
            )
            for f in files
        ),
    }


@pytest.mark.parametrize("batch_size", [len(EMAILS), 5], ids=["one batch", "batches of five"])
async def test_emails_taken_in_one_at_a_time_or_together_come_out_the_same(
    settings: Settings, batch_size: int
) -> None:
    one_at_a_time = await _take_in(settings, "one-at-a-time", batch_size=1)
    together = await _take_in(settings, "together", batch_size=batch_size)
    for part, expected in one_at_a_time.items():
        assert together[part] == expected, part
    # What the emails exercise, so that the comparison compares something.
    kinds = [answer[0] for answer in one_at_a_time["answers"]]
    assert kinds.count("bounce") == kinds.count("auto_reply") == 1
    assert ("ValidationFailed", "from") in one_at_a_time["answers"]
    assert [answer[1] for answer in one_at_a_time["answers"]].count(True) == 1
    events = one_at_a_time["events"]
    assert sorted(n for (kind, n), count in events.items() if kind == "email.received" and n) == sorted(
        f"corr-{n}" for n in (0, 1, 2, 3, 6, 8, 9, 10, 12, 13)
    )
    assert events["email.bounced", "corr-4"] == events["email.auto_replied", "corr-5"] == 1
    assert events["conversation.reopened", "corr-3"] == 1
    assert sum(joined for *_, joined in one_at_a_time["threads"]) == 1
    assert [f[1] for f in one_at_a_time["files"] if f[0] == "email_attachment"] == [
        "front.png",
        "receipt.pdf",
    ]
