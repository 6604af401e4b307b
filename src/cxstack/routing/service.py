"""Routing's operations: queues and agents' profiles, presence, and the life of a work item (queued,
offered, accepted or declined or expired, assigned, transferred, completed).

Routing decides in memory and records in the log. Each tenant's ``RoutingEngine`` is kept by the process
(``Routers``) and used inside the transaction of the change that needs a decision; the transaction first
takes the tenant's routing row (``routing_versions``, locked on PostgreSQL) and rebuilds the engine from
the tables if the version it was built at is not the row's any more. Every decision is written to the
tables and published as an event in the same transaction, so the engine can always be rebuilt and a
supervisor can see why work went where it went.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cxstack.backbone.timers import cancel_timer, schedule_timer
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.schemas import TeamOut
from cxstack.governance.staff.service import get_user, list_teams
from cxstack.kit.clock import utc
from cxstack.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate
from cxstack.records.conversations.schemas import ConversationUpdate
from cxstack.records.conversations.service import get_conversation, update_conversation
from cxstack.records.customers.service import get_customer
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.model import (
    AgentConfig,
    FallbackStep,
    ItemState,
    Offer,
    Presence,
    QueueConfig,
    Requeued,
)
from cxstack.routing.models import RoutingAgent, RoutingItem, RoutingQueue, RoutingVersion
from cxstack.routing.schemas import (
    AgentNow,
    AgentOut,
    AgentPresenceChanged,
    AgentProfileIn,
    ItemOut,
    OverviewOut,
    QueueIn,
    QueueNow,
    QueueOut,
    RoutingAccepted,
    RoutingAssigned,
    RoutingCompleted,
    RoutingDeclined,
    RoutingEscalated,
    RoutingExpired,
    RoutingItemEvent,
    RoutingOffered,
    RoutingOfferTimedOut,
    RoutingQueued,
    RoutingTransferred,
    RoutingWaitWidened,
)

log = structlog.get_logger("cxstack.routing")

SOURCE = "cxstack/routing"
OPEN_STATES = ("waiting", "offered", "assigned")


class Sockets:
    """The agents with a routing socket open in this process, by tenant (auto-away)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], int] = {}

    def opened(self, tenant_id: str, agent_id: str) -> None:
        key = (tenant_id, agent_id)
        self._open[key] = self._open.get(key, 0) + 1

    def closed(self, tenant_id: str, agent_id: str) -> bool:
        """Note a socket closed; return True when it was the agent's last one here."""
        key = (tenant_id, agent_id)
        left = self._open.get(key, 1) - 1
        if left <= 0:
            self._open.pop(key, None)
            return True
        self._open[key] = left
        return False


class Routers:
    """Each tenant's routing engine in this process, with the routing version it reflects, and the agents'
    routing sockets open here."""

    def __init__(self) -> None:
        self._engines: dict[str, tuple[RoutingEngine, int]] = {}
        self._guard = threading.Lock()
        self.rebuilds = 0
        self.sockets = Sockets()

    def get(self, tenant_id: str, version: int) -> RoutingEngine | None:
        with self._guard:
            found = self._engines.get(tenant_id)
        return found[0] if found is not None and found[1] == version else None

    def put(self, tenant_id: str, engine: RoutingEngine, version: int) -> None:
        with self._guard:
            self._engines[tenant_id] = (engine, version)


class OutsideTeams(Forbidden):
    """A signed-in person acting on work or an agent outside what their role and teams allow."""

    code = "outside_teams"
    title = "Outside your teams"


@dataclass(frozen=True, slots=True)
class Acting:
    """The signed-in person behind a change (None where a tenant key makes it): agents act on their own
    work and presence, supervisors on their teams', admins on everything."""

    user_id: str
    role: str
    team_ids: frozenset[str]


def _may_act_on_agent(session: Session, tenant_id: str, acting: Acting | None, agent_id: str) -> None:
    if acting is None or acting.role == "admin" or acting.user_id == agent_id:
        return
    if acting.role == "supervisor":
        teams = _teams_of(session, tenant_id).get(agent_id, frozenset())
        if teams & acting.team_ids:
            return
        raise OutsideTeams(f"agent {agent_id} is in none of your teams", field="agent_id", agent_id=agent_id)
    raise OutsideTeams("an agent acts only on their own work and presence", field="agent_id")


