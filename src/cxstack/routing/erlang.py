"""Erlang C: staffing formulas for a queue with Poisson arrivals, exponential handle times, no abandonment.

``traffic`` is the offered load in erlangs (arrivals per second times the average handle time in seconds).
With ``agents`` not above the traffic the queue grows without bound: every customer waits, the service level
is 0 and the average speed of answer infinite.
"""

from __future__ import annotations

import math

from cxstack.kit.errors import ValidationFailed


def _check(agents: int, traffic: float) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValidationFailed(f"agents must be a whole number of 1 or more, got {agents!r}", field="agents")
    if not traffic > 0:
        raise ValidationFailed(f"traffic must be more than 0 erlangs, got {traffic!r}", field="traffic")


def traffic_erlangs(*, arrivals_per_hour: float, aht_seconds: float) -> float:
    """Return the offered load in erlangs for a contact rate and an average handle time."""
    if not arrivals_per_hour > 0:
        raise ValidationFailed("arrivals_per_hour must be more than 0", field="arrivals_per_hour")
    if not aht_seconds > 0:
        raise ValidationFailed("aht_seconds must be more than 0", field="aht_seconds")
    return arrivals_per_hour * aht_seconds / 3600.0


def erlang_b(agents: int, traffic: float) -> float:
    """Return the blocking probability of Erlang B (the stable recursion, no factorials)."""
    _check(agents, traffic)
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def probability_of_waiting(agents: int, traffic: float) -> float:
    """Return Erlang C: the probability that a contact waits at all (1.0 when agents <= traffic)."""
    _check(agents, traffic)
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level(agents: int, traffic: float, *, aht_seconds: float, target_seconds: float) -> float:
    """Return the share of contacts answered within ``target_seconds``."""
    if not aht_seconds > 0:
        raise ValidationFailed("aht_seconds must be more than 0", field="aht_seconds")
    waiting = probability_of_waiting(agents, traffic)
    if agents <= traffic:
        return 0.0
    return max(0.0, 1.0 - waiting * math.exp(-(agents - traffic) * target_seconds / aht_seconds))


def average_speed_of_answer(agents: int, traffic: float, *, aht_seconds: float) -> float:
    """Return the mean wait of all contacts in seconds (``inf`` when agents <= traffic)."""
    waiting = probability_of_waiting(agents, traffic)
    if agents <= traffic:
        return math.inf
    return waiting * aht_seconds / (agents - traffic)


def occupancy(agents: int, traffic: float) -> float:
    """Return the share of the agents' time spent handling contacts (at most 1)."""
    _check(agents, traffic)
    return min(1.0, traffic / agents)


def agents_needed(
    traffic: float,
    *,
    aht_seconds: float,
    target_seconds: float,
    target_service_level: float,
    max_occupancy: float = 1.0,
) -> int:
    """Return the fewest agents that answer ``target_service_level`` of contacts within ``target_seconds``."""
    if not 0 < target_service_level < 1:
        raise ValidationFailed(
            "target_service_level must be between 0 and 1 (exclusive)", field="target_service_level"
        )
    if not 0 < max_occupancy <= 1:
        raise ValidationFailed("max_occupancy must be more than 0 and at most 1", field="max_occupancy")
    if not traffic > 0:
        raise ValidationFailed(f"traffic must be more than 0 erlangs, got {traffic!r}", field="traffic")
    agents = max(1, math.floor(traffic) + 1)
    while (
        service_level(agents, traffic, aht_seconds=aht_seconds, target_seconds=target_seconds)
        < target_service_level
        or occupancy(agents, traffic) > max_occupancy
    ):
        agents += 1
    return agents
