"""quantities() and build_subscription_meter(): example tables and every bad input.

Bucket starts are written as local wall-clock times with their UTC offset, worked
out by hand from the time zone rules (Paris leaves summer time on 2025-10-26 at
03:00 CEST, New York enters it on 2025-03-09 at 02:00 EST, Lord Howe shifts by 30
minutes at 02:00), not by the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import polar_sdk.models
import pytest

from meterkit import (
    CountAggregation,
    Event,
    Filter,
    FilterClause,
    InvalidTypeError,
    Meter,
    MeteredUnitPrice,
    MeterkitError,
    MeterQuantities,
    MeterQuantity,
    PropertyAggregation,
    SubscriptionMeter,
    UniqueAggregation,
    ValidationError,
    build_subscription_meter,
    from_dict,
    from_json,
    quantities,
    to_dict,
    to_json,
    usage,
)
from meterkit.timeseries import DEFAULT_MAX_BUCKETS

from .samples import CUSTOMER_ID, METER_ID, OBJECT_ID

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OTHER_METER_ID = "0e1b7a52-5a3c-4f7e-9a0e-3b1f4c2d5e6f"


def meter(func: str = "count", prop: str = "value") -> Meter:
    """A meter of events named "api": count, or ``func`` of metadata ``prop``."""
    aggregation: Any
    if func == "count":
        aggregation = CountAggregation()
    elif func == "unique":
        aggregation = UniqueAggregation(property=prop)
    else:
        aggregation = PropertyAggregation(func=func, property=prop)
    return Meter(
        id=METER_ID,
        name="API calls",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="api")]
        ),
        aggregation=aggregation,
        created_at=T0,
    )


def use(
    at: datetime | str, value: object = 1, customer: str = "acme", **extra: Any
) -> dict[str, Any]:
    """A wire usage event at ``at`` for the external customer ``customer``."""
    return {
        "name": "api",
        "timestamp": at,
        "external_customer_id": customer,
        "metadata": {"value": value},
        **extra,
    }


def credit(at: datetime, units: int, customer: str = "acme") -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "timestamp": at,
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": METER_ID, "units": units, "rollover": False},
    }


def reset(at: datetime, customer: str = "acme") -> dict[str, Any]:
    return {
        "name": "meter.reset",
        "timestamp": at,
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": METER_ID},
    }


def local(text: str, zone: str) -> datetime:
    """A local wall-clock time (first pass when repeated) in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def at(text: str) -> datetime:
    """An instant written with its offset, such as '2025-10-26T02:00+01:00'."""
    return datetime.fromisoformat(text).astimezone(UTC)


def stamps(series: MeterQuantities) -> list[datetime]:
    return [q.timestamp for q in series.quantities]


def values(series: MeterQuantities) -> list[Decimal]:
    return [q.quantity for q in series.quantities]


def count_series(
    events: Iterable[object] = (), *, func: str = "count", **kwargs: Any
) -> MeterQuantities:
    return quantities(meter(func), events, **kwargs)


# -- Bucket layout -----------------------------------------------------------------

