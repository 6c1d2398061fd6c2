"""The ``latest`` gauge: SPEC.md section 6, worked out by hand.

``PropertyAggregation(func="latest", property=...)`` is the property's value on the
matching event with the greatest timestamp; of equal timestamps the later event in
log order wins. Every expected number below is written out from that rule, never
computed by meterkit. Each table row is one case, with an id.
"""

from __future__ import annotations

import itertools
import json
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterkit import (
    AggregateAccumulator,
    CreditGrant,
    Event,
    Filter,
    FilterClause,
    InvalidTypeError,
    Meter,
    MeteredUnitPrice,
    MeterkitError,
    MissingFieldError,
    PropertyAggregation,
    Usage,
    UsageAccumulator,
    UsageByCustomer,
    ValidationError,
    aggregate,
    build_subscription_meter,
    burn_down,
    explain,
    from_dict,
    from_json,
    matches,
    quantities,
    to_dict,
    to_json,
    usage,
    usage_by_customer,
)
from meterkit.cli import main

from .samples import CUSTOMER_ID, METER_ID, OBJECT_ID, T0

UTC = timezone.utc
OTHER_METER_ID = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
SEATS = Meter(
    id=METER_ID,
    name="Seats",
    filter=Filter(
        clauses=[FilterClause(property="name", operator="eq", value="seats")]
    ),
    aggregation=PropertyAggregation(func="latest", property="seats"),
    created_at=T0,
)


def at(day: int, hour: int = 0) -> str:
    """``2025-01-<day>T<hour>:00:00Z``."""
    return f"2025-01-{day:02d}T{hour:02d}:00:00Z"


def seats(
    when: str, value: object, customer: str | None = "acme", **extra: Any
) -> dict[str, Any]:
    """A reading of the gauge: ``value`` seats at ``when`` (a missing value when
    ``value`` is `MISSING`)."""
    return {
        "name": "seats",
        "timestamp": when,
        "external_customer_id": customer,
        "metadata": {} if value is MISSING else {"seats": value},
        **extra,
    }


MISSING: Any = object()


def reset(
    when: str = at(1), customer: str | None = "acme", **extra: Any
) -> dict[str, Any]:
    return {
        "name": "meter.reset",
        "timestamp": when,
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": METER_ID},
        **extra,
    }


def credit(
    units: int, rollover: bool = False, customer: str = "acme"
) -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "timestamp": at(1),
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": METER_ID, "units": units, "rollover": rollover},
    }


def as_event(mapping: dict[str, Any]) -> Event:
    fields = dict(mapping)
    fields["timestamp"] = datetime.fromisoformat(
        fields["timestamp"].replace("Z", "+00:00")
    )
    return Event(**fields)


def expect(
    consumed: str, credited: int = 0, balance: str = "0", rollover: int = 0
) -> Usage:
    return Usage(
        consumed_units=Decimal(consumed),
        credited_units=credited,
        balance=Decimal(balance),
        rollover_units=rollover,
    )


# -- aggregate: the reading with the greatest timestamp ----------------------------

