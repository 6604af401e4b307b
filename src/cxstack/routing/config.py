"""Queues and agents' routing profiles and presence: what routing decides with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.service import get_user
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.routing.connections import has_live_connection
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.held import (
    SOURCE,
    Acting,
    Routers,
    agent_config,
    all_teams,
    looking,
    may_act_on_agent,
    queue_config,
    routing,
)
from cxstack.routing.inbound import normalise_conditions
from cxstack.routing.model import Presence
from cxstack.routing.models import RoutingAgent, RoutingQueue
from cxstack.routing.offers import make_offers
from cxstack.routing.schemas import AgentOut, AgentPresenceChanged, AgentProfileIn, QueueIn, QueueOut

# -- queues --------------------------------------------------------------------------------------------


def queue_row(session: Session, tenant_id: str, queue_id: str, *, field: str = "queue_id") -> RoutingQueue:
    queue = session.get(RoutingQueue, queue_id)
    if queue is None or queue.tenant_id != tenant_id:
        raise NotFound(f"no queue {queue_id}", field=field)
    return queue


def _check_queue(session: Session, tenant_id: str, data: QueueIn, *, queue_id: str | None) -> None:
    taken = session.scalar(
        select(RoutingQueue.id).where(RoutingQueue.tenant_id == tenant_id, RoutingQueue.name == data.name)
    )
    if taken is not None and taken != queue_id:
        raise Conflict(f"a queue named {data.name!r} exists", field="name", queue_id=taken)
    if data.escalation_queue_id is not None:
        if data.escalation_queue_id == queue_id:
            raise ValidationFailed("a queue does not escalate to itself", field="escalation_queue_id")
        queue_row(session, tenant_id, data.escalation_queue_id, field="escalation_queue_id")
    known = {team.id for team in all_teams(session, tenant_id)}
    for index, team_id in enumerate(data.team_ids):
        if team_id not in known:
            raise NotFound(f"no team {team_id}", field=f"team_ids[{index}]")
    # The engine's own checks (fallback steps in order, dropped skills the queue requires).
    queue_config(_queue_values(RoutingQueue(id=queue_id or "que_check"), data))


def _queue_values(queue: RoutingQueue, data: QueueIn) -> RoutingQueue:
    queue.name = data.name
    queue.position = data.position
    queue.channels = list(dict.fromkeys(data.channels))
    queue.conditions = normalise_conditions(data.conditions)
    queue.escalation_queue_id = data.escalation_queue_id
    queue.priority = data.priority
    queue.skills = dict(data.skills)
    queue.language = data.language
    queue.team_ids = list(dict.fromkeys(data.team_ids))
    queue.strategy = data.strategy.value
    queue.sticky_seconds = data.sticky_seconds
    queue.fallback = [step.model_dump() for step in data.fallback]
    queue.aging_per_minute = data.aging_per_minute
    queue.wrap_up_seconds = data.wrap_up_seconds
    queue.offer_timeout_seconds = data.offer_timeout_seconds
    queue.service_level_seconds = data.service_level_seconds
    return queue


def create_queue(uow: UnitOfWork, routers: Routers, *, tenant_id: str, data: QueueIn) -> QueueOut:
    """Add a queue; raises Conflict for a name taken, NotFound for an unknown team, ValidationFailed."""
    session = uow.session
    _check_queue(session, tenant_id, data, queue_id=None)
    now = uow.clock.now()
    queue = _queue_values(RoutingQueue(id=new_id("que"), tenant_id=tenant_id), data)
    queue.created_at = queue.updated_at = now
    session.add(queue)
    session.flush()
    with routing(uow, routers, tenant_id) as held:
        held.engine.upsert_queue(queue_config(queue))
        make_offers(held)
    return QueueOut.model_validate(queue)


def update_queue(
    uow: UnitOfWork, routers: Routers, *, tenant_id: str, queue_id: str, data: QueueIn
) -> QueueOut:
    """Replace a queue's configuration; its waiting work keeps its place."""
    session = uow.session
    queue = queue_row(session, tenant_id, queue_id)
    _check_queue(session, tenant_id, data, queue_id=queue_id)
    _queue_values(queue, data)
    queue.updated_at = uow.clock.now()
    session.flush()
    with routing(uow, routers, tenant_id) as held:
        held.engine.upsert_queue(queue_config(queue))
        make_offers(held)
    return QueueOut.model_validate(queue)


def list_queues(session: Session, *, tenant_id: str) -> list[QueueOut]:
    queues = session.scalars(
        select(RoutingQueue)
        .where(RoutingQueue.tenant_id == tenant_id)
        .order_by(RoutingQueue.position, RoutingQueue.name)
    )
    return [QueueOut.model_validate(queue) for queue in queues]


def get_queue(session: Session, *, tenant_id: str, queue_id: str) -> QueueOut:
    return QueueOut.model_validate(queue_row(session, tenant_id, queue_id))


# -- agents --------------------------------------------------------------------------------------------


