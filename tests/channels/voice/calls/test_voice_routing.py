"""A call queued by the voice menu is routed like any other work: offered to an agent of the queue the
menu chose, and connected to them through the provider when they accept."""

from __future__ import annotations

import httpx
import pytest
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls
from tests.channels.voice.support import ACCOUNT_SID, CALLER, NUMBER, press, settle, start_call, the_call
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person

from cxstack.runtime import Runtime

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
