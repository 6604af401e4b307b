"""``/v1/routing``: queues, agents' routing profiles and presence, work items and their offers, and the
supervisor's view of both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from starlette.responses import Response

from cxstack.kit.errors import DomainError
from cxstack.kit.pagination import PageOut
from cxstack.routing import config, held, live, work
from cxstack.routing.overview import overview as routing_overview
from cxstack.routing.schemas import (
    AgentOut,
    AgentProfileIn,
    EscalateIn,
    ItemOut,
    OfferAnswerIn,
    OverviewOut,
    PresenceIn,
    QueueIn,
    QueueList,
    QueueOut,
    TransferIn,
)
from cxstack.web.auth import (
    Caller,
    admin_caller,
    caller,
    has_key,
    person_caller,
    presented_key,
    runtime_of,
    supervisor_caller,
    tenant_key,
)
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1/routing", tags=["routing"])
sockets = APIRouter()
Admin = Annotated[Caller, Depends(admin_caller)]
Supervisor = Annotated[Caller, Depends(supervisor_caller)]
Who = Annotated[Caller, Depends(caller)]
ItemState = Literal["waiting", "offered", "assigned", "completed", "cancelled"]


def _routers(request: Request) -> held.Routers:
    return runtime_of(request).services.routers


def _acting(who: Caller) -> held.Acting | None:
    person = who.user
    if person is None:
        return None
    return held.Acting(person.user_id, person.role, frozenset(person.team_ids))


@router.post("/queues", status_code=201, response_model=QueueOut)
async def create_queue(request: Request, who: Admin, data: QueueIn) -> Response:
    """Add a queue: the channels whose new work it takes, what its work requires, how agents are picked."""
    routers = _routers(request)
    return await write(
        request,
        who,
        lambda uow: config.create_queue(uow, routers, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/queues", response_model=QueueList)
async def list_queues(request: Request, who: Who) -> Response:
    """Every queue, in the order new work is matched against them."""
    return await read(
        request,
        lambda session: QueueList(data=config.list_queues(session, tenant_id=who.tenant_id)),
    )


@router.get("/queues/{queue_id}", response_model=QueueOut)
async def get_queue(request: Request, who: Who, queue_id: str) -> Response:
    return await read(
        request, lambda session: config.get_queue(session, tenant_id=who.tenant_id, queue_id=queue_id)
    )


@router.put("/queues/{queue_id}", response_model=QueueOut)
async def update_queue(request: Request, who: Admin, queue_id: str, data: QueueIn) -> Response:
    """Replace a queue's configuration; its waiting work keeps its place."""
    routers = _routers(request)
    return await write(
        request,
        who,
        lambda uow: config.update_queue(uow, routers, tenant_id=who.tenant_id, queue_id=queue_id, data=data),
    )


@router.put("/agents/{user_id}", response_model=AgentOut)
async def put_agent(request: Request, who: Admin, user_id: str, data: AgentProfileIn) -> Response:
    """Set a user's skills (proficiency 1-5), languages and capacity per channel."""
    routers = _routers(request)
    return await write(
        request,
        who,
        lambda uow: config.put_agent(uow, routers, tenant_id=who.tenant_id, user_id=user_id, data=data),
    )


@router.get("/agents/{user_id}", response_model=AgentOut)
async def get_agent(request: Request, who: Who, user_id: str) -> Response:
    """A user's routing profile, with their presence and load (items in hand per channel, offers
    included) as routing holds them now."""
    routers, clock = _routers(request), runtime_of(request).clock
    return await read(
        request,
        lambda session: config.get_agent(
            session, tenant_id=who.tenant_id, user_id=user_id, routers=routers, at=clock.now()
        ),
    )


@router.put("/agents/{user_id}/presence", response_model=AgentOut)
async def set_presence(request: Request, who: Who, user_id: str, data: PresenceIn) -> Response:
    """Set an agent's presence: an agent their own, a supervisor their teams' agents', an admin (or an
    API key) anyone's."""
    routers = _routers(request)
    return await write(
        request,
        who,
        lambda uow: config.set_presence(
            uow,
            routers,
            tenant_id=who.tenant_id,
            user_id=user_id,
            presence=data.presence,
            acting=_acting(who),
        ),
    )