def _may_act_on_item(session: Session, tenant_id: str, acting: Acting | None, item: RoutingItem) -> None:
    """An agent: work offered or assigned to them; a supervisor: work of a queue open to one of their
    teams (or to every team), or with an agent of theirs; an admin: any."""
    if acting is None or acting.role == "admin" or item.agent_id == acting.user_id:
        return
    if acting.role == "supervisor":
        queue = session.get(RoutingQueue, item.queue_id)
        if queue is not None and (not queue.team_ids or set(queue.team_ids) & acting.team_ids):
            return
        if item.agent_id is not None:
            teams = _teams_of(session, tenant_id).get(item.agent_id, frozenset())
            if teams & acting.team_ids:
                return
        raise OutsideTeams(f"work item {item.id} is outside your teams", field="item_id")
    raise OutsideTeams("an agent acts only on work offered or assigned to them", field="item_id")


@dataclass
class Routing:
    """One transaction's hold on a tenant's routing: the engine, up to date, and the time of the change."""

    uow: UnitOfWork
    tenant_id: str
    engine: RoutingEngine
    at: datetime

    @property
    def now(self) -> float:
        return self.at.timestamp()

    @property
    def session(self) -> Session:
        return self.uow.session


@contextmanager
def routing(uow: UnitOfWork, routers: Routers, tenant_id: str) -> Iterator[Routing]:
    """Hold the tenant's routing for this transaction: lock its version row, rebuild the engine if it is
    stale, and count this transaction as a new version (an engine left changed by a transaction that rolls
    back is then stale, and rebuilt by the next)."""
    session = uow.session
    version = _lock_version(session, tenant_id)
    # Rows read before the lock may be another transaction's past: read them again from here on.
    session.flush()
    session.expire_all()
    at = uow.clock.now()
    engine = routers.get(tenant_id, version)
    if engine is None:
        engine = _rebuild(session, tenant_id, at)
        routers.rebuilds += 1
    session.execute(
        update(RoutingVersion).where(RoutingVersion.tenant_id == tenant_id).values(version=version + 1)
    )
    routers.put(tenant_id, engine, version + 1)
    yield Routing(uow, tenant_id, engine, at)


def _lock_version(session: Session, tenant_id: str) -> int:
    query = select(RoutingVersion.version).where(RoutingVersion.tenant_id == tenant_id).with_for_update()
    version = session.scalar(query)
    if version is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(RoutingVersion)
            .values(tenant_id=tenant_id, version=0)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        version = session.scalar(query)
    assert version is not None
    return version


def _queue_config(queue: RoutingQueue) -> QueueConfig:
    return QueueConfig(
        id=queue.id,
        priority=queue.priority,
        skills=queue.skills,
        language=queue.language,
        teams=frozenset(queue.team_ids),
        strategy=queue.strategy,
        sticky_seconds=queue.sticky_seconds,
        fallback=tuple(
            FallbackStep(
                after_seconds=step["after_seconds"],
                min_proficiency=step.get("min_proficiency"),
                drop_skills=frozenset(step.get("drop_skills", ())),
                any_team=step.get("any_team", False),
                any_language=step.get("any_language", False),
            )
            for step in queue.fallback
        ),
        aging_per_minute=queue.aging_per_minute,
        wrap_up_seconds=queue.wrap_up_seconds,
    )


def _agent_config(agent: RoutingAgent, teams: frozenset[str]) -> AgentConfig:
    return AgentConfig(
        id=agent.user_id,
        skills=agent.skills,
        languages=frozenset(agent.languages),
        teams=teams,
        capacity=agent.capacity,
        voice_with_other_work=agent.voice_with_other_work,
    )


def _all_teams(session: Session, tenant_id: str) -> list[TeamOut]:
    teams: list[TeamOut] = []
    cursor: str | None = None
    while True:
        page = list_teams(session, tenant_id=tenant_id, cursor=cursor, limit=200)
        teams.extend(page.items)
        if page.next_cursor is None:
            return teams
        cursor = page.next_cursor


def _teams_of(session: Session, tenant_id: str) -> dict[str, frozenset[str]]:
    members: dict[str, set[str]] = {}
    for team in _all_teams(session, tenant_id):
        for user_id in team.member_ids:
            members.setdefault(user_id, set()).add(team.id)
    return {user_id: frozenset(team_ids) for user_id, team_ids in members.items()}


