"""Segments of time for `sql.sql_quantities`: where the bucket of an instant changes.

Rule 1: the engine does not know the time zone database Python has; so Python cuts
the range into segments ``[b_i, b_i+1)`` inside which every instant falls in one
bucket (or in none), with the fold's own calendar (`_calendar.Calendar`): at each
bucket start and at each change of the zone's UTC offset. The engine only finds
each event's segment.
Rule 2: offset changes are found by sampling every three hours (no clock in the
time zone database changed twice within three hours), each then found to the
microsecond; where a repeated stretch ends is a cut too.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from ._calendar import SLACK, Calendar
from ._fields import UTC

__all__: list[str] = []

_SAMPLE = timedelta(hours=3)
_LONGEST = {
    "hour": timedelta(hours=2),
    "day": timedelta(days=2),
    "week": timedelta(days=8),
    "month": timedelta(days=32),
    "year": timedelta(days=367),
}


def _offset(calendar: Calendar, instant: datetime) -> timedelta:
    offset = instant.astimezone(calendar.zone).utcoffset()
    assert offset is not None
    return offset


def _transitions(calendar: Calendar, low: datetime, high: datetime) -> list[datetime]:
    """The instants in ``[low, high]`` at which the zone's UTC offset changes.

    The offset is sampled every three hours (no clock in the time zone database
    changed twice within three hours) and each change found to the microsecond.
    """
    if calendar.zone is UTC:
        return []
    found: list[datetime] = []
    before, offset = low, _offset(calendar, low)
    while before < high:
        after = min(before + _SAMPLE, high)
        changed = _offset(calendar, after)
        if changed != offset:
            left, right = before, after
            while right - left > timedelta(microseconds=1):
                middle = left + (right - left) // 2
                if _offset(calendar, middle) == offset:
                    left = middle
                else:
                    right = middle
            found.append(right)
            # Where a repeated stretch ends (``fold`` flips back to 0).
            found.append(right + abs(offset - changed))
        before, offset = after, changed
    return found


def segments(
    calendar: Calendar, buckets: list[tuple[Any, datetime]]
) -> tuple[list[datetime], list[int | None]]:
    """Boundaries ``b_0 < ... < b_n`` and, for each ``[b_i, b_i+1)``, the index of
    the bucket every instant of it falls in (None: outside every bucket)."""
    positions = {key: n for n, (key, _) in enumerate(buckets)}
    low = buckets[0][1]
    try:
        high = buckets[-1][1] + _LONGEST[calendar.interval] + SLACK
    except OverflowError:
        high = datetime.max.replace(tzinfo=UTC)
    points = {low, high}
    transitions = [t for t in _transitions(calendar, low, high) if low < t < high]
    points.update(transitions)
    cuts = sorted(points)
    for left, right in itertools.pairwise(cuts):
        offset = _offset(calendar, left)
        try:
            local, stop = (
                (left + offset).replace(tzinfo=None),
                (right + offset).replace(tzinfo=None),
            )
        except OverflowError:
            continue
        grid = calendar.truncate(local)
        while grid < stop:
            if grid > local:
                points.add((grid - offset).replace(tzinfo=UTC))
            try:
                grid = calendar.step(grid)
            except (OverflowError, ValueError):
                break
    bounds = sorted(points)
    indexes: list[int | None] = []
    merged: list[datetime] = []
    for left in bounds[:-1]:
        try:
            index = positions.get(calendar.key(left))
        except OverflowError:
            index = None
        if indexes and indexes[-1] == index:
            continue
        merged.append(left)
        indexes.append(index)
    merged.append(bounds[-1])
    return merged, indexes
