"""Routing's sockets: an agent's (``/ws/routing``), where offers arrive and are answered, and a
supervisor's (``/ws/routing/overview``), where the queues and agents are shown as they change.

An agent's socket is theirs by the session cookie (or, for an integration, a tenant key and
``?agent_id=``). Frames are JSON objects with a ``type``:

- to the agent: ``ready`` (presence, offers open now, work in hand), ``offer`` (an item offered to them:
  the ``routing.offered`` event's data), ``routing`` (any other routing event about their work: ``event``
  its type, ``data``), ``presence``, ``answer`` (the item after an ``accept`` or ``decline``), ``error``
  (``code``, ``detail``, and the frame's ``item_id``), ``pong``;
- from the agent: ``accept`` / ``decline`` (``item_id``, a decline's ``note``), ``presence``
  (``presence``), ``ping``.

Each open agent's socket is a row naming its process (``cxstack.routing.connections``). When an agent's
last socket on every process has closed (or its process stopped), a durable timer sets them away after
``CXSTACK_ROUTING_AWAY_AFTER_SECONDS`` unless a socket of theirs opens again first (auto-away).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.live import LiveFeed, LiveSubscription
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import DomainError, Forbidden, ValidationFailed
from cxstack.routing import config, held
from cxstack.routing import connections as connection_rows
from cxstack.routing import work as routing_work
from cxstack.routing.overview import overview as routing_overview

log = structlog.get_logger("cxstack.routing.live")

ROUTING_TYPES = (
    "routing.queued",
    "routing.offered",
    "routing.accepted",
    "routing.assigned",
    "routing.declined",
    "routing.expired",
    "routing.transferred",
    "routing.completed",
    "agent.presence_changed",
)
#: How often a supervisor's socket is sent the overview at most while routing events keep coming.
OVERVIEW_EVERY_S = 0.5


class SocketRefused(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


async def refuse(websocket: WebSocket, error: DomainError) -> None:
    """Accept the socket only to say why it is refused (an error frame), then close it with 1008."""
    await websocket.accept()
    await websocket.send_text(
        orjson.dumps({"type": "error", "code": error.code, "detail": error.detail}).decode()
    )
    await websocket.close(code=1008, reason=error.detail[:120])


@dataclass(frozen=True, slots=True)
class SocketOwner:
    """Who opened a routing socket: their tenant, the signed-in person (None for a tenant key), and the
    context their changes are recorded with."""

    tenant_id: str
    user_id: str | None
    role: str | None
    context: Context


@dataclass(frozen=True, slots=True)
class Plumbing:
    """What a routing socket works with: the database, the live feed, the routers (with the sockets open
    in this process and the auto-away delay)."""

    db: Database
    feed: LiveFeed
    routers: held.Routers


async def agent_socket(websocket: WebSocket, who: SocketOwner, plumbing: Plumbing) -> None:
    """Serve an agent's routing socket (see the module's docstring)."""
    db = plumbing.db
    try:
        agent_id = who.user_id if who.user_id is not None else websocket.query_params.get("agent_id")
        if not agent_id:
            raise ValidationFailed("a key opens an agent's socket with ?agent_id=", field="agent_id")
        if who.user_id is not None and websocket.query_params.get("agent_id") not in (None, agent_id):
            raise Forbidden("a person opens only their own routing socket", field="agent_id")
        agent = await db.read(
            lambda session: config.get_agent(session, tenant_id=who.tenant_id, user_id=agent_id)
        )
    except DomainError as error:
        await refuse(websocket, error)
        return
    tenant_id = who.tenant_id
    connections = plumbing.routers.connections
    watch = plumbing.feed.subscribe(
        tenant_id=tenant_id, types=ROUTING_TYPES, matching=partial(_concerns, agent_id)
    )
    await websocket.accept()
    connection_id = connections.opened(tenant_id, agent_id, db.clock.now())
    try:
        await db.write(
            partial(connection_rows.open_connection, connections=connections, connection_id=connection_id),
            context=who.context,
        )
        items = await db.read(
            lambda session: routing_work.list_items(
                session, tenant_id=tenant_id, agent_id=agent_id, limit=200
            )
        )
        await _send(
            websocket,
            {
                "type": "ready",
                "agent_id": agent_id,
                "presence": agent.presence,
                "offers": [i.model_dump(mode="json") for i in items.items if i.state == "offered"],
                "work": [i.model_dump(mode="json") for i in items.items if i.state == "assigned"],
            },
        )
        forward = asyncio.create_task(_forward(websocket, watch, agent_id))
        try:
            await _answer(websocket, who, agent_id, plumbing)
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forward
    finally:
        watch.close()
        connections.closed(connection_id)
        with contextlib.suppress(Exception):
            await db.write(
                partial(
                    connection_rows.close_connection,
                    connections=connections,
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    connection_id=connection_id,
                ),
                context=who.context,
                background=True,
            )


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(frame, option=orjson.OPT_UTC_Z).decode())


def _concerns(agent_id: str, event: Event) -> bool:
    """Whether a routing event is about this agent's work or presence."""
    data = event.data
    return data.get("agent_id") == agent_id or data.get("from_agent_id") == agent_id


