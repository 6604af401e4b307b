"""The staffing simulator: a discrete-event simulation that drives the real routing engine.

Contacts arrive per queue as a Poisson process, are enqueued in a ``RoutingEngine``, and are handled by the
agents it offers them to (who accept at once) for a handle time drawn from the queue's distribution
(exponential unless the scenario says otherwise), optionally scaled by the agent's proficiency. With a
patience a customer who is still waiting when it runs out abandons; without one nobody does. Agents work
their shifts. A scenario is a TOML or JSON file (see ``scenario_from_mapping``) or built in code.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cxstack.kit.errors import ValidationFailed
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.model import VOICE, AgentConfig, FallbackStep, Presence, QueueConfig

DISTRIBUTIONS: Final = ("exponential", "constant", "uniform", "lognormal")

_ARRIVAL, _COMPLETE, _ABANDON, _WIDEN, _WAKE, _SHIFT_START, _SHIFT_END = range(7)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A positive random duration in seconds: ``exponential`` or ``constant`` (``mean``), ``uniform``
    (``low``..``high``), ``lognormal`` (``mean`` and standard deviation ``sd``)."""

    kind: str
    mean: float = 0.0
    low: float = 0.0
    high: float = 0.0
    sd: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if self.kind == "constant":
            return self.mean
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        sigma2 = math.log(1.0 + (self.sd / self.mean) ** 2)
        return rng.lognormvariate(math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2))


def exponential(mean: float) -> Distribution:
    return Distribution("exponential", mean=mean)


@dataclass(frozen=True, slots=True)
class QueueScenario:
    """A queue and its traffic: arrivals per hour on one channel, handle times, and patience (None: none)."""

    queue: QueueConfig
    arrivals_per_hour: float
    handle_seconds: Distribution
    channel: str = VOICE
    patience_seconds: Distribution | None = None


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """``count`` agents alike; with a shift they work from ``shift[0]`` to ``shift[1]`` o'clock every day."""

    name: str
    count: int
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=lambda: {VOICE: 1})
    languages: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    shift: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to simulate. ``handle_factor_by_proficiency`` scales handle times by the agent's lowest
    proficiency on the queue's skills (e.g. ``{1: 1.5, 5: 0.8}``; a missing level counts as 1.0)."""

    queues: tuple[QueueScenario, ...]
    agents: tuple[AgentGroup, ...]
    hours: float = 200.0
    sla_seconds: float = 20.0
    seed: int = 1
    handle_factor_by_proficiency: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueResult:
    contacts: int
    answered: int
    abandoned: int
    service_level: float
    asa_seconds: float
    abandonment_rate: float


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """``service_level``: share of contacts answered within ``sla_seconds``, abandoned ones (and any still
    waiting at the end) counted as not; ``asa_seconds``: mean wait of the answered; ``occupancy``: share of
    the agents' staffed time they held work or wrapped it up."""

    contacts: int
    answered: int
    abandoned: int
    service_level: float
    asa_seconds: float
    abandonment_rate: float
    occupancy: float
    queues: Mapping[str, QueueResult]


def single_skill(
    *,
    agents: int,
    arrivals_per_hour: float,
    aht_seconds: float,
    sla_seconds: float = 20.0,
    hours: float = 200.0,
    seed: int = 1,
    patience_seconds: float | None = None,
    strategy: str = "skills",
) -> Scenario:
    """Return the Erlang C scenario: one queue, one skill, ``agents`` agents taking one call at a time."""
    queue = QueueScenario(
        QueueConfig("calls", skills={"support": 1}, strategy=strategy),
        arrivals_per_hour,
        exponential(aht_seconds),
        patience_seconds=None if patience_seconds is None else exponential(patience_seconds),
    )
    scenario = Scenario((queue,), (AgentGroup("agent", agents, {"support": 3}),), hours, sla_seconds, seed)
    validate(scenario)
    return scenario