AGGREGATE = [
    pytest.param([], "0", id="no-reading-is-0"),
    pytest.param([seats(at(1), 5)], "5", id="one-reading"),
    pytest.param(
        [seats(at(1), 5), seats(at(2), 7), seats(at(3), 3)], "3", id="falls-unlike-max"
    ),
    pytest.param(
        [seats(at(3), 3), seats(at(1), 9)], "3", id="older-reading-later-in-log"
    ),
    pytest.param(
        [seats(at(2), 4), seats(at(3), 8), seats(at(1), 9), seats(at(2), 1)],
        "8",
        id="out-of-order-log",
    ),
    pytest.param([seats(at(2), 4), seats(at(2), 6)], "6", id="tie-later-in-log-wins"),
    pytest.param([seats(at(2), 6), seats(at(2), 4)], "4", id="tie-later-in-log-wins-2"),
    pytest.param(
        [seats(at(2), 6), seats(at(1), 9), seats(at(2), 4), seats(at(1), 1)],
        "4",
        id="tie-at-the-top-older-ones-between",
    ),
    pytest.param(
        [seats(at(2), 6), seats(at(2), 4), seats(at(2), 0)], "0", id="tie-of-three"
    ),
    pytest.param(
        [seats("2025-01-02T10:00:00Z", 6), seats("2025-01-02T05:00:00-05:00", 4)],
        "4",
        id="tie-written-with-two-offsets",
    ),
    pytest.param(
        [seats("2025-01-02T09:00:00-05:00", 6), seats("2025-01-02T12:00:00Z", 4)],
        "6",
        id="offsets-compare-as-instants-not-text",
    ),
    pytest.param(
        [seats("2025-01-02T10:00:00.000001Z", 6), seats("2025-01-02T10:00:00Z", 4)],
        "6",
        id="a-microsecond-later-wins",
    ),
    pytest.param([seats(at(1), 5), seats(at(2), 0)], "0", id="zero-is-a-level"),
    pytest.param(
        [seats(at(1), 2.5), seats(at(2), 0.1)], "0.1", id="float-shortest-repr"
    ),
    pytest.param(
        [
            seats(at(1), 5),
            seats(at(2), True),
            seats(at(3), "7"),
            seats(at(4), None),
            seats(at(5), MISSING),
            seats(at(6), [8]),
        ],
        "5",
        id="not-a-number-does-not-match",
    ),
    pytest.param(
        [seats(at(1), 5), {**seats(at(2), 9), "name": "api"}],
        "5",
        id="filtered-out",
    ),
    pytest.param(
        [seats(at(1), 5), {**seats(at(2), 9), "source": "system"}],
        "5",
        id="system-event-never-matches",
    ),
    pytest.param(
        [seats(at(1), 5, external_id="a"), seats(at(3), 9, external_id="a")],
        "5",
        id="dedup-the-first-copy-counts-even-when-older",
    ),
    pytest.param(
        [
            seats(at(2), 5, external_id="a"),
            seats(at(2), 6),
            seats(at(2), 7, external_id="a"),
        ],
        "6",
        id="dedup-a-dropped-copy-does-not-win-a-tie",
    ),
    pytest.param(
        [seats(at(2), 5), reset(at(3)), seats(at(1), 2), credit(10)],
        "5",
        id="resets-and-credits-do-not-change-aggregate",
    ),
    pytest.param(
        [seats(at(1), 5), seats(at(2), 3, customer="globex"), seats(at(1), 4, None)],
        "3",
        id="every-customer",
    ),
]


@pytest.mark.parametrize(("events", "expected"), AGGREGATE)
def test_aggregate(events: list[dict[str, Any]], expected: str) -> None:
    assert aggregate(SEATS, events) == Decimal(expected)
    assert aggregate(SEATS, [as_event(e) for e in events]) == Decimal(expected)
    # One event at a time, and from a generator: the same fold.
    accumulator = AggregateAccumulator(SEATS)
    for event in events:
        accumulator.add(event)
    assert accumulator.value() == Decimal(expected)
    assert aggregate(SEATS, (e for e in events)) == Decimal(expected)


def test_aggregate_of_no_matching_event_is_a_decimal_zero() -> None:
    result = aggregate(SEATS, [seats(at(1), "9")])
    assert result == 0
    assert type(result) is Decimal


# -- usage: only events after the last reset, in log order -------------------------