def _rebuild(session: Session, tenant_id: str, at: datetime) -> RoutingEngine:
    """Build the tenant's engine from its tables."""
    now = at.timestamp()
    engine = RoutingEngine()
    for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id)):
        engine.upsert_queue(_queue_config(queue))
    teams = _teams_of(session, tenant_id)
    for agent in session.scalars(select(RoutingAgent).where(RoutingAgent.tenant_id == tenant_id)):
        engine.upsert_agent(
            _agent_config(agent, teams.get(agent.user_id, frozenset())),
            now=agent.presence_since.timestamp(),
        )
        presence = Presence(agent.presence)
        until = agent.wrap_up_until.timestamp() if agent.wrap_up_until is not None else None
        if presence is Presence.WRAP_UP and until is None:
            presence = Presence.AVAILABLE
        engine.set_presence(agent.user_id, presence, now=agent.presence_since.timestamp(), until=until)
    items = session.scalars(
        select(RoutingItem)
        .where(RoutingItem.tenant_id == tenant_id, RoutingItem.state.in_(OPEN_STATES))
        .order_by(RoutingItem.enqueued_at, RoutingItem.id)
    )
    for item in items:
        engine.restore(
            item_id=item.id,
            queue_id=item.queue_id,
            channel=item.channel,
            enqueued_at=item.enqueued_at.timestamp(),
            state=ItemState(item.state),
            agent_id=item.agent_id,
            priority=item.priority,
            customer_id=item.customer_id,
            language=item.language,
            declines=item.declines,
        )
    del now
    return engine


# -- queues --------------------------------------------------------------------------------------------


def _queue_row(session: Session, tenant_id: str, queue_id: str, *, field: str = "queue_id") -> RoutingQueue:
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
        _queue_row(session, tenant_id, data.escalation_queue_id, field="escalation_queue_id")
    known = {team.id for team in _all_teams(session, tenant_id)}
    for index, team_id in enumerate(data.team_ids):
        if team_id not in known:
            raise NotFound(f"no team {team_id}", field=f"team_ids[{index}]")
    # The engine's own checks (fallback steps in order, dropped skills the queue requires).
    _queue_config(_queue_values(RoutingQueue(id=queue_id or "que_check"), data))


def _queue_values(queue: RoutingQueue, data: QueueIn) -> RoutingQueue:
    queue.name = data.name
    queue.position = data.position
    queue.channels = list(dict.fromkeys(data.channels))
    queue.conditions = dict(data.conditions)
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
        held.engine.upsert_queue(_queue_config(queue))
        _route(held)
    return QueueOut.model_validate(queue)


def update_queue(
    uow: UnitOfWork, routers: Routers, *, tenant_id: str, queue_id: str, data: QueueIn
) -> QueueOut:
    """Replace a queue's configuration; its waiting work keeps its place."""
    session = uow.session
    queue = _queue_row(session, tenant_id, queue_id)
    _check_queue(session, tenant_id, data, queue_id=queue_id)
    _queue_values(queue, data)
    queue.updated_at = uow.clock.now()
    session.flush()
    with routing(uow, routers, tenant_id) as held:
        held.engine.upsert_queue(_queue_config(queue))
        _route(held)
    return QueueOut.model_validate(queue)


def list_queues(session: Session, *, tenant_id: str) -> list[QueueOut]:
    queues = session.scalars(
        select(RoutingQueue)
        .where(RoutingQueue.tenant_id == tenant_id)
        .order_by(RoutingQueue.position, RoutingQueue.name)
    )
    return [QueueOut.model_validate(queue) for queue in queues]


def get_queue(session: Session, *, tenant_id: str, queue_id: str) -> QueueOut:
    return QueueOut.model_validate(_queue_row(session, tenant_id, queue_id))


# -- agents --------------------------------------------------------------------------------------------


def _agent_out(row: RoutingAgent, engine: RoutingEngine | None = None, now: float | None = None) -> AgentOut:
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


def _agent_row(session: Session, tenant_id: str, user_id: str) -> RoutingAgent:
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
        held.engine.upsert_agent(_agent_config(agent, frozenset(user.team_ids)), now=held.now, presence=None)
        _route(held)
        return _agent_out(agent, held.engine, held.now)


def get_agent(session: Session, *, tenant_id: str, user_id: str) -> AgentOut:
    return _agent_out(_agent_row(session, tenant_id, user_id))


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
    agent = _agent_row(session, tenant_id, user_id)
    _may_act_on_agent(session, tenant_id, acting, user_id)
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
        _route(held)
        return _agent_out(agent, held.engine, held.now)


def connection_lost(uow: UnitOfWork, routers: Routers, *, tenant_id: str, user_id: str) -> None:
    """An agent's last routing socket closed a while ago and none opened since (its timer): an available
    agent is set away, so that no work is offered to someone who is not there."""
    agent = uow.session.get(RoutingAgent, user_id)
    if agent is None or agent.tenant_id != tenant_id:
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
        _route(held)