def agent_out(row: RoutingAgent, engine: RoutingEngine | None = None, now: float | None = None) -> AgentOut:
    load: dict[str, int] = {}
    presence = row.presence
    if engine is not None:
        stats = engine.snapshot(now or 0.0).agents
        for stat in stats:
            if stat.agent_id == row.user_id:
                load = dict(stat.load)
                presence = stat.presence.value
    return AgentOut(
        user_id=row.user_id,
        skills=row.skills,
        languages=row.languages,
        capacity=row.capacity,
        voice_with_other_work=row.voice_with_other_work,
        presence=presence,
        presence_since=row.presence_since,
        wrap_up_until=row.wrap_up_until,
        load=load,
    )


def agent_row(session: Session, tenant_id: str, user_id: str) -> RoutingAgent:
    agent = session.get(RoutingAgent, user_id)
    if agent is None or agent.tenant_id != tenant_id:
        raise NotFound(f"user {user_id} has no routing profile", field="user_id")
    return agent


def put_agent(
    uow: UnitOfWork, routers: Routers, *, tenant_id: str, user_id: str, data: AgentProfileIn
) -> AgentOut:
    """Set a user's routing profile (a new one starts offline); raises NotFound for an unknown user,
    Conflict for a disabled one."""
    session = uow.session
    user = get_user(session, tenant_id=tenant_id, user_id=user_id)
    if user.disabled_at is not None:
        raise Conflict(f"user {user_id} is disabled", field="user_id")
    now = uow.clock.now()
    agent = session.get(RoutingAgent, user_id)
    if agent is None:
        agent = RoutingAgent(
            user_id=user_id,
            tenant_id=tenant_id,
            presence=Presence.OFFLINE.value,
            presence_since=now,
            wrap_up_until=None,
            created_at=now,
        )
        session.add(agent)
    agent.skills = dict(data.skills)
    agent.languages = list(dict.fromkeys(data.languages))
    agent.capacity = {str(channel): slots for channel, slots in data.capacity.items()}
    agent.voice_with_other_work = data.voice_with_other_work
    agent.updated_at = now
    session.flush()
    with routing(uow, routers, tenant_id) as held:
        held.engine.upsert_agent(agent_config(agent, frozenset(user.team_ids)), now=held.now, presence=None)
        make_offers(held)
        return agent_out(agent, held.engine, held.now)


def get_agent(
    session: Session,
    *,
    tenant_id: str,
    user_id: str,
    routers: Routers | None = None,
    at: datetime | None = None,
) -> AgentOut:
    """Return an agent's routing profile; with ``routers`` and ``at``, their presence and load as routing
    holds them then (else the stored presence and no load). Raises NotFound without a profile."""
    row = agent_row(session, tenant_id, user_id)
    if routers is None or at is None:
        return agent_out(row)
    with looking(session, routers, tenant_id, at) as engine:
        return agent_out(row, engine, at.timestamp())


def set_presence(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    user_id: str,
    presence: str,
    acting: Acting | None = None,
) -> AgentOut:
    """Set an agent's presence (``agent.presence_changed``); becoming available routes waiting work to
    them. Raises NotFound for a user without a routing profile, OutsideTeams for a person who may not."""
    session = uow.session
    agent = agent_row(session, tenant_id, user_id)
    may_act_on_agent(session, tenant_id, acting, user_id)
    with routing(uow, routers, tenant_id) as held:
        previous = agent.presence
        held.engine.set_presence(user_id, presence, now=held.now)
        if previous != presence or agent.wrap_up_until is not None:
            agent.presence = presence
            agent.presence_since = held.at
            agent.wrap_up_until = None
            uow.publish(
                AgentPresenceChanged(agent_id=user_id, presence=presence, previous=previous),
                tenant_id=tenant_id,
                subject=user_id,
                source=SOURCE,
            )
        make_offers(held)
        return agent_out(agent, held.engine, held.now)


def connection_lost(uow: UnitOfWork, routers: Routers, *, tenant_id: str, user_id: str) -> None:
    """An agent's last routing socket closed a while ago, or its process stopped (its timer): an available
    agent is set away, so that no work is offered to someone who is not there, unless a socket of theirs
    is open on some process now."""
    agent = uow.session.get(RoutingAgent, user_id)
    if agent is None or agent.tenant_id != tenant_id:
        return
    if has_live_connection(uow, routers.connections, tenant_id=tenant_id, agent_id=user_id):
        return
    if agent.presence in (Presence.AVAILABLE.value, Presence.WRAP_UP.value):
        set_presence(uow, routers, tenant_id=tenant_id, user_id=user_id, presence=Presence.AWAY.value)


def end_wrap_up(uow: UnitOfWork, routers: Routers, *, tenant_id: str, user_id: str) -> None:
    """A wrap-up's time came (its timer): the agent is available again unless their presence changed."""
    agent = uow.session.get(RoutingAgent, user_id)
    if agent is None or agent.presence != Presence.WRAP_UP.value or agent.wrap_up_until is None:
        return
    with routing(uow, routers, tenant_id) as held:
        if agent.wrap_up_until > held.at:
            return
        agent.presence = Presence.AVAILABLE.value
        agent.presence_since = agent.wrap_up_until
        agent.wrap_up_until = None
        make_offers(held)
