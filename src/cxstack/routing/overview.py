"""The supervisor's overview: queues and agents now, read without changing routing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.kit.clock import utc
from cxstack.routing.held import OPEN_STATES, Routers, looking
from cxstack.routing.models import RoutingItem, RoutingQueue
from cxstack.routing.schemas import AgentNow, OverviewOut, QueueNow


def overview(session: Session, routers: Routers, *, tenant_id: str, at: datetime) -> OverviewOut:
    """Queues with their waiting count, oldest wait and service level in the last hour; agents with their
    presence, load per channel and current work, as of ``at``. A read: routing's version is not counted."""
    with looking(session, routers, tenant_id, at) as engine:
        snapshot = engine.snapshot(at.timestamp())
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