# -- work items ----------------------------------------------------------------------------------------


def _event_base(item: RoutingItem) -> dict[str, str]:
    return {
        "item_id": item.id,
        "conversation_id": item.conversation_id,
        "queue_id": item.queue_id,
        "channel": item.channel,
    }


def _publish(held: Routing, item: RoutingItem, event: RoutingItemEvent) -> None:
    held.uow.publish(event, tenant_id=held.tenant_id, subject=item.conversation_id, source=SOURCE)


def choose_queue(
    session: Session,
    *,
    tenant_id: str,
    channel: str,
    queue_name: str | None = None,
    conversation_id: str | None = None,
    customer_id: str | None = None,
) -> tuple[RoutingQueue, str] | None:
    """Return the queue new work goes to and why: the queue named (a voice menu's choice), else the first
    queue by position that takes the channel and whose conditions the conversation and its customer meet;
    None when no queue takes it."""
    queues = list(
        session.scalars(
            select(RoutingQueue)
            .where(RoutingQueue.tenant_id == tenant_id)
            .order_by(RoutingQueue.position, RoutingQueue.name)
        )
    )
    if queue_name is not None:
        for queue in queues:
            if queue.name.casefold() == queue_name.casefold():
                return queue, f"the voice menu chose queue {queue.name!r}"
    facts: dict[str, str] | None = None
    for queue in queues:
        if channel not in queue.channels:
            continue
        if not queue.conditions:
            return queue, f"queue {queue.name!r} takes new {channel} work"
        if facts is None:
            facts = _facts(session, tenant_id, conversation_id, customer_id)
        if all(facts.get(key) == value for key, value in queue.conditions.items()):
            met = ", ".join(f"{key} = {value}" for key, value in sorted(queue.conditions.items()))
            return queue, f"queue {queue.name!r} takes new {channel} work where {met}"
    return None


def _facts(
    session: Session, tenant_id: str, conversation_id: str | None, customer_id: str | None
) -> dict[str, str]:
    """The attributes queue conditions look at: ``conversation.<key>`` and ``customer.<key>``."""
    facts: dict[str, str] = {}
    if conversation_id is not None:
        conversation = get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id)
        facts.update({f"conversation.{k}": str(v) for k, v in conversation.attributes.items()})
        customer_id = customer_id or conversation.customer_id
    if customer_id is not None:
        customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
        facts.update({f"customer.{k}": str(v) for k, v in customer.attributes.items()})
    return facts


def enqueue(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    conversation_id: str,
    customer_id: str,
    channel: str,
    kind: str = "conversation",
    call_id: str | None = None,
    queue_name: str | None = None,
) -> ItemOut | None:
    """Route new work: put it in the queue that takes it (``routing.queued``) and offer it if an agent can
    take it; return the item, or None when no queue takes the channel (nothing is routed)."""
    session = uow.session
    existing = session.scalar(
        select(RoutingItem).where(
            RoutingItem.tenant_id == tenant_id,
            RoutingItem.conversation_id == conversation_id,
            RoutingItem.state.in_(OPEN_STATES),
        )
    )
    if existing is not None:
        return ItemOut.model_validate(existing)
    chosen = choose_queue(
        session,
        tenant_id=tenant_id,
        channel=channel,
        queue_name=queue_name,
        conversation_id=conversation_id,
        customer_id=customer_id,
    )
    if chosen is None:
        log.debug("no queue takes the work", tenant=tenant_id, channel=channel, conversation=conversation_id)
        return None
    queue, reason = chosen
    with routing(uow, routers, tenant_id) as held:
        item = RoutingItem(
            id=new_id("wrk"),
            tenant_id=tenant_id,
            kind=kind,
            conversation_id=conversation_id,
            call_id=call_id,
            customer_id=customer_id,
            channel=channel,
            queue_id=queue.id,
            priority=0,
            language=None,
            state="waiting",
            agent_id=None,
            offers=0,
            declines=0,
            offer_expires_at=None,
            enqueued_at=held.at,
            assigned_at=None,
            ended_at=None,
        )
        session.add(item)
        enqueued = held.engine.enqueue(
            item_id=item.id,
            queue_id=queue.id,
            channel=channel,
            now=held.now,
            customer_id=customer_id,
        )
        _publish(
            held,
            item,
            RoutingQueued(**_event_base(item), customer_id=customer_id, kind=kind, priority=0, reason=reason),
        )
        _schedule_widenings(held, item, enqueued.widens_at)
        _note_queue(uow, tenant_id, conversation_id, queue.id)
        _route(held)
        return ItemOut.model_validate(item)