USAGE = [
    pytest.param(
        [seats(at(5), 9), reset(at(1)), seats(at(2), 3)],
        expect("3"),
        id="reset-in-log-order-wipes-a-newer-reading",
    ),
    pytest.param(
        [seats(at(1), 9), reset(at(9)), seats(at(2), 3)],
        expect("3"),
        id="the-reset-timestamp-does-not-matter",
    ),
    pytest.param([seats(at(1), 9), reset()], expect("0"), id="nothing-after-the-reset"),
    pytest.param(
        [seats(at(1), 1), reset(), seats(at(4), 4), reset(), seats(at(2), 2)],
        expect("2"),
        id="the-last-reset-counts",
    ),
    pytest.param(
        [seats(at(1), 9), reset(), seats(at(3), 3), seats(at(2), 8)],
        expect("3"),
        id="older-reading-after-the-reset",
    ),
    pytest.param(
        [reset(), seats(at(2), 4), seats(at(2), 6)],
        expect("6"),
        id="tie-after-the-reset",
    ),
    pytest.param(
        [seats(at(2), 9), reset(), seats(at(2), 4)],
        expect("4"),
        id="tie-across-the-reset-only-the-later-counts",
    ),
    pytest.param(
        [seats(at(1), 5, external_id="a"), reset(), seats(at(2), 9, external_id="a")],
        expect("0"),
        id="dedup-the-id-stays-taken-after-the-reset",
    ),
    pytest.param(
        [seats(at(1), 5), seats(at(9), 7, customer="globex")],
        expect("5"),
        id="another-customer-newer-reading",
    ),
    pytest.param(
        [seats(at(1), 5), reset(customer="globex")],
        expect("5"),
        id="another-customer-reset",
    ),
    pytest.param(
        [seats(at(1), 5), {**reset(), "metadata": {"meter_id": OTHER_METER_ID}}],
        expect("5"),
        id="another-meter-reset",
    ),
    pytest.param(
        [credit(10), seats(at(1), 4)],
        expect("4", 10, "6"),
        id="credits-less-the-level",
    ),
    pytest.param(
        [
            seats(at(1), 20),
            reset(),
            seats(at(1), 10),
            seats(at(1), 10),
            seats(at(1), 0),
            credit(10),
        ],
        expect("0", 10, "10"),
        id="spec-reference-log-all-at-one-instant",
    ),
    pytest.param(
        [credit(80), credit(60, rollover=True), seats(at(2), 100), seats(at(1), 150)],
        expect("100", 140, "40", 40),
        id="rollover-from-the-level",
    ),
]


@pytest.mark.parametrize(("events", "expected"), USAGE)
def test_usage(events: list[dict[str, Any]], expected: Usage) -> None:
    assert usage(SEATS, events, external_customer_id="acme") == expected
    objects = [as_event(e) for e in events]
    assert usage(SEATS, objects, external_customer_id="acme") == expected
    by_customer = usage_by_customer(SEATS, events, by="external_customer_id")
    assert by_customer["acme"] == expected


# -- Ties survive every way of folding the log in pieces ---------------------------

#: Logs whose answer hangs on a tie, and what it is.
TIES = [
    pytest.param(
        [seats(at(2), 4), seats(at(1), 9), seats(at(2), 6), seats(at(1), 1)],
        "6",
        id="tie",
    ),
    pytest.param(
        [
            seats(at(2), 5, external_id="a"),
            seats(at(2), 6),
            seats(at(2), 7, external_id="a"),
            seats(at(2), 3, external_id="b"),
            seats(at(1), 8),
        ],
        "3",
        id="tie-with-dedup",
    ),
    pytest.param(
        [
            seats(at(2), 5, external_id="a"),
            seats(at(2), 6),
            seats(at(2), 7, external_id="a"),
        ],
        "6",
        id="a-dropped-copy-last",
    ),
    pytest.param(
        [seats(at(3), 2), seats(at(3), 1, external_id="a"), seats(at(2), 9)],
        "1",
        id="the-winner-holds-an-id",
    ),
]


def splits(events: list[Any]) -> list[list[list[Any]]]:
    """Every way to cut ``events`` into two or three consecutive chunks."""
    n = len(events)
    result = []
    for cuts in itertools.chain(
        itertools.combinations_with_replacement(range(n + 1), 1),
        itertools.combinations_with_replacement(range(n + 1), 2),
    ):
        bounds = [0, *cuts, n]
        result.append([events[a:b] for a, b in itertools.pairwise(bounds)])
    return result


@pytest.mark.parametrize(("events", "expected"), TIES)
def test_ties_survive_usage_accumulator_merges(
    events: list[dict[str, Any]], expected: str
) -> None:
    assert usage(SEATS, events).consumed_units == Decimal(expected)
    for chunks in splits(events):
        parts = []
        for number, chunk in enumerate(chunks):
            part = UsageAccumulator(SEATS, at_start=number == 0)
            part.update(chunk)
            parts.append(pickle.loads(pickle.dumps(part)))
        groupings = [merge_left_to_right(parts)]
        if len(parts) == 3:
            groupings.append(parts[0].merge(parts[1].merge(parts[2])))
        for merged in groupings:
            assert merged.usage().consumed_units == Decimal(expected), chunks


