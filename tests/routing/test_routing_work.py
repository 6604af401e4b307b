"""Routing work to agents through the API, on both drivers: new conversations become work, offered to the
agent the queue's strategy picks, accepted (the conversation is theirs), declined or timed out (the next
agent), completed when the conversation closes; every decision is an event with its reason."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import TenantKey, started_runtime
from tests.governance.staff.people import Person, make_person, sign_in

from cxstack.backbone.models import EventRecord
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff.service import add_team_member, create_team
from cxstack.kit.clock import FrozenClock
from cxstack.routing.engine import RoutingEngine
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@dataclass
class Desk:
    """The ``acme`` tenant's API (its key) and its agents by name."""

    runtime: Runtime
    api: httpx.AsyncClient
    agents: dict[str, str]

    async def settle(self) -> None:
        assert self.runtime.bus is not None
        await self.runtime.bus.drain()

    async def chat(self, email: str, channel: str = "webchat") -> str:
        customer = await self.api.post("/v1/customers", json={"name": email, "email": email})
        assert customer.status_code == 201, customer.text
        conversation = await self.api.post(
            "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": channel}
        )
        assert conversation.status_code == 201, conversation.text
        await self.settle()
        conversation_id: str = conversation.json()["id"]
        return conversation_id

    async def item_of(self, conversation_id: str) -> dict[str, Any]:
        answer = await self.api.get("/v1/routing/items", params={"conversation_id": conversation_id})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["data"]
        assert len(items) == 1, items
        return items[0]

    async def presence(self, name: str, presence: str) -> None:
        answer = await self.api.put(
            f"/v1/routing/agents/{self.agents[name]}/presence", json={"presence": presence}
        )
        assert answer.status_code == 200, answer.text

    async def events(self, kind: str) -> list[dict[str, Any]]:
        def load(session: Any) -> list[dict[str, Any]]:
            rows = session.scalars(
                select(EventRecord).where(EventRecord.type == kind).order_by(EventRecord.seq)
            )
            return [dict(row.data) for row in rows]

        found: list[dict[str, Any]] = await self.runtime.db.read(load)
        return found


async def make_desk(
    runtime: Runtime,
    tenant: TenantKey,
    agents: dict[str, dict[str, Any]],
    queue: dict[str, Any],
) -> Desk:
    app = create_app(runtime, manage_runtime=False)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test", headers=tenant.headers
    )
    ids: dict[str, str] = {}
    for name, profile in agents.items():
        person = await make_person(
            runtime, tenant.tenant_id, f"{name}@acme.example", "agent", f"{name} password 1234"
        )
        ids[name] = person.user_id
        answer = await api.put(f"/v1/routing/agents/{person.user_id}", json=profile)
        assert answer.status_code == 200, answer.text
        assert answer.json()["presence"] == "offline"
    made = await api.post("/v1/routing/queues", json=queue)
    assert made.status_code == 201, made.text
    desk = Desk(runtime, api, ids)
    for name in agents:
        await desk.presence(name, "available")
    return desk


SUPPORT = {"name": "Support", "channels": ["webchat", "email"], "skills": {"billing": 2}}


async def test_a_new_chat_is_offered_to_the_most_skilled_agent_and_accepting_makes_it_theirs(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"billing": 5}}, "bob": {"skills": {"billing": 3}}, "cy": {"skills": {}}},
        SUPPORT,
    )
    conversation_id = await desk.chat("one@example.com")
    item = await desk.item_of(conversation_id)
    assert item["state"] == "offered" and item["agent_id"] == desk.agents["ann"]
    # The offer counts in her load as routing holds it; bob has none.
    ann = (await desk.api.get(f"/v1/routing/agents/{desk.agents['ann']}")).json()
    assert ann["load"] == {"webchat": 1} and ann["presence"] == "available"
    assert (await desk.api.get(f"/v1/routing/agents/{desk.agents['bob']}")).json()["load"] == {}
    [queued] = await desk.events("routing.queued")
    assert queued["conversation_id"] == conversation_id and "Support" in queued["reason"]
    [offered] = await desk.events("routing.offered")
    assert offered["agent_id"] == desk.agents["ann"]
    assert offered["strategy"] == "skills" and offered["matched_skills"] == {"billing": 5}

    # Only the agent offered may accept, once.
    other = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["bob"]}
    )
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    accepted = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "assigned"
    conversation = await desk.api.get(f"/v1/conversations/{conversation_id}")
    assert conversation.json()["assignee"] == desk.agents["ann"]
    again = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]}
    )
    assert again.status_code == 409
    assert [e["agent_id"] for e in await desk.events("routing.assigned")] == [desk.agents["ann"]]

    # The next chat goes to ann too (skills first) while she has room; bob when she is away.
    await desk.presence("ann", "away")
    second = await desk.chat("two@example.com")
    assert (await desk.item_of(second))["agent_id"] == desk.agents["bob"]


