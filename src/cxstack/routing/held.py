"""Holding a tenant's routing: its engine, kept by the process and rebuilt from the tables when stale, and
who may act on which agents and work.

Routing decides in memory and records in the log. Each tenant's ``RoutingEngine`` is kept by the process
(``Routers``) and used inside the transaction of the change that needs a decision; the transaction first
takes the tenant's routing row (``routing_versions``, locked on PostgreSQL) and rebuilds the engine from
the tables if the version it was built at is not the row's any more. Every decision is written to the
tables and published as an event in the same transaction, so the engine can always be rebuilt and a
supervisor can see why work went where it went. A read (the supervisor's overview) looks at the engine
without taking the row or counting a new version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.schemas import TeamOut
from cxstack.governance.staff.service import list_teams
from cxstack.kit.errors import Forbidden
from cxstack.routing.connections import Connections
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.model import AgentConfig, FallbackStep, ItemState, Presence, QueueConfig
from cxstack.routing.models import RoutingAgent, RoutingItem, RoutingQueue, RoutingVersion

SOURCE = "cxstack/routing"
OPEN_STATES = ("waiting", "offered", "assigned")


class Routers:
    """Each tenant's routing engine in this process, with the routing version it reflects, and the agents'
    routing sockets open here (``connections``: default, a heartbeat of 10 s and auto-away after 30 s)."""

    def __init__(self, connections: Connections | None = None) -> None:
        self._engines: dict[str, tuple[RoutingEngine, int]] = {}
        self._using: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()
        self.rebuilds = 0
        self.connections = connections or Connections()

    def using(self, tenant_id: str) -> threading.RLock:
        """The lock a thread holds while it uses the tenant's engine: a change holds it for its hold, a read
        while it looks (on the embedded driver a read runs on a thread of its own, beside the writer's)."""
        with self._guard:
            lock = self._using.get(tenant_id)
            if lock is None:
                lock = self._using[tenant_id] = threading.RLock()
            return lock

    def get(self, tenant_id: str, version: int) -> RoutingEngine | None:
        with self._guard:
            found = self._engines.get(tenant_id)
        return found[0] if found is not None and found[1] == version else None

    def put(self, tenant_id: str, engine: RoutingEngine, version: int) -> None:
        with self._guard:
            self._engines[tenant_id] = (engine, version)

    def keep(self, tenant_id: str, engine: RoutingEngine, version: int) -> None:
        """Keep an engine a read rebuilt, unless one of a later version is kept already."""
        with self._guard:
            found = self._engines.get(tenant_id)
            if found is None or found[1] < version:
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


def may_act_on_agent(session: Session, tenant_id: str, acting: Acting | None, agent_id: str) -> None:
    if acting is None or acting.role == "admin" or acting.user_id == agent_id:
        return
    if acting.role == "supervisor":
        teams = teams_of(session, tenant_id).get(agent_id, frozenset())
        if teams & acting.team_ids:
            return
        raise OutsideTeams(f"agent {agent_id} is in none of your teams", field="agent_id", agent_id=agent_id)
    raise OutsideTeams("an agent acts only on their own work and presence", field="agent_id")


def may_act_on_item(session: Session, tenant_id: str, acting: Acting | None, item: RoutingItem) -> None:
    """An agent: work offered or assigned to them; a supervisor: work of a queue open to one of their
    teams (or to every team), work transferred to one of their teams, or with an agent of theirs; an
    admin: any."""
    if acting is None or acting.role == "admin" or item.agent_id == acting.user_id:
        return
    if acting.role == "supervisor":
        if item.team_id is not None and item.team_id in acting.team_ids:
            return
        queue = session.get(RoutingQueue, item.queue_id)
        if queue is not None and (not queue.team_ids or set(queue.team_ids) & acting.team_ids):
            return
        if item.agent_id is not None:
            teams = teams_of(session, tenant_id).get(item.agent_id, frozenset())
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
    with routers.using(tenant_id):
        engine = routers.get(tenant_id, version)
        if engine is None:
            engine = _rebuild(session, tenant_id, at)
            routers.rebuilds += 1
        # Counted before the engine changes: a read in this process looks at it only once this commits.
        routers.put(tenant_id, engine, version + 1)
        session.execute(
            update(RoutingVersion).where(RoutingVersion.tenant_id == tenant_id).values(version=version + 1)
        )
        yield Routing(uow, tenant_id, engine, at)


@contextmanager
def looking(session: Session, routers: Routers, tenant_id: str, at: datetime) -> Iterator[RoutingEngine]:
    """Look at the tenant's engine as its last committed change left it, without taking its row or
    counting a version: the engine kept at the row's version, else one rebuilt from the tables (and kept
    for the next). A change in flight here has counted its version already, so its engine is not the
    row's, and is not looked at before it commits. The engine is only to be read."""
    version = session.scalar(select(RoutingVersion.version).where(RoutingVersion.tenant_id == tenant_id))
    with routers.using(tenant_id):
        engine = routers.get(tenant_id, version) if version is not None else None
        if engine is None:
            engine = _rebuild(session, tenant_id, at)
            routers.rebuilds += 1
            if version is not None:
                routers.keep(tenant_id, engine, version)
        yield engine


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


def queue_config(queue: RoutingQueue) -> QueueConfig:
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


def agent_config(agent: RoutingAgent, teams: frozenset[str]) -> AgentConfig:
    return AgentConfig(
        id=agent.user_id,
        skills=agent.skills,
        languages=frozenset(agent.languages),
        teams=teams,
        capacity=agent.capacity,
        voice_with_other_work=agent.voice_with_other_work,
    )


def all_teams(session: Session, tenant_id: str) -> list[TeamOut]:
    teams: list[TeamOut] = []
    cursor: str | None = None
    while True:
        page = list_teams(session, tenant_id=tenant_id, cursor=cursor, limit=200)
        teams.extend(page.items)
        if page.next_cursor is None:
            return teams
        cursor = page.next_cursor


def teams_of(session: Session, tenant_id: str) -> dict[str, frozenset[str]]:
    members: dict[str, set[str]] = {}
    for team in all_teams(session, tenant_id):
        for user_id in team.member_ids:
            members.setdefault(user_id, set()).add(team.id)
    return {user_id: frozenset(team_ids) for user_id, team_ids in members.items()}


def _rebuild(session: Session, tenant_id: str, at: datetime) -> RoutingEngine:
    """Build the tenant's engine from its tables."""
    now = at.timestamp()
    engine = RoutingEngine()
    for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id)):
        engine.upsert_queue(queue_config(queue))
    teams = teams_of(session, tenant_id)
    for agent in session.scalars(select(RoutingAgent).where(RoutingAgent.tenant_id == tenant_id)):
        engine.upsert_agent(
            agent_config(agent, teams.get(agent.user_id, frozenset())),
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
            team=item.team_id,
        )
    del now
    return engine
