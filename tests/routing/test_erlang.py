"""Erlang C: the formulas against the M/M/1 closed forms and their own definitions."""

from __future__ import annotations

import math

import pytest

from cxstack.kit.errors import ValidationFailed
from cxstack.routing import erlang


def test_one_agent_is_the_single_server_queue() -> None:
    load = 0.75
    assert erlang.probability_of_waiting(1, load) == pytest.approx(load)
    assert erlang.service_level(1, load, aht_seconds=100, target_seconds=20) == pytest.approx(
        1 - load * math.exp(-(1 - load) * 20 / 100)
    )
    assert erlang.average_speed_of_answer(1, load, aht_seconds=100) == pytest.approx(load / (1 - load) * 100)
    assert erlang.occupancy(1, load) == load


def test_eleven_agents_for_nine_erlangs() -> None:
    traffic = erlang.traffic_erlangs(arrivals_per_hour=180, aht_seconds=180)
    assert traffic == 9.0
    assert erlang.probability_of_waiting(11, traffic) == pytest.approx(0.4305, abs=1e-4)
    assert erlang.service_level(11, traffic, aht_seconds=180, target_seconds=20) == pytest.approx(
        0.6553, abs=1e-4
    )
    assert erlang.average_speed_of_answer(11, traffic, aht_seconds=180) == pytest.approx(38.74, abs=0.01)


def test_agents_needed_is_the_fewest_that_meet_the_target() -> None:
    traffic = 9.0
    needed = erlang.agents_needed(traffic, aht_seconds=180, target_seconds=20, target_service_level=0.8)
    assert needed == 12
    assert erlang.service_level(needed, traffic, aht_seconds=180, target_seconds=20) >= 0.8
    assert erlang.service_level(needed - 1, traffic, aht_seconds=180, target_seconds=20) < 0.8
    capped = erlang.agents_needed(
        traffic, aht_seconds=180, target_seconds=20, target_service_level=0.8, max_occupancy=0.7
    )
    assert capped == 13  # 9 / 13 = 0.69


def test_too_few_agents_never_catch_up() -> None:
    assert erlang.probability_of_waiting(9, 9.0) == 1.0
    assert erlang.service_level(9, 9.0, aht_seconds=180, target_seconds=20) == 0.0
    assert erlang.average_speed_of_answer(8, 9.0, aht_seconds=180) == math.inf


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: erlang.probability_of_waiting(0, 5.0), "agents"),
        (lambda: erlang.probability_of_waiting(3, 0.0), "traffic"),
        (lambda: erlang.traffic_erlangs(arrivals_per_hour=-1, aht_seconds=10), "arrivals_per_hour"),
        (
            lambda: erlang.agents_needed(5.0, aht_seconds=60, target_seconds=20, target_service_level=1.5),
            "target_service_level",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(call: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        call()  # type: ignore[operator]
    assert refused.value.field == field