async def test_a_declined_offer_goes_to_the_next_agent_and_an_unanswered_one_times_out(
    runtime: Runtime, tenant: TenantKey, clock: FrozenClock
) -> None:
    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"billing": 5}}, "bob": {"skills": {"billing": 4}}},
        {**SUPPORT, "offer_timeout_seconds": 30},
    )
    conversation_id = await desk.chat("one@example.com")
    item = await desk.item_of(conversation_id)
    assert item["agent_id"] == desk.agents["ann"]
    declined = await desk.api.post(
        f"/v1/routing/items/{item['id']}/decline",
        json={"agent_id": desk.agents["ann"], "note": "on a break"},
    )
    assert declined.status_code == 200, declined.text
    item = await desk.item_of(conversation_id)
    assert item["state"] == "offered" and item["agent_id"] == desk.agents["bob"]
    assert item["declines"] == 1

    # bob does not answer: 30 s later the offer expires and the work is offered again, not dropped.
    clock.advance(timedelta(seconds=31))
    for _ in range(100):
        await desk.settle()
        if await desk.events("routing.expired"):
            break
        await asyncio.sleep(0.05)
    [expired] = await desk.events("routing.expired")
    assert expired["agent_id"] == desk.agents["bob"] and expired["declines"] == 2
    # bob did not answer: he is set away, so nothing more is offered to him.
    bob = (await desk.api.get(f"/v1/routing/agents/{desk.agents['bob']}")).json()
    assert bob["presence"] == "away"
    item = await desk.item_of(conversation_id)
    assert item["state"] in ("offered", "waiting")
    assert [e["declines"] for e in await desk.events("routing.declined")] == [1]
    [support] = (await desk.api.get("/v1/routing/overview")).json()["queues"]
    assert support["declined"] == 1 and support["most_declines"] == 2
    assert (await desk.events("routing.declined"))[0]["note"] == "on a break"


async def test_closing_the_conversation_frees_the_agent_for_the_next_chat(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime, tenant, {"ann": {"skills": {"billing": 3}, "capacity": {"webchat": 1}}}, SUPPORT
    )
    first = await desk.chat("one@example.com")
    second = await desk.chat("two@example.com")
    item = await desk.item_of(first)
    assert (await desk.item_of(second))["state"] == "waiting"
    accepted = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]}
    )
    assert accepted.status_code == 200
    overview = (await desk.api.get("/v1/routing/overview")).json()
    [support] = overview["queues"]
    assert support["waiting"] == 1 and support["name"] == "Support"
    [ann] = overview["agents"]
    assert ann["load"] == {"webchat": 1} and ann["items"] == [item["id"]]

    closed = await desk.api.post(f"/v1/conversations/{first}/close")
    assert closed.status_code == 200
    await desk.settle()
    completed = await desk.events("routing.completed")
    assert [(e["item_id"], e["state"]) for e in completed] == [(item["id"], "completed")]
    following = await desk.item_of(second)
    assert following["state"] == "offered" and following["agent_id"] == desk.agents["ann"]


async def test_a_channel_no_queue_takes_is_not_routed(runtime: Runtime, tenant: TenantKey) -> None:
    desk = await make_desk(runtime, tenant, {"ann": {}}, {"name": "Chat", "channels": ["webchat"]})
    conversation_id = await desk.chat("one@example.com", channel="sms")
    answer = await desk.api.get("/v1/routing/items", params={"conversation_id": conversation_id})
    assert answer.json()["data"] == []


async def test_two_agents_answering_one_offer_at_once_exactly_one_wins(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime, tenant, {"ann": {"skills": {"billing": 5}}, "bob": {"skills": {"billing": 4}}}, SUPPORT
    )
    for n in range(4):
        conversation_id = await desk.chat(f"customer-{n}@example.com")
        item = await desk.item_of(conversation_id)
        offered_to = item["agent_id"]
        other = next(agent for agent in desk.agents.values() if agent != offered_to)
        url = f"/v1/routing/items/{item['id']}/accept"
        answers = await asyncio.gather(
            desk.api.post(url, json={"agent_id": offered_to}),
            desk.api.post(url, json={"agent_id": offered_to}),
            desk.api.post(url, json={"agent_id": other}),
        )
        assert sorted(answer.status_code for answer in answers) == [200, 409, 409]
    assert len(await desk.events("routing.assigned")) == 4


