"""When a recurring credit grant refills: its refill instants, and how many are due.

Rule 1 (steps): the k-th refill (k >= 1) is the local wall time of ``effective_at``
in the grant's time zone, stepped by k calendar intervals: k days, 7k days, k months
or k years, always counted from ``effective_at``, never from the previous refill. A
month or year step keeps the day of the month, clamped to the month's last day: from
Jan 31 the refills fall on Feb 28 (29 in a leap year), Mar 31, Apr 30, May 31; from
Feb 29, yearly, on Feb 28 of the years without a Feb 29.
Rule 2 (daylight saving time): a stepped local time is resolved to an instant by
`_localtime.wall_instant`, as `timeseries` resolves the local start of a bucket: a
local time the clocks show twice is its first pass; one the clocks skip is the
moment the clocks jump past it (02:30 on a day the clocks go from 02:00 to 03:00 is
that 03:00). So a refill is never before the
one it follows. In a zone that skipped a whole day (Samoa, 2011-12-30), two
refills can fall on the same instant; both happen there.
Rule 3 (counting): how many refills are due by an instant is read off the local
calendar (a subtraction of dates, months or years), then corrected by looking at
one or two refill instants around it; nothing loops over the intervals in between,
so the count costs the same for a daily grant over a week or over a century.
Rule 4 (range): a refill whose local time or instant lies beyond what `datetime`
holds (year 9999) never happens.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from ._calendar import check_zone
from ._localtime import local_time, wall_instant

if TYPE_CHECKING:
    from .grants import CreditGrant

__all__: list[str] = []

#: The calendar steps a grant can recur by.
RECURRENCES = ("day", "week", "month", "year")


def step(start: datetime, recurrence: str, k: int) -> datetime:
    """The naive local time ``start`` stepped by ``k`` intervals (Rule 1).

    OverflowError or ValueError beyond year 9999.
    """
    if recurrence == "day":
        return start + timedelta(days=k)
    if recurrence == "week":
        return start + timedelta(weeks=k)
    if recurrence == "month":
        months = start.month - 1 + k
        year, month = start.year + months // 12, months % 12 + 1
    else:
        year, month = start.year + k, start.month
    last = calendar.monthrange(year, month)[1] if year <= 9999 else 31
    return start.replace(year=year, month=month, day=min(start.day, last))


def refills_of(grant: CreditGrant) -> Refills | None:
    """The refill schedule of ``grant``; None when it does not recur."""
    if grant.recurrence is None:
        return None
    zone = check_zone(grant.timezone)
    return Refills(grant.effective_at, grant.expires_at, grant.recurrence, zone)


class Refills:
    """The refill schedule of one recurring grant."""

    __slots__ = ("expires_at", "recurrence", "start", "zone")

    def __init__(
        self,
        effective_at: datetime,
        expires_at: datetime | None,
        recurrence: str,
        zone: tzinfo,
    ) -> None:
        # `CreditGrant` refuses an effective_at whose local time does not exist.
        self.start = local_time(effective_at, zone)
        self.expires_at = expires_at
        self.recurrence = recurrence
        self.zone = zone

    def at(self, k: int) -> datetime | None:
        """The instant of the k-th refill (k >= 1); None when it does not happen:
        at or after ``expires_at``, or beyond year 9999."""
        try:
            instant = wall_instant(step(self.start, self.recurrence, k), self.zone)
        except (OverflowError, ValueError):
            return None
        if self.expires_at is not None and instant >= self.expires_at:
            return None
        return instant

    def _estimate(self, moment: datetime) -> int:
        """The number of calendar intervals from the start to ``moment``'s local
        date: the count of refills by ``moment``, or one or two off (Rule 3)."""
        try:
            local = local_time(moment, self.zone)
        except OverflowError:
            local = moment.replace(tzinfo=None)  # a day off at most: corrected
        start, recurrence = self.start, self.recurrence
        if recurrence == "month":
            return (local.year - start.year) * 12 + local.month - start.month
        if recurrence == "year":
            return local.year - start.year
        days = (local.date() - start.date()).days
        return days // 7 if recurrence == "week" else days

    def count(self, moment: datetime) -> int:
        """How many refills happened by ``moment`` (at or before it)."""

        def due(k: int) -> bool:
            instant = self.at(k)
            return instant is not None and instant <= moment

        # Estimated at the expiry at the latest: the refills stop there.
        expires_at = self.expires_at
        limit = moment if expires_at is None or moment < expires_at else expires_at
        k = max(0, self._estimate(limit))
        while k > 0 and not due(k):
            k -= 1
        while due(k + 1):
            k += 1
        return k