LAYOUTS = [
    pytest.param(
        "UTC",
        "day",
        "2025-01-01T05:00",
        "2025-01-03T00:00",
        ["2025-01-01T00:00+00:00", "2025-01-02T00:00+00:00", "2025-01-03T00:00+00:00"],
        id="utc-days-start-truncated-end-included",
    ),
    pytest.param(
        "UTC",
        "day",
        "2025-01-01T00:00",
        "2025-01-01T00:00",
        ["2025-01-01T00:00+00:00"],
        id="utc-start-equals-end-one-bucket",
    ),
    pytest.param(
        "UTC",
        "month",
        "2025-01-01T00:00",
        "2025-03-01T00:00",
        ["2025-01-01T00:00+00:00", "2025-02-01T00:00+00:00", "2025-03-01T00:00+00:00"],
        id="spec-jan-1-to-mar-1-three-months",
    ),
    pytest.param(
        "UTC",
        "month",
        "2025-01-31T12:00",
        "2025-03-31T23:59",
        ["2025-01-01T00:00+00:00", "2025-02-01T00:00+00:00", "2025-03-01T00:00+00:00"],
        id="month-ends-jan-31-feb-28-mar-31",
    ),
    pytest.param(
        "UTC",
        "month",
        "2023-11-30T00:00",
        "2024-03-01T00:00",
        [
            "2023-11-01T00:00+00:00",
            "2023-12-01T00:00+00:00",
            "2024-01-01T00:00+00:00",
            "2024-02-01T00:00+00:00",
            "2024-03-01T00:00+00:00",
        ],
        id="months-across-a-year-end",
    ),
    pytest.param(
        "UTC",
        "day",
        "2024-02-28T00:00",
        "2024-03-01T00:00",
        ["2024-02-28T00:00+00:00", "2024-02-29T00:00+00:00", "2024-03-01T00:00+00:00"],
        id="leap-year-has-feb-29",
    ),
    pytest.param(
        "UTC",
        "day",
        "2025-02-28T00:00",
        "2025-03-01T00:00",
        ["2025-02-28T00:00+00:00", "2025-03-01T00:00+00:00"],
        id="common-year-has-no-feb-29",
    ),
    pytest.param(
        "UTC",
        "day",
        "2100-02-28T00:00",
        "2100-03-01T00:00",
        ["2100-02-28T00:00+00:00", "2100-03-01T00:00+00:00"],
        id="century-2100-is-not-leap",
    ),
    pytest.param(
        "UTC",
        "day",
        "2000-02-28T00:00",
        "2000-03-01T00:00",
        ["2000-02-28T00:00+00:00", "2000-02-29T00:00+00:00", "2000-03-01T00:00+00:00"],
        id="year-2000-is-leap",
    ),
    pytest.param(
        "UTC",
        "year",
        "2023-06-15T00:00",
        "2025-01-01T00:00",
        ["2023-01-01T00:00+00:00", "2024-01-01T00:00+00:00", "2025-01-01T00:00+00:00"],
        id="years",
    ),
    pytest.param(
        "UTC",
        "week",
        "2025-01-01T12:00",
        "2025-01-13T00:00",
        ["2024-12-30T00:00+00:00", "2025-01-06T00:00+00:00", "2025-01-13T00:00+00:00"],
        id="weeks-start-on-monday",
    ),
    pytest.param(
        "UTC",
        "week",
        "2025-01-05T23:59",
        "2025-01-12T23:59",
        ["2024-12-30T00:00+00:00", "2025-01-06T00:00+00:00"],
        id="sunday-is-the-last-day-of-a-week",
    ),
    pytest.param(
        "Europe/Paris",
        "day",
        "2025-10-25T12:00",
        "2025-10-27T00:00",
        ["2025-10-25T00:00+02:00", "2025-10-26T00:00+02:00", "2025-10-27T00:00+01:00"],
        id="paris-days-across-fall-back",
    ),
    pytest.param(
        "America/New_York",
        "day",
        "2025-03-08T00:00",
        "2025-03-10T00:00",
        ["2025-03-08T00:00-05:00", "2025-03-09T00:00-05:00", "2025-03-10T00:00-04:00"],
        id="new-york-days-across-spring-forward",
    ),
    pytest.param(
        "Europe/Paris",
        "month",
        "2025-10-15T00:00",
        "2025-11-15T00:00",
        ["2025-10-01T00:00+02:00", "2025-11-01T00:00+01:00"],
        id="paris-months-across-fall-back",
    ),
    pytest.param(
        "Europe/Paris",
        "week",
        "2025-10-22T00:00",
        "2025-10-29T00:00",
        ["2025-10-20T00:00+02:00", "2025-10-27T00:00+01:00"],
        id="paris-week-of-169-hours",
    ),
    pytest.param(
        "Asia/Kolkata",
        "day",
        "2025-01-01T00:00",
        "2025-01-02T00:00",
        ["2025-01-01T00:00+05:30", "2025-01-02T00:00+05:30"],
        id="kolkata-half-hour-offset",
    ),
    pytest.param(
        "Asia/Kolkata",
        "hour",
        "2025-01-01T00:10",
        "2025-01-01T01:50",
        ["2025-01-01T00:00+05:30", "2025-01-01T01:00+05:30"],
        id="kolkata-hours-on-the-local-hour",
    ),
    pytest.param(
        "America/New_York",
        "hour",
        "2025-03-09T00:00",
        "2025-03-09T04:00",
        [
            "2025-03-09T00:00-05:00",
            "2025-03-09T01:00-05:00",
            "2025-03-09T03:00-04:00",
            "2025-03-09T04:00-04:00",
        ],
        id="new-york-skipped-hour-has-no-bucket",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "hour",
        "2025-10-05T00:00",
        "2025-10-05T04:00",
        [
            "2025-10-05T00:00+10:30",
            "2025-10-05T01:00+10:30",
            # 02:00-02:30 is skipped: the bucket starts when 02:30 shows.
            "2025-10-05T02:30+11:00",
            "2025-10-05T03:00+11:00",
            "2025-10-05T04:00+11:00",
        ],
        id="lord-howe-half-hour-gap",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "hour",
        "2025-04-06T00:00",
        "2025-04-06T03:00",
        [
            "2025-04-06T00:00+11:00",
            # 01:30-02:00 repeats: the 01:00 bucket lasts 90 minutes.
            "2025-04-06T01:00+11:00",
            "2025-04-06T02:00+10:30",
            "2025-04-06T03:00+10:30",
        ],
        id="lord-howe-half-hour-repeat",
    ),
    pytest.param(
        "America/Sao_Paulo",
        "day",
        "2018-11-03T12:00",
        "2018-11-05T00:00",
        # Clocks went from 00:00 to 01:00 on 2018-11-04: that day starts at 01:00.
        ["2018-11-03T00:00-03:00", "2018-11-04T01:00-02:00", "2018-11-05T00:00-02:00"],
        id="sao-paulo-day-starting-in-a-gap",
    ),
]


@pytest.mark.parametrize(("zone", "interval", "start", "end", "expected"), LAYOUTS)
def test_bucket_layout(
    zone: str, interval: str, start: str, end: str, expected: list[str]
) -> None:
    series = count_series(
        start=local(start, zone),
        end=local(end, zone),
        interval=interval,
        timezone=zone,
    )
    assert stamps(series) == [at(text) for text in expected]
    assert all(q.timestamp.tzinfo is UTC for q in series.quantities)
    assert values(series) == [Decimal(0)] * len(expected)
    assert series.total == 0


def test_paris_fall_back_day_has_25_hourly_buckets() -> None:
    zone = "Europe/Paris"
    series = count_series(
        start=local("2025-10-26T00:00", zone),
        end=local("2025-10-26T23:59", zone),
        interval="hour",
        timezone=zone,
    )
    assert len(series.quantities) == 25
    # Every bucket is one hour long, and the day spans 25 of them.
    assert stamps(series)[0] == at("2025-10-26T00:00+02:00")
    assert stamps(series)[-1] == at("2025-10-26T23:00+01:00")
    gaps = {b - a for a, b in pairwise(stamps(series))}
    assert gaps == {timedelta(hours=1)}
    # The repeated 02:00 hour has one bucket per pass.
    assert at("2025-10-26T02:00+02:00") in stamps(series)
    assert at("2025-10-26T02:00+01:00") in stamps(series)


