"""Routing's and SLA's subscriptions take a delivery round's new conversations together (one read of the
tenant's queues, of its policies, of what is watched already) with the same outcome as one at a time:
each conversation routed to its queue or passed over, watched under its policy, in log order with the
other events of the round."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from cxstack.backbone import delivery
from cxstack.backbone.consumer import Bus
from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import Subscription, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.routing import handlers as routing_handlers
from cxstack.routing.sla import handlers as sla_handlers
from cxstack.runtime import Runtime


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_workers_in_server": False})


async def test_a_round_of_new_conversations_is_routed_and_watched_as_one_at_a_time_would_be(
    runtime: Runtime, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.bus is None  # nothing is delivered until the test's own bus runs
    batches: list[tuple[str, int, str | None]] = []
    handle_batch = delivery._handle_batch

    def watching(uow: UnitOfWork, subscription: Subscription, events: Sequence[Event]) -> list[Event]:
        try:
            published = handle_batch(uow, subscription, events)
        except Exception as error:
            batches.append((subscription.name, len(events), repr(error)))
            raise
        batches.append((subscription.name, len(events), None))
        return published

    monkeypatch.setattr(delivery, "_handle_batch", watching)
    chat = await api.post("/v1/routing/queues", json={"name": "Chat", "channels": ["webchat"]})
    assert chat.status_code == 201, chat.text
    for fields in (
        {"name": "Default", "first_response_seconds": 1800, "resolution_seconds": 3600},
        {"name": "SMS", "channel": "sms", "resolution_seconds": 600},
    ):
        assert (await api.post("/v1/sla/policies", json=fields)).status_code == 201
    policies = {p["name"]: p["id"] for p in (await api.get("/v1/sla/policies")).json()["data"]}
    customer = (await api.post("/v1/customers", json={"name": "Ada"})).json()["id"]

    async def start(channel: str) -> str:
        answer = await api.post("/v1/conversations", json={"customer_id": customer, "channel": channel})
        assert answer.status_code == 201, answer.text
        conversation_id: str = answer.json()["id"]
        return conversation_id

    first, by_sms, second = await start("webchat"), await start("sms"), await start("webchat")
    wrote = await api.post(
        f"/v1/conversations/{first}/messages", json={"direction": "inbound", "body": "where is my order?"}
    )
    assert wrote.status_code == 201, wrote.text

    registry = SubscriptionRegistry()
    sla_handlers.register(registry)
    routing_handlers.register(registry, runtime.services.routers)
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    for subscription in registry:
        await bus.deliver_once(subscription)
    assert batches == [("routing.sla", 4, None), ("routing.work", 3, None)]

    items = (await api.get("/v1/routing/items", params={"limit": 50})).json()["data"]
    assert sorted(item["conversation_id"] for item in items) == sorted([first, second])
    assert {item["queue_id"] for item in items} == {chat.json()["id"]}

    async def sla(conversation_id: str) -> dict[str, Any]:
        answer = await api.get(f"/v1/conversations/{conversation_id}/sla")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    assert (await sla(by_sms))["policy_id"] == policies["SMS"]
    for conversation_id in (first, second):
        assert (await sla(conversation_id))["policy_id"] == policies["Default"]
    # The message came after its conversation in the log, so its first-response clock started too.
    assert sorted(c["metric"] for c in (await sla(first))["clocks"]) == ["first_response", "resolution"]
    assert [c["metric"] for c in (await sla(second))["clocks"]] == ["resolution"]
