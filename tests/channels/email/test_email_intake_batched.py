"""Inbound emails written together (the intake's batched write): each comes out as it would alone, whatever
else is in its batch: replies beside their parents, the same Message-ID twice, one new sender in two
threads, a bounce and refused emails in the middle, a thread that has no conversation yet, and their events
carry their own caller's context."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.channels.email.support import INBOX, compose, fixture_bytes
from tests.conftest import TenantKey

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email.inbound import EmailIntake
from cxstack.channels.email.intake import InboundEmail, inbound_email, ingest_emails
from cxstack.channels.email.models import EmailThread
from cxstack.channels.email.parsing import parse_email
from cxstack.channels.email.schemas import ReceivedEmail
from cxstack.kit.errors import DomainError, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("inbox")


async def messages_of(api: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def events_of(api: httpx.AsyncClient, event_type: str) -> list[dict[str, Any]]:
    response = await api.get("/v1/events", params={"type": event_type, "limit": 200})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def ingest_together(
    runtime: Runtime, intake: EmailIntake, raws: list[bytes], *, inbox_id: str | None = None
) -> list[ReceivedEmail | DomainError]:
    """Write ``raws`` in one call of the batched write, each with a context of its own."""
    destination = await intake.destination(INBOX)
    requests: list[tuple[Context, InboundEmail]] = []
    for number, raw in enumerate(raws):
        parsed = parse_email(raw)
        request = inbound_email(
            tenant_id=destination.tenant_id,
            inbox_id=inbox_id or destination.inbox_id,
            token=destination.token,
            parsed=parsed,
            raw=intake.store.put(raw),
            attachments=[],
        )
        requests.append((Context(actor=f"caller-{number}", correlation_id=f"corr-{number}"), request))

    def write(uow: UnitOfWork) -> list[ReceivedEmail | DomainError]:
        return ingest_emails(uow, requests)

    return await runtime.db.write(write)


async def test_a_batch_threads_replies_beside_their_parents_and_answers_each_email(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime
) -> None:
    ada = "Ada Lovelace <ada@example.com>"
    no_sender = b"To: support@acme.example\r\nSubject: hi\r\nMessage-ID: <ns@x>\r\n\r\nhello\r\n"
    outcomes = await ingest_together(
        runtime,
        intake,
        [
            # A reply that comes before its parent, then the parent: one conversation.
            compose(sender=ada, message_id="b2@example.com", in_reply_to="b1@example.com", body="Also this."),
            compose(sender=ada, message_id="b1@example.com", subject="Broken mug", body="My mug broke."),
            # The same new sender in a second thread: the same customer.
            compose(sender=ada, message_id="c1@example.com", subject="Invoice", body="Where is my invoice?"),
            compose(sender="Bob <bob@example.com>", message_id="d1@example.com", body="Hello from Bob."),
            no_sender,
            compose(sender="Eve <eve@localhost>", message_id="e1@example.com"),
            fixture_bytes("dsn_bounce.eml"),
            # The same Message-ID again, after a bounce.
            compose(sender=ada, message_id="c1@example.com", subject="Invoice", body="Where is my invoice?"),
            # A reply to the thread Bob started in this batch, from Bob.
            compose(
                sender="Bob <bob@example.com>", message_id="d2@example.com", in_reply_to="d1@example.com"
            ),
        ],
    )
    reply, parent, invoice, bob, missing_from, bad_from, bounce, again, bob_again = outcomes
    assert isinstance(reply, ReceivedEmail) and isinstance(parent, ReceivedEmail)
    assert reply.conversation_id == parent.conversation_id and reply.thread_id == parent.thread_id
    assert isinstance(invoice, ReceivedEmail) and invoice.conversation_id != parent.conversation_id
    assert invoice.customer_id == parent.customer_id == reply.customer_id
    assert isinstance(missing_from, ValidationFailed) and missing_from.field == "from"
    assert isinstance(bad_from, ValidationFailed) and "eve@localhost" in bad_from.detail
    assert isinstance(bounce, ReceivedEmail) and bounce.kind == "bounce" and bounce.conversation_id is None
    assert isinstance(again, ReceivedEmail) and again.duplicate
    assert again.email_id == invoice.email_id and again.conversation_id == invoice.conversation_id
    assert isinstance(bob, ReceivedEmail) and isinstance(bob_again, ReceivedEmail)
    assert bob_again.conversation_id == bob.conversation_id and bob.customer_id == bob_again.customer_id
    assert bob.customer_id != parent.customer_id

    assert parent.conversation_id is not None
    bodies = [m["body"] for m in await messages_of(api, parent.conversation_id)]
    assert sorted(bodies) == ["Also this.", "My mug broke."]
    customers = (await api.get("/v1/customers")).json()["data"]
    assert sorted(c["email"] for c in customers) == ["ada@example.com", "bob@example.com"]
    conversations = (await api.get("/v1/conversations")).json()["data"]
    assert len(conversations) == 3
    created = await events_of(api, "conversation.created")
    assert len(created) == 3

    # Each email's events carry its own caller's context.
    by_email = {e["data"]["email_id"]: e for e in await events_of(api, "email.received")}
    assert len(by_email) == 5
    assert by_email[reply.email_id]["correlationid"] == "corr-0"
    assert by_email[bob_again.email_id]["correlationid"] == "corr-8"
    [bounced] = await events_of(api, "email.bounced")
    assert bounced["correlationid"] == "corr-6"
    [ada_created] = [
        e for e in await events_of(api, "customer.created") if e["data"]["email"] == "ada@example.com"
    ]
    assert ada_created["correlationid"] == "corr-0"


async def test_a_batch_for_an_unknown_inbox_writes_nothing_for_it(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime
) -> None:
    [outcome] = await ingest_together(
        runtime, intake, [compose(message_id="u1@example.com")], inbox_id="ibx_nope"
    )
    assert isinstance(outcome, NotFound)
    assert (await api.get("/v1/conversations")).json()["data"] == []
    assert (await api.get("/v1/customers")).json()["data"] == []


async def test_emails_arriving_at_once_through_the_intake_are_each_taken_in_once(
    api: httpx.AsyncClient, intake: EmailIntake, tenant: TenantKey
) -> None:
    destination = await intake.destination(INBOX)
    raws = [
        compose(
            sender=f"Customer {n % 5} <customer{n % 5}@example.com>",
            message_id=f"m{n}@example.com",
            in_reply_to=f"m{n - 5}@example.com" if n >= 5 else None,
            references=[f"m{earlier}@example.com" for earlier in range(n % 5, n, 5)],
            body=f"Message {n}",
        )
        for n in range(40)
    ]
    # Each message twice, all in flight together: a provider retrying in parallel.
    results = await asyncio.gather(*(intake.receive(raw, [destination]) for raw in [*raws, *raws]))
    firsts = [result for [result] in results if not result.duplicate]
    assert len(firsts) == 40
    conversations = (await api.get("/v1/conversations", params={"limit": 100})).json()["data"]
    # Each customer's messages thread into one conversation (each names every earlier one of its thread),
    # in whatever order they are written.
    assert len(conversations) == 5
    assert sorted(c["message_count"] for c in conversations) == [8] * 5
    assert len((await api.get("/v1/customers")).json()["data"]) == 5
    assert len(await events_of(api, "email.received")) == 40


async def test_a_thread_without_a_conversation_is_given_one_by_its_first_customer_email(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime, inbox: dict[str, Any], tenant: TenantKey
) -> None:
    def add_thread(uow: UnitOfWork) -> None:
        uow.session.add(
            EmailThread(
                id=new_id("eth"),
                tenant_id=tenant.tenant_id,
                inbox_id=inbox["id"],
                conversation_id=None,
                customer_id=None,
                customer_address="",
                token="feedc0de",
                subject="Earlier",
                joined_into_id=None,
                created_at=uow.clock.now(),
            )
        )

    await runtime.db.write(add_thread)
    raws = [
        compose(sender="Zed <zed@example.com>", message_id="z1@example.com", body="First."),
        compose(sender="Zed <zed@example.com>", message_id="z2@example.com", body="Second."),
    ]
    requests = [
        (
            Context(actor="test"),
            inbound_email(
                tenant_id=tenant.tenant_id,
                inbox_id=inbox["id"],
                token="feedc0de",
                parsed=parse_email(raw),
                raw=intake.store.put(raw),
                attachments=[],
            ),
        )
        for raw in raws
    ]
    first, second = await runtime.db.write(lambda uow: ingest_emails(uow, requests))
    assert isinstance(first, ReceivedEmail) and isinstance(second, ReceivedEmail)
    assert first.thread_id == second.thread_id and first.conversation_id == second.conversation_id
    assert first.conversation_id is not None
    assert [m["body"] for m in await messages_of(api, first.conversation_id)] == ["First.", "Second."]
    received = await events_of(api, "email.received")
    assert sorted(e["data"]["new_thread"] for e in received) == [False, True]
    thread = await runtime.db.read(lambda session: session.get(EmailThread, first.thread_id))
    assert thread is not None and thread.conversation_id == first.conversation_id
    assert (thread.customer_id, thread.customer_address) == (first.customer_id, "zed@example.com")