@pytest.mark.parametrize(("events", "expected"), TIES)
def test_ties_survive_aggregate_accumulator_merges(
    events: list[dict[str, Any]], expected: str
) -> None:
    assert aggregate(SEATS, events) == Decimal(expected)
    for chunks in splits(events):
        parts = []
        for chunk in chunks:
            part = AggregateAccumulator(SEATS)
            part.update(chunk)
            parts.append(pickle.loads(pickle.dumps(part)))
        assert merge_left_to_right(parts).value() == Decimal(expected), chunks
        if len(parts) == 3:
            right = parts[0].merge(parts[1].merge(parts[2]))
            assert right.value() == Decimal(expected), chunks


def merge_left_to_right(parts: list[Any]) -> Any:
    """``((p0 . p1) . p2)``: left to right."""
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    return merged


def test_a_merge_drops_a_later_copy_that_would_have_won_the_tie() -> None:
    # Folded alone, the second chunk's latest is its last reading, 7; behind the
    # first chunk that copy of "a" is a duplicate, so the level is 6.
    first = [seats(at(2), 5, external_id="a")]
    later = [seats(at(2), 6), seats(at(2), 7, external_id="a")]
    head, tail = UsageAccumulator(SEATS), UsageAccumulator(SEATS, at_start=False)
    head.update(first)
    tail.update(later)
    assert tail.usage().consumed_units == 7
    assert head.merge(tail).usage().consumed_units == 6
    x, y = AggregateAccumulator(SEATS), AggregateAccumulator(SEATS)
    x.update(first)
    y.update(later)
    assert y.value() == 7
    assert x.merge(y).value() == 6


def test_aggregate_accumulator_merge_order_decides_a_tie() -> None:
    # Without shared ids a merge of count or sum commutes; for latest, the order of
    # the chunks is the log order that breaks a tie.
    x, y = AggregateAccumulator(SEATS), AggregateAccumulator(SEATS)
    x.update([seats(at(2), 4)])
    y.update([seats(at(2), 6)])
    assert x.merge(y).value() == 6
    assert y.merge(x).value() == 4
    # Distinct timestamps: either order gives the newest reading.
    z = AggregateAccumulator(SEATS)
    z.update([seats(at(1), 9)])
    assert x.merge(z).value() == z.merge(x).value() == 4


def test_a_reset_in_a_later_chunk_wipes_a_newer_reading() -> None:
    head = UsageAccumulator(SEATS)
    head.update([seats(at(9), 9)])
    tail = UsageAccumulator(SEATS, at_start=False)
    tail.update([reset(), seats(at(1), 2)])
    assert head.merge(tail).usage().consumed_units == 2


BY_CUSTOMER_LOG = [
    seats(at(2), 5),
    seats(at(2), 1, customer="globex"),
    seats(at(2), 6),
    seats(at(1), 9, customer="globex"),
    seats(at(1), 8),
    seats(at(3), 0, customer="zeta"),
    reset(customer="zeta"),
    seats(at(1), 2, customer="zeta"),
]
BY_CUSTOMER = {"acme": Decimal(6), "globex": Decimal(1), "zeta": Decimal(2)}


def test_usage_by_customer_breaks_ties_in_log_order() -> None:
    result = usage_by_customer(SEATS, BY_CUSTOMER_LOG, by="external_customer_id")
    assert {k: u.consumed_units for k, u in result.items()} == BY_CUSTOMER
    for key, expected in BY_CUSTOMER.items():
        assert usage(SEATS, BY_CUSTOMER_LOG, external_customer_id=key) == result[key]
        assert result[key].consumed_units == expected
    # In pieces, one event at a time, and as Event objects: the same.
    folds = UsageByCustomer(SEATS, by="external_customer_id")
    folds.update(BY_CUSTOMER_LOG[:3])
    for event in BY_CUSTOMER_LOG[3:]:
        folds.add(as_event(event))
    assert folds.result() == result


def test_usage_by_customer_id_breaks_ties_in_log_order() -> None:
    log = [
        {**seats(at(2), 3, None), "customer_id": CUSTOMER_ID},
        {**seats(at(2), 4, None), "customer_id": CUSTOMER_ID.upper()},
        {**seats(at(1), 7, None), "customer_id": CUSTOMER_ID},
    ]
    assert usage_by_customer(SEATS, log) == {CUSTOMER_ID: expect("4")}


