"""Business calendars: when a team works, and the arithmetic of business time over it.

A calendar has a time zone (an IANA name), weekly working hours (per weekday a list of intervals of the
local wall clock; an ``overnight`` interval ends on the next day) and holidays (local dates on which
nobody works, from 00:00 to 24:00, even within an overnight interval of the day before). Business time is
real elapsed time inside working intervals, so an overnight shift across a DST change is an hour shorter
or longer, as the people working it see it. A wall-clock time that a DST change skips means the moment the
clock jumps.

``add_business_seconds`` walks the calendar a day at a time, and a whole week at a time where a week has no
holiday and no change of UTC offset, so a target of weeks takes a few steps, never a step per minute.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cxstack.kit.errors import ValidationFailed

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86_400
WEEK = 7 * DAY
#: The most holidays one calendar keeps.
MAX_HOLIDAYS = 2_000
#: How far ahead ``add_business_seconds`` looks for working time (a target needing more is refused).
HORIZON = timedelta(days=10 * 366)
#: The most intervals one weekday has.
MAX_INTERVALS_PER_DAY = 24
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class BusinessTime(Protocol):
    """What a clock needs of a calendar: business-time arithmetic on timezone-aware instants."""

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """Return the instant ``seconds`` of business time after ``start``."""
        ...

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Return the business seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        ...


class AlwaysOpen:
    """Business time around the clock (a policy without a calendar): every second counts."""

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        return _aware(start, "start") + timedelta(seconds=seconds)

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        return (_aware(b, "b") - _aware(a, "a")).total_seconds()


@dataclass(frozen=True, slots=True)
class Interval:
    """Working time of one weekday: from ``start`` to ``end`` seconds after local midnight; ``end`` past
    86,400 for an interval that ends the next day."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    name: str | None = None


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ValidationFailed("a timezone-aware time is needed", field=field)
    return value


