"""The supervisor's overview through the API, on both drivers: each queue's figures for the last hour and
for today (answered within the service level time, abandoned) in the time zone asked for, the agents
available to it, and each agent's name, presence since when and work in hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import TenantKey
from tests.routing.test_routing_work import make_desk

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.clock import FrozenClock
from cxstack.routing import work
from cxstack.runtime import Runtime

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
QUEUE = {"name": "Support", "channels": ["webchat"], "skills": {"billing": 2}, "service_level_seconds": 60}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def test_the_overview_counts_today_in_the_time_zone_asked_for(
    runtime: Runtime, tenant: TenantKey, clock: FrozenClock
) -> None:
    one_each = {"webchat": 1}
    desk = await make_desk(
        runtime,
        tenant,
        {
            "ann": {"skills": {"billing": 5}, "capacity": one_each},
            "bob": {"skills": {"billing": 3}, "capacity": one_each},
            "cy": {"skills": {"billing": 3}, "capacity": {"email": 1}},
        },
        QUEUE,
    )
    before = (await desk.api.get("/v1/routing/overview")).json()
    [support] = before["queues"]
    # cy has no room for webchats: two agents may take the queue's work.
    assert support["agents_available"] == 2 and support["answered_today"] == 0
    assert support["service_level_today"] is None and support["abandoned_today"] == 0
    assert before["tz"] == "UTC"

    first = await desk.chat("one@example.com")
    clock.advance(timedelta(seconds=30))
    item = await desk.item_of(first)
    assert item["agent_id"] == desk.agents["ann"]
    accepted = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": item["agent_id"]}
    )
    assert accepted.status_code == 200, accepted.text
    second = await desk.chat("two@example.com")
    clock.advance(timedelta(seconds=120))
    item2 = await desk.item_of(second)
    accepted = await desk.api.post(
        f"/v1/routing/items/{item2['id']}/accept", json={"agent_id": item2["agent_id"]}
    )
    assert accepted.status_code == 200, accepted.text
    third = await desk.chat("three@example.com")
    assert (await desk.item_of(third))["state"] == "waiting"
    clock.advance(timedelta(seconds=10))
    overview = (await desk.api.get("/v1/routing/overview")).json()
    [support] = overview["queues"]
    assert support["waiting"] == 1 and support["oldest_wait_seconds"] == 10
    assert support["agents_available"] == 2
    # The first chat reached ann in 30 s, the second bob in 120 s: one of two within 60 s.
    assert support["answered_today"] == 2 and support["service_level_today"] == 0.5
    assert support["service_level"] == 0.5
    closed = await desk.api.post(f"/v1/conversations/{third}/close")
    assert closed.status_code == 200, closed.text
    await desk.settle()
    [support] = (await desk.api.get("/v1/routing/overview")).json()["queues"]
    assert support["waiting"] == 0 and support["abandoned_today"] == 1

    agents = {agent["name"]: agent for agent in overview["agents"]}
    assert set(agents) == {"Ann", "Bob", "Cy"}
    ann = agents["Ann"]
    assert ann["agent_id"] == desk.agents["ann"] and ann["presence"] == "available"
    assert datetime.fromisoformat(ann["presence_since"]) == START
    assert ann["work"] == [
        {"item_id": item["id"], "conversation_id": first, "channel": "webchat", "state": "assigned"}
    ]
    assert ann["load"] == {"webchat": 1} and ann["capacity"] == one_each
    assert agents["Cy"]["work"] == [] and agents["Cy"]["items"] == []

    # The next day (05:00 UTC), today's figures start again in UTC; in Los Angeles it is still the
    # evening of the day before, which holds them all.
    clock.advance(timedelta(hours=20))
    [utc_day] = (await desk.api.get("/v1/routing/overview")).json()["queues"]
    assert utc_day["answered_today"] == 0 and utc_day["abandoned_today"] == 0
    assert utc_day["service_level_today"] is None and utc_day["service_level"] is None
    la = (await desk.api.get("/v1/routing/overview", params={"tz": "America/Los_Angeles"})).json()
    assert la["tz"] == "America/Los_Angeles"
    [la_day] = la["queues"]
    assert la_day["answered_today"] == 2 and la_day["service_level_today"] == 0.5
    assert la_day["abandoned_today"] == 1


async def test_an_unknown_time_zone_is_refused_by_name(runtime: Runtime, tenant: TenantKey) -> None:
    desk = await make_desk(runtime, tenant, {"ann": {}}, QUEUE)
    for tz in ("Mars/Olympus_Mons", "../etc/passwd", ""):
        answer = await desk.api.get("/v1/routing/overview", params={"tz": tz})
        assert answer.status_code == 422, (tz, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["field"] == "tz" and "time zone" in problem["detail"]


async def test_work_a_call_took_over_is_not_abandoned_but_a_call_nobody_answered_is(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(runtime, tenant, {"ann": {"capacity": {"webchat": 1}}}, QUEUE)
    phones = await desk.api.post("/v1/routing/queues", json={"name": "Phones", "channels": ["voice"]})
    assert phones.status_code == 201, phones.text
    await desk.presence("ann", "away")
    conversation_id = await desk.chat("one@example.com")
    chat = await desk.item_of(conversation_id)
    assert chat["state"] == "waiting"

    def call_in(uow: UnitOfWork) -> object:
        return work.enqueue(
            uow,
            runtime.services.routers,
            tenant_id=tenant.tenant_id,
            conversation_id=conversation_id,
            customer_id=chat["customer_id"],
            channel="voice",
            kind="call",
            call_id="cal_1",
        )

    await runtime.db.write(call_in)
    taken_over = (await desk.api.get(f"/v1/routing/items/{chat['id']}")).json()
    assert taken_over["state"] == "cancelled"
    queues = {q["name"]: q for q in (await desk.api.get("/v1/routing/overview")).json()["queues"]}
    assert queues["Support"]["abandoned_today"] == 0 and queues["Support"]["waiting"] == 0
    assert queues["Phones"]["waiting"] == 1 and queues["Phones"]["abandoned_today"] == 0

    # The caller's conversation closes while the call waits: that call was abandoned.
    closed = await desk.api.post(f"/v1/conversations/{conversation_id}/close")
    assert closed.status_code == 200, closed.text
    await desk.settle()
    queues = {q["name"]: q for q in (await desk.api.get("/v1/routing/overview")).json()["queues"]}
    assert queues["Phones"]["abandoned_today"] == 1 and queues["Phones"]["waiting"] == 0
    assert queues["Support"]["abandoned_today"] == 0
