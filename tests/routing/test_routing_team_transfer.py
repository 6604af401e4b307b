"""Transferring routed work to a team, through the API on both drivers: offered only to that team's agents
(whoever else is free and better skilled), waiting while none of them can take it, kept across a restart,
and the conversation made the team's work."""

from __future__ import annotations

from typing import Any

import httpx
from tests.conftest import TenantKey, started_runtime
from tests.routing.test_routing_work import SUPPORT, Desk, make_desk

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff.service import add_team_member, create_team
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

AGENTS: dict[str, dict[str, Any]] = {
    "ann": {"skills": {"billing": 5}},
    "bob": {"skills": {"billing": 3}},
    "cy": {"skills": {"billing": 2}},
}


async def teams_desk(runtime: Runtime, tenant: TenantKey) -> tuple[Desk, str, str]:
    """ann in North, bob and cy in South, all available for the Support queue (open to every team)."""
    desk = await make_desk(runtime, tenant, AGENTS, SUPPORT)

    def teams(uow: UnitOfWork) -> tuple[str, str]:
        north = create_team(uow, tenant_id=tenant.tenant_id, name="North").id
        south = create_team(uow, tenant_id=tenant.tenant_id, name="South").id
        add_team_member(uow, tenant_id=tenant.tenant_id, team_id=north, user_id=desk.agents["ann"])
        for name in ("bob", "cy"):
            add_team_member(uow, tenant_id=tenant.tenant_id, team_id=south, user_id=desk.agents[name])
        return north, south

    north, south = await runtime.db.write(teams)
    for name, profile in AGENTS.items():  # routing reads an agent's teams with their profile
        answer = await desk.api.put(f"/v1/routing/agents/{desk.agents[name]}", json=profile)
        assert answer.status_code == 200, answer.text
    return desk, north, south


async def assigned_chat(desk: Desk, email: str, agent: str) -> dict[str, Any]:
    conversation_id = await desk.chat(email)
    item = await desk.item_of(conversation_id)
    assert item["agent_id"] == desk.agents[agent], item
    accepted = await desk.api.post(
        f"/v1/routing/items/{item['id']}/accept", json={"agent_id": item["agent_id"]}
    )
    assert accepted.status_code == 200, accepted.text
    return item


