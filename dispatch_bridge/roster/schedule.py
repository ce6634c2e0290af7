"""Weekly service hours compiled for fast "is the team on shift now?" checks.

Shifts are wall-clock times in the team's own time zone, turned into absolute instants per local date with
``zoneinfo``, so a shift across a DST change lasts what the clock on the wall says (a 22:00-06:00 shift is 9 hours
on the night clocks go back). The answer for an instant is cached together with the interval it holds for, so
ranking calls ``on_shift`` per team for almost nothing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from dispatch_bridge.contracts.unit import ServiceHours

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Shift = tuple[dt.time, dt.time, bool]  # start, end, ends the next day
_FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# How far ahead to look for the next change: a week covers every weekly schedule; exceptions can close longer.
_LOOKAHEAD_DAYS = 15


def _parse_shift(text: str) -> Shift:
    start_s, end_s = text.split("-")
    start = dt.time(int(start_s[:2]), int(start_s[3:]))
    if end_s == "24:00":
        return (start, dt.time(0, 0), True)
    end = dt.time(int(end_s[:2]), int(end_s[3:]))
    return (start, end, end <= start)


@dataclass(frozen=True, slots=True)
class ShiftState:
    on_shift: bool
    # The instant this state ends: the shift's end when on shift, the next start otherwise (or, with no shift in
    # the next two weeks, the end of that lookahead: the state is checked again then).
    until: dt.datetime


class ServiceSchedule:
    """Compiled ``ServiceHours``. ``state(now)`` is O(1) while ``now`` stays within the cached interval."""

    __slots__ = ("tz", "_weekly", "_by_date", "_cache_from", "_cache_until", "_cache_state")

    def __init__(self, hours: ServiceHours) -> None:
        self.tz = zoneinfo.ZoneInfo(hours.time_zone)
        daily = tuple(_parse_shift(s) for s in hours.weekly.get("daily", ()))
        self._weekly: tuple[tuple[Shift, ...], ...] = tuple(
            tuple(_parse_shift(s) for s in hours.weekly[day]) if day in hours.weekly else daily
            for day in _WEEKDAYS
        )
        by_date: dict[dt.date, tuple[Shift, ...]] = {day: () for day in hours.holidays}
        for exception in hours.exceptions:
            by_date[exception.date] = tuple(_parse_shift(s) for s in exception.hours)
        self._by_date = by_date
        self._cache_from = _FAR_PAST
        self._cache_until = _FAR_PAST
        self._cache_state = ShiftState(False, _FAR_PAST)

    def _shifts_on(self, day: dt.date) -> tuple[Shift, ...]:
        shifts = self._by_date.get(day)
        return self._weekly[day.weekday()] if shifts is None else shifts

    def _intervals(self, first: dt.date, days: int) -> list[tuple[dt.datetime, dt.datetime]]:
        """Absolute [start, end) intervals of the shifts starting on ``days`` local dates from ``first``."""
        out = []
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            for start, end, overnight in self._shifts_on(day):
                end_day = day + dt.timedelta(days=1) if overnight else day
                out.append((dt.datetime.combine(day, start, self.tz), dt.datetime.combine(end_day, end, self.tz)))
        return out

    def state(self, now: dt.datetime) -> ShiftState:
        if self._cache_from <= now < self._cache_until:
            return self._cache_state
        state = self._compute(now)
        self._cache_from, self._cache_until, self._cache_state = now, state.until, state
        return state

    def on_shift(self, now: dt.datetime) -> bool:
        return self.state(now).on_shift

    def _compute(self, now: dt.datetime) -> ShiftState:
        today = now.astimezone(self.tz).date()
        # Shifts that started yesterday may still run; merge touching shifts so "until" is the real end.
        intervals = sorted(self._intervals(today - dt.timedelta(days=1), _LOOKAHEAD_DAYS + 1))
        merged: list[list[dt.datetime]] = []
        for start, end in intervals:
            if end <= start:
                continue  # a shift erased by a DST gap
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            if start <= now < end:
                return ShiftState(True, end)
            if start > now:
                return ShiftState(False, start)
        # No shift within the lookahead: closed at least until its horizon (then look again).
        horizon = today + dt.timedelta(days=_LOOKAHEAD_DAYS)
        return ShiftState(False, dt.datetime.combine(horizon, dt.time(0, 0), self.tz))

    def next_change(self, now: dt.datetime) -> dt.datetime:
        return self.state(now).until
