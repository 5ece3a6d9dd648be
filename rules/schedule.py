"""Local-time calendars for schedules and quiet hours, cached per segment so a lookup is two compares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.durations import NS_PER_S
from rules.schema import WEEKDAYS, TimeRange

_FAR = 1 << 62


def _hhmm(text: str) -> tuple[time, int]:
    """A HH:MM string as a time and a day carry (24:00 is midnight of the next day)."""
    hours, minutes = (int(p) for p in text.split(":"))
    return (time(0, 0), 1) if hours == 24 else (time(hours, minutes), 0)


class Calendar:
    """Whether an instant falls in any of some daily local-time ranges, and when that next changes."""

    __slots__ = ("_end", "_inside", "_ranges", "_start", "zone")

    def __init__(self, ranges: Sequence[TimeRange], zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self._ranges = [(r, _hhmm(r.start), _hhmm(r.end)) for r in ranges]
        self._start = self._end = 0
        self._inside = False

    def inside(self, t: int) -> bool:
        """Whether instant t (ns since the epoch) is inside a range."""
        if not self._start <= t < self._end:
            self._refresh(t)
        return self._inside

    def next_change(self, t: int) -> int:
        """The first instant after t where `inside` changes (far future if never)."""
        if not self._start <= t < self._end:
            self._refresh(t)
        return self._end

    def _refresh(self, t: int) -> None:
        """Recompute the constant segment around t."""
        day = datetime.fromtimestamp(t / NS_PER_S, self.zone).date()
        spans = [span for offset in range(-1, 9) for span in self._spans(day + timedelta(days=offset))]
        self._inside = any(a <= t < b for a, b in spans)
        edges = [edge for span in spans for edge in span]
        self._start = max((e for e in edges if e <= t), default=t)
        self._end = min((e for e in edges if e > t), default=_FAR)

    def _spans(self, day: date) -> list[tuple[int, int]]:
        """The [start, end) instants of the ranges that start on a given local day."""
        spans = []
        for rng, (start, start_carry), (end, end_carry) in self._ranges:
            if rng.days is not None and WEEKDAYS[day.weekday()] not in rng.days:
                continue
            begin = datetime.combine(day + timedelta(days=start_carry), start, self.zone)
            finish = datetime.combine(day + timedelta(days=end_carry), end, self.zone)
            if finish <= begin:
                finish += timedelta(days=1)
            spans.append((_ns(begin), _ns(finish)))
        return spans


def _ns(moment: datetime) -> int:
    """An aware datetime as ns since the epoch (exact to the second)."""
    return int(moment.timestamp()) * NS_PER_S