def _seconds_of(value: Any, *, field: str) -> int:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise ValidationFailed(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)", field=field)
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _clock_text(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True)
class Calendar:
    """A checked calendar (build it with ``Calendar.parse``); its methods implement ``BusinessTime``."""

    timezone: str
    #: Per weekday (0 = Monday), the working intervals in order.
    hours: tuple[tuple[Interval, ...], ...]
    holidays: tuple[Holiday, ...] = ()

    # -- building and showing ------------------------------------------------------------------------

    @classmethod
    def parse(cls, *, timezone: Any, hours: Any, holidays: Any = (), field_prefix: str = "") -> Calendar:
        """Return the calendar described by API input; raises ValidationFailed naming the bad field.

        ``hours`` maps ``mon``..``sun`` to lists of ``{"start": "09:00", "end": "17:00"}`` (``overnight:
        true`` for an interval that ends the next day, such as 22:00 to 06:00); ``holidays`` is a list of
        ``{"date": "2026-12-25", "name": "Christmas"}``.
        """
        p = field_prefix
        try:
            ZoneInfo(str(timezone))
            if not isinstance(timezone, str) or not timezone:
                raise ValueError(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValidationFailed(
                f"{timezone!r} is not a time zone name (such as Europe/Berlin)", field=f"{p}timezone"
            ) from None
        if not isinstance(hours, Mapping):
            raise ValidationFailed(
                "hours map weekdays to intervals: {mon: [{start, end}], ...}", field=f"{p}hours"
            )
        week: list[list[Interval]] = [[] for _ in DAYS]
        for day, intervals in hours.items():
            if day not in DAYS:
                raise ValidationFailed(f"{day!r} is not one of {', '.join(DAYS)}", field=f"{p}hours.{day}")
            if not isinstance(intervals, Sequence) or isinstance(intervals, str):
                raise ValidationFailed("a day's hours are a list of intervals", field=f"{p}hours.{day}")
            if len(intervals) > MAX_INTERVALS_PER_DAY:
                raise ValidationFailed(
                    f"a day has at most {MAX_INTERVALS_PER_DAY} intervals", field=f"{p}hours.{day}"
                )
            for index, interval in enumerate(intervals):
                week[DAYS.index(day)].append(_interval(interval, field=f"{p}hours.{day}[{index}]"))
        if not any(week):
            raise ValidationFailed(
                "a calendar needs working hours on at least one day (leave the calendar out for 24/7)",
                field=f"{p}hours",
            )
        _refuse_overlaps(week, field=f"{p}hours")
        return cls(
            timezone=timezone,
            hours=tuple(tuple(sorted(day, key=lambda i: i.start)) for day in week),
            holidays=_holidays(holidays, field=f"{p}holidays"),
        )

    def hours_out(self) -> dict[str, list[dict[str, Any]]]:
        """The working hours as ``parse`` takes them (weekdays without hours left out)."""
        shown: dict[str, list[dict[str, Any]]] = {}
        for day, intervals in zip(DAYS, self.hours, strict=True):
            if intervals:
                shown[day] = [
                    {
                        "start": _clock_text(i.start),
                        "end": _clock_text(i.end % DAY if i.end > DAY else i.end),
                        "overnight": i.end > DAY,
                    }
                    for i in intervals
                ]
        return shown

    def holidays_out(self) -> list[dict[str, Any]]:
        return [{"date": h.day.isoformat(), "name": h.name} for h in self.holidays]

    # -- arithmetic ----------------------------------------------------------------------------------

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """Return the instant ``seconds`` (0 or more) of business time after ``start``; with 0, the first
        business instant at or after ``start``."""
        start = _aware(start, "start").astimezone(UTC)
        if seconds < 0:
            raise ValidationFailed("business seconds to add cannot be negative", field="seconds")
        remaining = float(seconds)
        for item in self._chunks(start, until=start + HORIZON):
            if isinstance(item, _Week):
                if remaining > item.seconds:
                    remaining -= item.seconds
                    continue
                spans: Iterator[tuple[datetime, datetime]] = self._spans_of_week(item.first_day)
            else:
                spans = iter((item,))
            for begin, end in spans:
                begin = max(begin, start)
                if end <= begin:
                    continue
                available = (end - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
        raise ValidationFailed(
            f"the calendar has fewer than {seconds:g} business seconds in the {HORIZON.days} days from "
            f"{start.isoformat()}",
            field="seconds",
        )

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Return the business seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        a, b = _aware(a, "a").astimezone(UTC), _aware(b, "b").astimezone(UTC)
        if b < a:
            return -self.business_seconds_between(b, a)
        total = 0.0
        for item in self._chunks(a, until=b):
            if isinstance(item, _Week):
                if item.end <= b:
                    total += item.seconds
                    continue
                spans: Iterator[tuple[datetime, datetime]] = self._spans_of_week(item.first_day)
            else:
                spans = iter((item,))
            for begin, end in spans:
                if begin >= b:
                    return total
                begin, end = max(begin, a), min(end, b)
                if end > begin:
                    total += (end - begin).total_seconds()
        return total

    # -- the walk ------------------------------------------------------------------------------------

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _week_seconds(self) -> int:
        return sum(i.end - i.start for day in self.hours for i in day)

    def _instant(self, day: date, seconds: int) -> datetime:
        """The first instant whose local wall clock reads ``seconds`` after midnight of ``day`` or later
        (a time skipped by a DST change maps to the moment of the jump)."""
        zone = self._zone
        wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
        first = wall.replace(tzinfo=zone).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) == wall:
            return first
        # Skipped by a DST change: the jump lies between the two readings of ``wall``; find it.
        low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        high = first
        while (high - low) > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(zone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0) if high.microsecond else high

    def _is_holiday(self, day: date) -> bool:
        index = bisect_left(self._holiday_days, day)
        return index < len(self._holiday_days) and self._holiday_days[index] == day

    @cached_property
    def _holiday_days(self) -> list[date]:
        return [h.day for h in self.holidays]

    def _spans_of_day(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The working spans (UTC) of the intervals that start on ``day``, holidays cut out, in order."""
        off_today, off_tomorrow = self._is_holiday(day), self._is_holiday(day + timedelta(days=1))
        for interval in self.hours[day.weekday()]:
            pieces = []
            if not off_today:
                pieces.append((interval.start, min(interval.end, DAY)))
            if interval.end > DAY and not off_tomorrow:
                pieces.append((max(interval.start, DAY), interval.end))
            for begin, end in pieces:
                first, last = self._instant(day, begin), self._instant(day, end)
                if last > first:
                    yield first, last

    def _spans_of_week(self, first_day: date) -> Iterator[tuple[datetime, datetime]]:
        for offset in range(7):
            yield from self._spans_of_day(first_day + timedelta(days=offset))

    def _plain_week(self, first_day: date) -> bool:
        """Whether the week from ``first_day`` has no holiday and one UTC offset (its business time is the
        calendar's weekly hours)."""
        index = bisect_left(self._holiday_days, first_day)
        if index < len(self._holiday_days) and self._holiday_days[index] <= first_day + timedelta(days=7):
            return False
        zone = self._zone
        offsets = {
            datetime.combine(first_day + timedelta(days=n), time(), tzinfo=zone).utcoffset() for n in range(9)
        }
        return len(offsets) == 1

    def _chunks(self, start: datetime, *, until: datetime) -> Iterator[_Week | tuple[datetime, datetime]]:
        """Working time from ``start`` to ``until`` (and perhaps a little after): single spans, or whole
        plain weeks where they lie after ``start``."""
        day = start.astimezone(self._zone).date() - timedelta(days=1)
        last = until.astimezone(self._zone).date() + timedelta(days=1)
        week_seconds = self._week_seconds
        while day <= last:
            if self._instant(day, 0) >= start and self._plain_week(day):
                yield _Week(
                    first_day=day, end=self._instant(day + timedelta(days=8), 0), seconds=week_seconds
                )
                day += timedelta(days=7)
                continue
            yield from self._spans_of_day(day)
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Week:
    """Seven days from ``first_day`` whose business time (``seconds``) all lies before ``end``."""

    first_day: date
    end: datetime
    seconds: int


def _interval(value: Any, *, field: str) -> Interval:
    if not isinstance(value, Mapping):
        raise ValidationFailed('an interval is {"start": "09:00", "end": "17:00"}', field=field)
    unknown = set(value) - {"start", "end", "overnight"}
    if unknown:
        raise ValidationFailed(f"an interval has no field {sorted(unknown)[0]!r}", field=field)
    start = _seconds_of(value.get("start"), field=f"{field}.start")
    end = _seconds_of(value.get("end"), field=f"{field}.end")
    overnight = value.get("overnight", False)
    if not isinstance(overnight, bool):
        raise ValidationFailed("overnight is true or false", field=f"{field}.overnight")
    if start == DAY:
        raise ValidationFailed("an interval cannot start at 24:00", field=f"{field}.start")
    if overnight:
        if end == DAY or end >= start:
            raise ValidationFailed(
                "an overnight interval ends the next day, at a time before its start", field=f"{field}.end"
            )
        return Interval(start, end + DAY)
    if end <= start:
        raise ValidationFailed(
            f"the interval ends ({_clock_text(end)}) before it starts ({_clock_text(start)}); "
            "set overnight: true for one that ends the next day",
            field=f"{field}.end",
        )
    return Interval(start, end)


def _refuse_overlaps(week: list[list[Interval]], *, field: str) -> None:
    spans: list[tuple[int, int, str]] = []
    for number, intervals in enumerate(week):
        for interval in intervals:
            begin, end = number * DAY + interval.start, number * DAY + interval.end
            spans.append((begin, end, DAYS[number]))
            if end > WEEK:  # Sunday night into Monday morning
                spans.append((begin - WEEK, end - WEEK, DAYS[number]))
    spans.sort()
    for (_, end, day), (next_begin, _, next_day) in pairwise(spans):
        if next_begin < end:
            where = day if day == next_day else next_day
            raise ValidationFailed(
                f"working intervals overlap ({day} and {next_day})", field=f"{field}.{where}"
            )


def _holidays(value: Any, *, field: str) -> tuple[Holiday, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValidationFailed('holidays are a list of {"date": "2026-12-25", "name": ...}', field=field)
    if len(value) > MAX_HOLIDAYS:
        raise ValidationFailed(f"a calendar has at most {MAX_HOLIDAYS} holidays", field=field)
    found: dict[date, Holiday] = {}
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        raw = item.get("date") if isinstance(item, Mapping) else item
        if isinstance(raw, date) and not isinstance(raw, datetime):
            day = raw
        else:
            try:
                day = date.fromisoformat(str(raw))
            except ValueError:
                raise ValidationFailed(
                    f"{raw!r} is not a date as YYYY-MM-DD", field=f"{where}.date"
                ) from None
        name = item.get("name") if isinstance(item, Mapping) else None
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ValidationFailed(
                "a holiday's name is text of at most 200 characters", field=f"{where}.name"
            )
        if day in found:
            raise ValidationFailed(f"{day.isoformat()} is listed twice", field=f"{where}.date")
        found[day] = Holiday(day, name or None)
    return tuple(sorted(found.values(), key=lambda h: h.day))
