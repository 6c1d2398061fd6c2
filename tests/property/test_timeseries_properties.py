"""Properties of quantities(), checked against a brute-force local-time oracle.

The oracle knows nothing of meterkit's bucket keys: it takes each instant to its
zone with ``astimezone``, truncates the local fields (keeping PEP 495's ``fold`` for
hours, so that the two passes of a repeated hour stay apart), and converts that
local start back to UTC. Events are then grouped in a dict by that instant.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    Filter,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    aggregate,
    quantities,
)
from meterkit.timeseries import INTERVALS

from ..strategies import zone_infos

UTC = timezone.utc
METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
]
FUNCS = ["count", "sum", "max", "min", "avg", "unique", "latest"]

#: Instants near which things happen: DST changes of the zones above (both ways),
#: a leap day, month and year ends.
ANCHORS = [
    datetime(2025, 3, 30, 1, tzinfo=UTC),  # Paris springs forward
    datetime(2025, 10, 26, 1, tzinfo=UTC),  # Paris falls back
    datetime(2025, 3, 9, 7, tzinfo=UTC),  # New York springs forward
    datetime(2025, 11, 2, 6, tzinfo=UTC),  # New York falls back
    datetime(2025, 4, 5, 15, tzinfo=UTC),  # Lord Howe: 30 minutes back
    datetime(2025, 10, 4, 15, 30, tzinfo=UTC),  # Lord Howe: 30 minutes forward
    datetime(2024, 2, 29, 12, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 30, tzinfo=UTC),
    datetime(2025, 1, 31, 22, tzinfo=UTC),
]

#: How far a range may reach, per interval, so that a series has at most a few
#: hundred buckets.
SPANS = {
    "hour": timedelta(days=4),
    "day": timedelta(days=70),
    "week": timedelta(days=400),
    "month": timedelta(days=1200),
    "year": timedelta(days=4000),
}


NAMED_ZONES = st.sampled_from(ZONES)
NEAR_ANCHORS = st.sampled_from(ANCHORS)


def make_meter(func: str) -> Meter:
    aggregation: Any
    if func == "count":
        aggregation = CountAggregation()
    elif func == "unique":
        aggregation = UniqueAggregation(property="v")
    else:
        aggregation = PropertyAggregation(func=func, property="v")
    return Meter(
        id=METER_ID,
        name="m",
        filter=Filter(),
        aggregation=aggregation,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def oracle_start(instant: datetime, zone: Any, interval: str) -> datetime:
    """The UTC instant of the local start of the bucket holding ``instant``."""
    local = instant.astimezone(zone)
    if interval == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)  # keeps fold
    else:
        day = local.date()
        if interval == "week":
            day = day - timedelta(days=day.weekday())
        elif interval == "month":
            day = date(day.year, day.month, 1)
        elif interval == "year":
            day = date(day.year, 1, 1)
        start = datetime.combine(day, time(), tzinfo=zone)
    return start.astimezone(UTC)


def oracle_quantity(func: str, readings: list[tuple[datetime, int]]) -> Fraction:
    """The aggregation of ``readings``, ``(moment, value)`` pairs in log order."""
    if not readings:
        return Fraction(0)
    if func == "latest":
        # The greatest moment, a tie to the later in log order: a stable sort
        # keeps log order among equal moments, so take the last.
        return Fraction(sorted(readings, key=lambda r: r[0])[-1][1])
    values = [value for _, value in readings]
    if func == "count":
        return Fraction(len(values))
    if func == "sum":
        return Fraction(sum(values))
    if func == "max":
        return Fraction(max(values))
    if func == "min":
        return Fraction(min(values))
    if func == "unique":
        return Fraction(len(set(values)))
    return Fraction(sum(values), len(values))


def close(got: Decimal, expected: Fraction) -> bool:
    # avg is rounded to 34 significant digits; everything else is exact.
    return abs(Fraction(got) - expected) <= Fraction(1, 10**30)


@st.composite
def series_inputs(
    draw: st.DrawFn,
    zones: st.SearchStrategy[Any] = NAMED_ZONES,
    anchors: st.SearchStrategy[datetime] = NEAR_ANCHORS,
) -> dict[str, Any]:
    interval = draw(st.sampled_from(INTERVALS))
    zone = draw(zones)
    span = SPANS[interval]
    anchor = draw(anchors)
    seconds = int(span.total_seconds())
    start = anchor + timedelta(seconds=draw(st.integers(-seconds, 0)))
    end = start + timedelta(seconds=draw(st.integers(0, seconds)))
    # Events from one span before start to one span after end, on whole minutes
    # (hour marks are hit often) or anywhere to the microsecond.
    reach = (end - start) + 2 * span
    minute_offsets = st.integers(0, int(reach.total_seconds()) // 60).map(
        lambda m: timedelta(minutes=m)
    )
    micro_offsets = st.integers(0, int(reach.total_seconds() * 10**6)).map(
        lambda us: timedelta(microseconds=us)
    )
    moments = st.one_of(minute_offsets, micro_offsets).map(lambda d: start - span + d)
    events = draw(
        st.lists(
            st.tuples(
                st.one_of(moments, st.sampled_from([start, end])), st.integers(0, 9)
            ),
            max_size=40,
        )
    )
    return {
        "interval": interval,
        "zone": zone,
        "start": start,
        "end": end,
        "events": events,
        "func": draw(st.sampled_from(FUNCS)),
    }


def run(inputs: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    zone = inputs["zone"]
    name = zone if isinstance(zone, str) else zone.key
    wire = [
        {"name": "e", "timestamp": moment, "metadata": {"v": value}}
        for moment, value in inputs["events"]
    ]
    series = quantities(
        make_meter(inputs["func"]),
        wire,
        start=inputs["start"],
        end=inputs["end"],
        interval=inputs["interval"],
        timezone=name,
    )
    return series, wire


def groups(
    inputs: dict[str, Any], start_of: Callable[[datetime], datetime]
) -> dict[datetime, list[tuple[datetime, int]]]:
    """The oracle's buckets of the events between the start's and the end's: each
    a list of ``(moment, value)``, in log order."""
    first, last = start_of(inputs["start"]), start_of(inputs["end"])
    found: dict[datetime, list[tuple[datetime, int]]] = {}
    for moment, value in inputs["events"]:
        key = start_of(moment)
        if first <= key <= last:
            found.setdefault(key, []).append((moment, value))
    return found


@given(series_inputs())
def test_series_agrees_with_the_local_time_oracle(inputs: dict[str, Any]) -> None:
    zone, interval, func = zone_of(inputs["zone"]), inputs["interval"], inputs["func"]

    def start_of(moment: datetime) -> datetime:
        return oracle_start(moment, zone, interval)

    series, _ = run(inputs)
    stamps = [q.timestamp for q in series.quantities]
    expected = groups(inputs, start_of)

    # The series runs from the start's bucket to the end's, in strictly increasing
    # order, and each timestamp is its own local truncation.
    assert stamps[0] == start_of(inputs["start"])
    assert stamps[-1] == start_of(inputs["end"])
    assert all(a < b for a, b in pairwise(stamps))
    assert all(start_of(stamp) == stamp for stamp in stamps)
    # No bucket is missing: the instant before each bucket is in the one before it.
    assert all(
        start_of(b - timedelta(microseconds=1)) == a for a, b in pairwise(stamps)
    )

    # Each bucket holds exactly the oracle's events of its local start.
    assert set(expected) <= set(stamps)
    for item in series.quantities:
        values = expected.get(item.timestamp, [])
        assert close(item.quantity, oracle_quantity(func, values))
    # Log order among equal moments survives: they share a bucket, whose list
    # keeps it.
    everything = [r for readings in expected.values() for r in readings]
    assert close(series.total, oracle_quantity(func, everything))


@given(series_inputs())
def test_buckets_partition_the_range(inputs: dict[str, Any]) -> None:
    inputs = {**inputs, "func": "count"}
    zone, interval = zone_of(inputs["zone"]), inputs["interval"]
    series, _ = run(inputs)
    in_range = groups(inputs, lambda moment: oracle_start(moment, zone, interval))
    # Each in-range event lands in exactly one bucket.
    assert sum(q.quantity for q in series.quantities) == sum(
        map(len, in_range.values())
    )
    assert series.total == sum(map(len, in_range.values()))
    # Events strictly between start and end are always in range.
    between = [m for m, _ in inputs["events"] if inputs["start"] <= m <= inputs["end"]]
    assert series.total >= len(between)


@given(series_inputs())
def test_a_range_around_every_event_totals_like_aggregate(
    inputs: dict[str, Any],
) -> None:
    moments = [m for m, _ in inputs["events"]] or [inputs["start"]]
    inputs = {**inputs, "start": min(moments), "end": max(moments)}
    series, wire = run(inputs)
    assert close(series.total, Fraction(aggregate(make_meter(inputs["func"]), wire)))


#: Instants across the history of the time zone database.
HISTORY = st.datetimes(
    min_value=datetime(1890, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


@given(series_inputs(zones=zone_infos(), anchors=HISTORY))
def test_any_iana_zone_keeps_the_invariants(inputs: dict[str, Any]) -> None:
    # Every zone of the database, with its odd history (LMT offsets in seconds,
    # skipped days, DST at midnight): the series is ordered, and the non-empty
    # buckets are the oracle's groups, in order.
    inputs = {**inputs, "func": "count"}
    zone, interval = inputs["zone"], inputs["interval"]
    series, _ = run(inputs)
    stamps = [q.timestamp for q in series.quantities]
    assert all(a < b for a, b in pairwise(stamps))
    expected = groups(inputs, lambda moment: oracle_start(moment, zone, interval))
    assert [q.quantity for q in series.quantities if q.quantity] == [
        len(expected[key]) for key in sorted(expected)
    ]


@given(
    timezone_name=st.text(max_size=40) | st.sampled_from(ZONES),
    interval=st.text(max_size=8) | st.sampled_from(INTERVALS),
    max_buckets=st.integers(-3, 3) | st.booleans() | st.floats(),
)
def test_bad_arguments_raise_meterkit_errors_only(
    timezone_name: str, interval: str, max_buckets: Any
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    errors: list[MeterkitError] = []
    try:
        series = quantities(
            make_meter("count"),
            [],
            start=start,
            end=start + timedelta(hours=2),
            interval=interval,
            timezone=timezone_name,
            max_buckets=max_buckets,
        )
    except MeterkitError as exc:
        errors.append(exc)
    if errors:
        assert errors[0].path in ("interval", "timezone", "max_buckets")
    else:
        assert interval in INTERVALS
        assert 1 <= len(series.quantities) <= max_buckets