# -- quantities: each bucket's latest, the total the latest over the range ---------

JAN_1 = datetime(2025, 1, 1, tzinfo=UTC)

QUANTITIES = [
    pytest.param([], ["0", "0", "0", "0"], "0", id="no-reading"),
    pytest.param(
        [
            seats(at(1, 10), 5),
            seats(at(1, 8), 9),  # older, later in the log
            seats(at(3, 12), 2),
            seats(at(3, 12), 4),  # a tie: the later in log order
            seats(at(5), 99),  # after the range
            seats("2024-12-31T23:00:00Z", 98),  # before it
        ],
        ["5", "0", "4", "0"],
        "4",
        id="latest-per-bucket-empty-buckets-0",
    ),
    pytest.param(
        [seats(at(1), 7), seats(at(3), 0)],
        ["7", "0", "0", "0"],
        "0",
        id="total-is-the-newest-reading-even-when-0",
    ),
    pytest.param(
        [seats(at(3), 2), seats(at(1), 9)],
        ["9", "0", "2", "0"],
        "2",
        id="total-is-the-newest-not-the-last-logged",
    ),
    pytest.param(
        [seats(at(2), 5), reset(at(3)), seats(at(1), 3)],
        ["3", "5", "0", "0"],
        "5",
        id="resets-do-not-change-quantities",
    ),
    pytest.param(
        [seats(at(4, 23), 1, external_id="a"), seats(at(4, 23), 8, external_id="a")],
        ["0", "0", "0", "1"],
        "1",
        id="dedup-a-later-copy-never-counts",
    ),
    pytest.param(
        [seats(at(2), 5), seats(at(2, 1), 6, customer="globex")],
        ["0", "5", "0", "0"],
        "5",
        id="only-the-customer",
    ),
]


@pytest.mark.parametrize(("events", "buckets", "total"), QUANTITIES)
def test_quantities(
    events: list[dict[str, Any]], buckets: list[str], total: str
) -> None:
    series = quantities(
        SEATS,
        events,
        start=JAN_1,
        end=JAN_1 + timedelta(days=3),
        interval="day",
        external_customer_id="acme",
    )
    assert [q.timestamp for q in series.quantities] == [
        JAN_1 + timedelta(days=d) for d in range(4)
    ]
    assert [q.quantity for q in series.quantities] == [Decimal(b) for b in buckets]
    assert series.total == Decimal(total)


def test_quantities_buckets_in_a_time_zone() -> None:
    # 23:30 UTC on Jan 1 is 00:30 on Jan 2 in Paris: the newest reading of Jan 1
    # (Paris) is the one at 22:30 UTC, though it was logged first.
    events = [
        seats("2025-01-01T22:30:00Z", 3),
        seats("2025-01-01T23:30:00Z", 8),
        seats("2025-01-01T10:00:00Z", 1),
    ]
    series = quantities(
        SEATS,
        events,
        start=datetime(2025, 1, 1, 12, tzinfo=UTC),
        end=datetime(2025, 1, 2, 12, tzinfo=UTC),
        interval="day",
        timezone="Europe/Paris",
    )
    assert [(q.timestamp.isoformat(), q.quantity) for q in series.quantities] == [
        ("2024-12-31T23:00:00+00:00", Decimal(3)),
        ("2025-01-01T23:00:00+00:00", Decimal(8)),
    ]
    assert series.total == 8


def test_a_billing_period_bills_the_level_of_its_newest_reading() -> None:
    # Readings outside [start, end) do not count, whatever their place in the log.
    log = [
        seats(at(3), 5),
        seats(at(20), 8),
        seats(at(10), 12),  # older, logged later
        seats("2025-02-01T00:00:00Z", 30),  # the end is excluded
        seats("2024-12-31T23:59:59Z", 40),  # before the start
    ]
    price = MeteredUnitPrice(unit_amount="1000", meter_id=METER_ID)
    subscription = build_subscription_meter(
        SEATS,
        price,
        log,
        start=JAN_1,
        end=datetime(2025, 2, 1, tzinfo=UTC),
        id=OBJECT_ID,
        external_customer_id="acme",
    )
    assert subscription.consumed_units == 8
    assert subscription.amount == 8000