def _note_queue(uow: UnitOfWork, tenant_id: str, conversation_id: str, queue_id: str) -> None:
    """Record the queue on the conversation (``attributes.queue_id``), where SLA policies by queue and
    reports find it."""
    conversation = get_conversation(uow.session, tenant_id=tenant_id, conversation_id=conversation_id)
    if conversation.attributes.get("queue_id") != queue_id:
        update_conversation(
            uow,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            data=ConversationUpdate(attributes={"queue_id": queue_id}),
        )


def _schedule_widenings(held: Routing, item: RoutingItem, times: Sequence[float]) -> None:
    for number, when in enumerate(times):
        schedule_timer(
            held.uow,
            tenant_id=held.tenant_id,
            key=f"routing.widen.{item.id}.{number}",
            fire_at=datetime.fromtimestamp(when, tz=held.at.tzinfo),
            subject=item.conversation_id,
            event=RoutingWaitWidened(item_id=item.id),
        )


def _route(held: Routing) -> list[Offer]:
    """Make the offers the engine finds now: record each, publish ``routing.offered`` and time it out."""
    offers = held.engine.route(held.now)
    if not offers:
        return offers
    session = held.session
    items = {
        item.id: item
        for item in session.scalars(
            select(RoutingItem).where(RoutingItem.id.in_([o.item_id for o in offers]))
        )
    }
    timeouts = {
        queue.id: queue.offer_timeout_seconds
        for queue in session.scalars(
            select(RoutingQueue).where(RoutingQueue.id.in_({o.queue_id for o in offers}))
        )
    }
    for offer in offers:
        item = items[offer.item_id]
        _offer(held, item, offer, timeout_s=timeouts.get(offer.queue_id, 30))
    return offers


def _offer(held: Routing, item: RoutingItem, offer: Offer, *, timeout_s: int) -> None:
    expires = held.at + timedelta(seconds=timeout_s)
    item.state = "offered"
    item.agent_id = offer.agent_id
    item.queue_id = offer.queue_id
    item.offers += 1
    item.offer_expires_at = expires
    reason = offer.reason
    _publish(
        held,
        item,
        RoutingOffered(
            **_event_base(item),
            agent_id=offer.agent_id,
            offer=item.offers,
            expires_at=expires,
            strategy=reason.strategy,
            matched_skills=dict(reason.matched_skills),
            fallback_step=reason.fallback_step,
            wait_seconds=round(reason.wait_seconds, 3),
        ),
    )
    schedule_timer(
        held.uow,
        tenant_id=held.tenant_id,
        key=f"routing.offer.{item.id}",
        fire_at=expires,
        subject=item.conversation_id,
        event=RoutingOfferTimedOut(item_id=item.id, offer=item.offers),
    )


def _item_row(session: Session, tenant_id: str, item_id: str) -> RoutingItem:
    item = session.get(RoutingItem, item_id)
    if item is None or item.tenant_id != tenant_id:
        raise NotFound(f"no work item {item_id}", field="item_id")
    return item


def accept_offer(
    uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str, agent_id: str
) -> ItemOut:
    """The agent takes the work offered to them: ``routing.accepted`` and ``routing.assigned``, and the
    conversation's assignee is the agent. Raises Conflict when it is not (or no longer) offered to them."""
    session = uow.session
    item = _item_row(session, tenant_id, item_id)
    with routing(uow, routers, tenant_id) as held:
        if item.state != "offered" or item.agent_id != agent_id:
            raise Conflict(
                f"work item {item_id} is not offered to {agent_id}"
                + (f" (it is {item.state})" if item.state != "offered" else ""),
                field="item_id",
                state=item.state,
            )
        assigned = held.engine.accept(item_id, agent_id=agent_id, now=held.now)
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        item.state = "assigned"
        item.assigned_at = held.at
        item.offer_expires_at = None
        _publish(
            held,
            item,
            RoutingAccepted(
                **_event_base(item), agent_id=agent_id, wait_seconds=round(assigned.wait_seconds, 3)
            ),
        )
        _publish(
            held,
            item,
            RoutingAssigned(**_event_base(item), agent_id=agent_id, kind=item.kind, call_id=item.call_id),
        )
        update_conversation(
            uow,
            tenant_id=tenant_id,
            conversation_id=item.conversation_id,
            data=ConversationUpdate(assignee=agent_id),
        )
        return ItemOut.model_validate(item)


