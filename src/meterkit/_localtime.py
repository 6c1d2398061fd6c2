"""Local wall times of an IANA time zone, and the instants at which they happen.

Rule 1: a local time the clocks show twice (they went back) happens first on its
first pass; a local time the clocks skip (they went forward) "happens" at the moment
they jump past it: the first instant whose local time is at or after it (02:30 on a
day the clocks go from 02:00 to 03:00 is that 03:00). Calendar buckets
(`timeseries`) and grant refills (`_recurrence`) both resolve local times this way,
through `wall_instant`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from ._fields import UTC

__all__: list[str] = []

_MICROSECOND = timedelta(microseconds=1)


def local_time(instant: datetime, zone: tzinfo) -> datetime:
    """The naive local wall time of ``instant`` in ``zone`` (OverflowError when it
    lies beyond what `datetime` holds)."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def offsets(naive: datetime, zone: tzinfo) -> tuple[timedelta, timedelta]:
    """UTC offsets of the local time ``naive`` read on its first and second pass.

    Per PEP 495 they differ only around a transition: first > second in a
    repeated stretch (clocks went back), first < second in a skipped one.
    """
    first = naive.replace(tzinfo=zone).utcoffset()
    second = naive.replace(tzinfo=zone, fold=1).utcoffset()
    # ZoneInfo and timezone.utc give every datetime an offset.
    assert first is not None
    assert second is not None
    return first, second


def wall_instant(naive: datetime, zone: tzinfo) -> datetime:
    """The instant, in UTC, at which the local wall time ``naive`` happens (Rule 1).

    OverflowError near the limits of `datetime`.
    """
    if zone is UTC:
        return naive.replace(tzinfo=UTC)
    first, second = offsets(naive, zone)
    if first >= second:
        return (naive - first).replace(tzinfo=UTC)  # the first (or only) pass
    # Skipped: the transition lies in (naive - second, naive - first]; search it.
    low = (naive - second).replace(tzinfo=UTC)
    high = (naive - first).replace(tzinfo=UTC)
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if local_time(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return high
