"""Business-hours arithmetic of SLA calendars: working hours, overnight shifts, holidays, DST, long spans."""

from __future__ import annotations

import time as wall_time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstack.kit.errors import ValidationFailed
from cxstack.routing.sla.calendar import AlwaysOpen, Calendar

NY = ZoneInfo("America/New_York")
NINE_TO_FIVE = {day: [{"start": "09:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")}


def office(**extra: Any) -> Calendar:
    return Calendar.parse(timezone="America/New_York", hours=NINE_TO_FIVE, **extra)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def test_adding_within_the_day_stays_on_the_day() -> None:
    # Monday 2026-03-02, 10:00 in New York.
    assert office().add_business_seconds(ny(2026, 3, 2, 10, 0), 3600) == ny(2026, 3, 2, 11, 0)


def test_time_after_hours_carries_over_to_the_next_working_morning() -> None:
    # Friday 16:00 plus two business hours: one on Friday, one on Monday morning.
    due = office().add_business_seconds(ny(2026, 3, 6, 16, 0), 7200)
    assert due == ny(2026, 3, 9, 10, 0)
    assert office().business_seconds_between(ny(2026, 3, 6, 16, 0), due) == 7200


def test_a_start_outside_hours_begins_at_the_next_opening() -> None:
    assert office().add_business_seconds(ny(2026, 3, 7, 3, 0), 60) == ny(2026, 3, 9, 9, 1)
    assert office().add_business_seconds(ny(2026, 3, 7, 3, 0), 0) == ny(2026, 3, 9, 9, 0)


def test_holidays_are_skipped() -> None:
    calendar = office(holidays=[{"date": "2026-03-09", "name": "Founders' day"}])
    assert calendar.add_business_seconds(ny(2026, 3, 6, 16, 0), 7200) == ny(2026, 3, 10, 10, 0)
    assert calendar.holidays_out() == [{"date": "2026-03-09", "name": "Founders' day"}]


def test_business_days_keep_their_wall_clock_hours_across_a_dst_change() -> None:
    # New York springs forward on Sunday 2026-03-08: Friday 17:00 EST to Monday 09:00 EDT is closed time.
    friday_four = ny(2026, 3, 6, 16, 0)
    due = office().add_business_seconds(friday_four, 2 * 3600)
    assert due.astimezone(NY).hour == 10 and due.astimezone(NY).day == 9
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # EDT is UTC-4


def test_an_overnight_shift_across_the_spring_dst_change_is_an_hour_shorter() -> None:
    night = Calendar.parse(
        timezone="America/New_York", hours={"sat": [{"start": "22:00", "end": "06:00", "overnight": True}]}
    )
    # Saturday 2026-03-07 22:00 EST to Sunday 06:00 EDT: 7 real hours.
    start = ny(2026, 3, 7, 22, 0)
    assert night.business_seconds_between(start, ny(2026, 3, 8, 6, 0)) == 7 * 3600
    assert night.add_business_seconds(start, 7 * 3600) == ny(2026, 3, 8, 6, 0)
    # And the next shift starts a week later.
    assert night.add_business_seconds(start, 7 * 3600 + 60) == ny(2026, 3, 14, 22, 1)


def test_working_hours_starting_at_a_midnight_that_dst_skips_start_at_the_jump() -> None:
    # Santiago moves its clocks from 00:00 to 01:00 on Sunday 2026-09-06: 00:00-02:00 is one real hour.
    santiago = ZoneInfo("America/Santiago")
    early = Calendar.parse(timezone="America/Santiago", hours={"sun": [{"start": "00:00", "end": "02:00"}]})
    saturday = datetime(2026, 9, 5, 12, 0, tzinfo=santiago)
    assert early.add_business_seconds(saturday, 0) == datetime(2026, 9, 6, 1, 0, tzinfo=santiago)
    assert early.business_seconds_between(saturday, saturday + timedelta(days=1)) == 3600


def test_an_overnight_shift_from_sunday_into_monday_counts_in_the_next_week() -> None:
    night = Calendar.parse(
        timezone="UTC", hours={"sun": [{"start": "20:00", "end": "04:00", "overnight": True}]}
    )
    sunday = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert night.add_business_seconds(sunday, 6 * 3600) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert night.hours_out() == {"sun": [{"start": "20:00", "end": "04:00", "overnight": True}]}


def test_a_holiday_cuts_the_part_of_an_overnight_shift_that_falls_on_it() -> None:
    night = Calendar.parse(
        timezone="UTC",
        hours={"thu": [{"start": "22:00", "end": "06:00", "overnight": True}]},
        holidays=[{"date": "2026-03-06"}],
    )
    thursday = datetime(2026, 3, 5, 22, 0, tzinfo=UTC)
    assert night.business_seconds_between(thursday, thursday + timedelta(hours=8)) == 2 * 3600


def test_a_thirty_day_target_is_computed_in_few_steps() -> None:
    calendar = office(holidays=[{"date": "2026-12-25"}, {"date": "2027-01-01"}])
    start = ny(2026, 11, 2, 9, 0)
    began = wall_time.perf_counter()
    due = calendar.add_business_seconds(start, 30 * 86_400)  # 30 days of business time: 90 working days
    spent = wall_time.perf_counter() - began
    assert calendar.business_seconds_between(start, due) == 30 * 86_400
    assert due > start + timedelta(days=120)
    assert spent < 0.5


def test_a_target_the_calendar_cannot_fit_in_ten_years_is_refused_quickly() -> None:
    sparse = Calendar.parse(timezone="UTC", hours={"mon": [{"start": "09:00", "end": "09:01"}]})
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    began = wall_time.perf_counter()
    with pytest.raises(ValidationFailed) as refused:
        sparse.add_business_seconds(start, 366 * 86_400)
    assert wall_time.perf_counter() - began < 1
    assert refused.value.field == "seconds"
    assert sparse.add_business_seconds(start, 120) == datetime(2026, 3, 9, 9, 1, tzinfo=UTC)


def test_always_open_counts_every_second() -> None:
    start = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    assert AlwaysOpen().add_business_seconds(start, 90) == start + timedelta(seconds=90)
    assert AlwaysOpen().business_seconds_between(start, start + timedelta(hours=1)) == 3600


@pytest.mark.parametrize(
    ("timezone", "hours", "holidays", "field"),
    [
        ("Mars/Olympus", NINE_TO_FIVE, [], "timezone"),
        ("Europe/Berlin", {}, [], "hours"),
        ("Europe/Berlin", {"mon": []}, [], "hours"),
        ("Europe/Berlin", {"funday": [{"start": "09:00", "end": "17:00"}]}, [], "hours.funday"),
        ("Europe/Berlin", {"mon": [{"start": "17:00", "end": "09:00"}]}, [], "hours.mon[0].end"),
        ("Europe/Berlin", {"mon": [{"start": "09:00", "end": "09:00"}]}, [], "hours.mon[0].end"),
        ("Europe/Berlin", {"mon": [{"start": "9am", "end": "17:00"}]}, [], "hours.mon[0].start"),
        (
            "Europe/Berlin",
            {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "17:00"}]},
            [],
            "hours.mon",
        ),
        (
            "Europe/Berlin",
            {
                "mon": [{"start": "22:00", "end": "06:00", "overnight": True}],
                "tue": [{"start": "05:00", "end": "09:00"}],
            },
            [],
            "hours.tue",
        ),
        (
            "Europe/Berlin",
            {
                "sun": [{"start": "22:00", "end": "06:00", "overnight": True}],
                "mon": [{"start": "05:00", "end": "09:00"}],
            },
            [],
            "hours.mon",
        ),
        ("Europe/Berlin", NINE_TO_FIVE, [{"date": "christmas"}], "holidays[0].date"),
    ],
)
def test_bad_calendars_are_refused_naming_the_field(
    timezone: str, hours: dict[str, Any], holidays: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Calendar.parse(timezone=timezone, hours=hours, holidays=holidays)
    assert refused.value.field == field


# -- properties --------------------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago", "Asia/Kolkata"]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    """Random valid calendars: intervals of two hours or more on a 15-minute grid, some overnight (so that
    ten years hold more than the 40 days of business time the properties add)."""
    hours: dict[str, list[dict[str, Any]]] = {}
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        if draw(st.booleans()):
            start = draw(st.integers(0, 88)) * 15
            end = draw(st.integers(start // 15 + 8, 96)) * 15
            hours[day] = [
                {"start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}
            ]
    if not hours:
        hours["wed"] = [{"start": "09:00", "end": "17:00"}]
    if draw(st.booleans()) and "sat" not in hours and "fri" not in hours:
        hours["fri"] = [{"start": "20:00", "end": "04:00", "overnight": True}]
    holidays = draw(
        st.lists(
            st.dates(datetime(2025, 1, 1).date(), datetime(2027, 12, 31).date()), max_size=8, unique=True
        )
    )
    return Calendar.parse(
        timezone=draw(st.sampled_from(ZONES)),
        hours=hours,
        holidays=[{"date": d.isoformat()} for d in holidays],
    )


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=150, deadline=None)
@given(calendar=calendars(), start=instants, seconds=st.integers(0, 40 * 86_400))
def test_adding_then_measuring_gives_back_the_seconds(
    calendar: Calendar, start: datetime, seconds: int
) -> None:
    due = calendar.add_business_seconds(start, seconds)
    assert due >= start
    assert calendar.business_seconds_between(start, due) == pytest.approx(seconds, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars(), a=instants, b=instants, c=instants)
def test_business_time_adds_up_over_consecutive_spans(
    calendar: Calendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    whole = calendar.business_seconds_between(a, c)
    assert whole == pytest.approx(
        calendar.business_seconds_between(a, b) + calendar.business_seconds_between(b, c)
    )
    assert 0 <= whole <= (c - a).total_seconds()
    assert calendar.business_seconds_between(c, a) == -whole


@settings(max_examples=100, deadline=None)
@given(
    calendar=calendars(),
    start=instants,
    first=st.integers(0, 20 * 86_400),
    second=st.integers(0, 20 * 86_400),
)
def test_adding_in_two_steps_lands_where_adding_at_once_does(
    calendar: Calendar, start: datetime, first: int, second: int
) -> None:
    once = calendar.add_business_seconds(start, first + second)
    twice = calendar.add_business_seconds(calendar.add_business_seconds(start, first), second)
    # Equal, unless the first step ended exactly at a closing time (then the second starts at the opening).
    assert calendar.business_seconds_between(once, twice) == 0