def decline_offer(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    agent_id: str,
    note: str | None = None,
) -> ItemOut:
    """The agent turns the work down: it waits again and goes to another agent first
    (``routing.declined``). Raises Conflict when it is not offered to them."""
    session = uow.session
    item = _item_row(session, tenant_id, item_id)
    with routing(uow, routers, tenant_id) as held:
        if item.state != "offered" or item.agent_id != agent_id:
            raise Conflict(f"work item {item_id} is not offered to {agent_id}", field="item_id")
        requeued = held.engine.decline(item_id, agent_id=agent_id, now=held.now)
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        _waiting_again(item, requeued)
        _publish(
            held,
            item,
            RoutingDeclined(**_event_base(item), agent_id=agent_id, declines=item.declines, note=note),
        )
        _route(held)
        return ItemOut.model_validate(item)


def _waiting_again(item: RoutingItem, requeued: Requeued) -> None:
    item.state = "waiting"
    item.agent_id = None
    item.offer_expires_at = None
    item.declines = requeued.declines
    item.queue_id = requeued.queue_id


def expire_offer(uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str, offer: int) -> None:
    """An offer's timer fired: unless the offer was answered (or another made since), it expires
    (``routing.expired``) and the work goes to another agent."""
    item = uow.session.get(RoutingItem, item_id)
    if item is None or item.state != "offered" or item.offers != offer or item.agent_id is None:
        return
    agent_id = item.agent_id
    with routing(uow, routers, tenant_id) as held:
        requeued = held.engine.expire(item_id, now=held.now)
        _waiting_again(item, requeued)
        _publish(held, item, RoutingExpired(**_event_base(item), agent_id=agent_id, declines=item.declines))
        # The engine set an available agent who did not answer away: so does the record.
        agent = held.session.get(RoutingAgent, agent_id)
        if agent is not None and agent.presence == Presence.AVAILABLE.value:
            agent.presence = Presence.AWAY.value
            agent.presence_since = held.at
            uow.publish(
                AgentPresenceChanged(agent_id=agent_id, presence="away", previous="available"),
                tenant_id=tenant_id,
                subject=agent_id,
                source=SOURCE,
            )
        _route(held)


def route_again(uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str) -> None:
    """An item's wait reached a fallback step (its timer): route with the wider requirements."""
    item = uow.session.get(RoutingItem, item_id)
    if item is None or item.state != "waiting":
        return
    with routing(uow, routers, tenant_id) as held:
        _route(held)


def end_work(uow: UnitOfWork, routers: Routers, *, tenant_id: str, conversation_id: str) -> None:
    """The conversation closed: its work is completed (assigned) or withdrawn (waiting or offered), with
    ``routing.completed``; the agent's capacity frees, and wrap-up starts if the queue has one."""
    session = uow.session
    items = list(
        session.scalars(
            select(RoutingItem).where(
                RoutingItem.tenant_id == tenant_id,
                RoutingItem.conversation_id == conversation_id,
                RoutingItem.state.in_(OPEN_STATES),
            )
        )
    )
    if not items:
        return
    with routing(uow, routers, tenant_id) as held:
        for item in items:
            agent_id = item.agent_id
            if item.state == "assigned":
                done = held.engine.complete(item.id, now=held.now)
                item.state = "completed"
                if done.wrap_up_until is not None:
                    _start_wrap_up(held, done.agent_id, done.wrap_up_until)
            else:
                held.engine.cancel(item.id, now=held.now)
                cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
                item.state = "cancelled"
            item.ended_at = held.at
            item.offer_expires_at = None
            _publish(held, item, RoutingCompleted(**_event_base(item), agent_id=agent_id, state=item.state))
        _route(held)


def _start_wrap_up(held: Routing, agent_id: str, until_s: float) -> None:
    agent = held.session.get(RoutingAgent, agent_id)
    if agent is None:
        return
    until = datetime.fromtimestamp(until_s, tz=held.at.tzinfo)
    previous = agent.presence
    agent.presence = Presence.WRAP_UP.value
    agent.presence_since = held.at
    agent.wrap_up_until = until
    held.uow.publish(
        AgentPresenceChanged(agent_id=agent_id, presence="wrap_up", previous=previous, until=until),
        tenant_id=held.tenant_id,
        subject=agent_id,
        source=SOURCE,
    )
    schedule_timer(
        held.uow,
        tenant_id=held.tenant_id,
        key=f"routing.wrap_up.{agent_id}",
        fire_at=until,
        subject=agent_id,
        event=AgentPresenceChanged(agent_id=agent_id, presence="available", previous="wrap_up"),
    )


