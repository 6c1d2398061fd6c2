"""The local calendar of an IANA time zone: bucket keys, steps and first instants.

Rule 1 (keys): a bucket is one step of the local calendar (an ``hour``, a ``day``,
a ``week`` from Monday, a ``month`` or a ``year``); its key is its naive local
start and, for an hour the clocks repeat, which pass it is. Keys order like the
buckets' instants.
Rule 2 (instants): a bucket's first instant is its local start resolved by
`_localtime.wall_instant` (a skipped start begins at the jump).
Rule 3 (arguments): the checks of a series' arguments (interval, time zone, period,
bucket limit) live here, so that `timeseries`, `sql` and the grants' refills read
them alike, with the same messages.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta, tzinfo

from ._fields import UTC, format_timestamp, parse_timestamp
from ._localtime import offsets, wall_instant
from .errors import InvalidTypeError, ValidationError

__all__: list[str] = []

#: The calendar steps a series can be cut into.
INTERVALS = ("hour", "day", "week", "month", "year")

#: The most buckets `quantities` builds unless told otherwise: a year of hours fits.
DEFAULT_MAX_BUCKETS = 10_000


def check_interval(value: object) -> str:
    if not isinstance(value, str) or value not in INTERVALS:
        raise ValidationError(
            f"must be one of {', '.join(map(repr, INTERVALS))}",
            path="interval",
            value=value,
        )
    return value


def check_zone(value: object) -> tzinfo:
    if not isinstance(value, str):
        raise InvalidTypeError(
            "must be an IANA time zone name such as 'Europe/Paris'",
            path="timezone",
            value=value,
        )
    if value == "UTC":
        # The default works without a time zone database (Windows, slim images).
        return UTC
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # ZoneInfoNotFoundError is a KeyError; a malformed key ('../x', '') is a
        # ValueError; a file that is not a zone is a ValueError too.
        raise ValidationError(
            "is not a known IANA time zone name such as 'Europe/Paris' (on a "
            "system without a time zone database, install the tzdata package)",
            path="timezone",
            value=value,
        ) from None


def check_max_buckets(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError("must be an int", path="max_buckets", value=value)
    if value < 1:
        raise ValidationError("must be >= 1", path="max_buckets", value=value)
    return value


def check_period(
    start: object, end: object, *, empty_ok: bool
) -> tuple[datetime, datetime]:
    start_at = parse_timestamp(start, "start")
    end_at = parse_timestamp(end, "end")
    if end_at < start_at:
        raise ValidationError(
            f"must not be before start ({format_timestamp(start_at)})",
            path="end",
            value=end,
        )
    if end_at == start_at and not empty_ok:
        raise ValidationError(
            f"must be after start ({format_timestamp(start_at)}): the period "
            "[start, end) would be empty",
            path="end",
            value=end,
        )
    return start_at, end_at


# -- The local calendar ------------------------------------------------------------

# A bucket key: the naive local start of the bucket, and which pass of a repeated
# hour it is (1 for the second pass, else 0; only hourly keys ever carry a 1). Keys
# order like the buckets' instants.
Key = tuple[datetime, int]

# More than the largest jump of any clock in the time zone database (Samoa
# skipped 2011-12-30; Alaska repeated a day in 1867).
SLACK = timedelta(days=3)


class Calendar:
    """The buckets of one interval in one time zone."""

    __slots__ = ("hourly", "interval", "zone")

    def __init__(self, interval: str, zone: tzinfo) -> None:
        self.interval = interval
        self.zone = zone
        self.hourly = interval == "hour"

    def truncate(self, local: datetime) -> datetime:
        """The naive local start of the bucket holding the local time ``local``."""
        interval = self.interval
        if interval == "hour":
            return local.replace(minute=0, second=0, microsecond=0, tzinfo=None, fold=0)
        day = local.date()
        if interval == "week":
            # date.min (0001-01-01) is a Monday, so this never leaves the calendar.
            day -= timedelta(days=day.weekday())
        elif interval == "month":
            day = day.replace(day=1)
        elif interval == "year":
            day = date(day.year, 1, 1)
        return datetime.combine(day, time())

    def step(self, naive: datetime) -> datetime:
        """The naive local start of the next bucket, by calendar arithmetic."""
        interval = self.interval
        if interval == "hour":
            return naive + timedelta(hours=1)
        if interval == "day":
            return naive + timedelta(days=1)
        if interval == "week":
            return naive + timedelta(days=7)
        if interval == "month":
            return naive.replace(
                year=naive.year + naive.month // 12, month=naive.month % 12 + 1
            )
        return naive.replace(year=naive.year + 1)

    def key(self, instant: datetime) -> Key:
        """The key of the bucket holding ``instant`` (OverflowError near the limits
        of `datetime`)."""
        local = instant.astimezone(self.zone)
        start = self.truncate(local)
        # The second pass of a repeated hour is its own bucket; a second pass that
        # began after the hour mark (a 30-minute shift) belongs to the hour's bucket.
        if local.fold and self.hourly:
            first, second = offsets(start, self.zone)
            if first > second:
                return (start, 1)
        return (start, 0)

    def first_instant(self, key: Key) -> datetime | None:
        """The first instant whose key is ``key``; None when no instant has it
        (an hour the clocks skip entirely)."""
        naive, fold = key
        if fold:
            return (naive - offsets(naive, self.zone)[1]).replace(tzinfo=UTC)
        # A local start the clocks skip starts at the transition (`_localtime`).
        instant = wall_instant(naive, self.zone)
        return instant if self.key(instant) == key else None

    def bound(self, instant: datetime, path: str, value: object) -> Key:
        try:
            return self.key(instant)
        except OverflowError:
            raise ValidationError(
                "is too close to the limits of datetime in this time zone",
                path=path,
                value=value,
            ) from None

    def buckets(self, first: Key, last: Key, limit: int) -> list[tuple[Key, datetime]]:
        """The buckets from ``first`` to ``last``, with their first instants, in
        time order.

        More than ``limit`` buckets is an error; it is found after about ``limit``
        steps, whatever the length of the range.
        """
        low, high = self.first_instant(first), self.first_instant(last)
        assert low is not None  # keys of real instants have a first instant
        assert high is not None
        # Naive local order is not time order around a transition: after clocks
        # go back two hours, the second 01:00 comes after the first 02:00. So the
        # naive local times are scanned with some slack (no clock in the database
        # ever jumped by more than a day), and what falls between the first
        # instants of ``first`` and ``last`` is kept, sorted by time.
        try:
            naive = self.truncate(first[0] - SLACK)
        except OverflowError:
            naive = first[0]
        try:
            stop = last[0] + SLACK
        except OverflowError:
            stop = last[0]
        found: list[tuple[Key, datetime]] = []
        while True:
            for fold in (0, 1) if self.hourly else (0,):
                key = (naive, fold)
                if fold:
                    pass_one, pass_two = offsets(naive, self.zone)
                    if pass_one <= pass_two:
                        continue  # not a repeated hour
                try:
                    instant = self.first_instant(key)
                except OverflowError:
                    continue  # its start lies outside what datetime holds
                if instant is None or not low <= instant <= high:
                    continue
                if len(found) == limit:
                    raise ValidationError(
                        f"is exceeded: from start to end by {self.interval!r} gives "
                        f"more than {limit} buckets; pass a larger max_buckets, or "
                        "a shorter range or a longer interval",
                        path="max_buckets",
                        value=limit,
                    )
                found.append((key, instant))
            if naive >= stop:
                break
            try:
                naive = self.step(naive)
            except (OverflowError, ValueError):
                break  # the end of the calendar
        found.sort(key=lambda item: item[1])
        return found


def series_buckets(
    start: object, end: object, interval: object, timezone: object, max_buckets: object
) -> tuple[Calendar, list[tuple[Key, datetime]]]:
    """The calendar of a series and its buckets from the one holding ``start`` to
    the one holding ``end``: the arguments of `quantities`, checked in its order."""
    start_at, end_at = check_period(start, end, empty_ok=True)
    calendar = Calendar(check_interval(interval), check_zone(timezone))
    limit = check_max_buckets(max_buckets)
    first = calendar.bound(start_at, "start", start)
    last = calendar.bound(end_at, "end", end)
    return calendar, calendar.buckets(first, last, limit)