def validate(scenario: Scenario) -> None:
    """Raise ValidationFailed naming the field when a scenario cannot be simulated."""
    _positive(scenario.hours, "hours")
    _positive(scenario.sla_seconds, "sla_seconds", allow_zero=True)
    if not scenario.queues:
        raise ValidationFailed("a scenario needs at least one queue", field="queues")
    if not scenario.agents:
        raise ValidationFailed("a scenario needs at least one agent group", field="agents")
    seen: set[str] = set()
    for index, queue in enumerate(scenario.queues):
        where = f"queues[{index}]"
        if queue.queue.id in seen:
            raise ValidationFailed(f"queue id {queue.queue.id} appears twice", field=f"{where}.id")
        seen.add(queue.queue.id)
        _positive(queue.arrivals_per_hour, f"{where}.arrivals_per_hour")
        _check_distribution(queue.handle_seconds, f"{where}.handle_seconds")
        if queue.patience_seconds is not None:
            _check_distribution(queue.patience_seconds, f"{where}.patience_seconds")
    for index, group in enumerate(scenario.agents):
        where = f"agents[{index}]"
        if isinstance(group.count, bool) or not isinstance(group.count, int) or group.count < 1:
            raise ValidationFailed(
                f"{where}.count must be a whole number of 1 or more", field=f"{where}.count"
            )
        if group.shift is not None:
            start, end = group.shift
            if not (0 <= start < 24 and 0 < end <= 24 and start != end):
                raise ValidationFailed(
                    f"{where}.shift must be [start_hour, end_hour] within 0..24", field=f"{where}.shift"
                )
    for level, factor in scenario.handle_factor_by_proficiency.items():
        _positive(factor, f"handle_factor_by_proficiency.{level}")


def _positive(value: object, name: str, *, allow_zero: bool = False) -> None:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or (number < 0 if allow_zero else number <= 0):
        raise ValidationFailed(
            f"{name} must be a number {'of 0 or more' if allow_zero else 'more than 0'}, got {value!r}",
            field=name,
        )


def _check_distribution(distribution: Distribution, name: str) -> None:
    if distribution.kind not in DISTRIBUTIONS:
        raise ValidationFailed(
            f"{name}.distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution.kind!r}",
            field=f"{name}.distribution",
        )
    if distribution.kind == "uniform":
        if not 0 <= distribution.low < distribution.high:
            raise ValidationFailed(f"{name} needs 0 <= low < high", field=f"{name}.low")
    else:
        _positive(distribution.mean, f"{name}.mean")
        if distribution.kind == "lognormal":
            _positive(distribution.sd, f"{name}.sd")


# --- scenario files ---------------------------------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    """Read a scenario from a ``.toml`` or ``.json`` file; raises ValidationFailed naming a bad field."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ValidationFailed(f"cannot read scenario {path}: {error.strerror}", field="scenario") from None
    try:
        data: Any = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationFailed(f"scenario {path} is not valid: {error}", field="scenario") from None
    if not isinstance(data, dict):
        raise ValidationFailed("a scenario is a table (object) at the top", field="scenario")
    return scenario_from_mapping(data)


def scenario_from_mapping(data: Mapping[str, Any]) -> Scenario:
    """Build a scenario from its file form.

    ``hours``, ``sla_seconds``, ``seed``, ``strategy`` (every queue's default),
    ``handle_factor_by_proficiency`` (``{"1": 1.5, ...}``); ``queues``: ``id``, ``arrivals_per_hour``,
    ``channel``, ``skills``, ``language``, ``teams``, ``priority``, ``aging_per_minute``, ``wrap_up_seconds``,
    ``strategy``, ``handle_seconds`` (a number: exponential with that mean, or a table with
    ``distribution`` and its parameters), ``patience_seconds`` (the same), ``fallback`` (``after_seconds``,
    ``min_proficiency``, ``drop_skills``, ``any_team``, ``any_language``); ``agents``: ``name``, ``count``,
    ``skills``, ``capacity``, ``languages``, ``teams``, ``shift`` (``[start_hour, end_hour]``).
    """
    strategy = data.get("strategy", "skills")
    queues = []
    for index, raw in enumerate(_list(data, "queues")):
        where = f"queues[{index}]"
        fallback = tuple(
            FallbackStep(
                after_seconds=step.get("after_seconds", -1),
                min_proficiency=step.get("min_proficiency"),
                drop_skills=frozenset(step.get("drop_skills", ())),
                any_team=bool(step.get("any_team", False)),
                any_language=bool(step.get("any_language", False)),
            )
            for step in _list(raw, "fallback", where, required=False)
        )
        try:
            config = QueueConfig(
                id=str(raw.get("id", f"queue{index}")),
                priority=raw.get("priority", 0),
                skills=_mapping(raw, "skills", where),
                language=raw.get("language"),
                teams=frozenset(raw.get("teams", ())),
                strategy=raw.get("strategy", strategy),
                fallback=fallback,
                aging_per_minute=raw.get("aging_per_minute", 1.0),
                wrap_up_seconds=raw.get("wrap_up_seconds", 0),
            )
        except ValidationFailed as error:
            raise _within(error, where) from None
        patience = raw.get("patience_seconds")
        queues.append(
            QueueScenario(
                config,
                raw.get("arrivals_per_hour", 0),
                _distribution(raw.get("handle_seconds"), f"{where}.handle_seconds"),
                str(raw.get("channel", VOICE)),
                None if patience is None else _distribution(patience, f"{where}.patience_seconds"),
            )
        )
    groups = []
    for index, raw in enumerate(_list(data, "agents")):
        where = f"agents[{index}]"
        shift = raw.get("shift")
        if shift is not None and (not isinstance(shift, list) or len(shift) != 2):
            raise ValidationFailed(f"{where}.shift must be [start_hour, end_hour]", field=f"{where}.shift")
        group = AgentGroup(
            name=str(raw.get("name", f"group{index}")),
            count=raw.get("count", 1),
            skills=_mapping(raw, "skills", where),
            capacity=_mapping(raw, "capacity", where) or {VOICE: 1},
            languages=frozenset(raw.get("languages", ())),
            teams=frozenset(raw.get("teams", ())),
            shift=None if shift is None else (float(shift[0]), float(shift[1])),
        )
        try:
            AgentConfig(group.name, group.skills, group.languages, group.teams, group.capacity)
        except ValidationFailed as error:
            raise _within(error, where) from None
        groups.append(group)
    factors = {
        int(level): float(factor)
        for level, factor in _mapping(data, "handle_factor_by_proficiency", "").items()
    }
    scenario = Scenario(
        tuple(queues),
        tuple(groups),
        hours=data.get("hours", 200.0),
        sla_seconds=data.get("sla_seconds", 20.0),
        seed=int(data.get("seed", 1)),
        handle_factor_by_proficiency=factors,
    )
    validate(scenario)
    return scenario


