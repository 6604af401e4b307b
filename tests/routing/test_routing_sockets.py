"""Offers arrive live on the chosen agent's socket and are answered there; a supervisor's socket shows
the queues and agents as they change; an agent whose sockets are all gone is set away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, connect, serving
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person, sign_in

from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        auth={"cookie_secure": False},
        routing={"away_after_seconds": 0.3},
    )


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield LiveServer(url)


async def setup_desk(
    server: LiveServer, tenant: TenantKey, runtime: Runtime
) -> tuple[httpx.AsyncClient, dict[str, str]]:
    api = httpx.AsyncClient(base_url=server.url, headers=tenant.headers, trust_env=False)
    agents: dict[str, str] = {}
    for name, level in (("ann", 5), ("bob", 3)):
        person = await make_person(
            runtime, tenant.tenant_id, f"{name}@acme.example", "agent", f"{name} password 1234"
        )
        agents[name] = person.user_id
        answer = await api.put(f"/v1/routing/agents/{person.user_id}", json={"skills": {"billing": level}})
        assert answer.status_code == 200, answer.text
        answer = await api.put(
            f"/v1/routing/agents/{person.user_id}/presence", json={"presence": "available"}
        )
        assert answer.status_code == 200, answer.text
    queue = await api.post("/v1/routing/queues", json={"name": "Support", "channels": ["webchat"]})
    assert queue.status_code == 201, queue.text
    return api, agents


async def start_chat(api: httpx.AsyncClient, email: str) -> str:
    customer = await api.post("/v1/customers", json={"name": email, "email": email})
    conversation = await api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
    )
    assert conversation.status_code == 201, conversation.text
    conversation_id: str = conversation.json()["id"]
    return conversation_id


async def test_an_offer_arrives_on_the_chosen_agents_socket_and_is_accepted_there(
    server: LiveServer, tenant: TenantKey, runtime: Runtime
) -> None:
    api, agents = await setup_desk(server, tenant, runtime)
    # ann signs in as a person; bob's desk is an integration with the tenant key.
    browser = httpx.AsyncClient(base_url=server.url, trust_env=False)
    await sign_in(browser, _person("ann", agents))
    cookie = f"cxstack_session={browser.cookies['cxstack_session']}"
    ws = server.ws_url + "/ws/routing"
    async with (
        connect(ws, additional_headers={"Cookie": cookie}) as ann,
        connect(f"{ws}?agent_id={agents['bob']}", additional_headers=tenant.headers) as bob,
    ):
        ready = await ann.expect("ready")
        assert ready["agent_id"] == agents["ann"] and ready["presence"] == "available"
        assert ready["offers"] == [] and ready["work"] == []
        await bob.expect("ready", agent_id=agents["bob"])

        conversation_id = await start_chat(api, "one@example.com")
        offer = await ann.expect("offer", conversation_id=conversation_id)
        assert offer["agent_id"] == agents["ann"] and offer["matched_skills"] == {}
        await bob.quiet("offer")

        await bob.send({"type": "accept", "item_id": offer["item_id"]})
        refused = await bob.expect("error")
        assert refused["code"] == "conflict" and refused["item_id"] == offer["item_id"]
        await ann.send({"type": "accept", "item_id": offer["item_id"]})
        answer = await ann.expect("answer")
        assert answer["state"] == "assigned" and answer["agent_id"] == agents["ann"]
        # The event may come before the answer or after it.
        assigned = [f for f in ann.seen if f.get("event") == "routing.assigned"]
        if not assigned:
            assigned = [await ann.expect("routing", event="routing.assigned")]
        assert assigned[0]["data"]["conversation_id"] == conversation_id

        # The next chat goes to bob, idle longer (no skill is required); declined, it goes to ann, live.
        second = await start_chat(api, "two@example.com")
        offer = await bob.expect("offer", conversation_id=second)
        await bob.send({"type": "decline", "item_id": offer["item_id"], "note": "busy"})
        assert (await bob.expect("answer"))["declines"] == 1
        moved = await ann.expect("offer", conversation_id=second)
        assert moved["agent_id"] == agents["ann"]

        await ann.send({"type": "take", "item_id": "x"})
        assert (await ann.expect("error"))["code"] == "invalid_frame"
    await api.aclose()
    await browser.aclose()


def _person(name: str, agents: dict[str, str]) -> Person:
    return Person(agents[name], f"{name}@acme.example", f"{name} password 1234")


async def test_an_agent_whose_sockets_are_gone_is_set_away_unless_one_opens_again(
    server: LiveServer, tenant: TenantKey, runtime: Runtime
) -> None:
    api, agents = await setup_desk(server, tenant, runtime)
    ws = f"{server.ws_url}/ws/routing?agent_id={agents['ann']}"
    async with connect(ws, additional_headers=tenant.headers) as socket:
        await socket.expect("ready")
    # Gone for a moment only: a socket opened again in time keeps ann available.
    async with connect(ws, additional_headers=tenant.headers) as socket:
        await socket.expect("ready")
        await asyncio.sleep(0.6)
        assert (await api.get(f"/v1/routing/agents/{agents['ann']}")).json()["presence"] == "available"
    presence = "available"
    for _ in range(100):
        await asyncio.sleep(0.05)
        presence = (await api.get(f"/v1/routing/agents/{agents['ann']}")).json()["presence"]
        if presence == "away":
            break
    assert presence == "away"
    # Nothing is offered to an agent who is away.
    conversation_id = await start_chat(api, "one@example.com")
    await asyncio.sleep(0.3)
    items = (await api.get("/v1/routing/items", params={"conversation_id": conversation_id})).json()["data"]
    assert items[0]["agent_id"] == agents["bob"]
    await api.aclose()


async def test_the_supervisor_socket_shows_the_queues_as_they_change_and_refuses_agents(
    server: LiveServer, tenant: TenantKey, runtime: Runtime
) -> None:
    api, agents = await setup_desk(server, tenant, runtime)
    for name in agents:
        await api.put(f"/v1/routing/agents/{agents[name]}/presence", json={"presence": "away"})
    async with connect(server.ws_url + "/ws/routing/overview", additional_headers=tenant.headers) as board:
        first = await board.expect("overview")
        assert [queue["waiting"] for queue in first["queues"]] == [0]
        await start_chat(api, "one@example.com")
        changed = await board.expect("overview")
        assert changed["queues"][0]["waiting"] == 1 and changed["queues"][0]["name"] == "Support"

    browser = httpx.AsyncClient(base_url=server.url, trust_env=False)
    await sign_in(browser, _person("ann", agents))
    cookie = f"cxstack_session={browser.cookies['cxstack_session']}"
    async with connect(
        server.ws_url + "/ws/routing/overview", additional_headers={"Cookie": cookie}
    ) as agent:
        refused = await agent.expect("error")
        assert refused["code"] == "forbidden"
    async with connect(server.ws_url + "/ws/routing") as anonymous:
        assert (await anonymous.expect("error"))["code"] == "unauthorized"
    await api.aclose()
    await browser.aclose()
