"""Auto-away when an agent's routing sockets are on several serve processes sharing one database: a tab
closed on one process leaves the agent available while a socket of theirs is open on another; the agents
of a process that stopped renewing its sockets are set away, once, by any process's sweep; and the away
timer of a socket closed on one process does nothing once a socket has opened on another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from tests.backbone.scaleout_support import (
    delete_stream,
    empty_database,
    eventually,
    require_nats,
    unique_prefix,
)
from tests.channels.support import events_of
from tests.channels.webchat.conftest import LiveServer, connect, serving
from tests.conftest import TenantKey, make_tenant
from tests.routing.test_routing_sockets import setup_desk

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.routing.connections import Connections, Heartbeat
from cxstack.routing.models import RoutingConnection
from cxstack.routing.schemas import AgentConnectionLost
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

AWAY_AFTER_S = 0.3
HEARTBEAT_S = 0.5
STALE_AFTER_S = 3 * HEARTBEAT_S


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        auth={"cookie_secure": False},
        routing={"away_after_seconds": AWAY_AFTER_S, "heartbeat_seconds": HEARTBEAT_S},
    )


@pytest.fixture
async def servers(
    runtime: Runtime, settings: Settings
) -> AsyncIterator[tuple[Runtime, LiveServer, LiveServer]]:
    """Two serve processes on the test's database: the first runs the handlers and timers (the
    ``runtime`` fixture's), the second only answers its sockets. Yields the second's runtime and both
    servers; neither heartbeats until a test starts it."""
    second = Runtime.build(settings, run_bus=False)
    await second.db.start()
    try:
        async with (
            serving(create_app(runtime, manage_runtime=False)) as one,
            serving(create_app(second, manage_runtime=False)) as two,
        ):
            yield second, LiveServer(one), LiveServer(two)
    finally:
        await second.stop()


async def presence_of(api: httpx.AsyncClient, agent_id: str) -> str:
    answer = await api.get(f"/v1/routing/agents/{agent_id}")
    assert answer.status_code == 200, answer.text
    presence: str = answer.json()["presence"]
    return presence


async def becomes_away(api: httpx.AsyncClient, agent_id: str) -> None:
    async def away() -> bool:
        return await presence_of(api, agent_id) == "away"

    await eventually(away, timeout_s=10.0)


async def rows_of(runtime: Runtime, agent_id: str) -> int:
    return await runtime.db.read(
        lambda session: (
            session.scalar(
                select(func.count())
                .select_from(RoutingConnection)
                .where(RoutingConnection.agent_id == agent_id)
            )
            or 0
        )
    )


async def test_an_agent_with_sockets_on_two_processes_stays_available_until_both_have_closed(
    servers: tuple[Runtime, LiveServer, LiveServer], tenant: TenantKey, runtime: Runtime
) -> None:
    second, one, two = servers
    runtime.services.routing_heartbeat.start()
    second.services.routing_heartbeat.start()
    api, agents = await setup_desk(one, tenant, runtime)
    ann = agents["ann"]
    query = f"/ws/routing?agent_id={ann}"
    async with connect(two.ws_url + query, additional_headers=tenant.headers) as on_two:
        await on_two.expect("ready")
        async with connect(one.ws_url + query, additional_headers=tenant.headers) as on_one:
            await on_one.expect("ready")
            assert await rows_of(runtime, ann) == 2
        # The tab on the first process closed: the one on the second keeps ann available, past the
        # auto-away delay and past the time a row not renewed would be swept.
        await asyncio.sleep(AWAY_AFTER_S + STALE_AFTER_S + 0.5)
        assert await presence_of(api, ann) == "available"
        assert await rows_of(runtime, ann) == 1
        lost = await events_of(runtime, "agent.connection_lost")
        assert lost == []
    await becomes_away(api, ann)
    assert await rows_of(runtime, ann) == 0
    assert await presence_of(api, agents["bob"]) == "available"
    await api.aclose()


async def test_the_agents_of_a_process_that_stopped_are_set_away_once_by_the_sweep(
    servers: tuple[Runtime, LiveServer, LiveServer], tenant: TenantKey, runtime: Runtime
) -> None:
    _, one, two = servers
    api, agents = await setup_desk(one, tenant, runtime)
    ann, bob = agents["ann"], agents["bob"]
    # ann's socket is on the second process, which never renews it (as if it had been killed: no socket
    # of it closes); bob's is on the first, which renews its own.
    async with (
        connect(f"{two.ws_url}/ws/routing?agent_id={ann}", additional_headers=tenant.headers) as ann_socket,
        connect(f"{one.ws_url}/ws/routing?agent_id={bob}", additional_headers=tenant.headers) as bob_socket,
    ):
        await ann_socket.expect("ready")
        await bob_socket.expect("ready")
        first = runtime.services.routing_heartbeat
        # A third process, sweeping at the same time as the first.
        third = Heartbeat(runtime.db, Connections(heartbeat_s=HEARTBEAT_S, away_after_s=AWAY_AFTER_S))
        assert await first.beat() + await third.beat() == 0  # nothing is stale yet
        # The second process stopped long ago: ann's row was last renewed well past the stale window (set
        # so, rather than waited for, so that a slow machine cannot make it stale early or late).
        long_ago = runtime.clock.now() - timedelta(seconds=10 * STALE_AFTER_S)

        def age(uow: UnitOfWork) -> None:
            uow.session.execute(
                update(RoutingConnection).where(RoutingConnection.agent_id == ann).values(seen_at=long_ago)
            )

        await runtime.db.write(age)
        swept = await asyncio.gather(first.beat(), third.beat())
        assert sum(swept) == 1  # ann's row, deleted by one of them
        assert await rows_of(runtime, ann) == 0 and await rows_of(runtime, bob) == 1
        await becomes_away(api, ann)
        assert await first.beat() + await third.beat() == 0
        await asyncio.sleep(AWAY_AFTER_S + 0.3)
        assert runtime.bus is not None
        await runtime.bus.drain()
        lost = await events_of(runtime, "agent.connection_lost")
        assert [event.data["agent_id"] for event in lost] == [ann]
        changed = await events_of(runtime, "agent.presence_changed")
        assert [e.data["agent_id"] for e in changed if e.data["presence"] == "away"] == [ann]
        assert await presence_of(api, bob) == "available"
    await api.aclose()


async def test_a_socket_opened_on_another_process_makes_the_first_ones_away_timer_do_nothing(
    servers: tuple[Runtime, LiveServer, LiveServer], tenant: TenantKey, runtime: Runtime
) -> None:
    _, one, two = servers
    api, agents = await setup_desk(one, tenant, runtime)
    ann = agents["ann"]
    query = f"/ws/routing?agent_id={ann}"
    async with connect(two.ws_url + query, additional_headers=tenant.headers) as on_two:
        await on_two.expect("ready")
        # A tab on the first process closes while the socket on the second is open (the other order
        # would race the away delay on a loaded machine)...
        async with connect(one.ws_url + query, additional_headers=tenant.headers) as on_one:
            await on_one.expect("ready")

        # ...and the first process's away timer fires all the same (as when its socket closed just before
        # the second's opened and the cancel came too late): the agent's socket is open, so nothing changes.
        def fire(uow: UnitOfWork) -> None:
            uow.publish(AgentConnectionLost(agent_id=ann), tenant_id=tenant.tenant_id, subject=ann)

        await runtime.db.write(fire)
        assert runtime.bus is not None
        await runtime.bus.drain()
        assert len(await events_of(runtime, "agent.connection_lost")) == 1
        await asyncio.sleep(AWAY_AFTER_S + 0.3)
        assert await presence_of(api, ann) == "available"
        assert not [
            e for e in await events_of(runtime, "agent.presence_changed") if e.data["presence"] == "away"
        ]
    await becomes_away(api, ann)
    await api.aclose()


# -- the scale-out driver: two serve processes started as `cxstack serve` starts them --------------------


@pytest.fixture
async def scale_out(
    pg_database: str, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, Runtime, LiveServer, LiveServer]]:
    nats_url = require_nats()
    await empty_database(pg_database)
    prefix = unique_prefix()
    settings = Settings(
        database_url=pg_database,
        nats_url=nats_url,
        stream_prefix=prefix,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        routing={"away_after_seconds": AWAY_AFTER_S, "heartbeat_seconds": HEARTBEAT_S},
    )
    first = Runtime.build(settings.model_copy(update={"run_workers_in_server": True}), role="serve")
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
            yield first, second, LiveServer(one), LiveServer(two)
    finally:
        await second.stop()
        await first.stop()
        await delete_stream(nats_url, prefix)


async def test_on_the_scale_out_driver_a_tab_closed_on_one_serve_process_keeps_the_agent_available(
    scale_out: tuple[Runtime, Runtime, LiveServer, LiveServer],
) -> None:
    first, second, one, two = scale_out
    tenant = await make_tenant(first, "acme")
    api, agents = await setup_desk(one, tenant, first)
    ann = agents["ann"]
    query = f"/ws/routing?agent_id={ann}"
    async with connect(two.ws_url + query, additional_headers=tenant.headers) as on_two:
        await on_two.expect("ready")
        async with connect(one.ws_url + query, additional_headers=tenant.headers) as on_one:
            await on_one.expect("ready")
        await asyncio.sleep(AWAY_AFTER_S + STALE_AFTER_S + 0.5)
        assert await presence_of(api, ann) == "available"
        # The second process shuts down cleanly with ann's socket still open there: its rows go, and ann,
        # left with no socket anywhere, is set away.
        await second.services.routing_heartbeat.stop()
        assert await rows_of(first, ann) == 0
        await becomes_away(api, ann)
    await api.aclose()