# -- explain: no units, a note for an older reading --------------------------------


def test_explain_gives_no_units_and_notes_older_readings() -> None:
    events = [
        seats(at(9), 9),
        reset(),
        seats(at(2), 5),
        seats(at(1), 7),  # older than the reading before it: not the level
        seats(at(2), 4),  # a tie: the later wins, so it is the level
        seats(at(3), 6, external_id="a"),
        seats(at(4), 1, external_id="a"),
    ]
    entries = explain(SEATS, events, external_customer_id="acme")
    rows = [(e.kind, e.units, e.value, e.consumed_units, e.describe()) for e in entries]
    assert rows == [
        (
            "before_reset",
            None,
            Decimal(9),
            Decimal(9),
            "seats = 9; wiped by the reset at events[1]",
        ),
        ("reset", None, None, None, "resets the meter: only later events count"),
        ("counted", None, Decimal(5), Decimal(5), "seats = 5"),
        (
            "counted",
            None,
            Decimal(7),
            Decimal(5),
            "seats = 7, older than the latest reading: not the level",
        ),
        ("counted", None, Decimal(4), Decimal(4), "seats = 4"),
        ("counted", None, Decimal(6), Decimal(6), "seats = 6"),
        ("duplicate", None, None, None, "external_id 'a' is taken, first by events[5]"),
    ]
    assert entries[-2].consumed_units == usage(SEATS, events).consumed_units


def test_explain_value_of_a_float_reading_is_exact() -> None:
    entries = explain(SEATS, [seats(at(1), 0.1)])
    assert entries[0].value == Decimal("0.1")
    assert entries[0].consumed_units == Decimal("0.1")


# -- burn_down refuses a gauge -----------------------------------------------------

GRANT = CreditGrant(
    id="00000000-0000-4000-8000-000000000001", units=10, effective_at=T0
)


def test_burn_down_refuses_a_latest_meter() -> None:
    with pytest.raises(ValidationError) as info:
        burn_down(SEATS, [GRANT], [seats(at(1), 3)])
    assert info.value.path == "meter.aggregation.func"
    assert info.value.value == "latest"
    assert "'latest'" in str(info.value)
    # explain with grants runs burn_down: the same refusal.
    with pytest.raises(ValidationError) as again:
        explain(SEATS, [seats(at(1), 3)], grants=[GRANT])
    assert again.value.path == "meter.aggregation.func"


# -- Serialization -----------------------------------------------------------------


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_a_latest_meter_round_trips(style: str) -> None:
    document = to_dict(SEATS, style=style)  # type: ignore[arg-type]
    assert document["aggregation"] == {"func": "latest", "property": "seats"}
    assert from_dict(Meter, document, style=style) == SEATS  # type: ignore[arg-type]
    text = to_json(SEATS, style=style)  # type: ignore[arg-type]
    assert from_json(Meter, text, style=style) == SEATS  # type: ignore[arg-type]
    created = "createdAt" if style == "camel" else "created_at"
    assert created in document


def test_the_aggregation_on_the_wire() -> None:
    aggregation = PropertyAggregation(func="latest", property="_usage.seats")
    assert to_dict(aggregation) == {"func": "latest", "property": "_usage.seats"}
    assert (
        from_dict(PropertyAggregation, {"func": "latest", "property": "_usage.seats"})
        == aggregation
    )


@pytest.mark.parametrize(
    ("aggregation", "error", "path"),
    [
        pytest.param({"func": "latest"}, MissingFieldError, "$.aggregation.property",
                     id="no-property"),
        pytest.param({"func": "latest", "property": 5}, InvalidTypeError,
                     "$.aggregation.property", id="property-not-a-string"),
        pytest.param({"func": "Latest", "property": "seats"}, ValidationError,
                     "$.aggregation.func", id="func-is-case-sensitive"),
        pytest.param({"func": "last", "property": "seats"}, ValidationError,
                     "$.aggregation.func", id="func-unknown"),
    ],
)  # fmt: skip
def test_a_bad_latest_aggregation_is_refused_by_path(
    aggregation: dict[str, Any], error: type[MeterkitError], path: str
) -> None:
    document = {**to_dict(SEATS), "aggregation": aggregation}
    with pytest.raises(error) as info:
        from_dict(Meter, document)
    assert info.value.path == path
    assert path in str(info.value)


