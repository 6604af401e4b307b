from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from tests.conftest import TenantKey

from cxstack.backbone.delivery import reset_subscription
from cxstack.backbone.log import read_events
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations.service import move_customer
from cxstack.records.timeline.handlers import SUBSCRIPTION, project_event
from cxstack.records.timeline.models import TimelineEntry
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
    assert [(e["kind"], e["channel"], e["summary"]) for e in entries] == [
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
    messages = [e for e in entries if e["kind"].startswith("message.")]
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
            project_event(uow, event)

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
    assert len(stayed) == 9

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