def transfer(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    to_queue_id: str | None,
    to_agent_id: str | None,
    note: str | None,
    acting: Acting | None = None,
) -> ItemOut:
    """Move open work to another queue (it waits there) or offer it to a named agent, keeping its
    conversation and everything in it (``routing.transferred``). Raises ValidationFailed unless exactly one
    target is given, NotFound for an unknown one, Conflict for finished work or an agent who cannot take
    it now."""
    if (to_queue_id is None) == (to_agent_id is None):
        raise ValidationFailed("give either to_queue_id or to_agent_id", field="to_queue_id")
    session = uow.session
    item = _item_row(session, tenant_id, item_id)
    _may_act_on_item(session, tenant_id, acting, item)
    if item.state not in OPEN_STATES:
        raise Conflict(f"work item {item_id} is {item.state}", field="item_id")
    if to_queue_id is not None:
        queue = _queue_row(session, tenant_id, to_queue_id)
        timeout_s = queue.offer_timeout_seconds
    else:
        assert to_agent_id is not None
        _agent_row(session, tenant_id, to_agent_id)
        timeout_s = _queue_row(session, tenant_id, item.queue_id).offer_timeout_seconds
    with routing(uow, routers, tenant_id) as held:
        from_agent = item.agent_id
        moved = held.engine.transfer(item_id, now=held.now, to_queue=to_queue_id, to_agent=to_agent_id)
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        _publish(
            held,
            item,
            RoutingTransferred(
                **_event_base(item),
                from_agent_id=from_agent,
                to_queue_id=to_queue_id,
                to_agent_id=to_agent_id,
                note=note,
            ),
        )
        item.assigned_at = None
        if isinstance(moved, Offer):
            _offer(held, item, moved, timeout_s=timeout_s)
        else:
            _waiting_again(item, moved)
            item.enqueued_at = held.at
            _schedule_widenings(held, item, moved.widens_at)
        _route(held)
        return ItemOut.model_validate(item)


def escalate(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    reason: str,
    to_queue_id: str | None,
    to_agent_id: str | None,
    acting: Acting | None = None,
) -> ItemOut:
    """Escalate open work with a reason (``routing.escalated``): to a named queue or agent (a
    supervisor), or to its queue's escalation queue. Raises ValidationFailed when both are named or
    neither is and the queue has no escalation queue; as ``transfer`` otherwise."""
    session = uow.session
    item = _item_row(session, tenant_id, item_id)
    if to_queue_id is not None and to_agent_id is not None:
        raise ValidationFailed("give to_queue_id or to_agent_id, not both", field="to_queue_id")
    if to_queue_id is None and to_agent_id is None:
        to_queue_id = _queue_row(session, tenant_id, item.queue_id).escalation_queue_id
        if to_queue_id is None:
            raise ValidationFailed(
                "the work's queue has no escalation queue: name to_queue_id or to_agent_id",
                field="to_queue_id",
            )
    from_queue, from_agent = item.queue_id, item.agent_id
    moved = transfer(
        uow,
        routers,
        tenant_id=tenant_id,
        item_id=item_id,
        to_queue_id=to_queue_id,
        to_agent_id=to_agent_id,
        note=reason,
        acting=acting,
    )
    uow.publish(
        RoutingEscalated(
            item_id=item.id,
            conversation_id=item.conversation_id,
            queue_id=item.queue_id,
            channel=item.channel,
            from_queue_id=from_queue,
            from_agent_id=from_agent,
            to_queue_id=to_queue_id,
            to_agent_id=to_agent_id,
            reason=reason,
        ),
        tenant_id=tenant_id,
        subject=item.conversation_id,
        source=SOURCE,
    )
    if to_queue_id is not None:
        _note_queue(uow, tenant_id, item.conversation_id, to_queue_id)
    return moved


# -- reading -------------------------------------------------------------------------------------------