def test_an_unknown_func_lists_latest() -> None:
    with pytest.raises(ValidationError, match="latest"):
        PropertyAggregation(func="last", property="seats")


# -- Bad values --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("5", id="string"),
        pytest.param(None, id="null"),
        pytest.param(MISSING, id="missing"),
        pytest.param({"n": 5}, id="object"),
    ],
)
def test_a_reading_that_is_not_a_number_does_not_match(value: object) -> None:
    event = seats(at(9), value)
    assert not matches(SEATS, event)
    # Not a 0 nor a 1 at the newest instant: the older reading stays the level.
    assert aggregate(SEATS, [seats(at(1), 5), event]) == 5
    assert usage(SEATS, [seats(at(1), 5), event]).consumed_units == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(-1, "must be >= 0", id="negative-int"),
        pytest.param(-0.5, "must be >= 0", id="negative-float"),
        pytest.param(float("nan"), "must be a finite number", id="nan"),
        pytest.param(float("inf"), "must be a finite number", id="inf"),
        pytest.param(Decimal("NaN"), "must be a finite number", id="decimal-nan"),
    ],
)
def test_a_bad_reading_is_an_error_naming_the_event(
    value: object, message: str
) -> None:
    path = "events[1].metadata.seats"
    for log in (
        [seats(at(1), 5), seats(at(9), value)],
        # Before a reset, behind a duplicate id, older than the level: checked alike.
        [seats(at(1), 5, external_id="a"), seats(at(9), value, external_id="a")],
        [seats(at(5), 5), seats(at(1), value), reset()],
    ):
        for call in (
            lambda log=log: aggregate(SEATS, log),
            lambda log=log: usage(SEATS, log, external_customer_id="acme"),
            lambda log=log: explain(SEATS, log),
            lambda log=log: usage_by_customer(SEATS, log, by="external_customer_id"),
            lambda log=log: quantities(
                SEATS, log, start=JAN_1, end=JAN_1, interval="day"
            ),
        ):
            with pytest.raises(ValidationError, match=message) as info:
                call()
            assert info.value.path == path


def test_a_reading_of_another_customer_is_not_checked_for_a_customer() -> None:
    # SPEC: an event of another customer may be passed over unchecked.
    log = [seats(at(1), 5), seats(at(9), -1, customer="globex")]
    assert usage(SEATS, log, external_customer_id="acme").consumed_units == 5


# -- The command line --------------------------------------------------------------


def test_cli_usage_with_a_latest_meter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = tmp_path / "meter.json"
    meter.write_text(to_json(SEATS))
    log = [
        seats(at(1), 3),
        seats(at(3), 5),
        seats(at(2), 4),  # older: acme's level stays 5
        seats(at(2), 2, customer="globex"),
        reset(customer="globex"),
        seats(at(1), 1, customer="globex"),
        credit(10, customer="globex"),
        {**seats(at(2), 6, None), "customer_id": CUSTOMER_ID},
        {**seats(at(2), 7, None), "customer_id": CUSTOMER_ID.upper()},  # the tie
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in log))
    code = main(
        ["usage", "--meter", str(meter), "--events", str(events), "--format", "json"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"customer_id": CUSTOMER_ID, "consumed_units": 7, "credited_units": 0,
         "balance": 0, "rollover_units": 0},
        {"external_customer_id": "acme", "consumed_units": 5, "credited_units": 0,
         "balance": 0, "rollover_units": 0},
        {"external_customer_id": "globex", "consumed_units": 1, "credited_units": 10,
         "balance": 9, "rollover_units": 0},
    ]  # fmt: skip


def test_cli_explain_with_a_latest_meter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = tmp_path / "meter.json"
    meter.write_text(to_json(SEATS))
    events = tmp_path / "events.jsonl"
    log = [seats(at(2), 5), seats(at(1), 7)]
    events.write_text("".join(json.dumps(e) + "\n" for e in log))
    code = main(
        [
            *("explain", "--meter", str(meter), "--events", str(events)),
            *("--customer", "acme", "--format", "json"),
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["units"], e["consumed_units"]) for e in lines] == [(None, 5), (None, 5)]
    assert "older than the latest reading" in lines[1]["note"]
