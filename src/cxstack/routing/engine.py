"""The in-memory routing engine: queues, agents' presence and load, offers.

Pure and deterministic: every operation takes the time (``now``, seconds) from the caller, does no I/O, and
returns its decision as a value (``Offer``, ``Requeued``, ...) with its reason, for the caller to record
as events, time out through timers, and push to agents. The same inputs give the same decisions.

How a decision stays fast with thousands of agents and items: waiting items sit in buckets (queue, channel,
language, and the team a transfer kept them to), each a heap by priority (the aging term is the same for a
whole queue, so the order inside a bucket never changes) and a heap by age; agents are indexed by the
channels they have free capacity on and by skill. ``route`` compares the buckets' heads, and finds
candidates by intersecting the free agents of the channel with those having the required skills, so a
decision looks at buckets and free agents, never at every item times every agent.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.routing.model import (
    VOICE,
    AgentConfig,
    AgentStats,
    Assigned,
    Cancelled,
    Completed,
    Enqueued,
    ItemState,
    ItemView,
    Offer,
    Presence,
    QueueConfig,
    QueueStats,
    Reason,
    Requeued,
    Requirement,
    Snapshot,
    Strategy,
)

#: Items of one bucket tried in priority order while the ones before were passed by the candidates
#: (declined or expired); then the oldest, whose fallback step is the widest, is tried.
SCAN_LIMIT: Final = 16
#: Customers remembered for sticky routing before those outside every queue's window are forgotten.
STICKY_MEMORY: Final = 50_000
#: Joins to the free sets remembered before they are forgotten (and every blocked bucket looked at again).
MAX_JOINS: Final = 100_000
#: Free agents on a channel up to which candidates are checked one by one rather than through the index.
SMALL_POOL: Final = 16
_EMPTY: Final[frozenset[str]] = frozenset()


@dataclass(slots=True, eq=False)
class _Agent:
    config: AgentConfig
    seq: int
    presence: Presence
    wrap_up_until: float | None
    idle_since: float
    load: dict[str, int] = field(default_factory=dict)
    load_total: int = 0
    channels: tuple[str, ...] = ()  # those with capacity, and any still loaded from an older configuration


@dataclass(slots=True, eq=False)
class _Item:
    id: str
    queue_id: str
    channel: str
    language: str | None
    priority: float
    customer_id: str | None
    enqueued_at: float
    seq: int
    team: str | None = None  # transferred to a team: offered only to its agents, at every fallback step
    state: ItemState = ItemState.WAITING
    agent_id: str | None = None
    version: int = 0
    declines: int = 0
    passed_by: set[str] = field(default_factory=set)


_Entry = tuple[float, float, int, int, _Item]


@dataclass(slots=True, eq=False)
class _Bucket:
    """The waiting items of one queue on one channel in one language, kept to one team or to none (work
    transferred to a team waits apart, so that a bucket's oldest item is always its widest)."""

    queue_id: str
    channel: str
    language: str | None
    team: str | None
    by_priority: list[_Entry] = field(default_factory=list)
    by_age: list[_Entry] = field(default_factory=list)
    waiting: int = 0
    #: (joins epoch, fallback step, oldest item, joins seen) when no free agent could take the oldest item:
    #: until the step or the oldest changes, only agents who joined the channel's free set since can.
    blocked: tuple[int, int, int, int] | None = None

    @staticmethod
    def _clean(heap: list[_Entry]) -> _Item | None:
        while heap:
            entry = heap[0]
            item = entry[4]
            if item.state is ItemState.WAITING and item.version == entry[3]:
                return item
            heapq.heappop(heap)
        return None

    def head(self) -> _Item | None:
        return self._clean(self.by_priority)

    def oldest(self) -> _Item | None:
        return self._clean(self.by_age)


class RoutingEngine:
    """Queues, agents and the items between them, for one tenant."""

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._queues: dict[str, QueueConfig] = {}
        self._items: dict[str, _Item] = {}
        self._buckets: dict[tuple[str, str, str | None, str | None], _Bucket] = {}
        self._kept_to_team: dict[tuple[Requirement, str], Requirement] = {}
        self._free: dict[str, set[str]] = {}  # channel -> agents who may be offered an item on it now
        self._joins: dict[str, list[str]] = {}  # channel -> agents in the order they joined its free set
        self._joins_epoch = 0
        self._by_skill: dict[str, set[str]] = {}
        self._wrap_ups: list[tuple[float, int, str]] = []
        self._last_agent_of: dict[str, tuple[str, float]] = {}  # customer -> (agent, when), oldest first
        self._remember_limit = STICKY_MEMORY
        self._round_robin: dict[str, int] = {}  # queue -> seq of the agent picked last
        self._seq = 0

    # --- configuration ----------------------------------------------------------------------------

    def upsert_queue(self, config: QueueConfig) -> None:
        """Add a queue or replace its configuration (waiting items keep their place)."""
        old = self._queues.get(config.id)
        self._queues[config.id] = config
        self._kept_to_team.clear()
        for bucket in self._buckets.values():
            if bucket.queue_id == config.id:
                bucket.blocked = None  # its requirements may have changed
        if old is not None and old.aging_per_minute != config.aging_per_minute:
            for bucket in self._buckets.values():
                if bucket.queue_id == config.id:
                    items = [e[4] for e in bucket.by_priority if e[4].state is ItemState.WAITING]
                    bucket.by_priority.clear()
                    bucket.by_age.clear()
                    bucket.waiting = 0
                    for item in {i.id: i for i in items}.values():
                        self._push(item)

    def remove_queue(self, queue_id: str) -> None:
        """Remove a queue; raises Conflict while items of it wait, are offered or assigned."""
        self._queue(queue_id)
        if any(item.queue_id == queue_id for item in self._items.values()):
            raise Conflict(f"queue {queue_id} still has items", field="queue_id")
        del self._queues[queue_id]
        self._round_robin.pop(queue_id, None)
        for key in [key for key in self._buckets if key[0] == queue_id]:
            del self._buckets[key]

    def upsert_agent(self, config: AgentConfig, *, now: float, presence: Presence | None = None) -> None:
        """Add an agent (offline unless ``presence`` says otherwise) or replace their configuration."""
        agent = self._agents.get(config.id)
        if agent is None:
            self._seq += 1
            agent = _Agent(config, self._seq, Presence.OFFLINE, None, now)
            self._agents[config.id] = agent
        else:
            for skill in agent.config.skills:
                self._by_skill[skill].discard(config.id)
            agent.config = config
            for free in self._free.values():  # looked at afresh below: new skills, as good as a new agent
                free.discard(config.id)
        for skill in config.skills:
            self._by_skill.setdefault(skill, set()).add(config.id)
        agent.channels = tuple(sorted(config.capacity.keys() | agent.load.keys()))
        if presence is not None:
            self._set_presence(agent, presence, now=now, until=None)
        self._reindex(agent)

    def remove_agent(self, agent_id: str, *, now: float) -> list[Requeued]:
        """Remove an agent; the items offered or assigned to them go back to waiting."""
        agent = self._agent(agent_id)
        requeued = [
            self._requeue(item, now=now, reason="agent_removed", pass_agent=False)
            for item in sorted(self._items.values(), key=lambda i: i.seq)
            if item.agent_id == agent_id
        ]
        for skill in agent.config.skills:
            self._by_skill[skill].discard(agent_id)
        for free in self._free.values():
            free.discard(agent_id)
        del self._agents[agent_id]
        return requeued

    def set_presence(
        self, agent_id: str, presence: Presence | str, *, now: float, until: float | None = None
    ) -> AgentStats:
        """Set an agent's presence (``wrap_up`` needs ``until``); only available agents get offers."""
        try:
            presence = Presence(presence)
        except ValueError:
            known = ", ".join(p.value for p in Presence)
            raise ValidationFailed(
                f"presence must be one of {known}, got {presence!r}", field="presence"
            ) from None
        if presence is Presence.WRAP_UP and until is None:
            raise ValidationFailed("wrap_up needs the time it ends", field="until")
        agent = self._agent(agent_id)
        self._set_presence(agent, presence, now=now, until=until)
        self._reindex(agent)
        return self._agent_stats(agent)

    # --- work -------------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        item_id: str,
        queue_id: str,
        channel: str,
        now: float,
        priority: float = 0,
        customer_id: str | None = None,
        language: str | None = None,
    ) -> Enqueued:
        """Put an item in a queue; raises NotFound for an unknown queue, Conflict for a known item id."""
        if not item_id:
            raise ValidationFailed("item_id must not be empty", field="item_id")
        if not channel:
            raise ValidationFailed("channel must not be empty", field="channel")
        queue = self._queue(queue_id)
        if item_id in self._items:
            raise Conflict(f"item {item_id} is already routed", field="item_id")
        self._seq += 1
        item = _Item(
            item_id, queue_id, channel, language or queue.language, priority, customer_id, now, self._seq
        )
        self._items[item_id] = item
        self._push(item)
        return Enqueued(item_id, queue_id, self._widens_at(item, queue))

    def restore(
        self,
        *,
        item_id: str,
        queue_id: str,
        channel: str,
        enqueued_at: float,
        state: ItemState,
        agent_id: str | None = None,
        priority: float = 0,
        customer_id: str | None = None,
        language: str | None = None,
        declines: int = 0,
        team: str | None = None,
    ) -> None:
        """Put an item back as it was recorded, when the engine is rebuilt from the database: waiting, or
        offered or assigned to ``agent_id`` (whose capacity it takes, whatever their presence now), kept
        to the agents of ``team`` if it was transferred to one.

        Raises NotFound for an unknown queue or agent, Conflict for a known item id, ValidationFailed for an
        offered or assigned item without its agent."""
        queue = self._queue(queue_id)
        if item_id in self._items:
            raise Conflict(f"item {item_id} is already routed", field="item_id")
        agent = None
        if state is not ItemState.WAITING:
            if agent_id is None:
                raise ValidationFailed(f"an {state.value} item names its agent", field="agent_id")
            agent = self._agent(agent_id)
        self._seq += 1
        item = _Item(
            item_id,
            queue_id,
            channel,
            language or queue.language,
            priority,
            customer_id,
            enqueued_at,
            self._seq,
            team,
        )
        item.declines = declines
        self._items[item_id] = item
        if agent is None:
            self._push(item)
            return
        item.state = state
        item.agent_id = agent.config.id
        item.version += 1
        agent.load[channel] = agent.load.get(channel, 0) + 1
        agent.load_total += 1
        if state is ItemState.ASSIGNED and customer_id is not None:
            self._remember(customer_id, agent.config.id, enqueued_at)
        self._reindex(agent)

    def cancel(self, item_id: str, *, now: float) -> Cancelled:
        """Withdraw a waiting or offered item (the customer left); raises Conflict for an assigned one."""
        item = self._item(item_id)
        state = item.state
        if state is ItemState.ASSIGNED:
            raise Conflict(f"item {item_id} is assigned; complete or transfer it", field="item_id")
        if state is ItemState.OFFERED:
            self._release(item, now=now)
        else:
            self._bucket_of(item).waiting -= 1
        item.state = ItemState.WAITING
        item.version += 1
        del self._items[item_id]
        return Cancelled(item_id, state)

    def route(self, now: float) -> list[Offer]:
        """Return the offers to make now, highest effective priority first; each reserves its agent."""
        self._end_wrap_ups(now)
        offers: list[Offer] = []
        free = self._free
        # Ranks change only for the bucket an offer is taken from, and a bucket with no candidate now
        # gets none later in the same round (offers only take agents away), so one heap per round does.
        ranked: list[tuple[tuple[float, float, int], _Bucket]] = []
        for bucket in self._buckets.values():
            if bucket.waiting and free.get(bucket.channel):
                rank = self._rank(bucket, now)
                if rank is not None:
                    ranked.append((rank, bucket))
        heapq.heapify(ranked)
        while ranked:
            _, bucket = heapq.heappop(ranked)
            if not free.get(bucket.channel):
                continue
            offer = self._match(bucket, now)
            if offer is None:
                continue
            offers.append(offer)
            if bucket.waiting:
                rank = self._rank(bucket, now)
                if rank is not None:
                    heapq.heappush(ranked, (rank, bucket))
        return offers

    def _rank(self, bucket: _Bucket, now: float) -> tuple[float, float, int] | None:
        head = bucket.head()
        if head is None:
            return None
        queue = self._queues[bucket.queue_id]
        effective = queue.priority + head.priority + queue.aging_per_minute * (now - head.enqueued_at) / 60.0
        return (-effective, head.enqueued_at, head.seq)

    def accept(self, item_id: str, *, agent_id: str, now: float) -> Assigned:
        """The agent takes the offered item; raises Conflict if it is not offered to them."""
        item = self._offered(item_id, agent_id)
        item.state = ItemState.ASSIGNED
        if item.customer_id is not None:
            self._remember(item.customer_id, agent_id, now)
        return Assigned(item_id, agent_id, now - item.enqueued_at)

    def decline(self, item_id: str, *, agent_id: str, now: float) -> Requeued:
        """The agent turns the offer down: the item waits again and is offered to another agent first."""
        item = self._offered(item_id, agent_id)
        item.declines += 1
        return self._requeue(item, now=now, reason="declined", pass_agent=True)

    def expire(self, item_id: str, *, now: float) -> Requeued:
        """The offer ran out unanswered: as a decline, and the agent, who did not answer, is set away."""
        item = self._item(item_id)
        if item.state is not ItemState.OFFERED or item.agent_id is None:
            raise Conflict(f"item {item_id} is not offered", field="item_id")
        item.declines += 1
        agent = self._agents.get(item.agent_id)
        requeued = self._requeue(item, now=now, reason="expired", pass_agent=True)
        if agent is not None and agent.presence is Presence.AVAILABLE:
            self._set_presence(agent, Presence.AWAY, now=now, until=None)
            self._reindex(agent)
        return requeued

    def complete(self, item_id: str, *, now: float, wrap_up: bool = True) -> Completed:
        """The item is done: its capacity is freed, and its agent wraps up if the queue says so (and
        ``wrap_up``: not when the conversation goes on with them on another channel)."""
        item = self._item(item_id)
        if item.state is not ItemState.ASSIGNED or item.agent_id is None:
            raise Conflict(f"item {item_id} is not assigned", field="item_id")
        agent = self._agents[item.agent_id]
        queue = self._queues.get(item.queue_id)
        del self._items[item_id]
        self._unload(agent, item.channel, now=now)
        if item.customer_id is not None:
            self._remember(item.customer_id, agent.config.id, now)
        wrap_until: float | None = None
        if (
            wrap_up
            and queue is not None
            and queue.wrap_up_seconds > 0
            and agent.presence
            in (
                Presence.AVAILABLE,
                Presence.WRAP_UP,
            )
        ):
            wrap_until = max(now + queue.wrap_up_seconds, agent.wrap_up_until or now)
            self._set_presence(agent, Presence.WRAP_UP, now=now, until=wrap_until)
        self._reindex(agent)
        return Completed(item_id, agent.config.id, wrap_until)

    def transfer(
        self,
        item_id: str,
        *,
        now: float,
        to_queue: str | None = None,
        to_agent: str | None = None,
        to_team: str | None = None,
    ) -> Offer | Requeued:
        """Move an item to another queue (it waits there), keep it to a team (it waits, in ``to_queue`` or
        its own queue, for an agent of ``to_team`` only, at every fallback step: a step's ``any_team``
        widens the queue's teams, never the team a transfer chose), or offer it to a named agent. A
        transfer to a queue or an agent without a team ends the item's team restriction.

        Raises ValidationFailed unless a queue, a team (with or without a queue) or an agent alone is
        given, NotFound for an unknown queue or agent, Conflict when the agent cannot take it now.
        """
        if to_agent is not None and to_team is not None:
            raise ValidationFailed("give either to_team or to_agent", field="to_team")
        if (to_queue is None and to_team is None) == (to_agent is None):
            raise ValidationFailed("give either to_queue (or to_team) or to_agent", field="to_queue")
        item = self._item(item_id)
        if to_agent is None:
            queue_id = to_queue if to_queue is not None else item.queue_id
            queue = self._queue(queue_id)
            if item.state is ItemState.WAITING:
                self._bucket_of(item).waiting -= 1
                item.version += 1
            else:
                self._release(item, now=now)
            item.queue_id = queue_id
            item.team = to_team
            item.enqueued_at = now
            item.passed_by.clear()
            item.state = ItemState.WAITING
            self._push(item)
            return Requeued(item_id, queue_id, "transferred", item.declines, self._widens_at(item, queue))
        agent = self._agent(to_agent)
        if agent.config.id == item.agent_id:
            raise Conflict(f"item {item_id} is already with agent {to_agent}", field="to_agent")
        if not self._can_take(agent, item.channel):
            raise Conflict(f"agent {to_agent} cannot take a {item.channel} item now", field="to_agent")
        if item.state is ItemState.WAITING:
            self._bucket_of(item).waiting -= 1
            item.version += 1
        else:
            self._release(item, now=now)
        item.team = None
        item.state = ItemState.WAITING
        reason = Reason("transfer", (), 0, now - item.enqueued_at)
        return self._offer(item, agent, reason, now=now)

    def offer_to(self, item_id: str, *, agent_id: str, now: float, strategy: str) -> Offer | None:
        """Offer a waiting item to a named agent before the queue picks one (the agent who had the
        conversation, ``strategy`` saying why), if they are available with room on its channel now; None
        otherwise, and the item waits for the queue's own strategy. Declined or expired, the item goes to
        another agent as any offer does. Raises NotFound for an unknown item."""
        item = self._item(item_id)
        agent = self._agents.get(agent_id)
        if item.state is not ItemState.WAITING or agent is None or not self._can_take(agent, item.channel):
            return None
        self._bucket_of(item).waiting -= 1
        item.version += 1
        return self._offer(item, agent, Reason(strategy, (), 0, now - item.enqueued_at), now=now)

    # --- reading ----------------------------------------------------------------------------------

    def item(self, item_id: str) -> ItemView:
        """Return an item's state; raises NotFound once it is completed or cancelled."""
        item = self._item(item_id)
        return ItemView(
            item.id,
            item.queue_id,
            item.channel,
            item.state,
            item.agent_id,
            item.priority,
            item.enqueued_at,
            item.declines,
            item.team,
        )

    def snapshot(self, now: float) -> Snapshot:
        """Waiting and offered counts and the oldest wait per queue, and every agent's load."""
        waiting: dict[str, int] = dict.fromkeys(self._queues, 0)
        oldest: dict[str, float] = {}
        for bucket in self._buckets.values():
            waiting[bucket.queue_id] += bucket.waiting
            item = bucket.oldest() if bucket.waiting else None
            if item is not None:
                oldest[bucket.queue_id] = min(oldest.get(bucket.queue_id, now), item.enqueued_at)
        offered: dict[str, int] = dict.fromkeys(self._queues, 0)
        for item in self._items.values():
            if item.state is ItemState.OFFERED:
                offered[item.queue_id] += 1
        queues = tuple(
            QueueStats(queue_id, waiting[queue_id], offered[queue_id], now - oldest.get(queue_id, now))
            for queue_id in sorted(self._queues)
        )
        agents = tuple(self._agent_stats(self._agents[agent_id]) for agent_id in sorted(self._agents))
        return Snapshot(now, queues, agents)

    # --- matching ---------------------------------------------------------------------------------

    def _match(self, bucket: _Bucket, now: float) -> Offer | None:
        queue = self._queues[bucket.queue_id]
        oldest = bucket.oldest()
        if oldest is None:
            return None
        widest = self._requirement(queue, queue.step_at(now - oldest.enqueued_at), bucket.team)
        channel = bucket.channel
        joins = self._joins.get(channel, [])
        blocked = bucket.blocked
        among: Iterable[str] | None = None
        if (
            blocked is not None
            and blocked[0] == self._joins_epoch
            and blocked[1] == widest.step
            and blocked[2] == oldest.seq
        ):
            if blocked[3] == len(joins):
                return None
            free = self._free[channel]
            among = {agent_id for agent_id in joins[blocked[3] :] if agent_id in free}
        language = None if widest.any_language else bucket.language
        candidates = self._candidates(widest, channel, language, among)
        if not candidates:
            bucket.blocked = (self._joins_epoch, widest.step, oldest.seq, len(joins))
            return None
        tried: list[_Item] = []
        offer: Offer | None = None
        heap = bucket.by_priority
        while len(tried) < SCAN_LIMIT:
            item = bucket.head()
            if item is None:
                break
            heapq.heappop(heap)
            tried.append(item)
            offer = self._try(item, queue, widest, candidates, now)
            if offer is not None:
                tried.pop()
                break
            if not item.passed_by:
                break  # the items behind need as much or were passed by no one: only the oldest is left
        for item in tried:
            self._push_priority(item, queue)
        if offer is None and oldest.state is ItemState.WAITING and oldest not in tried:
            offer = self._try(oldest, queue, widest, candidates, now)
        return offer

    def _try(
        self, item: _Item, queue: QueueConfig, widest: Requirement, candidates: list[_Agent], now: float
    ) -> Offer | None:
        wait = now - item.enqueued_at
        requirement = self._requirement(queue, queue.step_at(wait), item.team)
        if requirement is not widest:
            candidates = [agent for agent in candidates if self._meets(agent, requirement)]
        if item.passed_by:
            eligible = [agent for agent in candidates if agent.config.id not in item.passed_by]
            if not eligible and candidates:
                item.passed_by.clear()  # everyone eligible has passed: start a new round
                eligible = candidates
            candidates = eligible
        if not candidates:
            return None
        strategy = queue.strategy if isinstance(queue.strategy, Strategy) else Strategy(queue.strategy)
        agent: _Agent | None = None
        if strategy is Strategy.STICKY and item.customer_id is not None:
            last = self._last_agent_of.get(item.customer_id)
            if last is not None and now - last[1] <= queue.sticky_seconds:
                agent = next((a for a in candidates if a.config.id == last[0]), None)
        if agent is None:
            if strategy is Strategy.STICKY:
                strategy = Strategy.SKILLS
            agent = self._pick(strategy, queue, requirement, candidates)
        if strategy is Strategy.ROUND_ROBIN:
            self._round_robin[queue.id] = agent.seq
        skills = agent.config.skills
        self._bucket_of(item).waiting -= 1
        reason = Reason(
            strategy.value,
            tuple((skill, skills[skill]) for skill, _ in requirement.skills),
            requirement.step,
            wait,
        )
        return self._offer(item, agent, reason, now=now)

    def _requirement(self, queue: QueueConfig, step: int, team: str | None) -> Requirement:
        """The queue's requirement at a fallback step, for an item kept to ``team`` its agents only
        (whatever teams the queue names or its steps drop); the same object for the same inputs, so that
        ``_try`` sees when an item needs what its bucket's oldest needs."""
        requirement = queue.requirements[step]
        if team is None:
            return requirement
        key = (requirement, team)
        kept = self._kept_to_team.get(key)
        if kept is None:
            kept = self._kept_to_team[key] = replace(requirement, teams=frozenset((team,)))
        return kept

    def _pick(
        self, strategy: Strategy, queue: QueueConfig, requirement: Requirement, candidates: list[_Agent]
    ) -> _Agent:
        if strategy is Strategy.SKILLS:
            names = [skill for skill, _ in requirement.skills]
            return min(
                candidates,
                key=lambda a: (
                    -sum(a.config.skills[n] for n in names),
                    a.load_total > 0,
                    a.idle_since,
                    a.seq,
                ),
            )
        if strategy is Strategy.LEAST_BUSY:
            return min(candidates, key=lambda a: (a.load_total, a.idle_since, a.seq))
        if strategy is Strategy.ROUND_ROBIN:
            last = self._round_robin.get(queue.id, 0)
            span = self._seq + 1
            return min(candidates, key=lambda a: (a.seq - last - 1) % span)
        return min(candidates, key=lambda a: (a.load_total > 0, a.idle_since, a.seq))

    def _candidates(
        self, requirement: Requirement, channel: str, language: str | None, among: Iterable[str] | None = None
    ) -> list[_Agent]:
        free = self._free.get(channel)
        if not free:
            return []
        pool: Iterable[str] = free
        if among is not None:
            pool = among
        elif len(free) > SMALL_POOL:  # narrow by the skill index before looking at agents one by one
            narrowed: set[str] = free
            for skill, _ in requirement.skills:
                narrowed = narrowed & self._by_skill.get(skill, _EMPTY)
                if not narrowed:
                    return []
            pool = narrowed
        agents = self._agents
        found = []
        teams = requirement.teams
        skills = requirement.skills
        for agent_id in pool:
            agent = agents[agent_id]
            config = agent.config
            if language is not None and language not in config.languages:
                continue
            if teams and config.teams.isdisjoint(teams):
                continue
            has = config.skills
            for skill, level in skills:
                if has.get(skill, 0) < level:
                    break
            else:
                found.append(agent)
        return found

    @staticmethod
    def _meets(agent: _Agent, requirement: Requirement) -> bool:
        config = agent.config
        if requirement.teams and config.teams.isdisjoint(requirement.teams):
            return False
        skills = config.skills
        return all(skills.get(skill, 0) >= level for skill, level in requirement.skills)

    # --- state changes ----------------------------------------------------------------------------

    def _offer(self, item: _Item, agent: _Agent, reason: Reason, *, now: float) -> Offer:
        item.state = ItemState.OFFERED
        item.agent_id = agent.config.id
        item.version += 1
        channel = item.channel
        agent.load[channel] = agent.load.get(channel, 0) + 1
        agent.load_total += 1
        self._reindex(agent)
        return Offer(item.id, agent.config.id, item.queue_id, channel, now, reason)

    def _requeue(self, item: _Item, *, now: float, reason: str, pass_agent: bool) -> Requeued:
        if pass_agent and item.agent_id is not None:
            item.passed_by.add(item.agent_id)
        self._release(item, now=now)
        item.state = ItemState.WAITING
        self._push(item)
        queue = self._queues[item.queue_id]
        return Requeued(item.id, item.queue_id, reason, item.declines, self._widens_at(item, queue, now))

    def _release(self, item: _Item, *, now: float) -> None:
        if item.agent_id is not None:
            agent = self._agents.get(item.agent_id)
            if agent is not None:
                self._unload(agent, item.channel, now=now)
                self._reindex(agent)
        item.agent_id = None

    @staticmethod
    def _unload(agent: _Agent, channel: str, *, now: float) -> None:
        agent.load[channel] -= 1
        agent.load_total -= 1
        if agent.load_total == 0:
            agent.idle_since = now

    def _push(self, item: _Item) -> None:
        queue = self._queues[item.queue_id]
        bucket = self._bucket_of(item)
        item.version += 1
        bucket.waiting += 1
        self._push_priority(item, queue, bucket)
        heapq.heappush(bucket.by_age, (item.enqueued_at, 0.0, item.seq, item.version, item))

    def _push_priority(self, item: _Item, queue: QueueConfig, bucket: _Bucket | None = None) -> None:
        rank = -(item.priority - queue.aging_per_minute * item.enqueued_at / 60.0)
        if bucket is None:
            bucket = self._bucket_of(item)
        heapq.heappush(bucket.by_priority, (rank, item.enqueued_at, item.seq, item.version, item))

    def _bucket_of(self, item: _Item) -> _Bucket:
        key = (item.queue_id, item.channel, item.language, item.team)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(*key)
        return bucket

    def _set_presence(self, agent: _Agent, presence: Presence, *, now: float, until: float | None) -> None:
        if (
            presence is Presence.AVAILABLE
            and agent.presence is not Presence.AVAILABLE
            and not agent.load_total
        ):
            agent.idle_since = now
        agent.presence = presence
        agent.wrap_up_until = until if presence is Presence.WRAP_UP else None
        if presence is Presence.WRAP_UP and until is not None:
            heapq.heappush(self._wrap_ups, (until, agent.seq, agent.config.id))

    def _end_wrap_ups(self, now: float) -> None:
        wrap_ups = self._wrap_ups
        while wrap_ups and wrap_ups[0][0] <= now:
            until, _, agent_id = heapq.heappop(wrap_ups)
            agent = self._agents.get(agent_id)
            if agent is not None and agent.presence is Presence.WRAP_UP and agent.wrap_up_until == until:
                agent.presence = Presence.AVAILABLE
                agent.wrap_up_until = None
                if not agent.load_total:
                    agent.idle_since = until
                self._reindex(agent)

    @staticmethod
    def _can_take(agent: _Agent, channel: str) -> bool:
        if agent.presence is not Presence.AVAILABLE:
            return False
        load = agent.load
        if load.get(channel, 0) >= agent.config.capacity.get(channel, 0):
            return False
        if load.get(VOICE, 0):
            return False  # on a call: nothing else
        return channel != VOICE or agent.config.voice_with_other_work or not agent.load_total

    def _reindex(self, agent: _Agent) -> None:
        agent_id = agent.config.id
        for channel in agent.channels:
            free = self._free.get(channel)
            if free is None:
                free = self._free[channel] = set()
            if self._can_take(agent, channel):
                if agent_id not in free:
                    free.add(agent_id)
                    self._joined(channel, agent_id)
            else:
                free.discard(agent_id)

    def _remember(self, customer_id: str, agent_id: str, now: float) -> None:
        remembered = self._last_agent_of
        remembered.pop(customer_id, None)  # keep the dict in the order of the last contact
        remembered[customer_id] = (agent_id, now)
        if len(remembered) > self._remember_limit:
            window = max((q.sticky_seconds for q in self._queues.values()), default=0.0)
            for customer, (_, at) in list(remembered.items()):
                if now - at <= window:
                    break
                del remembered[customer]
            self._remember_limit = max(STICKY_MEMORY, 2 * len(remembered))

    def _joined(self, channel: str, agent_id: str) -> None:
        joins = self._joins.setdefault(channel, [])
        joins.append(agent_id)
        if len(joins) > MAX_JOINS:  # start afresh: every bucket is looked at in full once more
            self._joins.clear()
            self._joins_epoch += 1

    def _widens_at(self, item: _Item, queue: QueueConfig, now: float | None = None) -> tuple[float, ...]:
        if not queue.fallback:
            return ()
        times = (item.enqueued_at + step.after_seconds for step in queue.fallback)
        return tuple(t for t in times if now is None or t > now)

    # --- lookups ----------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id}", field="agent_id")
        return agent

    def _queue(self, queue_id: str) -> QueueConfig:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise NotFound(f"no queue {queue_id}", field="queue_id")
        return queue

    def _item(self, item_id: str) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            raise NotFound(f"no item {item_id}", field="item_id")
        return item

    def _offered(self, item_id: str, agent_id: str) -> _Item:
        item = self._item(item_id)
        if item.state is not ItemState.OFFERED or item.agent_id != agent_id:
            raise Conflict(f"item {item_id} is not offered to agent {agent_id}", field="item_id")
        return item

    def _agent_stats(self, agent: _Agent) -> AgentStats:
        return AgentStats(
            agent.config.id,
            agent.presence,
            agent.wrap_up_until,
            dict(agent.load),
            dict(agent.config.capacity),
        )