def list_items(
    session: Session,
    *,
    tenant_id: str,
    state: str | None = None,
    agent_id: str | None = None,
    queue_id: str | None = None,
    conversation_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ItemOut]:
    """Return a page of work items, oldest first (open ones unless ``state`` says otherwise)."""
    query = select(RoutingItem).where(RoutingItem.tenant_id == tenant_id)
    if state is not None:
        query = query.where(RoutingItem.state == state)
    else:
        query = query.where(RoutingItem.state.in_(OPEN_STATES))
    if agent_id is not None:
        query = query.where(RoutingItem.agent_id == agent_id)
    if queue_id is not None:
        query = query.where(RoutingItem.queue_id == queue_id)
    if conversation_id is not None:
        query = query.where(RoutingItem.conversation_id == conversation_id)
    page = paginate(session, query, id_column=RoutingItem.id, cursor=cursor, limit=limit)
    return Page(items=[ItemOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor)


def get_item(session: Session, *, tenant_id: str, item_id: str) -> ItemOut:
    return ItemOut.model_validate(_item_row(session, tenant_id, item_id))


def overview(uow: UnitOfWork, routers: Routers, *, tenant_id: str) -> OverviewOut:
    """Queues with their waiting count, oldest wait and service level in the last hour; agents with their
    presence, load per channel and current work."""
    session = uow.session
    with routing(uow, routers, tenant_id) as held:
        snapshot = held.engine.snapshot(held.now)
        at = held.at
    queues = {
        queue.id: queue
        for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))
    }
    since = at - timedelta(hours=1)
    levels: dict[str, tuple[int, int]] = {}
    answered = session.execute(
        select(RoutingItem.queue_id, RoutingItem.enqueued_at, RoutingItem.assigned_at).where(
            RoutingItem.tenant_id == tenant_id,
            RoutingItem.assigned_at.is_not(None),
            RoutingItem.assigned_at >= since,
        )
    )
    for queue_id, enqueued_at, assigned_at in answered:
        queue = queues.get(queue_id)
        if queue is None or assigned_at is None:
            continue
        within, total = levels.get(queue_id, (0, 0))
        waited = (utc(assigned_at) - utc(enqueued_at)).total_seconds()
        levels[queue_id] = (within + (waited <= queue.service_level_seconds), total + 1)
    work: dict[str, list[str]] = {}
    declined: dict[str, tuple[int, int]] = {}
    for item_id, agent_id, queue_id, declines in session.execute(
        select(RoutingItem.id, RoutingItem.agent_id, RoutingItem.queue_id, RoutingItem.declines).where(
            RoutingItem.tenant_id == tenant_id,
            RoutingItem.state.in_(OPEN_STATES),
        )
    ):
        if agent_id is not None:
            work.setdefault(agent_id, []).append(item_id)
        if declines:
            count, most = declined.get(queue_id, (0, 0))
            declined[queue_id] = (count + 1, max(most, declines))
    return OverviewOut(
        at=at,
        queues=[
            QueueNow(
                queue_id=stat.queue_id,
                name=queues[stat.queue_id].name if stat.queue_id in queues else stat.queue_id,
                waiting=stat.waiting,
                offered=stat.offered,
                oldest_wait_seconds=round(stat.oldest_wait_seconds, 3),
                declined=declined.get(stat.queue_id, (0, 0))[0],
                most_declines=declined.get(stat.queue_id, (0, 0))[1],
                service_level=(
                    round(levels[stat.queue_id][0] / levels[stat.queue_id][1], 4)
                    if stat.queue_id in levels
                    else None
                ),
            )
            for stat in snapshot.queues
        ],
        agents=[
            AgentNow(
                agent_id=stat.agent_id,
                presence=stat.presence.value,
                wrap_up_until=(
                    datetime.fromtimestamp(stat.wrap_up_until, tz=at.tzinfo) if stat.wrap_up_until else None
                ),
                load=dict(stat.load),
                capacity=dict(stat.capacity),
                items=sorted(work.get(stat.agent_id, [])),
            )
            for stat in snapshot.agents
        ],
    )


def acting_agent(caller_user_id: str | None, role: str | None, agent_id: str | None) -> str:
    """Return whom an answer to an offer is for: the signed-in agent themselves, or the ``agent_id`` an
    integration (API key) names. Raises ValidationFailed when an API key names none, Forbidden when a
    person answers for someone else."""
    if caller_user_id is None:
        if agent_id is None:
            raise ValidationFailed(
                "an API key answers an offer for an agent: give agent_id", field="agent_id"
            )
        return agent_id
    if agent_id is not None and agent_id != caller_user_id:
        raise Forbidden("an agent answers only the offers made to them", field="agent_id")
    del role
    return caller_user_id


def count_open(session: Session, *, tenant_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RoutingItem)
            .where(RoutingItem.tenant_id == tenant_id, RoutingItem.state.in_(OPEN_STATES))
        )
        or 0
    )