def test_new_york_spring_forward_day_has_23_hourly_buckets() -> None:
    zone = "America/New_York"
    series = count_series(
        start=local("2025-03-09T00:00", zone),
        end=local("2025-03-09T23:59", zone),
        interval="hour",
        timezone=zone,
    )
    assert len(series.quantities) == 23
    assert at("2025-03-09T01:00-05:00") in stamps(series)
    assert at("2025-03-09T03:00-04:00") in stamps(series)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(
            "1965-10-31T00:00-07:00",
            "1965-10-31T03:00-09:00",
            [
                "1965-10-31T00:00-07:00",
                "1965-10-31T01:00-07:00",
                "1965-10-31T00:00-09:00",
                "1965-10-31T01:00-09:00",
                "1965-10-31T02:00-09:00",
                "1965-10-31T03:00-09:00",
            ],
            id="both-passes-of-two-repeated-hours",
        ),
        pytest.param(
            "1965-10-31T01:30-07:00",
            "1965-10-31T01:30-09:00",
            [
                "1965-10-31T01:00-07:00",
                "1965-10-31T00:00-09:00",
                "1965-10-31T01:00-09:00",
            ],
            id="a-later-bucket-with-an-earlier-wall-clock-time",
        ),
        pytest.param(
            "1965-10-31T00:30-09:00",
            "1965-10-31T02:00-09:00",
            [
                "1965-10-31T00:00-09:00",
                "1965-10-31T01:00-09:00",
                "1965-10-31T02:00-09:00",
            ],
            id="start-in-the-second-pass",
        ),
    ],
)
def test_clocks_going_back_two_hours(start: str, end: str, expected: list[str]) -> None:
    # Whitehorse went from 02:00 -07:00 back to 00:00 -09:00 on 1965-10-31: the
    # second 00:00 comes after the first 01:00, and buckets follow time, not the
    # wall clock.
    series = count_series(
        start=at(start), end=at(end), interval="hour", timezone="America/Whitehorse"
    )
    assert stamps(series) == [at(text) for text in expected]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        pytest.param("Europe/Paris", "2025-10-26", 25, id="paris-fall-back"),
        pytest.param("Europe/Paris", "2025-03-30", 23, id="paris-spring-forward"),
        pytest.param("America/New_York", "2025-03-09", 23, id="new-york-spring"),
        pytest.param("America/New_York", "2025-11-02", 25, id="new-york-fall-back"),
        pytest.param("Australia/Lord_Howe", "2025-04-06", 24.5, id="lord-howe-back"),
        pytest.param("UTC", "2025-10-26", 24, id="utc"),
    ],
)
def test_day_bucket_length_follows_the_calendar(
    zone: str, day: str, hours: float
) -> None:
    start = local(f"{day}T12:00", zone)
    series = count_series(
        start=start, end=start + timedelta(days=1), interval="day", timezone=zone
    )
    first, second = stamps(series)
    assert second - first == timedelta(hours=hours)


# -- Which bucket an event lands in ------------------------------------------------

PLACEMENTS = [
    pytest.param(
        "Europe/Paris",
        "hour",
        "2025-10-26T00:30:00Z",  # 02:30 CEST, first pass
        "2025-10-26T02:00+02:00",
        id="paris-first-pass-of-repeated-hour",
    ),
    pytest.param(
        "Europe/Paris",
        "hour",
        "2025-10-26T01:30:00Z",  # 02:30 CET, second pass
        "2025-10-26T02:00+01:00",
        id="paris-second-pass-of-repeated-hour",
    ),
    pytest.param(
        "Europe/Paris",
        "day",
        "2025-10-26T22:59:59.999999Z",  # 23:59:59.999999 CET
        "2025-10-26T00:00+02:00",
        id="paris-last-instant-of-25-hour-day",
    ),
    pytest.param(
        "Europe/Paris",
        "day",
        "2025-10-26T23:00:00Z",
        "2025-10-27T00:00+01:00",
        id="paris-next-local-midnight",
    ),
    pytest.param(
        "America/New_York",
        "day",
        "2025-03-10T03:59:59Z",  # 23:59:59 EDT on the 23-hour day
        "2025-03-09T00:00-05:00",
        id="new-york-last-second-of-23-hour-day",
    ),
    pytest.param(
        "America/New_York",
        "day",
        "2025-03-09T04:59:59Z",  # 23:59:59 EST on Mar 8
        "2025-03-08T00:00-05:00",
        id="new-york-local-date-not-utc-date",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "hour",
        "2025-04-05T15:15:00Z",  # 01:45 +10:30, the second pass of 01:30-02:00
        "2025-04-06T01:00+11:00",
        id="lord-howe-repeated-half-hour-joins-its-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "hour",
        "2025-10-04T15:45:00Z",  # 02:45 +11:00, just after the gap
        "2025-10-05T02:30+11:00",
        id="lord-howe-after-gap",
    ),
    pytest.param(
        "UTC",
        "week",
        "2025-01-12T23:59:59Z",  # a Sunday
        "2025-01-06T00:00+00:00",
        id="sunday-in-the-week-of-monday",
    ),
    pytest.param(
        "UTC",
        "month",
        "2024-02-29T12:00:00Z",
        "2024-02-01T00:00+00:00",
        id="leap-day-in-february",
    ),
    pytest.param(
        "Asia/Kolkata",
        "day",
        "2025-01-01T18:29:59Z",  # 23:59:59 IST
        "2025-01-01T00:00+05:30",
        id="kolkata-end-of-day",
    ),
]


