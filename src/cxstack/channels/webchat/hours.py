"""Business hours: whether a tenant's team answers chats at a moment, in the tenant's time zone."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cxstack.kit.errors import ValidationFailed

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _time_of(value: str, *, field: str) -> time:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise ValidationFailed(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)", field=field)
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def check_business_hours(hours: dict[str, Any]) -> dict[str, Any]:
    """Return business hours in their stored form; raises ValidationFailed naming the bad field.

    ``{}`` means always open. Otherwise ``timezone`` (an IANA name) and ``days``: each of mon..sun maps to
    a list of ``[start, end]`` ranges (a day left out is closed).
    """
    if not hours:
        return {}
    zone = hours.get("timezone")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"{zone!r} is not a time zone name (such as Europe/Berlin)", field="business_hours.timezone"
        ) from None
    days = hours.get("days")
    if not isinstance(days, dict):
        raise ValidationFailed(
            "business hours need days: {mon: [[start, end]], ...}", field="business_hours.days"
        )
    checked: dict[str, list[list[str]]] = {}
    for day, ranges in days.items():
        field = f"business_hours.days.{day}"
        if day not in DAYS:
            raise ValidationFailed(f"{day!r} is not one of {', '.join(DAYS)}", field=field)
        if not isinstance(ranges, list):
            raise ValidationFailed("a day's hours are a list of [start, end] ranges", field=field)
        checked[day] = []
        for pair in ranges:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValidationFailed('a range is [start, end], such as ["09:00", "17:00"]', field=field)
            start, end = _time_of(pair[0], field=field), _time_of(pair[1], field=field)
            if end <= start:
                raise ValidationFailed(f"range {pair} ends before it starts", field=field)
            checked[day].append([pair[0], pair[1]])
    return {"timezone": str(zone), "days": checked}


def is_open(hours: dict[str, Any], at: datetime) -> bool:
    """Return whether ``at`` (timezone-aware) falls within ``hours`` (as ``check_business_hours`` returns)."""
    if not hours:
        return True
    local = at.astimezone(ZoneInfo(hours["timezone"]))
    now = local.time().replace(tzinfo=None)
    for start, end in hours["days"].get(DAYS[local.weekday()], []):
        if _time_of(start, field="start") <= now < _time_of(end, field="end") or (
            end == "24:00" and now >= _time_of(start, field="start")
        ):
            return True
    return False