async def test_work_and_presence_survive_a_restart(
    runtime: Runtime, tenant: TenantKey, settings: Settings, clock: FrozenClock
) -> None:
    desk = await make_desk(runtime, tenant, {"ann": {"skills": {"billing": 5}}}, SUPPORT)
    first = await desk.chat("one@example.com")
    item = await desk.item_of(first)
    second = await desk.chat("two@example.com")
    await desk.api.aclose()

    async with started_runtime(settings, clock=clock) as restarted:
        app = create_app(restarted, manage_runtime=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test", headers=tenant.headers
        ) as api:
            accepted = await api.post(
                f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]}
            )
            assert accepted.status_code == 200, accepted.text
            overview = (await api.get("/v1/routing/overview")).json()
            assert overview["agents"][0]["presence"] == "available"
            assert overview["agents"][0]["load"] == {"webchat": 2}  # the second chat was offered too
            waiting = await api.get("/v1/routing/items", params={"conversation_id": second})
            assert waiting.json()["data"][0]["state"] == "offered"


async def test_a_transfer_to_another_queue_keeps_the_conversation(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"billing": 5}}, "tier2": {"skills": {"escalations": 4}}},
        SUPPORT,
    )
    made = await desk.api.post(
        "/v1/routing/queues", json={"name": "Tier 2", "position": 5, "skills": {"escalations": 3}}
    )
    tier2 = made.json()["id"]
    conversation_id = await desk.chat("one@example.com")
    item = await desk.item_of(conversation_id)
    await desk.api.post(f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]})
    moved = await desk.api.post(
        f"/v1/routing/items/{item['id']}/transfer",
        json={"to_queue_id": tier2, "note": "refund over the limit"},
    )
    assert moved.status_code == 200, moved.text
    await desk.settle()
    item = await desk.item_of(conversation_id)
    assert item["queue_id"] == tier2 and item["agent_id"] == desk.agents["tier2"]
    [transferred] = await desk.events("routing.transferred")
    assert transferred["from_agent_id"] == desk.agents["ann"]
    assert transferred["note"] == "refund over the limit"
    assert transferred["conversation_id"] == conversation_id


async def test_bad_routing_input_is_refused_and_nothing_is_written(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(runtime, tenant, {"ann": {"skills": {"billing": 5}}}, SUPPORT)
    api = desk.api
    cases: list[tuple[str, str, dict[str, Any], int, str | None]] = [
        ("post", "/v1/routing/queues", {**SUPPORT}, 409, "name"),
        ("post", "/v1/routing/queues", {"name": "X", "team_ids": ["team_nope"]}, 404, "team_ids[0]"),
        ("post", "/v1/routing/queues", {"name": "X", "strategy": "random"}, 422, None),
        (
            "post",
            "/v1/routing/queues",
            {"name": "X", "skills": {"a": 2}, "fallback": [{"after_seconds": 10, "drop_skills": ["b"]}]},
            422,
            "fallback[0].drop_skills",
        ),
        ("put", "/v1/routing/agents/usr_nobody", {"skills": {}}, 404, None),
        ("put", f"/v1/routing/agents/{desk.agents['ann']}", {"skills": {"billing": 6}}, 422, None),
        ("put", f"/v1/routing/agents/{desk.agents['ann']}/presence", {"presence": "asleep"}, 422, None),
        ("post", "/v1/routing/items/wrk_nope/accept", {"agent_id": desk.agents["ann"]}, 404, "item_id"),
    ]
    for method, url, body, status, field in cases:
        answer = await getattr(api, method)(url, json=body)
        assert answer.status_code == status, (url, body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if field is not None:
            assert answer.json().get("field") == field, answer.json()
    queues = (await api.get("/v1/routing/queues")).json()["data"]
    assert [queue["name"] for queue in queues] == ["Support"]

    conversation_id = await desk.chat("one@example.com")
    item = await desk.item_of(conversation_id)
    both = await api.post(
        f"/v1/routing/items/{item['id']}/transfer",
        json={"to_queue_id": queues[0]["id"], "to_agent_id": desk.agents["ann"]},
    )
    assert both.status_code == 422
    no_agent = await api.post(f"/v1/routing/items/{item['id']}/accept", json={})
    assert no_agent.status_code == 422 and no_agent.json()["field"] == "agent_id"
    assert (await desk.item_of(conversation_id))["state"] == "offered"


async def test_a_queued_call_goes_to_the_queue_its_menu_chose(runtime: Runtime, tenant: TenantKey) -> None:
    from cxstack.channels.voice.schemas import CallQueued

    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"billing": 5}}},
        {"name": "Billing line", "skills": {"billing": 1}},
    )
    conversation_id = await desk.chat("caller@example.com", channel="voice")
    assert (await desk.api.get("/v1/routing/items", params={"conversation_id": conversation_id})).json()[
        "data"
    ] == []
    conversation = (await desk.api.get(f"/v1/conversations/{conversation_id}")).json()

    def queue_call(uow: UnitOfWork) -> None:
        uow.publish(
            CallQueued(
                call_id="cal_1",
                call_sid="CA1",
                customer_id=conversation["customer_id"],
                conversation_id=conversation_id,
                queue="Billing line",
                skill=None,
                ivr={"option": "1"},
            ),
            tenant_id=tenant.tenant_id,
            subject=conversation_id,
        )

    await runtime.db.write(queue_call)
    await desk.settle()
    item = await desk.item_of(conversation_id)
    assert item["kind"] == "call" and item["channel"] == "voice" and item["call_id"] == "cal_1"
    assert item["agent_id"] == desk.agents["ann"]


