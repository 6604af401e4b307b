"""Inbound email through the intake: customers found by address, threads by Message-ID, References or
reply token in any arrival order, duplicates once, bounces and auto-replies kept out of conversations,
attachments and raw messages in the file store, size limits, tenants apart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.channels.email.support import INBOX, MAX_MESSAGE_BYTES, compose, fixture_bytes
from tests.conftest import TenantKey

from cxstack.channels.email.inbound import EmailIntake, MalformedEmail
from cxstack.channels.email.schemas import ReceivedEmail
from cxstack.channels.email.service import EmailTooLarge, UnknownRecipient
from cxstack.kit.errors import NotFound, ValidationFailed
from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("inbox")


async def receive(intake: EmailIntake, raw: bytes, to: str = INBOX) -> ReceivedEmail:
    [result] = await intake.receive(raw, [await intake.destination(to)])
    return result


async def messages_of(api: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def events_of(api: httpx.AsyncClient, event_type: str) -> list[dict[str, Any]]:
    response = await api.get("/v1/events", params={"type": event_type})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_first_email_creates_customer_and_conversation_with_the_reply_text(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    result = await receive(intake, fixture_bytes("gmail_reply.eml"))
    assert result.kind == "message" and not result.duplicate
    assert result.conversation_id is not None
    customer = await api.get("/v1/customers/lookup", params={"kind": "email", "value": "jane.doe@gmail.com"})
    assert customer.status_code == 200
    assert customer.json()["id"] == result.customer_id
    assert customer.json()["name"] == "Jane Doe"
    conversation = (await api.get(f"/v1/conversations/{result.conversation_id}")).json()
    assert conversation["channel"] == "email"
    assert conversation["subject"] == "Re: Your order #4412 has shipped"
    assert conversation["customer_id"] == result.customer_id
    [message] = await messages_of(api, result.conversation_id)
    assert message["direction"] == "inbound" and message["channel"] == "email"
    assert message["author_kind"] == "customer"
    assert message["body"].startswith("Hi,\n\nThe parcel arrived but the blue mug is missing.")
    assert "Head of Coffee" not in message["body"] and "should arrive tomorrow" not in message["body"]
    assert message["client_id"].startswith("email:")
    [received] = await events_of(api, "email.received")
    assert received["data"]["conversation_id"] == result.conversation_id
    assert received["data"]["new_thread"] is True


async def test_reply_by_in_reply_to_lands_in_the_same_conversation(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    first = await receive(intake, compose(message_id="first@example.com", body="My order is late."))
    reply = await receive(
        intake,
        compose(
            message_id="second@example.com",
            in_reply_to="first@example.com",
            references=["first@example.com"],
            subject="Re: Help with my order",
            body=(
                "Any news?\n\nOn Mon, 4 Mar 2024 at 10:00, Jane Doe <jane@example.com> wrote:\n"
                "> My order is late."
            ),
        ),
    )
    assert reply.thread_id == first.thread_id
    assert reply.conversation_id == first.conversation_id
    bodies = [m["body"] for m in await messages_of(api, first.conversation_id or "")]
    assert bodies == ["My order is late.", "Any news?"]


async def test_references_alone_thread_the_reply(api: httpx.AsyncClient, intake: EmailIntake) -> None:
    first = await receive(intake, compose(message_id="root@example.com"))
    # A mail program that sets References but not In-Reply-To, naming the whole chain.
    reply = await receive(
        intake, compose(message_id="leaf@example.com", references=["older@example.com", "root@example.com"])
    )
    assert reply.conversation_id == first.conversation_id
    assert len(await messages_of(api, first.conversation_id or "")) == 2


async def test_reply_token_threads_a_reply_with_no_threading_headers(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime
) -> None:
    first = await receive(intake, compose(message_id="t1@example.com"))
    token = await runtime.db.read(
        lambda session: session.execute(
            text("SELECT token FROM email_threads WHERE id = :id"), {"id": first.thread_id}
        ).scalar_one()
    )
    # The customer's mail program dropped In-Reply-To and References but replied to the Reply-To address.
    reply = await receive(
        intake,
        compose(message_id="t2@example.com", to=f"support+{token}@acme.example"),
        to=f"support+{token}@acme.example",
    )
    assert reply.conversation_id == first.conversation_id
    # An unknown token starts a new thread rather than failing.
    stray = await receive(
        intake, compose(message_id="t3@example.com"), to="support+0000000000000000@acme.example"
    )
    assert stray.conversation_id != first.conversation_id


async def test_reply_that_arrives_before_its_parent_is_joined_when_the_parent_comes(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    # The provider delivers the reply first: it starts a thread of its own...
    child = await receive(
        intake,
        compose(
            message_id="child@example.com",
            in_reply_to="parent@example.com",
            references=["parent@example.com"],
            body="Second thought: also the lid.",
        ),
    )
    sibling = await receive(
        intake,
        compose(message_id="sibling@example.com", references=["parent@example.com"], body="And the saucer."),
    )
    assert sibling.conversation_id == child.conversation_id
    # ...and the parent, arriving later, finds that thread through the id the reply named.
    parent = await receive(intake, compose(message_id="parent@example.com", body="The mug arrived broken."))
    assert parent.thread_id == child.thread_id
    assert parent.conversation_id == child.conversation_id
    bodies = {m["body"] for m in await messages_of(api, child.conversation_id or "")}
    assert bodies == {"Second thought: also the lid.", "And the saucer.", "The mug arrived broken."}
    conversations = (await api.get("/v1/conversations")).json()["data"]
    assert len(conversations) == 1


async def test_email_linking_two_threads_joins_them(api: httpx.AsyncClient, intake: EmailIntake) -> None:
    # Two replies each naming a different, not yet seen ancestor start two threads.
    a = await receive(intake, compose(message_id="a@example.com", in_reply_to="p@example.com", body="A"))
    b = await receive(intake, compose(message_id="b@example.com", in_reply_to="g@example.com", body="B"))
    assert a.conversation_id != b.conversation_id
    # The parent arrives naming the grandparent: the two threads are one.
    p = await receive(
        intake,
        compose(
            message_id="p@example.com", in_reply_to="g@example.com", references=["g@example.com"], body="P"
        ),
    )
    assert p.thread_id == a.thread_id  # the older thread survives
    assert p.conversation_id == a.conversation_id
    later = await receive(
        intake, compose(message_id="later@example.com", in_reply_to="b@example.com", body="L")
    )
    assert later.conversation_id == a.conversation_id
    joined = (await api.get(f"/v1/conversations/{b.conversation_id}")).json()
    assert joined["attributes"]["email_joined_into"] == a.conversation_id


async def test_same_message_id_is_processed_once(api: httpx.AsyncClient, intake: EmailIntake) -> None:
    raw = fixture_bytes("outlook_reply.eml")
    first = await receive(intake, raw)
    again = await receive(intake, raw)
    assert again.duplicate and not first.duplicate
    assert again.email_id == first.email_id
    assert again.conversation_message_id == first.conversation_message_id
    assert len(await messages_of(api, first.conversation_id or "")) == 1
    assert len(await events_of(api, "email.received")) == 1
    assert len((await api.get("/v1/customers")).json()["data"]) == 1


async def test_bounce_is_recorded_and_published_not_posted(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    result = await receive(intake, fixture_bytes("dsn_bounce.eml"))
    assert result.kind == "bounce"
    assert result.conversation_id is None and result.conversation_message_id is None
    assert (await api.get("/v1/conversations")).json()["data"] == []
    assert (await api.get("/v1/customers")).json()["data"] == []
    [bounced] = await events_of(api, "email.bounced")
    assert bounced["data"]["recipients"][0]["address"] == "nobody@nowhere.example"
    assert bounced["data"]["recipients"][0]["status"] == "5.1.1"
    assert bounced["data"]["recipients"][0]["permanent"] is True
    assert bounced["data"]["original_message_id"] == "msg_01HR9ZZZZZZZ.deadbeef@acme.example"
    # Kept as it came, a file of the tenant in no conversation.
    raw = await api.get(f"/v1/files/{result.raw_file_id}/content")
    assert raw.content == fixture_bytes("dsn_bounce.eml") and raw.headers["content-type"] == "message/rfc822"


async def test_out_of_office_is_recorded_against_its_thread_and_not_posted(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    first = await receive(
        intake, compose(message_id="msg_01HQZX5V7K3M.4f2a9c1b@acme.example", sender="k.weber@firma.example")
    )
    result = await receive(intake, fixture_bytes("out_of_office.eml"))
    assert result.kind == "auto_reply"
    assert result.conversation_id == first.conversation_id
    assert result.conversation_message_id is None
    assert len(await messages_of(api, first.conversation_id or "")) == 1
    [auto] = await events_of(api, "email.auto_replied")
    assert auto["data"]["reason"] == "Auto-Submitted: auto-replied"
    assert auto["data"]["conversation_id"] == first.conversation_id


async def test_attachments_and_the_raw_message_are_files_of_the_conversation_served_by_the_file_api(
    api: httpx.AsyncClient, intake: EmailIntake, runtime: Runtime
) -> None:
    raw = fixture_bytes("attachments.eml")
    result = await receive(intake, raw)
    [message] = await messages_of(api, result.conversation_id or "")
    names = [(a["name"], a["content_type"], a["size"]) for a in message["attachments"]]
    assert names == [("mug.png", "image/png", 70), ("receipt.pdf", "application/pdf", 77)]
    # Each attachment is a file whose URL is the file API's.
    receipt = message["attachments"][1]
    assert receipt["url"] == f"/v1/files/{receipt['id']}/content"
    served = await api.get(receipt["url"])
    assert served.status_code == 200 and served.content.startswith(b"%PDF-1.4")
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == "attachment; filename*=UTF-8''receipt.pdf"

    # The raw email is a file too, named by the email's record and its event.
    assert result.raw_file_id is not None
    file = (await api.get(f"/v1/files/{result.raw_file_id}")).json()
    assert file["content_type"] == "message/rfc822" and file["size"] == len(raw)
    assert (file["conversation_id"], file["message_id"]) == (result.conversation_id, message["id"])
    served = await api.get(file["url"])
    assert served.content == raw and served.headers["content-type"] == "message/rfc822"
    [received] = await events_of(api, "email.received")
    assert received["data"]["raw_file_id"] == result.raw_file_id
    raw_file_id = await runtime.db.read(
        lambda session: session.execute(
            text("SELECT raw_file_id FROM email_messages WHERE id = :id"), {"id": result.email_id}
        ).scalar_one()
    )
    assert raw_file_id == result.raw_file_id
    listed = (await api.get(f"/v1/conversations/{result.conversation_id}/files")).json()["data"]
    assert sorted(f["name"] for f in listed) == sorted(["mug.png", "receipt.pdf", f"{result.email_id}.eml"])
    # The same email again: a duplicate, answering with the same raw file.
    again = await receive(intake, raw)
    assert again.duplicate and again.raw_file_id == result.raw_file_id


async def test_oversized_message_and_attachment_are_refused_and_nothing_is_written(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    huge = compose(message_id="huge@example.com", body="x" * (MAX_MESSAGE_BYTES + 10))
    with pytest.raises(EmailTooLarge) as too_large:
        await receive(intake, huge)
    assert too_large.value.status == 413
    assert f"the limit is {MAX_MESSAGE_BYTES} bytes" in too_large.value.detail

    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "jane@example.com", INBOX, "Big scan"
    message["Message-ID"] = "<scan@example.com>"
    message.set_content("Scan attached.")
    message.add_attachment(b"\0" * (100 * 1024), maintype="application", subtype="pdf", filename="scan.pdf")
    with pytest.raises(EmailTooLarge) as attachment_too_large:
        await receive(intake, message.as_bytes())
    assert "scan.pdf" in attachment_too_large.value.detail
    assert (await api.get("/v1/conversations")).json()["data"] == []
    assert (await api.get("/v1/customers")).json()["data"] == []


async def test_unreadable_message_and_message_without_sender_are_refused(
    api: httpx.AsyncClient, intake: EmailIntake
) -> None:
    with pytest.raises(MalformedEmail):
        await receive(intake, b"\r\n\r\n")
    no_sender = b"To: support@acme.example\r\nSubject: hi\r\nMessage-ID: <ns@x>\r\n\r\nhello\r\n"
    with pytest.raises(ValidationFailed) as refused:
        await receive(intake, no_sender)
    assert refused.value.field == "from"
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_recipient_selects_the_tenant_and_tenants_stay_apart(
    api: httpx.AsyncClient, intake: EmailIntake, other_tenant: TenantKey
) -> None:
    created = await api.post(
        "/v1/channels/email/inboxes", json={"address": "help@globex.example"}, headers=other_tenant.headers
    )
    assert created.status_code == 201
    raw = compose(message_id="shared@example.com", to="support@acme.example, help@globex.example")
    results = await intake.receive(
        raw,
        [await intake.destination("support@acme.example"), await intake.destination("help@globex.example")],
    )
    assert len(results) == 2 and not any(r.duplicate for r in results)
    acme = (await api.get("/v1/conversations")).json()["data"]
    globex = (await api.get("/v1/conversations", headers=other_tenant.headers)).json()["data"]
    assert [c["id"] for c in acme] == [results[0].conversation_id]
    assert [c["id"] for c in globex] == [results[1].conversation_id]
    # Each tenant has its own customer for the sender; neither sees the other's.
    acme_customer = (await api.get("/v1/customers")).json()["data"][0]["id"]
    assert (await api.get(f"/v1/customers/{acme_customer}", headers=other_tenant.headers)).status_code == 404
    # A reply token of one tenant's thread means nothing to another tenant's inbox.
    with pytest.raises(UnknownRecipient):
        await intake.destination("nobody@acme.example")


async def test_reply_to_a_closed_conversation_reopens_it(api: httpx.AsyncClient, intake: EmailIntake) -> None:
    first = await receive(intake, compose(message_id="c1@example.com"))
    closed = await api.post(f"/v1/conversations/{first.conversation_id}/close")
    assert closed.status_code == 200
    await receive(intake, compose(message_id="c2@example.com", in_reply_to="c1@example.com"))
    conversation = (await api.get(f"/v1/conversations/{first.conversation_id}")).json()
    assert conversation["status"] == "open"
    assert conversation["message_count"] == 2


async def test_unknown_inbox_id_is_not_found(
    intake: EmailIntake, runtime: Runtime, tenant: TenantKey
) -> None:
    from cxstack.channels.email.inbound import Destination

    with pytest.raises(NotFound):
        await intake.receive(
            compose(message_id="x@example.com"),
            [Destination(tenant.tenant_id, "ibx_nope", INBOX, None, None)],
        )