async def _forward(websocket: WebSocket, watch: LiveSubscription, agent_id: str) -> None:
    async for event in watch:
        data = event.data
        if event.type == "routing.offered":
            await _send(websocket, {"type": "offer", **data})
        elif event.type == "agent.presence_changed":
            await _send(websocket, {"type": "presence", **data})
        else:
            await _send(websocket, {"type": "routing", "event": event.type, "data": data})
    if watch.overflowed:
        with contextlib.suppress(Exception):
            await websocket.close(code=1013, reason="fell behind: reconnect")


async def _answer(websocket: WebSocket, who: SocketOwner, agent_id: str, plumbing: Plumbing) -> None:
    routers = plumbing.routers
    tenant_id = who.tenant_id
    while True:
        try:
            raw = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await _send(websocket, {"type": "error", "code": "invalid_frame", "detail": "not JSON"})
            continue
        if not isinstance(frame, dict):
            await _send(websocket, {"type": "error", "code": "invalid_frame", "detail": "not an object"})
            continue
        kind = frame.get("type")
        item_id = frame.get("item_id")
        work: Callable[[UnitOfWork], Any] | None = None
        if kind == "ping":
            await _send(websocket, {"type": "pong"})
            continue
        if kind in ("accept", "decline") and isinstance(item_id, str) and item_id:
            note = frame.get("note") if isinstance(frame.get("note"), str) else None
            if kind == "accept":

                def work(uow: UnitOfWork, item_id: str = item_id) -> Any:
                    return routing_work.accept_offer(
                        uow, routers, tenant_id=tenant_id, item_id=item_id, agent_id=agent_id
                    )

            else:

                def work(uow: UnitOfWork, item_id: str = item_id, note: str | None = note) -> Any:
                    return routing_work.decline_offer(
                        uow, routers, tenant_id=tenant_id, item_id=item_id, agent_id=agent_id, note=note
                    )

        elif kind == "presence" and frame.get("presence") in ("available", "away", "busy", "offline"):
            presence = str(frame["presence"])

            def work(uow: UnitOfWork, presence: str = presence) -> Any:
                return config.set_presence(
                    uow, routers, tenant_id=tenant_id, user_id=agent_id, presence=presence
                )

        if work is None:
            await _send(
                websocket,
                {
                    "type": "error",
                    "code": "invalid_frame",
                    "detail": "expected accept or decline with an item_id, presence, or ping",
                },
            )
            continue
        try:
            result = await plumbing.db.write(work, context=who.context)
        except DomainError as error:
            await _send(
                websocket,
                {"type": "error", "code": error.code, "detail": error.detail, "item_id": item_id},
            )
            continue
        answer = {"type": "answer" if kind != "presence" else "presence", **result.model_dump(mode="json")}
        await _send(websocket, answer)


async def overview_socket(websocket: WebSocket, who: SocketOwner, plumbing: Plumbing) -> None:
    """A supervisor's view: ``ready``, then the ``overview`` (UTC's today), sent again as routing events
    arrive (at most every 0.5 s)."""
    if who.role == "agent":
        await refuse(websocket, SocketRefused("the overview is for supervisors and admins"))
        return
    routers = plumbing.routers
    watch = plumbing.feed.subscribe(tenant_id=who.tenant_id, types=ROUTING_TYPES)
    await websocket.accept()

    async def send_overview() -> None:
        clock = plumbing.db.clock
        view = await plumbing.db.read(
            lambda session: routing_overview(session, routers, tenant_id=who.tenant_id, at=clock.now())
        )
        await _send(websocket, {"type": "overview", **view.model_dump(mode="json")})

    async def watch_events() -> None:
        while True:
            event: Event | None = await watch.next()
            if event is None:
                return
            await asyncio.sleep(OVERVIEW_EVERY_S)
            while (await watch.next(0)) is not None:
                pass
            await send_overview()

    try:
        # As on an agent's socket, each opening starts with ``ready``: a page that lost its socket knows
        # it is back and reads afresh what it shows.
        await _send(websocket, {"type": "ready"})
        await send_overview()
        watcher = asyncio.create_task(watch_events())
        try:
            while True:
                raw = await websocket.receive_text()
                if raw.strip() == '{"type":"ping"}' or raw.strip() == '{"type": "ping"}':
                    await _send(websocket, {"type": "pong"})
        except WebSocketDisconnect:
            pass
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
    finally:
        watch.close()
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