@pytest.mark.parametrize(("zone", "interval", "event_at", "bucket"), PLACEMENTS)
def test_event_lands_in_its_local_bucket(
    zone: str, interval: str, event_at: str, bucket: str
) -> None:
    moment = at(event_at.replace("Z", "+00:00"))
    series = count_series(
        [use(event_at)],
        start=moment - timedelta(days=1),
        end=moment + timedelta(days=1),
        interval=interval,
        timezone=zone,
    )
    hits = [q.timestamp for q in series.quantities if q.quantity]
    assert hits == [at(bucket)]
    assert series.total == 1


def test_wire_and_event_objects_and_offsets_agree() -> None:
    moment = datetime(2025, 1, 2, 3, tzinfo=UTC)
    events = [
        use("2025-01-02T03:00:00Z"),
        use("2025-01-02T05:00:00+02:00"),
        use(moment),
        Event(
            name="api",
            timestamp=moment,
            external_customer_id="acme",
            metadata={"value": 1},
        ),
    ]
    series = count_series(events, start=T0, end=T0 + timedelta(days=2), interval="day")
    assert values(series) == [0, 4, 0]


# -- Totals ------------------------------------------------------------------------

DAY1, DAY2, DAY3 = (T0 + timedelta(days=n, hours=12) for n in range(3))

TOTALS = [
    pytest.param("count", [(DAY1, 1), (DAY1, 1), (DAY3, 1)], [2, 0, 1], 3, id="count"),
    pytest.param(
        "sum", [(DAY1, 10), (DAY1, 2.5), (DAY3, 50)], ["12.5", 0, 50], "62.5", id="sum"
    ),
    pytest.param(
        "avg",
        [(DAY1, 10), (DAY1, 10), (DAY1, 10), (DAY3, 50)],
        [10, 0, 50],
        20,
        id="spec-avg-over-events-not-buckets",
    ),
    pytest.param(
        "max", [(DAY1, 5), (DAY1, 7), (DAY3, 2)], [7, 0, 2], 7, id="max-over-buckets"
    ),
    pytest.param(
        "min",
        [(DAY1, 5), (DAY1, 7), (DAY3, 2)],
        [5, 0, 2],
        2,
        id="min-skips-empty-buckets",
    ),
    pytest.param("min", [(DAY2, 4)], [0, 4, 0], 4, id="min-of-one-non-empty-bucket"),
    pytest.param(
        "unique",
        [(DAY1, "a"), (DAY1, "b"), (DAY2, "b"), (DAY3, "c"), (DAY3, 1), (DAY3, "1")],
        [2, 1, 3],
        5,  # a, b, c, 1 and "1"; the buckets sum to 6
        id="unique-over-all-events",
    ),
    pytest.param("sum", [], [0, 0, 0], 0, id="no-events"),
    pytest.param("min", [], [0, 0, 0], 0, id="min-no-events"),
    pytest.param("avg", [], [0, 0, 0], 0, id="avg-no-events"),
    pytest.param(
        "avg",
        [(DAY1, 1), (DAY1, 2), (DAY2, 2)],
        ["1.5", 2, 0],
        "1.666666666666666666666666666666667",
        id="avg-rounded-to-34-digits",
    ),
]


@pytest.mark.parametrize(("func", "events", "buckets", "total"), TOTALS)
def test_totals(
    func: str,
    events: list[tuple[datetime, object]],
    buckets: list[object],
    total: object,
) -> None:
    series = count_series(
        [use(moment, value) for moment, value in events],
        func=func,
        start=T0,
        end=T0 + timedelta(days=2),
        interval="day",
    )
    assert values(series) == [Decimal(str(b)) for b in buckets]
    assert series.total == Decimal(str(total))


# -- What counts -------------------------------------------------------------------


def test_events_outside_the_buckets_are_ignored() -> None:
    start = datetime(2025, 1, 10, 15, tzinfo=UTC)
    end = datetime(2025, 1, 11, 9, tzinfo=UTC)
    events = [
        use("2025-01-09T23:59:59.999999Z"),  # the day before start's bucket
        use("2025-01-10T00:00:00Z"),  # before start, in start's bucket: counts
        use("2025-01-10T15:00:00Z"),
        use("2025-01-11T23:59:59.999999Z"),  # after end, in end's bucket: counts
        use("2025-01-12T00:00:00Z"),  # the day after end's bucket
    ]
    series = count_series(events, start=start, end=end, interval="day")
    assert values(series) == [2, 1]
    assert series.total == 3


def test_customer_scope() -> None:
    upper = CUSTOMER_ID.upper()
    events = [
        use(DAY1, customer="acme"),
        use(DAY1, customer="globex"),
        use(DAY2, customer="globex", customer_id=upper),
        {"name": "api", "timestamp": DAY3, "customer_id": CUSTOMER_ID},
    ]
    kwargs: dict[str, Any] = {"start": T0, "end": DAY3, "interval": "day"}
    assert values(count_series(events, **kwargs)) == [2, 1, 1]
    assert values(count_series(events, external_customer_id="acme", **kwargs)) == [
        1,
        0,
        0,
    ]
    by_id = count_series(events, customer_id=CUSTOMER_ID, **kwargs)
    assert values(by_id) == [0, 1, 1]
    either = count_series(
        events, customer_id=CUSTOMER_ID, external_customer_id="acme", **kwargs
    )
    assert values(either) == [1, 1, 1]


