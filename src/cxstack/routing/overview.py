"""The supervisor's overview: queues and agents now, read without changing routing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cxstack.governance.staff.models import User
from cxstack.kit.clock import utc
from cxstack.kit.errors import ValidationFailed
from cxstack.routing.held import OPEN_STATES, Routers, looking, teams_of
from cxstack.routing.model import Presence
from cxstack.routing.models import RoutingAgent, RoutingItem, RoutingQueue
from cxstack.routing.schemas import AgentNow, AgentWorkNow, OverviewOut, QueueNow

#: The time zone of "today" when none is asked for.
DEFAULT_TZ = "UTC"


def zone_of(tz: str | None) -> ZoneInfo:
    """Return the IANA time zone named ``tz`` (UTC when None); raises ValidationFailed for an unknown one."""
    name = DEFAULT_TZ if tz is None else tz
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Paris", field="tz"
        ) from None


@dataclass
class _Answered:
    """Work that reached an agent in a window: how much, and how much within the service level time."""

    within: int = 0
    total: int = 0

    def add(self, on_time: bool) -> None:
        self.within += on_time
        self.total += 1

    def level(self) -> float | None:
        return round(self.within / self.total, 4) if self.total else None


@dataclass
class _Day:
    """A queue's figures for the last hour and for today."""

    hour: _Answered = field(default_factory=_Answered)
    today: _Answered = field(default_factory=_Answered)
    abandoned: int = 0


def _days(
    session: Session, tenant_id: str, queues: dict[str, RoutingQueue], at: datetime, midnight: datetime
) -> dict[str, _Day]:
    """Each queue's work answered in the last hour and today, and abandoned today."""
    since = min(at - timedelta(hours=1), midnight)
    days: dict[str, _Day] = {}
    rows = session.execute(
        select(
            RoutingItem.queue_id,
            RoutingItem.state,
            RoutingItem.enqueued_at,
            RoutingItem.assigned_at,
            RoutingItem.ended_at,
            RoutingItem.conversation_id,
            RoutingItem.id,
        ).where(
            RoutingItem.tenant_id == tenant_id,
            or_(
                RoutingItem.assigned_at >= since,
                (RoutingItem.state == "cancelled") & (RoutingItem.ended_at >= midnight),
            ),
        )
    )
    hour_ago = at - timedelta(hours=1)
    ended: list[tuple[str, str, str, datetime]] = []
    for queue_id, state, enqueued_at, assigned_at, ended_at, conversation_id, item_id in rows:
        queue = queues.get(queue_id)
        if queue is None:
            continue
        day = days.setdefault(queue_id, _Day())
        if assigned_at is not None:
            assigned = utc(assigned_at)
            on_time = (assigned - utc(enqueued_at)).total_seconds() <= queue.service_level_seconds
            if assigned >= hour_ago:
                day.hour.add(on_time)
            if assigned >= midnight:
                day.today.add(on_time)
        elif state == "cancelled" and ended_at is not None and utc(ended_at) >= midnight:
            ended.append((queue_id, conversation_id, item_id, utc(ended_at)))
    # Work a call took over (cancelled as the call was queued) was not abandoned: the customer called.
    calls: dict[str, list[tuple[str, datetime]]] = {}
    taken_over = (
        session.execute(
            select(RoutingItem.conversation_id, RoutingItem.id, RoutingItem.enqueued_at).where(
                RoutingItem.tenant_id == tenant_id,
                RoutingItem.kind == "call",
                RoutingItem.conversation_id.in_({conversation for _, conversation, _, _ in ended}),
            )
        )
        if ended
        else ()
    )
    for conversation_id, call_item_id, enqueued_at in taken_over:
        calls.setdefault(conversation_id, []).append((call_item_id, utc(enqueued_at)))
    for queue_id, conversation_id, item_id, at_end in ended:
        later_calls = calls.get(conversation_id, ())
        if not any(call_id != item_id and called >= at_end for call_id, called in later_calls):
            days[queue_id].abandoned += 1
    return days


