"""A call queued by the voice menu is routed like any other work: offered to an agent of the queue the
menu chose, and connected to them through the provider when they accept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import (
    ACCOUNT_SID,
    CALLER,
    NUMBER,
    events_of,
    press,
    settle,
    start_call,
    the_call,
)
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person, sign_in

from cxstack.runtime import Runtime
from cxstack.web.app import create_app

pytestmark = pytest.mark.usefixtures("number")


async def test_a_routed_call_is_connected_to_the_agent_who_accepts_it(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, fake_calls: FakeTwilioCalls
) -> None:
    sam = await make_person(runtime, tenant.tenant_id, "sam@acme.example", "agent", None)
    assert (await api.put(f"/v1/routing/agents/{sam.user_id}", json={"skills": {}})).status_code == 200
    await api.put(f"/v1/routing/agents/{sam.user_id}/presence", json={"presence": "available"})
    # The queue the default menu's "support" option names.
    queue = await api.post("/v1/routing/queues", json={"name": "support"})
    assert queue.status_code == 201, queue.text

    call_sid, _ = await start_call(api)
    fake_calls.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    call = await the_call(api, call_sid)

    async def offered() -> list[dict[str, object]]:
        answer = await api.get("/v1/routing/items", params={"conversation_id": call["conversation_id"]})
        items: list[dict[str, object]] = answer.json()["data"]
        return items

    for _ in range(100):
        await settle(runtime)
        items = await offered()
        if items:
            break
    [item] = items
    assert item["kind"] == "call" and item["call_id"] == call["id"] and item["agent_id"] == sam.user_id
    assert item["queue_id"] == queue.json()["id"]

    accepted = await api.post(f"/v1/routing/items/{item['id']}/accept", json={"agent_id": sam.user_id})
    assert accepted.status_code == 200, accepted.text
    await settle(runtime, until=lambda: fake_calls.conference(call["id"]) is not None)
    await settle(runtime)
    shown = await the_call(api, call_sid)
    assert shown["agent_id"] == sam.user_id and shown["agent_name"] == "Sam"
    assert shown["status"] in ("connecting", "in_progress")


async def test_a_chat_escalated_to_a_call_is_offered_first_to_the_chats_agent_then_to_another(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, fake_calls: FakeTwilioCalls
) -> None:
    ann = await make_person(runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234")
    bob = await make_person(runtime, tenant.tenant_id, "bob@acme.example", "agent", None)
    for person in (ann, bob):
        assert (await api.put(f"/v1/routing/agents/{person.user_id}", json={})).status_code == 200
    # The queue the default menu's "support" option names takes the chats too.
    queue = await api.post("/v1/routing/queues", json={"name": "support", "channels": ["webchat"]})
    assert queue.status_code == 201, queue.text
    await api.put(f"/v1/routing/agents/{ann.user_id}/presence", json={"presence": "available"})

    customer = (await api.post("/v1/customers", json={"name": "Jane", "email": "jane@example.com"})).json()
    chat_id = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()["id"]
    said = await api.post(
        f"/v1/conversations/{chat_id}/messages",
        json={"direction": "inbound", "body": "My card was charged twice"},
    )
    assert said.status_code == 201, said.text
    await settle(runtime)
    [chat_item] = (await api.get("/v1/routing/items", params={"conversation_id": chat_id})).json()["data"]
    assert chat_item["agent_id"] == ann.user_id
    accepted = await api.post(f"/v1/routing/items/{chat_item['id']}/accept", json={"agent_id": ann.user_id})
    assert accepted.status_code == 200, accepted.text
    await api.put(f"/v1/routing/agents/{bob.user_id}/presence", json={"presence": "available"})

    # Ann, signed in, asks for the customer's next call to continue her chat.
    app = create_app(runtime, manage_runtime=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://cxstack.test"
    ) as as_ann:
        csrf = await sign_in(as_ann, Person(ann.user_id, "ann@acme.example", "ann password 1234"))
        escalated = await as_ann.post(
            "/v1/channels/voice/escalations",
            json={"conversation_id": chat_id, "phone": CALLER, "reason": "easier by phone"},
            headers={"X-CSRF-Token": csrf},
        )
    assert escalated.status_code == 201, escalated.text

    call_sid, _ = await start_call(api)
    fake_calls.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    call = await the_call(api, call_sid)
    assert call["conversation_id"] == chat_id

    async def call_item() -> dict[str, Any] | None:
        await settle(runtime)
        items = (await api.get("/v1/routing/items", params={"conversation_id": chat_id})).json()["data"]
        calls = [item for item in items if item["kind"] == "call"]
        return calls[0] if calls else None

    item = None
    for _ in range(100):
        item = await call_item()
        if item is not None:
            break
    assert item is not None
    # The call takes the chat's work over and goes first to ann, who had the chat, saying why.
    assert item["state"] == "offered" and item["agent_id"] == ann.user_id
    assert item["call_id"] == call["id"]
    queued = [e.data for e in await events_of(runtime, "routing.queued") if e.data["item_id"] == item["id"]]
    assert "escalated_from_chat" in queued[0]["reason"]
    offered = [e.data for e in await events_of(runtime, "routing.offered") if e.data["item_id"] == item["id"]]
    assert [(o["agent_id"], o["strategy"]) for o in offered] == [(ann.user_id, "escalated_from_chat")]
    completed = [e.data for e in await events_of(runtime, "routing.completed")]
    assert [(c["item_id"], c["state"]) for c in completed] == [(chat_item["id"], "completed")]

    # Ann declines: the call goes to another agent by the queue's own strategy.
    declined = await api.post(f"/v1/routing/items/{item['id']}/decline", json={"agent_id": ann.user_id})
    assert declined.status_code == 200, declined.text
    item = await call_item()
    assert item is not None and item["state"] == "offered" and item["agent_id"] == bob.user_id
    offered = [e.data for e in await events_of(runtime, "routing.offered") if e.data["item_id"] == item["id"]]
    assert offered[-1]["strategy"] == "skills"
    taken = await api.post(f"/v1/routing/items/{item['id']}/accept", json={"agent_id": bob.user_id})
    assert taken.status_code == 200, taken.text
    # Bob has the same conversation, with the whole chat before the call.
    conversation = (await api.get(f"/v1/conversations/{chat_id}")).json()
    assert conversation["assignee"] == bob.user_id
    bodies = [m["body"] for m in (await api.get(f"/v1/conversations/{chat_id}/messages")).json()["data"]]
    assert bodies[0] == "My card was charged twice" and any("Incoming call" in b for b in bodies)
