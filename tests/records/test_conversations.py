from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.backbone.log import read_events
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import NotFound
from cxstack.records.conversations.service import conversations_to_join, move_customer
from cxstack.runtime import Runtime


async def _customer(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/customers", json=fields or {"name": "Ada"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _conversation(api: httpx.AsyncClient, customer_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.post(
        "/v1/conversations", json={"customer_id": customer_id, "channel": "webchat", **fields}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _events(runtime: Runtime, *types: str) -> list[Any]:
    return await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=list(types) or None)
    )


async def test_conversation_starts_open_on_its_channel_and_is_found_by_id(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await _customer(api)
    created = await _conversation(
        api,
        customer["id"],
        channel="email",
        subject="Card declined",
        priority="high",
        attributes={"order": 42},
    )
    assert created["id"].startswith("cnv_")
    assert created["customer_id"] == customer["id"]
    assert created["origin_channel"] == created["channel"] == "email"
    assert created["status"] == "open"
    assert created["priority"] == "high"
    assert created["attributes"] == {"order": 42}
    assert created["message_count"] == 0
    assert created["closed_at"] is None and created["last_message_at"] is None
    fetched = await api.get(f"/v1/conversations/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    [event] = await _events(runtime, "conversation.created")
    assert event.subject == created["id"]
    assert event.data["customer_id"] == customer["id"]
    assert event.data["channel"] == "email"


async def test_conversation_for_an_unknown_customer_is_404_and_nothing_is_written(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post("/v1/conversations", json={"customer_id": "cus_nope", "channel": "sms"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "customer_id"
    assert (await api.get("/v1/conversations")).json()["data"] == []
    assert await _events(runtime, "conversation.created") == []


async def test_unknown_channel_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    customer = await _customer(api)
    response = await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "fax"})
    assert response.status_code == 422
    assert response.json()["field"] == "channel"


async def test_another_tenants_conversation_and_customer_are_not_found(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    other = other_tenant.headers
    path = f"/v1/conversations/{conversation['id']}"
    assert (await api.get(path, headers=other)).status_code == 404
    assert (await api.patch(path, json={"subject": "x"}, headers=other)).status_code == 404
    assert (await api.post(f"{path}/close", headers=other)).status_code == 404
    assert (await api.get(f"{path}/messages", headers=other)).status_code == 404
    posted = await api.post(f"{path}/messages", json={"direction": "inbound", "body": "hi"}, headers=other)
    assert posted.status_code == 404
    listed = await api.get("/v1/conversations", headers=other)
    assert listed.json()["data"] == []
    steal = await api.post(
        "/v1/conversations", json={"customer_id": customer["id"], "channel": "sms"}, headers=other
    )
    assert steal.status_code == 404
    assert (await api.get(path)).json()["message_count"] == 0


async def test_conversations_are_listed_with_filters_and_cursor_pagination(api: httpx.AsyncClient) -> None:
    ada = await _customer(api, name="Ada")
    bob = await _customer(api, name="Bob")
    chat = await _conversation(api, ada["id"], channel="webchat", assignee="agt_1")
    mail = await _conversation(api, ada["id"], channel="email")
    sms = await _conversation(api, bob["id"], channel="sms", status="pending", assignee="agt_1")
    call = await _conversation(api, bob["id"], channel="voice")
    await api.post(f"/v1/conversations/{call['id']}/close")

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/conversations", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids() == [chat["id"], mail["id"], sms["id"], call["id"]]
    assert await ids(order="desc") == [call["id"], sms["id"], mail["id"], chat["id"]]
    assert await ids(customer_id=ada["id"]) == [chat["id"], mail["id"]]
    assert await ids(status="pending") == [sms["id"]]
    assert await ids(status="closed") == [call["id"]]
    assert await ids(channel="email") == [mail["id"]]
    assert await ids(assignee="agt_1") == [chat["id"], sms["id"]]
    assert await ids(customer_id=bob["id"], status="open") == []
    closed_at = (await api.get(f"/v1/conversations/{call['id']}")).json()["updated_at"]
    assert await ids(
        updated_after=(await api.get(f"/v1/conversations/{sms['id']}")).json()["updated_at"]
    ) == [call["id"]]
    assert await ids(updated_after=closed_at) == []
    bad = await api.get("/v1/conversations", params={"status": "archived"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/conversations", params=params)).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [chat["id"], mail["id"], sms["id"], call["id"]]
    broken = await api.get("/v1/conversations", params={"cursor": "!!!"})
    assert broken.status_code == 422 and broken.json()["field"] == "cursor"


async def test_patch_changes_fields_and_merges_attributes(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"], attributes={"order": 42, "topic": "card"})
    path = f"/v1/conversations/{conversation['id']}"
    response = await api.patch(
        path,
        json={
            "subject": "Refund",
            "assignee": "agt_7",
            "priority": "urgent",
            "attributes": {"topic": None, "vip": True},
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["subject"], updated["assignee"], updated["priority"]) == ("Refund", "agt_7", "urgent")
    assert updated["attributes"] == {"order": 42, "vip": True}
    assert updated["updated_at"] > conversation["updated_at"]
    [event] = await _events(runtime, "conversation.updated")
    assert event.data["changes"]["assignee"] == "agt_7"
    assert event.data["previous"]["assignee"] is None
    unassigned = (await api.patch(path, json={"assignee": None})).json()
    assert unassigned["assignee"] is None
    refused = await api.patch(path, json={"priority": None})
    assert refused.status_code == 422 and refused.json()["field"] == "priority"
    unknown = await api.patch(path, json={"colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    # Nothing changed: no event.
    await api.patch(path, json={"subject": "Refund"})
    assert len(await _events(runtime, "conversation.updated")) == 2


async def test_conversation_moves_channel_and_keeps_where_it_started(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"], channel="webchat")
    path = f"/v1/conversations/{conversation['id']}"
    moved = await api.patch(path, json={"channel": "email"})
    assert moved.status_code == 200
    assert (moved.json()["origin_channel"], moved.json()["channel"]) == ("webchat", "email")

    # A message on another channel moves it too; without a channel it goes on the current one.
    sms = await api.post(
        f"{path}/messages", json={"direction": "inbound", "body": "texting now", "channel": "sms"}
    )
    assert sms.json()["channel"] == "sms"
    follow_up = await api.post(f"{path}/messages", json={"direction": "outbound", "body": "got it"})
    assert follow_up.json()["channel"] == "sms"
    now = (await api.get(path)).json()
    assert (now["origin_channel"], now["channel"]) == ("webchat", "sms")
    changes = [
        (e.data["from_channel"], e.data["to_channel"])
        for e in await _events(runtime, "conversation.channel_changed")
    ]
    assert changes == [("webchat", "email"), ("email", "sms")]
    filtered = await api.get("/v1/conversations", params={"channel": "sms"})
    assert [c["id"] for c in filtered.json()["data"]] == [conversation["id"]]


async def test_close_and_reopen_and_a_customer_writing_again_reopens(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}"
    closed = await api.post(f"{path}/close")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"] is not None
    again = await api.post(f"{path}/close")
    assert again.json()["closed_at"] == closed.json()["closed_at"]
    assert len(await _events(runtime, "conversation.closed")) == 1

    reopened = await api.post(f"{path}/reopen")
    assert reopened.json()["status"] == "open" and reopened.json()["closed_at"] is None
    await api.post(f"{path}/reopen")
    assert [e.data["reason"] for e in await _events(runtime, "conversation.reopened")] == ["request"]

    # Closing through PATCH is the same action.
    assert (await api.patch(path, json={"status": "closed"})).json()["status"] == "closed"
    assert len(await _events(runtime, "conversation.closed")) == 2
    # An agent's note does not reopen it; the customer writing again does.
    await api.post(f"{path}/messages", json={"direction": "outbound", "body": "closing note"})
    assert (await api.get(path)).json()["status"] == "closed"
    await api.post(f"{path}/messages", json={"direction": "inbound", "body": "one more thing"})
    assert (await api.get(path)).json()["status"] == "open"
    assert [e.data["reason"] for e in await _events(runtime, "conversation.reopened")] == [
        "request",
        "inbound_message",
    ]
    # A pending conversation is open again when the customer answers.
    await api.patch(path, json={"status": "pending"})
    await api.post(f"{path}/messages", json={"direction": "inbound", "body": "here you go"})
    assert (await api.get(path)).json()["status"] == "open"


async def test_message_is_added_and_counted_and_published(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}"
    response = await api.post(
        f"{path}/messages",
        json={
            "direction": "inbound",
            "body": "  my card payment failed\n",
            "attachments": [
                {
                    "name": "receipt.pdf",
                    "content_type": "application/pdf",
                    "size": 1234,
                    "url": "files/receipt.pdf",
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["id"].startswith("msg_")
    assert message["body"] == "  my card payment failed\n"
    assert (message["author_kind"], message["author_id"]) == ("customer", customer["id"])
    assert message["customer_id"] == customer["id"]
    assert message["attachments"][0]["name"] == "receipt.pdf"
    reply = await api.post(
        f"{path}/messages",
        json={"direction": "outbound", "body": "Sorry!", "author_kind": "bot", "author_id": "bot_1"},
    )
    assert reply.status_code == 201
    after = (await api.get(path)).json()
    assert after["message_count"] == 2
    assert after["last_message_at"] == reply.json()["created_at"]

    received = await _events(runtime, "message.received")
    sent = await _events(runtime, "message.sent")
    assert [e.data["message_id"] for e in received] == [message["id"]]
    assert [e.data["message_id"] for e in sent] == [reply.json()["id"]]
    assert received[0].subject == conversation["id"]
    assert received[0].data["body"] == "  my card payment failed\n"
    assert received[0].data["attachments_count"] == 1
    assert sent[0].data["author_kind"] == "bot" and sent[0].data["direction"] == "outbound"


async def test_message_author_must_match_its_direction(api: httpx.AsyncClient) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}/messages"
    wrong = await api.post(path, json={"direction": "outbound", "body": "hi", "author_kind": "customer"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "author_kind"
    empty = await api.post(path, json={"direction": "inbound", "body": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    assert (await api.get(path)).json()["data"] == []


async def test_resending_a_client_id_returns_the_first_message_and_creates_nothing(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}/messages"
    first = await api.post(path, json={"direction": "inbound", "body": "hello", "client_id": "wa-123"})
    assert first.status_code == 201
    resent = await api.post(path, json={"direction": "inbound", "body": "hello", "client_id": "wa-123"})
    assert resent.status_code == 200
    assert resent.json() == first.json()
    assert len((await api.get(path)).json()["data"]) == 1
    assert (await api.get(f"/v1/conversations/{conversation['id']}")).json()["message_count"] == 1
    assert len(await _events(runtime, "message.received")) == 1

    # The same client id in another conversation is another message.
    other = await _conversation(api, customer["id"])
    elsewhere = await api.post(
        f"/v1/conversations/{other['id']}/messages",
        json={"direction": "inbound", "body": "hello", "client_id": "wa-123"},
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first.json()["id"]


async def test_oversized_body_is_refused_and_nothing_is_written(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}/messages"
    # 32,769 characters, but 65,538 bytes of UTF-8: the limit counts bytes.
    response = await api.post(path, json={"direction": "inbound", "body": "é" * 32_769, "client_id": "big"})
    assert response.status_code == 413
    problem = response.json()
    assert problem["field"] == "body"
    assert "65538 bytes" in problem["detail"] and "64 KiB" in problem["detail"]
    assert (await api.get(path)).json()["data"] == []
    assert (await api.get(f"/v1/conversations/{conversation['id']}")).json()["message_count"] == 0
    assert await _events(runtime, "message.received") == []
    at_limit = await api.post(path, json={"direction": "inbound", "body": "x" * 65_536})
    assert at_limit.status_code == 201


async def test_messages_are_listed_oldest_first_one_page_at_a_time(api: httpx.AsyncClient) -> None:
    customer = await _customer(api)
    conversation = await _conversation(api, customer["id"])
    path = f"/v1/conversations/{conversation['id']}/messages"
    sent = []
    for n in range(5):
        direction = "inbound" if n % 2 == 0 else "outbound"
        sent.append((await api.post(path, json={"direction": direction, "body": f"m{n}"})).json()["id"])
    first = (await api.get(path, params={"limit": 2})).json()
    assert [m["body"] for m in first["data"]] == ["m0", "m1"]
    second = (await api.get(path, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    third = (await api.get(path, params={"limit": 2, "cursor": second["next_cursor"]})).json()
    assert third["next_cursor"] is None
    assert [m["id"] for m in first["data"] + second["data"] + third["data"]] == sent


async def test_move_customer_moves_conversations_and_their_messages(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    ada = await _customer(api, name="Ada")
    twin = await _customer(api, name="Ada (duplicate)")
    keep = await _conversation(api, twin["id"], channel="sms")
    move = await _conversation(api, twin["id"], channel="email")
    await api.post(f"/v1/conversations/{move['id']}/messages", json={"direction": "inbound", "body": "hi"})

    def moving(only: list[str] | None) -> Any:
        def run(uow: UnitOfWork) -> list[str]:
            return move_customer(
                uow,
                tenant_id=tenant.tenant_id,
                from_customer_id=twin["id"],
                to_customer_id=ada["id"],
                conversation_ids=only,
            )

        return run

    assert await runtime.db.write(moving([move["id"], "cnv_unknown"])) == [move["id"]]
    assert (await api.get(f"/v1/conversations/{move['id']}")).json()["customer_id"] == ada["id"]
    assert (await api.get(f"/v1/conversations/{keep['id']}")).json()["customer_id"] == twin["id"]
    messages = (await api.get(f"/v1/conversations/{move['id']}/messages")).json()["data"]
    assert [m["customer_id"] for m in messages] == [ada["id"]]
    # New messages follow the conversation's customer.
    later = await api.post(
        f"/v1/conversations/{move['id']}/messages", json={"direction": "inbound", "body": "again"}
    )
    assert later.json()["customer_id"] == ada["id"]
    assert await runtime.db.write(moving([])) == []

    assert await runtime.db.write(moving(None)) == [keep["id"]]
    listed = await api.get("/v1/conversations", params={"customer_id": ada["id"]})
    assert [c["id"] for c in listed.json()["data"]] == [keep["id"], move["id"]]
    updates = await _events(runtime, "conversation.updated")
    assert [(e.subject, e.data["changes"], e.data["previous"]) for e in updates] == [
        (move["id"], {"customer_id": ada["id"]}, {"customer_id": twin["id"]}),
        (keep["id"], {"customer_id": ada["id"]}, {"customer_id": twin["id"]}),
    ]

    def to_nobody(uow: UnitOfWork) -> list[str]:
        return move_customer(
            uow, tenant_id=tenant.tenant_id, from_customer_id=ada["id"], to_customer_id="cus_nope"
        )

    with pytest.raises(NotFound):
        await runtime.db.write(to_nobody)
    assert len((await api.get("/v1/conversations", params={"customer_id": ada["id"]})).json()["data"]) == 2


async def test_messages_posted_at_once_are_each_answered_as_if_posted_alone(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Messages that reach the writer together are written together; each caller still gets its own answer,
    and one caller's bad message or resend changes nothing for the others."""
    customer = await _customer(api)
    first = await _conversation(api, customer["id"])
    second = await _conversation(api, customer["id"])
    third = await _conversation(api, customer["id"])
    one, two, three = (f"/v1/conversations/{c['id']}/messages" for c in (first, second, third))
    earlier = await api.post(one, json={"direction": "inbound", "body": "earlier", "client_id": "c-0"})
    assert earlier.status_code == 201
    busy = asyncio.ensure_future(runtime.db.write(lambda uow: time.sleep(0.2)))
    posts = [
        (one, {"direction": "inbound", "body": "a", "client_id": "c-1"}),
        (one, {"direction": "inbound", "body": "again", "client_id": "c-0"}),  # resent from before
        (one, {"direction": "outbound", "body": "b", "author_kind": "agent", "author_id": "agt_1"}),
        (one, {"direction": "inbound", "body": "x" * (64 * 1024 + 1)}),  # too large
        (one, {"direction": "inbound", "body": "a", "client_id": "c-1"}),  # resent at the same time
        (two, {"direction": "inbound", "body": "c", "client_id": "c-1"}),  # another conversation
        (two, {"direction": "inbound", "body": "by email", "channel": "email"}),  # moves it
        ("/v1/conversations/cnv_missing/messages", {"direction": "inbound", "body": "d"}),
        (one, {"direction": "inbound", "body": "e"}),
        (three, {"direction": "inbound", "body": "f", "client_id": "c-1"}),  # with one, in one statement
        (three, {"direction": "inbound", "body": "g"}),
    ]
    answers = await asyncio.gather(*(api.post(path, json=body) for path, body in posts))
    await busy
    statuses = [answer.status_code for answer in answers]
    # Of the two posts of c-1 one creates the message (the first on the embedded driver; whichever gets
    # there first on PostgreSQL), and the other gets it back.
    assert sorted([statuses[0], statuses[4]]) == [200, 201]
    assert statuses[1:4] + statuses[5:] == [200, 201, 413, 201, 201, 404, 201, 201, 201]
    assert answers[1].json() == earlier.json()
    assert answers[4].json() == answers[0].json()
    assert answers[6].json()["channel"] == "email"
    assert answers[7].json()["field"] == "conversation_id"

    listed = (await api.get(one)).json()["data"]
    assert listed[0]["body"] == "earlier" and sorted(m["body"] for m in listed[1:]) == ["a", "b", "e"]
    assert (await api.get(f"/v1/conversations/{first['id']}")).json()["message_count"] == 4
    moved = (await api.get(f"/v1/conversations/{second['id']}")).json()
    assert (moved["message_count"], moved["channel"]) == (2, "email")
    assert (await api.get(f"/v1/conversations/{third['id']}")).json()["message_count"] == 2
    assert sorted(m["body"] for m in (await api.get(three)).json()["data"]) == ["f", "g"]
    received = await _events(runtime, "message.received", "message.sent")
    assert sorted(e.data["body"] for e in received) == ["a", "b", "by email", "c", "e", "earlier", "f", "g"]
    assert len(await _events(runtime, "conversation.channel_changed")) == 1


async def test_the_conversation_to_join_is_the_newest_open_one_on_the_channel_else_any(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    async def conversation(customer_id: str, channel: str, *, closed: bool = False) -> str:
        made = await _conversation(api, customer_id, channel=channel)
        if closed:
            assert (await api.post(f"/v1/conversations/{made['id']}/close")).status_code == 200
        conversation_id: str = made["id"]
        return conversation_id

    on_sms, elsewhere, all_closed, none = [(await _customer(api))["id"] for _ in range(4)]
    older_sms = await conversation(on_sms, "sms")
    await conversation(on_sms, "email")
    newest_sms = await conversation(on_sms, "sms")
    await conversation(on_sms, "sms", closed=True)
    await conversation(elsewhere, "sms", closed=True)
    chat = await conversation(elsewhere, "webchat")
    await conversation(all_closed, "sms", closed=True)

    found = await runtime.db.read(
        lambda session: conversations_to_join(
            session,
            tenant_id=tenant.tenant_id,
            customer_ids=[on_sms, elsewhere, all_closed, none],
            channel="sms",
        )
    )
    assert found == {on_sms: newest_sms, elsewhere: chat}
    assert older_sms not in found.values()


async def test_conversations_started_together_are_written_together_and_each_caller_gets_its_own_answer(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    ada, grace = await _customer(api), await _customer(api)
    merged = await _customer(api)
    assert (
        await api.post(f"/v1/customers/{grace['id']}/merge", json={"source_customer_id": merged["id"]})
    ).is_success
    foreign = (
        await api.post("/v1/customers", json={"name": "Elsewhere"}, headers=other_tenant.headers)
    ).json()
    busy = asyncio.ensure_future(runtime.db.write(lambda uow: time.sleep(0.2)))
    bodies: list[dict[str, object]] = [
        {"customer_id": ada["id"], "channel": "webchat", "subject": "Order 1"},
        {"customer_id": "cus_missing", "channel": "sms"},
        {"customer_id": merged["id"], "channel": "email"},
        {"customer_id": foreign["id"], "channel": "email"},  # another tenant's customer
        {"customer_id": grace["id"], "channel": "voice", "priority": "high", "attributes": {"plan": "pro"}},
    ]
    answers = await asyncio.gather(*(api.post("/v1/conversations", json=body) for body in bodies))
    await busy
    assert [answer.status_code for answer in answers] == [201, 404, 409, 404, 201]
    assert [answers[n].json()["field"] for n in (1, 2, 3)] == ["customer_id"] * 3
    assert answers[2].json()["merged_into_id"] == grace["id"]
    started = answers[4].json()
    assert (started["channel"], started["priority"], started["attributes"]) == (
        "voice",
        "high",
        {"plan": "pro"},
    )
    assert (await api.get(f"/v1/conversations/{started['id']}")).json() == started
    created = await _events(runtime, "conversation.created")
    assert sorted(e.subject for e in created) == sorted([answers[0].json()["id"], started["id"]])