def _available(
    session: Session, tenant_id: str, queues: dict[str, RoutingQueue], agents: list[AgentNow]
) -> dict[str, int]:
    """How many available agents may take each queue's work (its teams, capacity on its channels)."""
    teams = teams_of(session, tenant_id)
    counts: dict[str, int] = dict.fromkeys(queues, 0)
    for agent in agents:
        if agent.presence != Presence.AVAILABLE.value:
            continue
        for queue in queues.values():
            in_team = not queue.team_ids or bool(set(queue.team_ids) & teams.get(agent.agent_id, frozenset()))
            has_room = any(agent.capacity.get(channel, 0) > 0 for channel in queue.channels)
            counts[queue.id] += in_team and has_room
    return counts


def overview(
    session: Session, routers: Routers, *, tenant_id: str, at: datetime, tz: str | None = None
) -> OverviewOut:
    """Queues with their waiting count, oldest wait, service level in the last hour and today, work
    abandoned today and agents available; agents with their name, presence (and since when), load per
    channel and current work, as of ``at``. "Today" starts at midnight in ``tz`` (an IANA time zone, UTC
    by default; ValidationFailed for an unknown one). A read: routing's version is not counted."""
    zone = zone_of(tz)
    midnight = utc(at.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0))
    with looking(session, routers, tenant_id, at) as engine:
        snapshot = engine.snapshot(at.timestamp())
    queues = {
        queue.id: queue
        for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))
    }
    days = _days(session, tenant_id, queues, at, midnight)
    work: dict[str, list[AgentWorkNow]] = {}
    declined: dict[str, tuple[int, int]] = {}
    for item_id, agent_id, queue_id, declines, conversation_id, channel, state in session.execute(
        select(
            RoutingItem.id,
            RoutingItem.agent_id,
            RoutingItem.queue_id,
            RoutingItem.declines,
            RoutingItem.conversation_id,
            RoutingItem.channel,
            RoutingItem.state,
        ).where(
            RoutingItem.tenant_id == tenant_id,
            RoutingItem.state.in_(OPEN_STATES),
        )
    ):
        if agent_id is not None:
            work.setdefault(agent_id, []).append(
                AgentWorkNow(item_id=item_id, conversation_id=conversation_id, channel=channel, state=state)
            )
        if declines:
            count, most = declined.get(queue_id, (0, 0))
            declined[queue_id] = (count + 1, max(most, declines))
    agent_ids = [stat.agent_id for stat in snapshot.agents]
    names: dict[str, str] = {
        user_id: name
        for user_id, name in session.execute(
            select(User.id, User.name).where(User.tenant_id == tenant_id, User.id.in_(agent_ids))
        )
    }
    since: dict[str, datetime] = {
        user_id: presence_since
        for user_id, presence_since in session.execute(
            select(RoutingAgent.user_id, RoutingAgent.presence_since).where(
                RoutingAgent.tenant_id == tenant_id, RoutingAgent.user_id.in_(agent_ids)
            )
        )
    }
    agents = [
        AgentNow(
            agent_id=stat.agent_id,
            name=names.get(stat.agent_id, stat.agent_id),
            presence=stat.presence.value,
            presence_since=utc(since[stat.agent_id]) if stat.agent_id in since else at,
            wrap_up_until=(
                datetime.fromtimestamp(stat.wrap_up_until, tz=at.tzinfo) if stat.wrap_up_until else None
            ),
            load=dict(stat.load),
            capacity=dict(stat.capacity),
            items=sorted(w.item_id for w in work.get(stat.agent_id, [])),
            work=sorted(work.get(stat.agent_id, []), key=lambda w: w.item_id),
        )
        for stat in snapshot.agents
    ]
    available = _available(session, tenant_id, queues, agents)
    return OverviewOut(
        at=at,
        tz=zone.key,
        queues=[
            QueueNow(
                queue_id=stat.queue_id,
                name=queues[stat.queue_id].name if stat.queue_id in queues else stat.queue_id,
                waiting=stat.waiting,
                offered=stat.offered,
                oldest_wait_seconds=round(stat.oldest_wait_seconds, 3),
                declined=declined.get(stat.queue_id, (0, 0))[0],
                most_declines=declined.get(stat.queue_id, (0, 0))[1],
                service_level=days.get(stat.queue_id, _Day()).hour.level(),
                answered_today=days.get(stat.queue_id, _Day()).today.total,
                service_level_today=days.get(stat.queue_id, _Day()).today.level(),
                abandoned_today=days.get(stat.queue_id, _Day()).abandoned,
                agents_available=available.get(stat.queue_id, 0),
            )
            for stat in snapshot.queues
        ],
        agents=agents,
    )
