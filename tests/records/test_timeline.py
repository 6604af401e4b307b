from __future__ import annotations

import asyncio
import random
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.backbone.delivery import reset_subscription
from cxstack.backbone.envelope import Event
from cxstack.backbone.log import read_events
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.records.cases.service import move_customer as move_case_customer
from cxstack.records.conversations.service import move_customer
from cxstack.records.timeline.handlers import HANDLERS, SUBSCRIPTION
from cxstack.records.timeline.models import TimelineEntry
from cxstack.records.timeline.service import clear_timeline
from cxstack.runtime import Runtime


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def _timeline(api: httpx.AsyncClient, customer_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a customer's timeline, fetched page by page."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(f"/v1/customers/{customer_id}/timeline", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def _omnichannel_history(api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    customer = await _post(api, "/v1/customers", {"name": "Ada", "email": "ada@example.com"})
    chat = await _post(api, "/v1/conversations", {"customer_id": customer["id"], "channel": "webchat"})
    mail = await _post(
        api, "/v1/conversations", {"customer_id": customer["id"], "channel": "email", "subject": "Invoice"}
    )
    text = await _post(api, "/v1/conversations", {"customer_id": customer["id"], "channel": "sms"})
    ids = {"chat": chat["id"], "mail": mail["id"], "text": text["id"]}
    for conversation, direction, body in [
        ("chat", "inbound", "Hi, my card payment failed"),
        ("mail", "inbound", "Please send my invoice"),
        ("chat", "outbound", "Sorry about that, retrying now"),
        ("text", "inbound", "Did it work?"),
        ("mail", "outbound", "Invoice attached"),
        ("text", "outbound", "Yes, all done"),
    ]:
        await _post(
            api, f"/v1/conversations/{ids[conversation]}/messages", {"direction": direction, "body": body}
        )
    await _post(api, f"/v1/conversations/{ids['chat']}/close", {}, status=200)
    return customer, ids


async def test_timeline_shows_chat_email_and_sms_in_the_order_they_happened(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer, ids = await _omnichannel_history(api)
    assert runtime.bus is not None
    await runtime.bus.drain()

    entries = await _timeline(api, customer["id"])
    shown = [(e["kind"], e["channel"], e["summary"]) for e in entries]
    # The SMS channel refuses the reply when it delivers it (its subscription, running beside the
    # requests): after the reply, but before or after the chat's close.
    refused = (
        "message.delivery_failed",
        "sms",
        f"Message not delivered by sms (refused, no_phone): customer {customer['id']} has no phone "
        "number; the message was not sent",
    )
    assert refused in shown
    assert shown.index(refused) > shown.index(("message.sent", "sms", "Yes, all done"))
    assert [row for row in shown if row != refused] == [
        ("customer.created", None, "Customer record created: Ada"),
        ("identity.linked", None, "Identity linked: email ada@example.com"),
        ("conversation.created", "webchat", "Conversation started on webchat"),
        ("conversation.created", "email", "Conversation started on email: Invoice"),
        ("conversation.created", "sms", "Conversation started on sms"),
        ("message.received", "webchat", "Hi, my card payment failed"),
        ("message.received", "email", "Please send my invoice"),
        ("message.sent", "webchat", "Sorry about that, retrying now"),
        ("message.received", "sms", "Did it work?"),
        ("message.sent", "email", "Invoice attached"),
        ("message.sent", "sms", "Yes, all done"),
        ("conversation.closed", "webchat", "Conversation closed after 2 messages"),
    ]
    assert [e["occurred_at"] for e in entries] == sorted(e["occurred_at"] for e in entries)
    messages = [e for e in entries if e["kind"] in ("message.received", "message.sent")]
    assert all(e["ref_id"].startswith("msg_") for e in messages)
    assert [e["conversation_id"] for e in messages] == [
        ids["chat"],
        ids["mail"],
        ids["chat"],
        ids["text"],
        ids["mail"],
        ids["text"],
    ]

    only_sms = await _timeline(api, customer["id"], channel="sms")
    assert [e["summary"] for e in only_sms] == [
        "Conversation started on sms",
        "Did it work?",
        "Yes, all done",
        refused[2],
    ]
    paged = await _timeline(api, customer["id"], limit=5)
    assert paged == entries
    newest_first = await _timeline(api, customer["id"], order="desc", limit=4)
    assert newest_first == entries[::-1]


async def test_timeline_is_rebuilt_identically_after_reset_and_replay(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer, _ = await _omnichannel_history(api)
    assert runtime.bus is not None
    await runtime.bus.drain()
    before = await _timeline(api, customer["id"])
    subscription = runtime.subscriptions.get(SUBSCRIPTION)

    def reset(uow: UnitOfWork) -> int:
        reset_subscription(uow, subscription=subscription)
        return uow.session.scalar(select(func.count()).select_from(TimelineEntry)) or 0

    assert await runtime.db.write(reset) == 0
    assert await _timeline(api, customer["id"]) == []
    await runtime.bus.drain()
    assert await _timeline(api, customer["id"]) == before


async def test_handling_an_event_twice_records_it_once(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer, _ = await _omnichannel_history(api)
    assert runtime.bus is not None
    await runtime.bus.drain()
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=100, types=["message.received"])
    )

    def redeliver(uow: UnitOfWork) -> None:
        for event in events:
            HANDLERS(uow, event)

    await runtime.db.write(redeliver)
    entries = await _timeline(api, customer["id"])
    assert len([e for e in entries if e["kind"] == "message.received"]) == 3


async def test_a_moved_conversation_takes_its_entries_to_the_new_customer(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    customer, ids = await _omnichannel_history(api)
    other = await _post(api, "/v1/customers", {"name": "Ada (duplicate)"})
    assert runtime.bus is not None
    await runtime.bus.drain()

    def move(uow: UnitOfWork) -> list[str]:
        return move_customer(
            uow,
            tenant_id=tenant.tenant_id,
            from_customer_id=customer["id"],
            to_customer_id=other["id"],
            conversation_ids=[ids["mail"]],
        )

    assert await runtime.db.write(move) == [ids["mail"]]
    await _post(api, f"/v1/conversations/{ids['mail']}/messages", {"direction": "inbound", "body": "Thanks!"})
    await runtime.bus.drain()

    moved = await _timeline(api, other["id"])
    assert [(e["kind"], e["summary"]) for e in moved] == [
        # The moved conversation keeps its place in time, before the duplicate record was created.
        ("conversation.created", "Conversation started on email: Invoice"),
        ("message.received", "Please send my invoice"),
        ("message.sent", "Invoice attached"),
        ("customer.created", "Customer record created: Ada (duplicate)"),
        ("message.received", "Thanks!"),
    ]
    assert all(e["customer_id"] == other["id"] for e in moved)
    stayed = await _timeline(api, customer["id"])
    assert ids["mail"] not in {e["conversation_id"] for e in stayed}
    assert len(stayed) == 10  # with the SMS reply that could not be delivered (Ada has no phone)

    # A replay reaches the same state: the move is in the log after the entries it moves.
    subscription = runtime.subscriptions.get(SUBSCRIPTION)
    await runtime.db.write(lambda uow: reset_subscription(uow, subscription=subscription))
    await runtime.bus.drain()
    assert await _timeline(api, other["id"]) == moved
    assert await _timeline(api, customer["id"]) == stayed


async def test_timeline_of_an_unknown_or_another_tenants_customer_is_not_found(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    customer = await _post(api, "/v1/customers", {"name": "Ada"})
    assert (await api.get("/v1/customers/cus_nope/timeline")).status_code == 404
    response = await api.get(f"/v1/customers/{customer['id']}/timeline", headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.json()["field"] == "customer_id"
    bad = await api.get(f"/v1/customers/{customer['id']}/timeline", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    # An empty page is asked whether its customer exists: one who does gets the empty page.
    empty = await api.get(f"/v1/customers/{customer['id']}/timeline", params={"channel": "voice"})
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"data": [], "next_cursor": None}


async def _drain(runtime: Runtime) -> None:
    assert runtime.bus is not None
    await runtime.bus.drain()


async def _message(api: httpx.AsyncClient, conversation_id: str, direction: str, body: str) -> None:
    await _post(api, f"/v1/conversations/{conversation_id}/messages", {"direction": direction, "body": body})


async def _two_customers(api: httpx.AsyncClient) -> tuple[str, str, str, str]:
    """Ada (the merge target) and a duplicate of her (the source), each with a webchat conversation; the
    duplicate also has an identity of her own, a case and a note. Return both ids and both chats."""
    ada = await _post(api, "/v1/customers", {"name": "Ada Lovelace", "email": "ada@example.com"})
    ada_chat = await _post(api, "/v1/conversations", {"customer_id": ada["id"], "channel": "webchat"})
    duplicate = await _post(api, "/v1/customers", {"name": "A. Lovelace", "phone": "+44 20 7946 0958"})
    dup_chat = await _post(api, "/v1/conversations", {"customer_id": duplicate["id"], "channel": "webchat"})
    await _message(api, ada_chat["id"], "inbound", "Where is my order?")
    await _message(api, dup_chat["id"], "inbound", "Hello, it's Ada on my phone")
    await _post(
        api,
        f"/v1/customers/{duplicate['id']}/identities",
        {"kind": "external", "system": "crm", "value": "0031x"},
    )
    await _post(api, "/v1/cases", {"customer_id": duplicate["id"], "subject": "Refund", "priority": "high"})
    await _post(
        api,
        "/v1/notes",
        {"target_type": "customer", "target_id": duplicate["id"], "body": "Prefers SMS", "author": "Grace"},
    )
    await _message(api, ada_chat["id"], "outbound", "It ships tomorrow")
    await _message(api, dup_chat["id"], "outbound", "Hi Ada, how can we help?")
    return ada["id"], duplicate["id"], ada_chat["id"], dup_chat["id"]


def _handle(uow: UnitOfWork, events: list[Event]) -> None:
    for event in events:
        HANDLERS(uow, event)


def _rebuild(uow: UnitOfWork, events: list[Event]) -> None:
    """Build the timeline afresh from ``events``, handled in the order given."""
    clear_timeline(uow)
    _handle(uow, events)


async def _replay_timeline(runtime: Runtime) -> None:
    subscription = runtime.subscriptions.get(SUBSCRIPTION)
    await runtime.db.write(lambda uow: reset_subscription(uow, subscription=subscription))
    await _drain(runtime)


async def test_a_merge_shows_the_source_history_on_the_target_and_its_undo_restores_both_timelines(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    ada, duplicate, _, dup_chat = await _two_customers(api)
    await _drain(runtime)
    ada_before = await _timeline(api, ada)
    duplicate_before = await _timeline(api, duplicate)
    assert [e["kind"] for e in duplicate_before] == [
        "customer.created",
        "identity.linked",
        "conversation.created",
        "message.received",
        "identity.linked",
        "case.created",
        "note.added",
        "message.sent",
    ]

    merge = await _post(api, f"/v1/customers/{ada}/merge", {"source_customer_id": duplicate})
    await _drain(runtime)

    merged = await _timeline(api, ada)
    assert all(e["customer_id"] == ada for e in merged)
    # Both histories, interleaved in the order things happened; each one's own order kept.
    assert sorted(e["id"] for e in merged) == sorted(e["id"] for e in ada_before + duplicate_before)
    assert [e["occurred_at"] for e in merged] == sorted(e["occurred_at"] for e in merged)
    ids = [e["id"] for e in merged]
    assert [e for e in ids if e in {x["id"] for x in ada_before}] == [e["id"] for e in ada_before]
    assert [e for e in ids if e in {x["id"] for x in duplicate_before}] == [e["id"] for e in duplicate_before]
    assert [(e["kind"], e["summary"]) for e in merged if e["ref_id"] == duplicate] == [
        ("customer.created", "Customer record created: A. Lovelace")
    ]
    assert [e["summary"] for e in merged if e["kind"] == "identity.linked"] == [
        "Identity linked: email ada@example.com",
        "Identity linked: phone +442079460958",
        "Identity linked: crm id 0031x",
    ]
    assert [e["summary"] for e in merged if e["conversation_id"] == dup_chat] == [
        "Conversation started on webchat",
        "Hello, it's Ada on my phone",
        "Hi Ada, how can we help?",
    ]
    assert [e["summary"] for e in merged if e["kind"] in ("case.created", "note.added")] == [
        "Case opened: Refund (high priority)",
        "Note by Grace: Prefers SMS",
    ]
    assert await _timeline(api, duplicate) == []

    await _post(api, f"/v1/merges/{merge['id']}/undo", {}, status=200)
    await _drain(runtime)
    assert await _timeline(api, ada) == ada_before
    assert await _timeline(api, duplicate) == duplicate_before

    # The merge and its undo move conversation and case entries themselves: the timelines are right
    # while the conversation.updated and case.updated events they caused are still to be handled.
    subscription = runtime.subscriptions.get(SUBSCRIPTION)
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=subscription.types)
    )
    held_back = [e for e in events if e.type not in ("conversation.updated", "case.updated")]
    merged_at = next(e.seq for e in events if e.type == "customer.merged")
    await runtime.db.write(lambda uow: _rebuild(uow, [e for e in held_back if e.seq <= merged_at]))
    assert await _timeline(api, ada) == merged
    await runtime.db.write(lambda uow: _rebuild(uow, held_back))
    assert await _timeline(api, ada) == ada_before
    assert await _timeline(api, duplicate) == duplicate_before

    # A replay of the whole log (merge and undo included) rebuilds the same two timelines.
    await _replay_timeline(runtime)
    assert await _timeline(api, ada) == ada_before
    assert await _timeline(api, duplicate) == duplicate_before


def _interleavings(events: list[Event]) -> dict[str, list[Event]]:
    """Orders a delivery may hand ``events`` over in: each subject's events in log order, subjects mixed
    in any way (one subject's whole stream before the next, either way round, or shuffled)."""
    by_subject: dict[str, list[Event]] = {}
    for event in events:
        by_subject.setdefault(event.subject, []).append(event)
    orders = {
        "log order": list(events),
        "subjects in order": [e for subject in by_subject for e in by_subject[subject]],
        "subjects reversed": [e for subject in reversed(by_subject) for e in by_subject[subject]],
    }
    for seed in range(5):
        chooser = random.Random(seed)
        queues = {subject: list(stream) for subject, stream in by_subject.items()}
        shuffled: list[Event] = []
        while queues:
            subject = chooser.choice(sorted(queues))
            shuffled.append(queues[subject].pop(0))
            if not queues[subject]:
                del queues[subject]
        orders[f"shuffled ({seed})"] = shuffled
    # At-least-once delivery: everything once more, in another order, changes nothing.
    orders["twice"] = list(events) + orders["subjects reversed"]
    return orders


async def test_merges_undos_and_moves_reach_the_same_timelines_in_any_order_across_subjects(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    ada, duplicate, ada_chat, dup_chat = await _two_customers(api)
    await _drain(runtime)
    ada_before = await _timeline(api, ada)
    identities = (await api.get(f"/v1/customers/{duplicate}")).json()["identities"]
    phone, crm = (next(i["id"] for i in identities if i["kind"] == kind) for kind in ("phone", "external"))
    # Unlinked before the merge: its entry is the duplicate's history, and comes back with the undo.
    assert (await api.delete(f"/v1/customers/{duplicate}/identities/{crm}")).status_code == 204

    first = await _post(api, f"/v1/customers/{ada}/merge", {"source_customer_id": duplicate})
    await _message(api, dup_chat, "inbound", "Are you there?")
    await _post(api, f"/v1/customers/{ada}/identities", {"kind": "external", "system": "desk", "value": "77"})
    # Unlinked while merged: the undo leaves it with Ada, and its entry with it.
    assert (await api.delete(f"/v1/customers/{ada}/identities/{phone}")).status_code == 204
    await _post(api, f"/v1/merges/{first['id']}/undo", {}, status=200)
    await _message(api, dup_chat, "inbound", "Back on my phone")
    third = await _post(api, "/v1/customers", {"name": "Ada L.", "email": "al@example.com"})
    third_chat = await _post(api, "/v1/conversations", {"customer_id": third["id"], "channel": "email"})
    await _message(api, third_chat["id"], "inbound", "Old address, same Ada")
    await _post(api, f"/v1/customers/{duplicate}/merge", {"source_customer_id": third["id"]}, status=201)
    second = await _post(api, f"/v1/customers/{ada}/merge", {"source_customer_id": duplicate})
    await _message(api, ada_chat, "inbound", "Any news?")
    await _post(api, f"/v1/merges/{second['id']}/undo", {}, status=200)

    def move_chat_to_ada(uow: UnitOfWork) -> list[str]:
        return move_customer(
            uow,
            tenant_id=tenant.tenant_id,
            from_customer_id=duplicate,
            to_customer_id=ada,
            conversation_ids=[dup_chat],
        )

    # A move after the merges: a merge or undo handled after it must not take the chat back.
    assert await runtime.db.write(move_chat_to_ada) == [dup_chat]
    await _drain(runtime)

    customers = (ada, duplicate, third["id"])
    expected = {customer: await _timeline(api, customer) for customer in customers}
    assert all(e["customer_id"] == ada for e in expected[ada])
    assert [
        e["summary"]
        for e in expected[ada]
        if e["id"] not in {x["id"] for x in ada_before} and e["conversation_id"] != dup_chat
    ] == ["Identity linked: phone +442079460958", "Identity linked: desk id 77", "Any news?"]
    assert [e["summary"] for e in expected[ada] if e["conversation_id"] == dup_chat] == [
        "Conversation started on webchat",
        "Hello, it's Ada on my phone",
        "Hi Ada, how can we help?",
        "Are you there?",
        "Back on my phone",
    ]
    # The third customer's history stays with the duplicate it is still merged into.
    assert [e["summary"] for e in expected[duplicate]] == [
        "Customer record created: A. Lovelace",
        "Identity linked: crm id 0031x",
        "Case opened: Refund (high priority)",
        "Note by Grace: Prefers SMS",
        "Customer record created: Ada L.",
        "Identity linked: email al@example.com",
        "Conversation started on email",
        "Old address, same Ada",
    ]
    assert expected[third["id"]] == []

    subscription = runtime.subscriptions.get(SUBSCRIPTION)
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=subscription.types)
    )
    for name, order in _interleavings(events).items():
        await runtime.db.write(partial(_rebuild, events=order))
        for customer in customers:
            assert await _timeline(api, customer) == expected[customer], (name, customer)


async def test_cases_and_customer_notes_are_on_the_timeline_and_cases_take_their_entries_along(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    customer = await _post(api, "/v1/customers", {"name": "Ada"})
    other = await _post(api, "/v1/customers", {"name": "Grace"})
    case = await _post(api, "/v1/cases", {"customer_id": customer["id"], "subject": "Printer jam"})
    for status in ("open", "on_hold", "solved"):
        response = await api.patch(f"/v1/cases/{case['id']}", json={"status": status})
        assert response.status_code == 200, response.text
    await _post(api, f"/v1/cases/{case['id']}/reopen", {}, status=200)
    note = {"target_type": "customer", "target_id": customer["id"]}
    kept = await _post(api, "/v1/notes", {**note, "body": "VIP", "author": "Lin"})
    gone = await _post(api, "/v1/notes", {**note, "body": "Card 4111 1111"})
    await _post(api, "/v1/notes", {"target_type": "case", "target_id": case["id"], "body": "Case only"})
    assert (await api.delete(f"/v1/notes/{gone['id']}")).status_code == 204
    await _drain(runtime)

    entries = await _timeline(api, customer["id"])
    assert [(e["kind"], e["channel"], e["ref_id"], e["summary"]) for e in entries] == [
        ("customer.created", None, customer["id"], "Customer record created: Ada"),
        ("case.created", None, case["id"], "Case opened: Printer jam"),
        ("case.status_changed", None, case["id"], "Case status changed from new to open"),
        ("case.status_changed", None, case["id"], "Case status changed from open to on hold"),
        ("case.status_changed", None, case["id"], "Case solved"),
        ("case.status_changed", None, case["id"], "Case reopened"),
        ("note.added", None, kept["id"], "Note by Lin: VIP"),
    ]

    def move_case(uow: UnitOfWork) -> list[str]:
        return move_case_customer(
            uow, tenant_id=tenant.tenant_id, from_customer_id=customer["id"], to_customer_id=other["id"]
        )

    assert await runtime.db.write(move_case) == [case["id"]]
    await _drain(runtime)
    assert [e["kind"] for e in await _timeline(api, customer["id"])] == ["customer.created", "note.added"]
    moved = await _timeline(api, other["id"])
    assert [e["summary"] for e in moved if e["ref_id"] == case["id"]] == [
        e["summary"] for e in entries if e["ref_id"] == case["id"]
    ]
    assert all(e["customer_id"] == other["id"] for e in moved)

    await _replay_timeline(runtime)
    assert await _timeline(api, other["id"]) == moved


async def test_an_entry_and_its_customers_merge_handled_at_once_by_two_workers_meet(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    if runtime.db.driver != "postgresql":
        pytest.skip("the embedded driver's single writer runs one transaction at a time")
    ada = await _post(api, "/v1/customers", {"name": "Ada"})
    duplicate = await _post(api, "/v1/customers", {"name": "A. L.", "email": "al@example.com"})
    await _post(api, f"/v1/customers/{ada['id']}/merge", {"source_customer_id": duplicate["id"]})
    await _drain(runtime)
    expected = await _timeline(api, ada["id"])
    assert {e["ref_id"] for e in expected} > {duplicate["id"]}
    subscription = runtime.subscriptions.get(SUBSCRIPTION)
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=subscription.types)
    )
    of_duplicate = [e for e in events if e.subject == duplicate["id"]]
    merged = [e for e in events if e.type == "customer.merged"]
    others = [e for e in events if e not in of_duplicate and e not in merged]

    # Another worker's transaction, held open while this process handles the rest.
    engine = create_async_engine(runtime.db.url)
    try:
        for first, then in ((of_duplicate, merged), (merged, of_duplicate)):
            await runtime.db.write(partial(_rebuild, events=others))
            async with AsyncSession(engine) as session, session.begin():

                def handle(sync_session: Session, events: list[Event] = first) -> None:
                    uow = UnitOfWork(
                        sync_session,
                        catalog=runtime.db.catalog,
                        clock=runtime.db.clock,
                        context=Context(),
                        partitions=runtime.db.partitions,
                    )
                    _handle(uow, events)

                await session.run_sync(handle)
                second = asyncio.create_task(runtime.db.write(partial(_handle, events=then)))
                await asyncio.sleep(0.3)
                assert not second.done()  # it waits for the first transaction to end
            await second
            assert await _timeline(api, ada["id"]) == expected
            assert await _timeline(api, duplicate["id"]) == []
    finally:
        await engine.dispose()
