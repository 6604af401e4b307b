"""Business hours: open and closed moments in the tenant's time zone, and bad hours refused by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cxstack.channels.webchat.hours import check_business_hours, is_open
from cxstack.kit.errors import ValidationFailed

BERLIN_WEEKDAYS = check_business_hours(
    {
        "timezone": "Europe/Berlin",
        "days": {
            day: [["09:00", "12:00"], ["13:00", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri")
        },
    }
)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 23, 8, 30, tzinfo=UTC), True),  # Monday 09:30 in Berlin (UTC+1)
        (datetime(2026, 11, 23, 7, 59, tzinfo=UTC), False),  # 08:59
        (datetime(2026, 11, 23, 11, 30, tzinfo=UTC), False),  # 12:30, lunch
        (datetime(2026, 11, 23, 16, 29, tzinfo=UTC), True),  # 17:29
        (datetime(2026, 11, 23, 16, 30, tzinfo=UTC), False),  # 17:30, closed at the end of the range
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 7, 6, 7, 30, tzinfo=UTC), True),  # Monday 09:30 in summer time (UTC+2)
    ],
)
def test_open_moments_follow_the_tenants_time_zone(moment: datetime, expected: bool) -> None:
    assert is_open(BERLIN_WEEKDAYS, moment) is expected


def test_no_hours_means_always_open_and_24_00_closes_the_day() -> None:
    assert is_open({}, datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    late = check_business_hours({"timezone": "UTC", "days": {"sat": [["18:00", "24:00"]]}})
    assert is_open(late, datetime(2026, 11, 28, 23, 59, tzinfo=UTC))
    assert not is_open(late, datetime(2026, 11, 29, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("hours", "field", "words"),
    [
        ({"timezone": "Nowhere/City", "days": {}}, "business_hours.timezone", "not a time zone"),
        ({"timezone": "UTC"}, "business_hours.days", "need days"),
        ({"timezone": "UTC", "days": {"monday": []}}, "business_hours.days.monday", "not one of"),
        ({"timezone": "UTC", "days": {"mon": [["9am", "5pm"]]}}, "business_hours.days.mon", "HH:MM"),
        (
            {"timezone": "UTC", "days": {"mon": [["10:00", "09:00"]]}},
            "business_hours.days.mon",
            "ends before",
        ),
        ({"timezone": "UTC", "days": {"mon": ["09:00-17:00"]}}, "business_hours.days.mon", "[start, end]"),
    ],
)
def test_bad_hours_are_refused_naming_the_field(hours: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_business_hours(hours)
    assert refused.value.field == field
    assert words in refused.value.detail