@router.get("/items", response_model=PageOut[ItemOut])
async def list_items(
    request: Request,
    who: Who,
    state: ItemState | None = Query(
        default=None, description="Open work (waiting, offered, assigned) if unset."
    ),
    agent_id: str | None = None,
    queue_id: str | None = None,
    conversation_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Work items, longest waiting first."""
    return await read(
        request,
        lambda session: work.list_items(
            session,
            tenant_id=who.tenant_id,
            state=state,
            agent_id=agent_id,
            queue_id=queue_id,
            conversation_id=conversation_id,
            cursor=cursor,
            limit=limit,
        ),
    )


@router.get("/items/{item_id}", response_model=ItemOut)
async def get_item(request: Request, who: Who, item_id: str) -> Response:
    return await read(
        request, lambda session: work.get_item(session, tenant_id=who.tenant_id, item_id=item_id)
    )


async def _change_item(
    request: Request, who: Caller, item_id: str, change: Callable[..., ItemOut], **arguments: Any
) -> Response:
    """Run ``change`` on one work item of the caller's tenant and answer with the item."""
    routers = _routers(request)
    return await write(
        request,
        who,
        lambda uow: change(uow, routers, tenant_id=who.tenant_id, item_id=item_id, **arguments),
    )


def _answering(who: Caller, data: OfferAnswerIn) -> str:
    return work.acting_agent(who.user.user_id if who.user else None, None, data.agent_id)


@router.post("/items/{item_id}/accept", response_model=ItemOut)
async def accept_offer(request: Request, who: Who, item_id: str, data: OfferAnswerIn) -> Response:
    """Take the work offered: the conversation becomes the agent's. 409 when it is not (or no longer)
    offered to them."""
    return await _change_item(request, who, item_id, work.accept_offer, agent_id=_answering(who, data))


@router.post("/items/{item_id}/decline", response_model=ItemOut)
async def decline_offer(request: Request, who: Who, item_id: str, data: OfferAnswerIn) -> Response:
    """Turn the offer down: the work goes to another agent first."""
    return await _change_item(
        request, who, item_id, work.decline_offer, agent_id=_answering(who, data), note=data.note
    )


@router.post("/items/{item_id}/transfer", response_model=ItemOut)
async def transfer(request: Request, who: Who, item_id: str, data: TransferIn) -> Response:
    """Move the work to another queue, to a team (offered only to its agents; with ``to_queue_id`` or in
    the queue it is in) or offer it to a named agent, with a note; the conversation and all its history go
    with it."""
    return await _change_item(
        request,
        who,
        item_id,
        work.transfer,
        to_queue_id=data.to_queue_id,
        to_team_id=data.to_team_id,
        to_agent_id=data.to_agent_id,
        note=data.note,
        acting=_acting(who),
    )


@router.post("/items/{item_id}/escalate", response_model=ItemOut)
async def escalate(request: Request, who: Who, item_id: str, data: EscalateIn) -> Response:
    """Escalate the work with a reason: to a queue, to an agent (a supervisor), or to its queue's
    escalation queue (tier 1 to tier 2); the conversation and all its history go with it."""
    return await _change_item(
        request,
        who,
        item_id,
        work.escalate,
        reason=data.reason,
        to_queue_id=data.to_queue_id,
        to_agent_id=data.to_agent_id,
        acting=_acting(who),
    )


@router.get("/overview", response_model=OverviewOut)
async def overview(
    request: Request,
    who: Supervisor,
    tz: Annotated[
        str | None,
        Query(
            max_length=64,
            description="IANA time zone whose midnight starts today's figures (UTC if unset).",
            examples=["Europe/Paris"],
        ),
    ] = None,
) -> Response:
    """Queues (waiting, oldest wait, service level in the last hour and today, abandoned today, agents
    available) and agents (name, presence and since when, load, work)."""
    routers, clock = _routers(request), runtime_of(request).clock
    return await read(
        request,
        lambda session: routing_overview(session, routers, tenant_id=who.tenant_id, at=clock.now(), tz=tz),
    )


async def _socket_owner(websocket: WebSocket) -> live.SocketOwner:
    """Who opens a routing socket: the signed-in person, or the holder of a tenant key (``read``)."""
    if not has_key(websocket):
        who = await person_caller(websocket, method="GET", needed=("read",))
    else:
        holder = await tenant_key(websocket, presented_key(websocket), needed=("read",))
        who = Caller(
            tenant_id=holder.tenant_id,
            api_key_id=holder.api_key_id,
            correlation_id="",
            scopes=holder.scopes,
        )
    person = who.user
    return live.SocketOwner(
        tenant_id=who.tenant_id,
        user_id=person.user_id if person is not None else None,
        role=person.role if person is not None else None,
        context=who.context(),
    )


async def _open(websocket: WebSocket) -> tuple[live.SocketOwner, live.Plumbing] | None:
    runtime = runtime_of(websocket)
    try:
        owner = await _socket_owner(websocket)
    except DomainError as error:
        await live.refuse(websocket, error)
        return None
    plumbing = live.Plumbing(
        db=runtime.db,
        feed=runtime.live,
        routers=runtime.services.routers,
    )
    return owner, plumbing


@sockets.websocket("/ws/routing")
async def agent_socket(websocket: WebSocket) -> None:
    """An agent's offers, live: see ``cxstack.routing.live``."""
    opened = await _open(websocket)
    if opened is not None:
        await live.agent_socket(websocket, *opened)


@sockets.websocket("/ws/routing/overview")
async def overview_socket(websocket: WebSocket) -> None:
    """The supervisor's overview, sent again as routing changes."""
    opened = await _open(websocket)
    if opened is not None:
        await live.overview_socket(websocket, *opened)