async def test_queue_conditions_send_a_gold_customers_chat_to_the_vip_queue_and_the_queue_is_noted(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"vip": 5}}, "bob": {"skills": {"billing": 3}}},
        {**SUPPORT, "position": 2},
    )
    vip = await desk.api.post(
        "/v1/routing/queues",
        json={
            "name": "VIP",
            "position": 1,
            "channels": ["webchat"],
            "conditions": {"customer.tier": "gold"},
            "skills": {"vip": 4},
        },
    )
    assert vip.status_code == 201, vip.text
    gold = await desk.api.post(
        "/v1/customers", json={"name": "Gold", "email": "gold@example.com", "attributes": {"tier": "gold"}}
    )
    chat = await desk.api.post(
        "/v1/conversations", json={"customer_id": gold.json()["id"], "channel": "webchat"}
    )
    await desk.settle()
    item = await desk.item_of(chat.json()["id"])
    assert item["queue_id"] == vip.json()["id"] and item["agent_id"] == desk.agents["ann"]
    [queued] = await desk.events("routing.queued")
    assert "customer.tier = gold" in queued["reason"]
    conversation = (await desk.api.get(f"/v1/conversations/{chat.json()['id']}")).json()
    assert conversation["attributes"]["queue_id"] == vip.json()["id"]

    plain = await desk.chat("plain@example.com")
    assert (await desk.item_of(plain))["queue_id"] != vip.json()["id"]

    bad = await desk.api.post("/v1/routing/queues", json={"name": "Bad", "conditions": {"tier": "gold"}})
    assert bad.status_code == 422


async def test_escalation_moves_work_to_the_escalation_queue_with_its_reason(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime,
        tenant,
        {"ann": {"skills": {"billing": 5}}, "tier2": {"skills": {"escalations": 4}}},
        {"name": "Tier 2", "position": 9, "skills": {"escalations": 3}},
    )
    tier2 = (await desk.api.get("/v1/routing/queues")).json()["data"][0]["id"]
    tier1 = await desk.api.post("/v1/routing/queues", json={**SUPPORT, "escalation_queue_id": tier2})
    assert tier1.status_code == 201, tier1.text
    conversation_id = await desk.chat("one@example.com")
    item = await desk.item_of(conversation_id)
    await desk.api.post(f"/v1/routing/items/{item['id']}/accept", json={"agent_id": desk.agents["ann"]})
    escalated = await desk.api.post(
        f"/v1/routing/items/{item['id']}/escalate", json={"reason": "chargeback dispute"}
    )
    assert escalated.status_code == 200, escalated.text
    await desk.settle()
    item = await desk.item_of(conversation_id)
    assert item["queue_id"] == tier2 and item["agent_id"] == desk.agents["tier2"]
    [event] = await desk.events("routing.escalated")
    assert event["from_queue_id"] == tier1.json()["id"] and event["to_queue_id"] == tier2
    assert event["reason"] == "chargeback dispute" and event["from_agent_id"] == desk.agents["ann"]

    nowhere = await desk.api.post(f"/v1/routing/items/{item['id']}/escalate", json={"reason": "again"})
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "to_queue_id"
    loop = await desk.api.put(
        f"/v1/routing/queues/{tier2}", json={"name": "Tier 2", "escalation_queue_id": tier2}
    )
    assert loop.status_code == 422 and loop.json()["field"] == "escalation_queue_id"