async def test_work_transferred_to_a_team_goes_only_to_its_agents_and_waits_for_one(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk, _, south = await teams_desk(runtime, tenant)
    await desk.presence("cy", "away")
    first = await assigned_chat(desk, "one@example.com", "ann")
    moved = await desk.api.post(
        f"/v1/routing/items/{first['id']}/transfer", json={"to_team_id": south, "note": "a South customer"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["team_id"] == south and moved.json()["queue_id"] == first["queue_id"]
    await desk.settle()
    item = await desk.item_of(first["conversation_id"])
    assert item["state"] == "offered" and item["agent_id"] == desk.agents["bob"]  # not ann, though better
    [transferred] = await desk.events("routing.transferred")
    assert transferred["to_team_id"] == south and transferred["note"] == "a South customer"
    assert transferred["to_queue_id"] is None and transferred["from_agent_id"] == desk.agents["ann"]
    conversation = (await desk.api.get(f"/v1/conversations/{first['conversation_id']}")).json()
    assert conversation["team_ids"] == [south]

    # Nobody of South can take the next one: it waits, in sight of supervisors, while ann is free.
    await desk.presence("bob", "away")
    second = await assigned_chat(desk, "two@example.com", "ann")
    moved = await desk.api.post(f"/v1/routing/items/{second['id']}/transfer", json={"to_team_id": south})
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "waiting" and moved.json()["agent_id"] is None
    await desk.presence("ann", "available")  # a routing decision with ann free: still not hers
    assert (await desk.item_of(second["conversation_id"]))["state"] == "waiting"
    [support] = (await desk.api.get("/v1/routing/overview")).json()["queues"]
    assert support["waiting"] == 1
    await desk.presence("cy", "available")
    item = await desk.item_of(second["conversation_id"])
    assert item["state"] == "offered" and item["agent_id"] == desk.agents["cy"]

    # A transfer to a queue ends the team's hold: the queue's agents (and teams) again.
    back = await desk.api.post(
        f"/v1/routing/items/{second['id']}/transfer", json={"to_queue_id": second["queue_id"]}
    )
    assert back.status_code == 200, back.text
    assert back.json()["team_id"] is None
    await desk.settle()
    assert (await desk.item_of(second["conversation_id"]))["agent_id"] == desk.agents["ann"]
    conversation = (await desk.api.get(f"/v1/conversations/{second['conversation_id']}")).json()
    assert conversation["team_ids"] == []


async def test_a_team_transfer_is_kept_when_routing_is_rebuilt_after_a_restart(
    runtime: Runtime, tenant: TenantKey, settings: Settings
) -> None:
    desk, _, south = await teams_desk(runtime, tenant)
    for name in ("bob", "cy"):
        await desk.presence(name, "away")
    first = await assigned_chat(desk, "one@example.com", "ann")
    moved = await desk.api.post(f"/v1/routing/items/{first['id']}/transfer", json={"to_team_id": south})
    assert moved.status_code == 200, moved.text
    await desk.api.aclose()

    async with started_runtime(settings) as restarted:
        app = create_app(restarted, manage_runtime=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test", headers=tenant.headers
        ) as api:
            after = Desk(restarted, api, desk.agents)
            await after.presence("ann", "available")
            item = await after.item_of(first["conversation_id"])
            assert (item["state"], item["team_id"]) == ("waiting", south)
            await after.presence("cy", "available")
            item = await after.item_of(first["conversation_id"])
            assert item["state"] == "offered" and item["agent_id"] == desk.agents["cy"]
            assert restarted.services.routers.rebuilds >= 1


async def test_a_bad_team_transfer_is_refused_naming_the_field_and_nothing_is_written(
    runtime: Runtime, tenant: TenantKey
) -> None:
    desk, _, south = await teams_desk(runtime, tenant)
    item = await assigned_chat(desk, "one@example.com", "ann")
    url = f"/v1/routing/items/{item['id']}/transfer"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"to_team_id": south, "to_agent_id": desk.agents["bob"]}, 422, "to_team_id"),
        ({"to_team_id": "team_nope"}, 404, "to_team_id"),
        ({"to_team_id": south, "to_queue_id": "que_nope"}, 404, "to_queue_id"),
        ({"note": "nowhere"}, 422, "to_queue_id"),
    ]
    for body, status, field in cases:
        answer = await desk.api.post(url, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, answer.json()
    item = await desk.item_of(item["conversation_id"])
    assert (item["state"], item["agent_id"], item["team_id"]) == ("assigned", desk.agents["ann"], None)
    assert await desk.events("routing.transferred") == []
    conversation = (await desk.api.get(f"/v1/conversations/{item['conversation_id']}")).json()
    assert conversation["team_ids"] == []


async def test_escalation_ends_a_team_transfer(runtime: Runtime, tenant: TenantKey) -> None:
    desk, _, south = await teams_desk(runtime, tenant)
    for name in ("bob", "cy"):
        await desk.presence(name, "away")
    item = await assigned_chat(desk, "one@example.com", "ann")
    moved = await desk.api.post(f"/v1/routing/items/{item['id']}/transfer", json={"to_team_id": south})
    assert moved.json()["state"] == "waiting"
    escalated = await desk.api.post(
        f"/v1/routing/items/{item['id']}/escalate", json={"reason": "urgent", "to_queue_id": item["queue_id"]}
    )
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["team_id"] is None
    await desk.settle()
    assert (await desk.item_of(item["conversation_id"]))["agent_id"] == desk.agents["ann"]
