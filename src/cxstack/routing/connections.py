"""Agents' routing sockets across processes, for auto-away: which are open, on which process, and whether
an agent still has one anywhere.

Each open ``/ws/routing`` socket is a row (``routing_connections``) naming the process that holds it. The
process renews its rows' ``seen_at`` every heartbeat (``CXSTACK_ROUTING_HEARTBEAT_SECONDS``); a row is live
while it was seen within three heartbeats. So an agent with one tab on one serve process and another on
a second keeps their presence when one tab closes, and the agents of a process that died (no socket of
it ever closed) are found by the sweep any process runs with its heartbeat: stale rows are deleted and
each agent left without a live row gets the away timer.

The away timer (``routing.away.<agent_id>``) is scheduled when an agent is left with no live row and
cancelled when a socket of theirs opens; when it fires, ``config.connection_lost`` sets an available agent
away only if still no live row is left (a socket may have opened on another process meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import structlog
from sqlalchemy import delete, select, update

from cxstack.backbone.database import Database
from cxstack.backbone.timers import cancel_timer, schedule_timer
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.ids import new_id
from cxstack.routing.models import RoutingAgent, RoutingConnection
from cxstack.routing.schemas import AgentConnectionLost

log = structlog.get_logger("cxstack.routing.connections")

#: A row not renewed for this many heartbeats belongs to a process that stopped.
STALE_AFTER_HEARTBEATS = 3
#: The most stale rows one sweep deletes (the next heartbeat takes the rest).
SWEEP_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Opened:
    """A routing socket open in this process."""

    tenant_id: str
    agent_id: str
    opened_at: datetime


class Connections:
    """The routing sockets open in this process (each with its row), the process's id, the heartbeat and
    the auto-away delay."""

    def __init__(self, *, heartbeat_s: float = 10.0, away_after_s: float = 30.0) -> None:
        self.process_id = new_id("prc")
        self.heartbeat_s = heartbeat_s
        self.away_after_s = away_after_s
        self._open: dict[str, Opened] = {}

    @property
    def stale_after(self) -> timedelta:
        """How long a row stays live without being renewed."""
        return timedelta(seconds=self.heartbeat_s * STALE_AFTER_HEARTBEATS)

    def opened(self, tenant_id: str, agent_id: str, at: datetime) -> str:
        """Note a socket opened here; return its connection id (write its row with ``open_connection``)."""
        connection_id = new_id("rcn")
        self._open[connection_id] = Opened(tenant_id, agent_id, at)
        return connection_id

    def closed(self, connection_id: str) -> None:
        """Note a socket closed here (delete its row with ``close_connection``)."""
        self._open.pop(connection_id, None)

    def snapshot(self) -> dict[str, Opened]:
        """The sockets open here now, by connection id."""
        return dict(self._open)


# -- in a unit of work ---------------------------------------------------------------------------------


def open_connection(uow: UnitOfWork, connections: Connections, connection_id: str) -> None:
    """Write the row of a socket just opened here and cancel the agent's away timer."""
    opened = connections.snapshot().get(connection_id)
    if opened is None:  # closed already
        return
    uow.session.add(
        RoutingConnection(
            id=connection_id,
            tenant_id=opened.tenant_id,
            agent_id=opened.agent_id,
            process_id=connections.process_id,
            opened_at=opened.opened_at,
            seen_at=uow.clock.now(),
        )
    )
    cancel_timer(uow, tenant_id=opened.tenant_id, key=away_key(opened.agent_id))


def close_connection(
    uow: UnitOfWork, connections: Connections, *, tenant_id: str, agent_id: str, connection_id: str
) -> bool:
    """Delete a closed socket's row; schedule the agent's away timer if no live row of theirs is left.
    Return whether it was scheduled."""
    uow.session.execute(delete(RoutingConnection).where(RoutingConnection.id == connection_id))
    return away_if_gone(uow, connections, tenant_id=tenant_id, agent_id=agent_id)


def has_live_connection(uow: UnitOfWork, connections: Connections, *, tenant_id: str, agent_id: str) -> bool:
    """Whether the agent has a routing socket open on some process (a row seen within the window)."""
    since = uow.clock.now() - connections.stale_after
    found = uow.session.scalar(
        select(RoutingConnection.id)
        .where(
            RoutingConnection.tenant_id == tenant_id,
            RoutingConnection.agent_id == agent_id,
            RoutingConnection.seen_at >= since,
        )
        .limit(1)
    )
    return found is not None