def test_dedup_by_external_id_in_log_order() -> None:
    events = [
        use(DAY1, external_id="e1"),
        use(DAY2, external_id="e1"),  # a copy: does not count
        use(DAY2, external_id="e2"),
        use(DAY1, external_id="e3", customer="globex"),  # another customer
    ]
    series = count_series(
        events, start=T0, end=DAY3, interval="day", external_customer_id="acme"
    )
    assert values(series) == [1, 1, 0]


def test_dedup_sees_copies_outside_the_range() -> None:
    # The first copy lies before the range; the later copy inside it is the same
    # event and does not count, as in usage().
    events = [
        use(T0 - timedelta(days=5), external_id="e1"),
        use(DAY1, external_id="e1"),
    ]
    series = count_series(events, start=T0, end=DAY1, interval="day")
    assert values(series) == [0]


def test_credits_and_resets_do_not_change_quantities() -> None:
    events = [
        use(DAY1, 10),
        credit(DAY1, 100),
        reset(DAY2),
        use(DAY3, 5),
        credit(DAY3, -50),
    ]
    series = count_series(events, func="sum", start=T0, end=DAY3, interval="day")
    assert values(series) == [10, 0, 5]
    assert series.total == 15
    # usage() honours the reset; quantities are consumption only.
    assert usage(meter("sum"), events).consumed_units == 5


def test_filter_and_aggregation_property_decide_what_matches() -> None:
    events = [
        use(DAY1, 3),
        {**use(DAY1, 4), "name": "other"},  # fails the filter
        use(DAY1, "four"),  # not a number: does not match a sum meter
        {**use(DAY1, 5), "source": "system"},  # not consumption
    ]
    series = count_series(events, func="sum", start=T0, end=DAY1, interval="day")
    assert values(series) == [3]


def test_matches_total_consumed_units_of_usage() -> None:
    events = [use(T0 + timedelta(hours=7 * n), n % 5) for n in range(40)]
    series = count_series(
        events, func="sum", start=T0, end=T0 + timedelta(days=12), interval="day"
    )
    assert series.total == usage(meter("sum"), events).consumed_units == 80


def test_events_are_read_once_from_a_generator() -> None:
    def generate() -> Iterable[dict[str, Any]]:
        for n in range(1000):
            yield use(T0 + timedelta(minutes=n), 1)

    series = count_series(generate(), start=T0, end=T0, interval="day")
    assert values(series) == [1000]


# -- Bad input ---------------------------------------------------------------------


def _call(**changes: Any) -> MeterQuantities:
    kwargs: dict[str, Any] = {
        "start": T0,
        "end": T0 + timedelta(days=1),
        "interval": "day",
    }
    kwargs.update(changes)
    target = kwargs.pop("meter", meter())
    events = kwargs.pop("events", [])
    return quantities(target, events, **kwargs)


NAIVE = datetime(2025, 1, 1)

BAD_QUANTITIES_ARGS = [
    pytest.param({"meter": "tokens"}, InvalidTypeError, "meter", id="meter-not-meter"),
    pytest.param({"events": 5}, InvalidTypeError, "events", id="events-not-iterable"),
    pytest.param({"events": "abc"}, InvalidTypeError, "events", id="events-a-string"),
    pytest.param({"interval": "minute"}, ValidationError, "interval", id="minute"),
    pytest.param({"interval": "Day"}, ValidationError, "interval", id="interval-case"),
    pytest.param({"interval": None}, ValidationError, "interval", id="interval-none"),
    pytest.param(
        {"timezone": "Mars/Olympus_Mons"}, ValidationError, "timezone", id="tz-unknown"
    ),
    pytest.param(
        {"timezone": "../etc/passwd"}, ValidationError, "timezone", id="tz-bad-key"
    ),
    pytest.param({"timezone": ""}, ValidationError, "timezone", id="tz-empty"),
    pytest.param({"timezone": "Europe/"}, ValidationError, "timezone", id="tz-slash"),
    pytest.param({"timezone": "Europe"}, ValidationError, "timezone", id="tz-folder"),
    pytest.param(
        {"timezone": timezone.utc}, InvalidTypeError, "timezone", id="tz-not-a-name"
    ),
    pytest.param({"start": NAIVE}, ValidationError, "start", id="naive-start"),
    pytest.param(
        {"end": NAIVE + timedelta(days=1)}, ValidationError, "end", id="naive-end"
    ),
    pytest.param(
        {"start": "2025-01-01T00:00:00Z"}, InvalidTypeError, "start", id="start-text"
    ),
    pytest.param(
        {"end": T0 - timedelta(microseconds=1)},
        ValidationError,
        "end",
        id="end-before-start",
    ),
    pytest.param({"max_buckets": 0}, ValidationError, "max_buckets", id="max-zero"),
    pytest.param({"max_buckets": -5}, ValidationError, "max_buckets", id="max-neg"),
    pytest.param({"max_buckets": True}, InvalidTypeError, "max_buckets", id="max-bool"),
    pytest.param(
        {"max_buckets": 10.0}, InvalidTypeError, "max_buckets", id="max-float"
    ),
    pytest.param(
        {"max_buckets": "100"}, InvalidTypeError, "max_buckets", id="max-text"
    ),
    pytest.param(
        {"customer_id": "acme"}, ValidationError, "customer_id", id="customer-not-uuid"
    ),
    pytest.param(
        {"external_customer_id": ""},
        ValidationError,
        "external_customer_id",
        id="external-customer-empty",
    ),
    pytest.param(
        {
            "start": datetime.min.replace(tzinfo=UTC),
            "timezone": "America/New_York",
        },
        ValidationError,
        "start",
        id="start-before-datetime-min-locally",
    ),
]