async def test_people_act_on_routing_only_within_their_role_and_teams(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await make_desk(
        runtime, tenant, {"ann": {"skills": {"billing": 5}}, "bob": {"skills": {"billing": 4}}}, SUPPORT
    )

    def teams(uow: UnitOfWork) -> tuple[str, str]:
        north = create_team(uow, tenant_id=tenant.tenant_id, name="North").id
        south = create_team(uow, tenant_id=tenant.tenant_id, name="South").id
        add_team_member(uow, tenant_id=tenant.tenant_id, team_id=north, user_id=desk.agents["ann"])
        add_team_member(uow, tenant_id=tenant.tenant_id, team_id=south, user_id=desk.agents["bob"])
        return north, south

    north, _ = await runtime.db.write(teams)
    sue = await make_person(
        runtime, tenant.tenant_id, "sue@acme.example", "supervisor", "sue password 1234", [north]
    )
    ann = Person(desk.agents["ann"], "ann@acme.example", "ann password 1234")
    app = create_app(runtime, manage_runtime=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://cxstack.test") as as_sue,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://cxstack.test") as as_ann,
    ):
        sue_csrf = await sign_in(as_sue, sue)
        ann_csrf = await sign_in(as_ann, ann)
        own_team = await as_sue.put(
            f"/v1/routing/agents/{desk.agents['ann']}/presence",
            json={"presence": "busy"},
            headers={"X-CSRF-Token": sue_csrf},
        )
        assert own_team.status_code == 200, own_team.text
        other_team = await as_sue.put(
            f"/v1/routing/agents/{desk.agents['bob']}/presence",
            json={"presence": "away"},
            headers={"X-CSRF-Token": sue_csrf},
        )
        assert other_team.status_code == 403 and other_team.json()["code"] == "outside_teams"
        conversation_id = await desk.chat("one@example.com")
        item = await desk.item_of(conversation_id)
        assert item["agent_id"] == desk.agents["bob"]  # ann is busy
        not_hers = await as_ann.post(
            f"/v1/routing/items/{item['id']}/transfer",
            json={"to_agent_id": desk.agents["ann"]},
            headers={"X-CSRF-Token": ann_csrf},
        )
        assert not_hers.status_code == 403 and not_hers.json()["code"] == "outside_teams"
        not_for_her = await as_ann.post(
            f"/v1/routing/items/{item['id']}/accept", json={}, headers={"X-CSRF-Token": ann_csrf}
        )
        assert not_for_her.status_code == 409
        overview = await as_ann.get("/v1/routing/overview")
        assert overview.status_code == 403
    assert (await desk.item_of(conversation_id))["agent_id"] == desk.agents["bob"]
    assert (await desk.api.get(f"/v1/routing/agents/{desk.agents['bob']}")).json()["presence"] == "available"


async def test_the_overview_is_a_read_that_counts_no_routing_version(
    runtime: Runtime, tenant: TenantKey
) -> None:
    from cxstack.routing.models import RoutingVersion

    desk = await make_desk(runtime, tenant, {"ann": {"skills": {"billing": 5}}}, SUPPORT)
    conversation_id = await desk.chat("one@example.com")

    def version(session: Any) -> int:
        found: int = session.scalar(
            select(RoutingVersion.version).where(RoutingVersion.tenant_id == tenant.tenant_id)
        )
        return found

    before = await runtime.db.read(version)
    for _ in range(3):
        overview = (await desk.api.get("/v1/routing/overview")).json()
        assert overview["queues"][0]["offered"] == 1
        assert overview["agents"][0]["items"] == [(await desk.item_of(conversation_id))["id"]]
    assert await runtime.db.read(version) == before
    # A stale engine (another process changed routing) is rebuilt for the read, from what was committed.
    runtime.services.routers.put(tenant.tenant_id, RoutingEngine(), before - 1)
    overview = (await desk.api.get("/v1/routing/overview")).json()
    assert overview["agents"][0]["load"] == {"webchat": 1}
    assert await runtime.db.read(version) == before
