"""On the scale-out driver (PostgreSQL and NATS) a visitor and an agent connected to different serve
processes still talk: each process's sockets are fed every process's events through the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from tests.backbone.scaleout_support import delete_stream, empty_database, require_nats, unique_prefix
from tests.channels.webchat.conftest import LiveServer, agent, serving, visitor
from tests.conftest import TenantKey, make_tenant

from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
async def two_servers(pg_database: str) -> AsyncIterator[tuple[Runtime, LiveServer, LiveServer]]:
    nats_url = require_nats()
    await empty_database(pg_database)
    prefix = unique_prefix()
    settings = Settings(database_url=pg_database, nats_url=nats_url, stream_prefix=prefix)
    first = Runtime.build(settings, role="serve")
    second = Runtime.build(settings, role="serve")
    await first.start()
    await second.start()
    try:
        await asyncio.wait_for(first.live.listening.wait(), 10)
        await asyncio.wait_for(second.live.listening.wait(), 10)
        async with (
            serving(create_app(first, manage_runtime=False)) as one,
            serving(create_app(second, manage_runtime=False)) as two,
        ):
            yield first, LiveServer(one), LiveServer(two)
    finally:
        await second.stop()
        await first.stop()
        await delete_stream(nats_url, prefix)


async def test_visitor_and_agent_on_different_processes(
    two_servers: tuple[Runtime, LiveServer, LiveServer],
) -> None:
    runtime, one, two = two_servers
    tenant: TenantKey = await make_tenant(runtime, "acme")
    async with httpx.AsyncClient(base_url=one.url, headers=tenant.headers) as http:
        widget = (await http.put("/v1/channels/webchat/settings", json={})).json()
    async with agent(two, tenant) as desk, visitor(one, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "x", "body": "across processes"})
        sent = (await chat.expect("ack"))["message"]
        arrived = await desk.expect("message", timeout_s=10)
        assert arrived["message"]["id"] == sent["id"]
        await desk.send(
            {"type": "message", "conversation_id": sent["conversation_id"], "client_id": "r", "body": "back"}
        )
        assert (await chat.expect("message", timeout_s=10))["message"]["body"] == "back"
        await desk.send(
            {"type": "read", "conversation_id": sent["conversation_id"], "message_id": sent["id"]}
        )
        assert (await chat.expect("receipt", timeout_s=10))["message_id"] == sent["id"]


async def test_typing_reaches_an_agent_on_another_process_and_is_not_echoed(
    two_servers: tuple[Runtime, LiveServer, LiveServer],
) -> None:
    runtime, one, two = two_servers
    tenant: TenantKey = await make_tenant(runtime, "acme")
    async with httpx.AsyncClient(base_url=one.url, headers=tenant.headers) as http:
        widget = (await http.put("/v1/channels/webchat/settings", json={})).json()
    async with agent(two, tenant) as desk, visitor(one, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "q", "body": "hello"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        await desk.expect("message", timeout_s=10)

        await chat.send({"type": "typing", "state": True})
        assert await desk.expect("typing", timeout_s=10) == {
            "type": "typing",
            "conversation_id": conversation_id,
            "by": "visitor",
            "state": True,
        }
        await chat.send({"type": "typing", "state": False})
        assert (await desk.expect("typing", timeout_s=10))["state"] is False
        await chat.quiet("typing", 0.5)  # the visitor's own indicator is not shown back to them

        # And the agent's typing on process B reaches the visitor on process A.
        await desk.send({"type": "typing", "conversation_id": conversation_id, "state": True})
        assert (await chat.expect("typing", timeout_s=10))["by"] == "agent"
        await desk.quiet("typing", 0.5)
    # Typing is never stored: nothing of it is in the log.
    logged = await runtime.db.read(
        lambda session: session.execute(
            text("SELECT count(*) FROM events WHERE type = 'chat.typing'")
        ).scalar()
    )
    assert logged == 0
