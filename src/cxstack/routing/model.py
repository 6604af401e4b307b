"""The routing engine's vocabulary: agent and queue configuration, and the decisions it returns.

Configuration objects are frozen and checked when made (``ValidationFailed`` naming the field). Decisions
(offers, requeues, completions) are frozen values carrying their reason, so a caller can record them as
events and a supervisor can see why. Times are seconds as floats on one scale the caller chooses (POSIX
seconds in a server, simulated seconds in the staffing simulator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from cxstack.kit.errors import ValidationFailed

VOICE: Final = "voice"
MIN_PROFICIENCY: Final = 1
MAX_PROFICIENCY: Final = 5
#: Items an agent handles at once per channel unless configured otherwise.
DEFAULT_CAPACITY: Final[Mapping[str, int]] = MappingProxyType(
    {"webchat": 3, "email": 2, "sms": 3, "inapp": 3, VOICE: 1}
)


class Strategy(StrEnum):
    """How a queue picks among the agents eligible for an item."""

    SKILLS = "skills"  # highest proficiency on the required skills, ties by longest idle
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"  # fewest items in hand, ties by longest idle
    ROUND_ROBIN = "round_robin"
    STICKY = "sticky"  # the customer's last agent if eligible within sticky_seconds, else skills


class Presence(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    OFFLINE = "offline"
    WRAP_UP = "wrap_up"  # after work, until a time; then available again


class ItemState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # reserved for one agent until accepted, declined or expired
    ASSIGNED = "assigned"


def _name(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field_name} must be a non-empty string", field=field_name)
    return value


def _proficiencies(values: Mapping[str, int], field_name: str) -> Mapping[str, int]:
    checked: dict[str, int] = {}
    for skill, level in values.items():
        _name(skill, f"{field_name} (skill name)")
        if (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY
        ):
            raise ValidationFailed(
                f"{field_name}.{skill} must be a proficiency from {MIN_PROFICIENCY} to {MAX_PROFICIENCY}, "
                f"got {level!r}",
                field=f"{field_name}.{skill}",
            )
        checked[skill] = level
    return MappingProxyType(checked)


def _names(values: frozenset[str] | set[str] | tuple[str, ...], field_name: str) -> frozenset[str]:
    return frozenset(_name(value, field_name) for value in values)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """An agent as routing sees them: skills (1-5), languages, teams and capacity per channel.

    ``voice_with_other_work`` lets an agent who holds other work be offered a call (never the reverse:
    an agent on a call takes nothing else).
    """

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    capacity: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    voice_with_other_work: bool = False

    def __post_init__(self) -> None:
        _name(self.id, "id")
        object.__setattr__(self, "skills", _proficiencies(self.skills, "skills"))
        object.__setattr__(self, "languages", _names(self.languages, "languages"))
        object.__setattr__(self, "teams", _names(self.teams, "teams"))
        capacity: dict[str, int] = {}
        for channel, slots in self.capacity.items():
            _name(channel, "capacity (channel name)")
            if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
                raise ValidationFailed(
                    f"capacity.{channel} must be a whole number of 0 or more, got {slots!r}",
                    field=f"capacity.{channel}",
                )
            capacity[channel] = slots
        object.__setattr__(self, "capacity", MappingProxyType(capacity))


@dataclass(frozen=True, slots=True)
class FallbackStep:
    """From ``after_seconds`` of waiting on, an item's requirements widen as this step says.

    Steps accumulate: at a wait of 130 s the steps after 30 s and after 120 s both apply.
    """

    after_seconds: float
    min_proficiency: int | None = None  # every required skill's minimum lowered to at most this
    drop_skills: frozenset[str] = frozenset()
    any_team: bool = False
    any_language: bool = False


@dataclass(frozen=True, slots=True)
class Requirement:
    """What an agent must have to be offered an item at one fallback step."""

    step: int
    skills: tuple[tuple[str, int], ...]
    teams: frozenset[str]  # empty: any team
    any_language: bool


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue: what its items require, how agents are picked, and how requirements widen with waiting.

    An item's effective priority is ``priority`` + its own priority + ``aging_per_minute`` for every
    minute it has waited; the highest is offered first, the longest waiting among equals.
    """

    id: str
    priority: float = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    teams: frozenset[str] = frozenset()
    strategy: Strategy | str = Strategy.SKILLS
    sticky_seconds: float = 3600
    fallback: tuple[FallbackStep, ...] = ()
    aging_per_minute: float = 1.0
    wrap_up_seconds: float = 0
    requirements: tuple[Requirement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _name(self.id, "id")
        try:
            object.__setattr__(self, "strategy", Strategy(self.strategy))
        except ValueError:
            known = ", ".join(s.value for s in Strategy)
            raise ValidationFailed(
                f"strategy must be one of {known}, got {self.strategy!r}", field="strategy"
            ) from None
        object.__setattr__(self, "skills", _proficiencies(self.skills, "skills"))
        if self.language is not None:
            _name(self.language, "language")
        object.__setattr__(self, "teams", _names(self.teams, "teams"))
        for name in ("sticky_seconds", "aging_per_minute", "wrap_up_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValidationFailed(f"{name} must be 0 or more, got {value!r}", field=name)
        object.__setattr__(self, "fallback", tuple(self.fallback))
        previous = -1.0
        for index, step in enumerate(self.fallback):
            where = f"fallback[{index}]"
            if not isinstance(step.after_seconds, int | float) or step.after_seconds <= previous:
                raise ValidationFailed(
                    f"{where}.after_seconds must be 0 or more and later than the step before",
                    field=f"{where}.after_seconds",
                )
            previous = step.after_seconds
            if step.min_proficiency is not None and not (
                MIN_PROFICIENCY <= step.min_proficiency <= MAX_PROFICIENCY
            ):
                raise ValidationFailed(
                    f"{where}.min_proficiency must be from {MIN_PROFICIENCY} to {MAX_PROFICIENCY}",
                    field=f"{where}.min_proficiency",
                )
            unknown = set(step.drop_skills) - set(self.skills)
            if unknown:
                raise ValidationFailed(
                    f"{where}.drop_skills names skills the queue does not require: {sorted(unknown)}",
                    field=f"{where}.drop_skills",
                )
        object.__setattr__(self, "requirements", self._requirements())

    def _requirements(self) -> tuple[Requirement, ...]:
        skills = dict(self.skills)
        teams = frozenset(self.teams)
        any_language = False
        steps = [Requirement(0, tuple(sorted(skills.items())), teams, any_language)]
        for index, step in enumerate(self.fallback, start=1):
            for skill in step.drop_skills:
                skills.pop(skill, None)
            if step.min_proficiency is not None:
                skills = {name: min(level, step.min_proficiency) for name, level in skills.items()}
            if step.any_team:
                teams = frozenset()
            any_language = any_language or step.any_language
            steps.append(Requirement(index, tuple(sorted(skills.items())), teams, any_language))
        return tuple(steps)

    def step_at(self, wait_seconds: float) -> int:
        """Return the fallback step an item is at after waiting ``wait_seconds`` (0: none yet)."""
        step = 0
        for step_config in self.fallback:
            if wait_seconds < step_config.after_seconds:
                break
            step += 1
        return step


# --- decisions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an agent was offered an item."""

    strategy: str  # the queue's strategy, "sticky" when the last agent was found, "transfer" for transfers,
    # "escalated_from_chat" for a call offered first to the agent who had the chat
    matched_skills: tuple[tuple[str, int], ...]  # the agent's proficiency on each skill required
    fallback_step: int  # 0: the queue's own requirements; n: after the n-th fallback step
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class Offer:
    """Offer ``item_id`` to ``agent_id`` now: reserved for them until accepted, declined or expired."""

    item_id: str
    agent_id: str
    queue_id: str
    channel: str
    offered_at: float
    reason: Reason


@dataclass(frozen=True, slots=True)
class Enqueued:
    """An item is waiting; its requirements widen at ``widens_at`` (route again then)."""

    item_id: str
    queue_id: str
    widens_at: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Assigned:
    item_id: str
    agent_id: str
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class Requeued:
    """An item went back to waiting (``reason``: declined, expired, transferred, agent_removed)."""

    item_id: str
    queue_id: str
    reason: str
    declines: int
    widens_at: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Completed:
    """An item is done; its agent is in wrap-up until ``wrap_up_until`` (None: no wrap-up)."""

    item_id: str
    agent_id: str
    wrap_up_until: float | None


@dataclass(frozen=True, slots=True)
class Cancelled:
    item_id: str
    state: ItemState  # the state it was cancelled in


@dataclass(frozen=True, slots=True)
class ItemView:
    item_id: str
    queue_id: str
    channel: str
    state: ItemState
    agent_id: str | None
    priority: float
    enqueued_at: float
    declines: int
    team: str | None = None  # the team a transfer kept it to (None: the queue's teams, if any)


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue_id: str
    waiting: int
    offered: int
    oldest_wait_seconds: float  # 0 when nothing waits


@dataclass(frozen=True, slots=True)
class AgentStats:
    agent_id: str
    presence: Presence
    wrap_up_until: float | None
    load: Mapping[str, int]  # items in hand per channel, offers included
    capacity: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a supervisor sees: waiting and oldest wait per queue, load per agent."""

    at: float
    queues: tuple[QueueStats, ...]
    agents: tuple[AgentStats, ...]