@pytest.mark.parametrize(("changes", "error", "path"), BAD_QUANTITIES_ARGS)
def test_bad_arguments(
    changes: dict[str, Any], error: type[MeterkitError], path: str
) -> None:
    with pytest.raises(error) as info:
        _call(**changes)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert repr(changes[path]) in str(info.value)


def test_too_many_buckets_says_so_and_how_to_fix_it() -> None:
    kwargs: dict[str, Any] = {
        "start": T0,
        "end": T0 + timedelta(days=730),
        "interval": "hour",
    }
    with pytest.raises(ValidationError) as info:
        count_series(**kwargs)
    message = str(info.value)
    assert info.value.path == "max_buckets"
    assert f"more than {DEFAULT_MAX_BUCKETS} buckets" in message
    assert "pass a larger max_buckets" in message
    series = count_series(max_buckets=730 * 24 + 1, **kwargs)
    assert len(series.quantities) == 730 * 24 + 1


def test_max_buckets_is_inclusive() -> None:
    kwargs: dict[str, Any] = {"start": T0, "end": DAY3, "interval": "day"}
    assert len(count_series(max_buckets=3, **kwargs).quantities) == 3
    with pytest.raises(ValidationError, match="more than 2 buckets"):
        count_series(max_buckets=2, **kwargs)


def test_too_many_buckets_fails_fast_on_a_huge_range() -> None:
    with pytest.raises(ValidationError, match="max_buckets"):
        count_series(
            start=datetime(1, 1, 1, tzinfo=UTC),
            end=datetime(9999, 12, 31, tzinfo=UTC),
            interval="hour",
        )


def test_bad_event_is_named_by_its_position() -> None:
    events = [use(DAY1), use(DAY1, -3)]
    with pytest.raises(ValidationError) as info:
        count_series(events, func="sum", start=T0, end=DAY1, interval="day")
    assert info.value.path == "events[1].metadata.value"
    with pytest.raises(ValidationError) as info:
        count_series(
            [use(DAY1), use("2025-13-01T00:00:00Z")],
            start=T0,
            end=DAY1,
            interval="day",
        )
    assert info.value.path == "events[1].timestamp"


def test_default_timezone_needs_no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # "UTC" is served without zoneinfo, so the default works on a machine without
    # a time zone database.
    import meterkit._calendar as module

    def no_database(key: str) -> None:
        raise module.zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(module.zoneinfo, "ZoneInfo", no_database)
    series = count_series([use(DAY1)], start=T0, end=DAY1, interval="day")
    assert values(series) == [1]
    with pytest.raises(ValidationError, match="tzdata"):
        count_series(start=T0, end=DAY1, interval="day", timezone="Europe/Paris")


# -- The value types ---------------------------------------------------------------


def test_meter_quantity_normalises_and_validates() -> None:
    paris = datetime(2025, 1, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
    item = MeterQuantity(timestamp=paris, quantity=0.1)
    assert item.timestamp == T0
    assert item.timestamp.tzinfo is UTC
    assert item.quantity == Decimal("0.1")


@pytest.mark.parametrize(
    ("kwargs", "error", "path"),
    [
        pytest.param(
            {"timestamp": NAIVE, "quantity": 1},
            ValidationError,
            "timestamp",
            id="naive",
        ),
        pytest.param(
            {"timestamp": T0, "quantity": -1},
            ValidationError,
            "quantity",
            id="negative",
        ),
        pytest.param(
            {"timestamp": T0, "quantity": True}, InvalidTypeError, "quantity", id="bool"
        ),
        pytest.param(
            {"timestamp": T0, "quantity": float("nan")},
            ValidationError,
            "quantity",
            id="nan",
        ),
    ],
)
def test_meter_quantity_bad_fields(
    kwargs: dict[str, Any], error: type[MeterkitError], path: str
) -> None:
    with pytest.raises(error) as info:
        MeterQuantity(**kwargs)
    assert info.value.path == path
    assert repr(kwargs[path]) in str(info.value)


ONE = MeterQuantity(timestamp=T0, quantity=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "path"),
    [
        pytest.param(
            {"quantities": "ab", "total": 0}, InvalidTypeError, "quantities", id="str"
        ),
        pytest.param(
            {"quantities": {}, "total": 0}, InvalidTypeError, "quantities", id="dict"
        ),
        pytest.param(
            {"quantities": 3, "total": 0}, InvalidTypeError, "quantities", id="int"
        ),
        pytest.param(
            {"quantities": [ONE, {"quantity": 1}], "total": 0},
            InvalidTypeError,
            "quantities[1]",
            id="item-not-meter-quantity",
        ),
        pytest.param(
            {"quantities": [ONE], "total": -1}, ValidationError, "total", id="total"
        ),
    ],
)
def test_meter_quantities_bad_fields(
    kwargs: dict[str, Any], error: type[MeterkitError], path: str
) -> None:
    with pytest.raises(error) as info:
        MeterQuantities(**kwargs)
    assert info.value.path == path


def test_meter_quantities_takes_any_iterable_as_a_tuple() -> None:
    series = MeterQuantities(quantities=[ONE], total=1)
    assert series.quantities == (ONE,)
    assert MeterQuantities(quantities=iter([ONE]), total=1) == series


# -- Serialization -----------------------------------------------------------------


def _series() -> MeterQuantities:
    return count_series(
        [use(DAY1, 10), use(DAY1, 2.5), use(DAY3, 50)],
        func="avg",
        start=T0,
        end=DAY3,
        interval="day",
    )