def away_if_gone(uow: UnitOfWork, connections: Connections, *, tenant_id: str, agent_id: str) -> bool:
    """Schedule the agent's away timer unless a live row of theirs is left; return whether it was.

    On PostgreSQL the agent's routing row is locked first, so that two processes closing the agent's last
    two sockets at once do not each see the other's row and both leave the timer unscheduled.
    """
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(RoutingAgent.user_id)
            .where(RoutingAgent.user_id == agent_id, RoutingAgent.tenant_id == tenant_id)
            .with_for_update()
        )
    if has_live_connection(uow, connections, tenant_id=tenant_id, agent_id=agent_id):
        return False
    schedule_timer(
        uow,
        tenant_id=tenant_id,
        key=away_key(agent_id),
        fire_at=uow.clock.now() + timedelta(seconds=connections.away_after_s),
        subject=agent_id,
        event=AgentConnectionLost(agent_id=agent_id),
    )
    return True


def heartbeat(uow: UnitOfWork, connections: Connections, open_now: dict[str, Opened]) -> int:
    """Renew the rows of this process's open sockets, write again any that were swept while this process
    was too slow to renew them, and delete any whose socket has closed since; then sweep. Return how many
    stale rows the sweep deleted."""
    session = uow.session
    now = uow.clock.now()
    process_id = connections.process_id
    renewed = session.execute(
        update(RoutingConnection).where(RoutingConnection.process_id == process_id).values(seen_at=now)
    )
    if getattr(renewed, "rowcount", 0) != len(open_now):
        held = set(
            session.scalars(select(RoutingConnection.id).where(RoutingConnection.process_id == process_id))
        )
        gone = held - open_now.keys()
        if gone:
            session.execute(delete(RoutingConnection).where(RoutingConnection.id.in_(gone)))
        for connection_id in open_now.keys() - held:
            opened = open_now[connection_id]
            session.add(
                RoutingConnection(
                    id=connection_id,
                    tenant_id=opened.tenant_id,
                    agent_id=opened.agent_id,
                    process_id=process_id,
                    opened_at=opened.opened_at,
                    seen_at=now,
                )
            )
        session.flush()
    return sweep(uow, connections)


def sweep(uow: UnitOfWork, connections: Connections) -> int:
    """Delete the rows of processes that stopped renewing them (up to ``SWEEP_LIMIT``) and schedule the
    away timer of each agent left without a live row; return how many rows were deleted.

    Safe with any number of processes sweeping at once: on PostgreSQL the rows are claimed with
    ``FOR UPDATE SKIP LOCKED``, so each stale row is deleted, and its agent looked at, by one sweep.
    """
    session = uow.session
    query = (
        select(RoutingConnection.id, RoutingConnection.tenant_id, RoutingConnection.agent_id)
        .where(
            RoutingConnection.seen_at < uow.clock.now() - connections.stale_after,
            RoutingConnection.process_id != connections.process_id,
        )
        .order_by(RoutingConnection.id)
        .limit(SWEEP_LIMIT)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    stale = session.execute(query).all()
    if not stale:
        return 0
    session.execute(delete(RoutingConnection).where(RoutingConnection.id.in_([row.id for row in stale])))
    for tenant_id, agent_id in sorted({(row.tenant_id, row.agent_id) for row in stale}):
        if away_if_gone(uow, connections, tenant_id=tenant_id, agent_id=agent_id):
            log.info("routing socket lost with its process", tenant=tenant_id, agent_id=agent_id)
    return len(stale)


def release(uow: UnitOfWork, connections: Connections, open_now: dict[str, Opened]) -> None:
    """On a clean shutdown: delete this process's rows and schedule the away timer of each of their
    agents left without a live row elsewhere."""
    uow.session.execute(
        delete(RoutingConnection).where(RoutingConnection.process_id == connections.process_id)
    )
    for tenant_id, agent_id in sorted({(o.tenant_id, o.agent_id) for o in open_now.values()}):
        away_if_gone(uow, connections, tenant_id=tenant_id, agent_id=agent_id)


def away_key(agent_id: str) -> str:
    return f"routing.away.{agent_id}"


# -- the process's heartbeat -----------------------------------------------------------------------------


class Heartbeat:
    """Renews this process's rows and sweeps stale ones every ``heartbeat_s``; on ``stop`` releases the
    process's rows (a clean shutdown)."""

    def __init__(self, db: Database, connections: Connections) -> None:
        self.db = db
        self.connections = connections
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start beating (again a no-op once started)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def beat(self) -> int:
        """Renew and sweep once; return how many stale rows were deleted."""
        open_now = self.connections.snapshot()
        return await self.db.write(partial(heartbeat, connections=self.connections, open_now=open_now))

    async def stop(self) -> None:
        """Stop beating and release this process's rows (before the database stops)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        open_now = self.connections.snapshot()
        if open_now:
            with contextlib.suppress(Exception):
                await self.db.write(partial(release, connections=self.connections, open_now=open_now))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.connections.heartbeat_s)
            try:
                await self.beat()
            except Exception:
                log.exception("routing heartbeat failed")