def _within(error: ValidationFailed, where: str) -> ValidationFailed:
    name = f"{where}.{error.field}" if error.field else where
    return ValidationFailed(f"{where}: {error.detail}", field=name)


def _list(data: Mapping[str, Any], key: str, where: str = "", *, required: bool = True) -> list[Any]:
    value = data.get(key, None if required else [])
    name = f"{where}.{key}" if where else key
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ValidationFailed(f"{name} must be a list of tables", field=name)
    return value


def _mapping(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        name = f"{where}.{key}" if where else key
        raise ValidationFailed(f"{name} must be a table", field=name)
    return value


def _distribution(value: Any, name: str) -> Distribution:
    if isinstance(value, int | float) and not isinstance(value, bool):
        distribution = exponential(float(value))
    elif isinstance(value, dict):
        distribution = Distribution(
            str(value.get("distribution", "exponential")),
            mean=float(value.get("mean", 0.0)),
            low=float(value.get("low", 0.0)),
            high=float(value.get("high", 0.0)),
            sd=float(value.get("sd", 0.0)),
        )
    else:
        raise ValidationFailed(f"{name} must be a number of seconds or a distribution table", field=name)
    _check_distribution(distribution, name)
    return distribution


# --- the simulation ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    contacts: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    wait_total: float = 0.0


def simulate(scenario: Scenario) -> SimulationResult:
    """Run the scenario to the end of its hours (then let the contacts already there finish)."""
    validate(scenario)
    rng = random.Random(scenario.seed)
    horizon = scenario.hours * 3600.0
    sla = scenario.sla_seconds
    engine = RoutingEngine()
    queues = {q.queue.id: q for q in scenario.queues}
    for queue in scenario.queues:
        engine.upsert_queue(queue.queue)
    events: list[tuple[float, int, int, str]] = []
    seq = 0

    def schedule(at: float, kind: int, subject: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, subject))

    skills_of: dict[str, Mapping[str, int]] = {}
    staffed = 0.0
    on_since: dict[str, float] = {}
    for group in scenario.agents:
        for n in range(1, group.count + 1):
            agent_id = f"{group.name}-{n}"
            config = AgentConfig(agent_id, group.skills, group.languages, group.teams, group.capacity)
            skills_of[agent_id] = config.skills
            if group.shift is None:
                engine.upsert_agent(config, now=0.0, presence=Presence.AVAILABLE)
                on_since[agent_id] = 0.0
                continue
            engine.upsert_agent(config, now=0.0)
            start, end = group.shift
            for day in range(math.ceil(scenario.hours / 24.0) + 1):
                begin = (day * 24 + start) * 3600.0
                finish = (day * 24 + end + (24 if end <= start else 0)) * 3600.0
                if begin < horizon:
                    schedule(begin, _SHIFT_START, agent_id)
                    if finish < horizon:
                        schedule(finish, _SHIFT_END, agent_id)
            if start > end:  # a night shift that runs over midnight: on from 00:00 on the first day
                schedule(0.0, _SHIFT_START, agent_id)
                schedule(end * 3600.0, _SHIFT_END, agent_id)

    factors = scenario.handle_factor_by_proficiency
    tallies = {queue_id: _Tally() for queue_id in queues}
    waiting: dict[str, tuple[str, float]] = {}  # item -> (queue, enqueued at)
    handling: dict[str, str] = {}  # item -> queue
    held: dict[str, int] = {}
    busy_since: dict[str, float] = {}
    busy = 0.0
    next_id = 0

    for queue in scenario.queues:
        schedule(rng.expovariate(queue.arrivals_per_hour / 3600.0), _ARRIVAL, queue.queue.id)

    def dispatch(now: float) -> None:
        nonlocal busy
        for offer in engine.route(now):
            engine.accept(offer.item_id, agent_id=offer.agent_id, now=now)
            queue_id, enqueued_at = waiting.pop(offer.item_id)
            tally = tallies[queue_id]
            wait = now - enqueued_at
            tally.answered += 1
            tally.wait_total += wait
            if wait <= sla:
                tally.within += 1
            scenario_queue = queues[queue_id]
            handle = scenario_queue.handle_seconds.sample(rng)
            if factors:
                skills = skills_of[offer.agent_id]
                level = min((skills[s] for s in scenario_queue.queue.skills), default=0)
                handle *= factors.get(level, 1.0)
            handling[offer.item_id] = queue_id
            agent_id = offer.agent_id
            count = held.get(agent_id, 0)
            if not count:
                busy_since[agent_id] = now
            held[agent_id] = count + 1
            schedule(now + handle, _COMPLETE, offer.item_id)

    while events:
        now, _, kind, subject = heapq.heappop(events)
        if kind == _ARRIVAL:
            queue = queues[subject]
            next_id += 1
            item_id = str(next_id)
            tallies[subject].contacts += 1
            enqueued = engine.enqueue(item_id=item_id, queue_id=subject, channel=queue.channel, now=now)
            waiting[item_id] = (subject, now)
            for at in enqueued.widens_at:
                schedule(at, _WIDEN, item_id)
            if queue.patience_seconds is not None:
                schedule(now + queue.patience_seconds.sample(rng), _ABANDON, item_id)
            following = now + rng.expovariate(queue.arrivals_per_hour / 3600.0)
            if following < horizon:
                schedule(following, _ARRIVAL, subject)
            dispatch(now)
        elif kind == _COMPLETE:
            completed = engine.complete(subject, now=now)
            del handling[subject]
            agent_id = completed.agent_id
            held[agent_id] -= 1
            if not held[agent_id]:  # busy until the last item is done and wrapped up
                start = busy_since.pop(agent_id)
                end = max(now, completed.wrap_up_until or now)
                busy += max(0.0, min(end, horizon) - min(start, horizon))
            if completed.wrap_up_until is not None:
                schedule(completed.wrap_up_until, _WAKE, agent_id)
            dispatch(now)
        elif kind == _ABANDON:
            if subject in waiting:
                engine.cancel(subject, now=now)
                queue_id, _ = waiting.pop(subject)
                tallies[queue_id].abandoned += 1
        elif kind == _WIDEN:
            if subject in waiting:
                dispatch(now)
        elif kind == _WAKE:
            dispatch(now)
        elif kind == _SHIFT_START:
            if subject not in on_since:
                engine.set_presence(subject, Presence.AVAILABLE, now=now)
                on_since[subject] = now
                dispatch(now)
        elif subject in on_since:  # _SHIFT_END: the agent finishes what they hold and takes nothing new
            engine.set_presence(subject, Presence.OFFLINE, now=now)
            staffed += now - on_since.pop(subject)

    for since in on_since.values():
        staffed += max(0.0, horizon - since)
    for since in busy_since.values():
        busy += max(0.0, horizon - min(since, horizon))
    return _result(tallies, busy=busy, staffed=staffed)


def _result(tallies: Mapping[str, _Tally], *, busy: float, staffed: float) -> SimulationResult:
    def figures(tally: _Tally) -> tuple[float, float, float]:
        contacts = tally.contacts
        return (
            tally.within / contacts if contacts else 1.0,
            tally.wait_total / tally.answered if tally.answered else 0.0,
            tally.abandoned / contacts if contacts else 0.0,
        )

    total = _Tally()
    per_queue: dict[str, QueueResult] = {}
    for queue_id, tally in tallies.items():
        per_queue[queue_id] = QueueResult(tally.contacts, tally.answered, tally.abandoned, *figures(tally))
        total.contacts += tally.contacts
        total.answered += tally.answered
        total.within += tally.within
        total.abandoned += tally.abandoned
        total.wait_total += tally.wait_total
    service, asa, abandonment = figures(total)
    return SimulationResult(
        total.contacts,
        total.answered,
        total.abandoned,
        service,
        asa,
        abandonment,
        busy / staffed if staffed else 0.0,
        per_queue,
    )