def test_series_wire_shape() -> None:
    series = count_series(
        [use(DAY1, 10), use(DAY1, 2.5), use(DAY3, 50)],
        func="sum",
        start=T0,
        end=DAY3,
        interval="day",
    )
    expected = {
        "quantities": [
            {"timestamp": "2025-01-01T00:00:00Z", "quantity": 12.5},
            {"timestamp": "2025-01-02T00:00:00Z", "quantity": 0},
            {"timestamp": "2025-01-03T00:00:00Z", "quantity": 50},
        ],
        "total": 62.5,
    }
    assert to_dict(series) == expected
    assert to_dict(series, style="camel") == expected  # the same words in camelCase
    assert list(to_dict(series)) == ["quantities", "total"]
    assert list(to_dict(series)["quantities"][0]) == ["timestamp", "quantity"]
    assert to_json(series) == (
        '{"quantities":[{"timestamp":"2025-01-01T00:00:00Z","quantity":12.5},'
        '{"timestamp":"2025-01-02T00:00:00Z","quantity":0},'
        '{"timestamp":"2025-01-03T00:00:00Z","quantity":50}],"total":62.5}'
    )


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_series_round_trip(style: Any) -> None:
    series = count_series(
        [use(DAY1, 10), use(DAY1, 2.5), use(DAY3, 50)],
        func="sum",
        start=T0,
        end=DAY3,
        interval="day",
        timezone="Europe/Paris",
    )
    assert from_dict(MeterQuantities, to_dict(series, style=style), style=style) == (
        series
    )
    assert from_json(MeterQuantities, to_json(series, style=style), style=style) == (
        series
    )
    item = series.quantities[1]
    assert from_dict(MeterQuantity, to_dict(item, style=style), style=style) == item


def test_series_read_errors_name_the_json_path() -> None:
    bad_item = {"quantities": [{"timestamp": "2025-01-01T00:00:00", "quantity": 1}]}
    with pytest.raises(ValidationError, match=r"^\$\.quantities\[0\]\.timestamp: "):
        from_dict(MeterQuantities, {**bad_item, "total": 1})
    with pytest.raises(InvalidTypeError, match=r"^\$\.total: "):
        from_dict(MeterQuantities, {"quantities": [], "total": "1"})
    with pytest.raises(MeterkitError, match=r"^\$\.quantities: required key"):
        from_dict(MeterQuantities, {"total": 1})


def test_series_refuses_an_object_for_the_quantities_array() -> None:
    with pytest.raises(MeterkitError, match=r"^\$\.quantities: "):
        from_dict(MeterQuantities, {"quantities": {}, "total": 0})


def test_polar_sdk_reads_the_series() -> None:
    series = _series()
    model = polar_sdk.models.MeterQuantities.model_validate(to_dict(series))
    assert [q.timestamp for q in model.quantities] == stamps(series)
    assert [q.quantity for q in model.quantities] == [float(v) for v in values(series)]
    assert model.total == float(series.total)


# -- build_subscription_meter ------------------------------------------------------

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
PRICE = MeteredUnitPrice(unit_amount="0.5", meter_id=METER_ID)


def bill(
    events: Sequence[object],
    *,
    target: Meter | None = None,
    price: object = PRICE,
    **changes: Any,
) -> SubscriptionMeter:
    kwargs: dict[str, Any] = {
        "start": JAN,
        "end": FEB,
        "id": OBJECT_ID,
        "external_customer_id": "acme",
    }
    kwargs.update(changes)
    return build_subscription_meter(
        meter("sum") if target is None else target,
        price,  # type: ignore[arg-type]  # the bad-input tests pass other types
        events,
        **kwargs,
    )


def test_subscription_meter_example() -> None:
    events = [
        use(JAN + timedelta(days=1), 300),
        credit(JAN + timedelta(days=2), 100),
        use(JAN + timedelta(days=3), 50.5),
        use(JAN + timedelta(days=3), 1000, customer="globex"),
    ]
    sm = bill(events)
    assert sm == SubscriptionMeter(
        created_at=JAN,
        modified_at=None,
        id=OBJECT_ID,
        consumed_units=Decimal("350.5"),
        credited_units=100,
        amount=125,  # 0.5 cents x 250.5 billable = 125.25, rounded
        meter_id=METER_ID,
    )


@pytest.mark.parametrize(
    ("moment", "counted"),
    [
        pytest.param(JAN - timedelta(microseconds=1), False, id="before-start"),
        pytest.param(JAN, True, id="at-start"),
        pytest.param(FEB - timedelta(microseconds=1), True, id="last-instant"),
        pytest.param(FEB, False, id="at-end-excluded"),
        pytest.param(
            datetime(2025, 2, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
            False,
            id="end-in-another-zone",
        ),
    ],
)
def test_subscription_period_is_half_open(moment: datetime, counted: bool) -> None:
    sm = bill([use(moment, 10), credit(moment, 4)])
    assert sm.consumed_units == (10 if counted else 0)
    assert sm.credited_units == (4 if counted else 0)
    assert sm.amount == (3 if counted else 0)  # 0.5 x 6 = 3 cents


def test_subscription_reset_in_period_wipes_what_came_before() -> None:
    events = [
        use(JAN + timedelta(days=1), 100),
        credit(JAN + timedelta(days=1), 50),
        reset(JAN + timedelta(days=2)),
        use(JAN + timedelta(days=3), 20),
        reset(FEB + timedelta(days=1)),  # after the period: no effect
    ]
    sm = bill(events)
    assert (sm.consumed_units, sm.credited_units, sm.amount) == (20, 0, 10)


def test_subscription_dedup_runs_over_the_whole_log() -> None:
    events = [
        use(JAN - timedelta(minutes=1), 100, external_id="e1"),  # last period
        use(JAN + timedelta(minutes=1), 100, external_id="e1"),  # its copy
        use(JAN + timedelta(minutes=2), 30, external_id="e2"),
        use(JAN + timedelta(minutes=3), 30, external_id="e2"),
    ]
    assert bill(events).consumed_units == 30


def test_subscription_cap_and_stamps() -> None:
    capped = MeteredUnitPrice(unit_amount=100, cap_amount=500, meter_id=METER_ID)
    paris = datetime(2025, 1, 15, 12, tzinfo=ZoneInfo("Europe/Paris"))
    sm = bill(
        [use(JAN, 10)],
        price=capped,
        created_at=paris,
        modified_at=paris,
        customer_id=CUSTOMER_ID.upper(),
        external_customer_id=None,
    )
    assert sm.amount == 0  # the event is acme's, not CUSTOMER_ID's
    sm = bill([use(JAN, 10, customer_id=CUSTOMER_ID)], price=capped)
    assert sm.amount == 500
    sm = bill([], price=capped, created_at=paris, modified_at=paris)
    assert sm.created_at == sm.modified_at == datetime(2025, 1, 15, 11, tzinfo=UTC)


def test_subscription_matches_usage_of_the_period() -> None:
    events = [use(JAN + timedelta(hours=13 * n), n % 7) for n in range(120)]
    events += [credit(JAN + timedelta(days=n), 10) for n in range(0, 60, 9)]
    in_period = [e for e in events if JAN <= e["timestamp"] < FEB]
    expected = usage(meter("sum"), in_period, external_customer_id="acme")
    sm = bill(events)
    assert sm.consumed_units == expected.consumed_units
    assert sm.credited_units == expected.credited_units
    assert sm.amount > 0


BAD_SUBSCRIPTION_ARGS = [
    pytest.param({"target": "m"}, InvalidTypeError, "meter", "'m'", id="meter"),
    pytest.param({"price": 5}, InvalidTypeError, "price", "5", id="price-type"),
    pytest.param(
        {"price": MeteredUnitPrice(unit_amount=1, meter_id=OTHER_METER_ID)},
        ValidationError,
        "price.meter_id",
        repr(OTHER_METER_ID),
        id="price-of-another-meter",
    ),
    pytest.param(
        {"start": datetime(2025, 1, 1)},
        ValidationError,
        "start",
        "datetime.datetime(2025, 1, 1, 0, 0)",
        id="naive-start",
    ),
    pytest.param(
        {"end": datetime(2025, 2, 1)},
        ValidationError,
        "end",
        "datetime.datetime(2025, 2, 1, 0, 0)",
        id="naive-end",
    ),
    pytest.param({"end": JAN}, ValidationError, "end", "would be empty", id="empty"),
    pytest.param(
        {"end": JAN - timedelta(days=1)},
        ValidationError,
        "end",
        "must not be before start",
        id="backwards",
    ),
    pytest.param({"id": "sub-1"}, ValidationError, "id", "'sub-1'", id="id"),
    pytest.param(
        {"created_at": datetime(2025, 1, 1)},
        ValidationError,
        "created_at",
        "datetime.datetime(2025, 1, 1, 0, 0)",
        id="naive-created-at",
    ),
    pytest.param(
        {"modified_at": "2025-01-01"},
        InvalidTypeError,
        "modified_at",
        "'2025-01-01'",
        id="modified-at-text",
    ),
    pytest.param(
        {"external_customer_id": None},
        ValidationError,
        "customer_id",
        "give customer_id or external_customer_id",
        id="no-customer",
    ),
    pytest.param(
        {"customer_id": 7}, InvalidTypeError, "customer_id", "7", id="customer-id"
    ),
]


@pytest.mark.parametrize(("changes", "error", "path", "shown"), BAD_SUBSCRIPTION_ARGS)
def test_subscription_bad_arguments(
    changes: dict[str, Any], error: type[MeterkitError], path: str, shown: str
) -> None:
    with pytest.raises(error) as info:
        bill([use(JAN, 1)], **changes)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert shown in str(info.value)


def test_subscription_errors_name_the_callers_event_position() -> None:
    bad_credit = credit(JAN + timedelta(days=1), 0)
    bad_credit["metadata"]["units"] = "10"
    events = [use(JAN - timedelta(days=3)), use(FEB), bad_credit]
    with pytest.raises(InvalidTypeError) as info:
        bill(events)
    assert info.value.path == "events[2].metadata.units"
    with pytest.raises(ValidationError) as info_value:
        bill([use(FEB), use(JAN, -1)])
    assert info_value.value.path == "events[1].metadata.value"


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_subscription_meter_round_trip(style: Any) -> None:
    sm = bill([use(JAN, 12.25), credit(JAN, 2)], modified_at=FEB)
    document = to_dict(sm, style=style)
    assert from_dict(SubscriptionMeter, document, style=style) == sm
    assert document["consumed_units" if style == "wire" else "consumedUnits"] == 12.25


def test_polar_sdk_reads_the_subscription_meter() -> None:
    sm = bill([use(JAN, 300), credit(JAN, 100)])
    model = polar_sdk.models.CustomerStateSubscriptionMeter.model_validate(to_dict(sm))
    assert model.amount == sm.amount == 100
    assert model.credited_units == 100
    assert model.consumed_units == 300
    assert model.meter_id == METER_ID
    assert model.created_at == JAN
