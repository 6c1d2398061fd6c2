"""`aggregate`, `usage` and their accumulators: the cases of SPEC.md section 3."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from meterkit import (
    AggregateAccumulator,
    CountAggregation,
    Event,
    Filter,
    FilterClause,
    InvalidTypeError,
    Meter,
    MeterkitError,
    MissingFieldError,
    PropertyAggregation,
    UniqueAggregation,
    Usage,
    UsageAccumulator,
    ValidationError,
    aggregate,
    matches,
    usage,
)

from .samples import CUSTOMER_ID, METER_ID, T0

OTHER_METER_ID = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
OTHER_CUSTOMER_ID = "5f0c8e9e-2f59-4a39-9c39-2d6c1a6b9f11"


def meter(aggregation: Any = None, *clauses: FilterClause) -> Meter:
    """Events named ``llm`` (or ``clauses``), aggregated by ``aggregation``."""
    return Meter(
        id=METER_ID,
        name="LLM tokens",
        filter=Filter(
            clauses=clauses
            or [FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=(
            PropertyAggregation(func="sum", property="total_tokens")
            if aggregation is None
            else aggregation
        ),
        created_at=T0,
    )


TOKENS = meter()


def use(
    tokens: object = 1, customer: str | None = "acme", **extra: Any
) -> dict[str, Any]:
    metadata = {} if tokens is _MISSING else {"total_tokens": tokens}
    return {
        "name": "llm",
        "timestamp": "2025-01-02T10:00:00Z",
        "external_customer_id": customer,
        "metadata": metadata,
        **extra,
    }


_MISSING: Any = object()


def credit(
    units: object,
    rollover: bool = False,
    customer: str | None = "acme",
    meter_id: str = METER_ID,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "timestamp": "2025-01-02T09:00:00Z",
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": meter_id, "units": units, "rollover": rollover},
        **extra,
    }


def reset(
    customer: str | None = "acme", meter_id: str = METER_ID, **extra: Any
) -> dict[str, Any]:
    return {
        "name": "meter.reset",
        "timestamp": "2025-01-02T09:30:00Z",
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": meter_id},
        **extra,
    }


def as_event(mapping: dict[str, Any]) -> Event:
    """The `Event` of a wire mapping, with its timestamp parsed here."""
    fields = dict(mapping)
    fields["timestamp"] = datetime.fromisoformat(
        fields["timestamp"].replace("Z", "+00:00")
    )
    return Event(**fields)


def expect(consumed: object, credited: int, balance: object, rollover: int) -> Usage:
    return Usage(
        consumed_units=Decimal(str(consumed)),
        credited_units=credited,
        balance=Decimal(str(balance)),
        rollover_units=rollover,
    )


# Aggregations ----------------------------------------------------------------

SPEC_TOKENS = (10, 20, 30, 30)

AGGREGATIONS = [
    pytest.param(CountAggregation(), "4", id="count"),
    pytest.param(
        PropertyAggregation(func="sum", property="total_tokens"), "90", id="sum"
    ),
    pytest.param(
        PropertyAggregation(func="avg", property="total_tokens"), "22.5", id="avg"
    ),
    pytest.param(
        PropertyAggregation(func="min", property="total_tokens"), "10", id="min"
    ),
    pytest.param(
        PropertyAggregation(func="max", property="total_tokens"), "30", id="max"
    ),
    pytest.param(UniqueAggregation(property="total_tokens"), "3", id="unique"),
]


@pytest.mark.parametrize(("aggregation", "expected"), AGGREGATIONS)
def test_spec_aggregation_examples(aggregation: Any, expected: str) -> None:
    the_meter = meter(aggregation)
    events = [use(n) for n in SPEC_TOKENS]
    assert aggregate(the_meter, events) == Decimal(expected)
    assert usage(the_meter, events).consumed_units == Decimal(expected)
    assert usage(the_meter, events, external_customer_id="acme").consumed_units == (
        Decimal(expected)
    )


@pytest.mark.parametrize(("aggregation", "expected"), AGGREGATIONS)
def test_no_match_is_zero(aggregation: Any, expected: str) -> None:
    the_meter = meter(aggregation)
    assert aggregate(the_meter, []) == 0
    others = [{**use(n), "name": "api"} for n in SPEC_TOKENS]
    assert aggregate(the_meter, others) == 0
    assert usage(the_meter, others).consumed_units == 0
    # The same events named "llm" do count: the zero is not a default.
    assert aggregate(the_meter, [{**e, "name": "llm"} for e in others]) == Decimal(
        expected
    )


UNIQUE = [
    pytest.param([1, "1"], 2, id="number-and-string-differ"),
    pytest.param([1, 1.0], 1, id="int-and-float-same-number"),
    pytest.param([1, True], 2, id="bool-is-not-a-number"),
    pytest.param([True, "true"], 2, id="bool-is-not-a-string"),
    pytest.param(["1", "1.0"], 2, id="strings-by-text"),
    pytest.param([0.5, 0.5, 1.5], 2, id="floats"),
    pytest.param([1, None, _MISSING], 1, id="missing-and-null-not-counted"),
    pytest.param([None, None, _MISSING], 0, id="only-missing-and-null"),
    pytest.param(["a", "b", "a", "c"], 3, id="strings"),
]


@pytest.mark.parametrize(("values", "expected"), UNIQUE)
def test_unique(values: list[object], expected: int) -> None:
    the_meter = meter(UniqueAggregation(property="total_tokens"))
    events = [use(v) for v in values]
    assert aggregate(the_meter, events) == expected
    # Every event counts for `count`, whatever its value: unique is about values.
    assert aggregate(meter(CountAggregation()), events) == len(values)


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        pytest.param("sum", "10", id="sum"),
        pytest.param("avg", "10", id="avg"),
        pytest.param("min", "10", id="min"),
        pytest.param("max", "10", id="max"),
    ],
)
@pytest.mark.parametrize(
    "spoiler",
    [
        pytest.param(_MISSING, id="missing"),
        pytest.param(None, id="null"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
        pytest.param("5", id="string"),
        pytest.param("99", id="big-string"),
        pytest.param([5], id="list"),
    ],
)
def test_event_without_a_number_does_not_match(
    func: str, expected: str, spoiler: object
) -> None:
    the_meter = meter(PropertyAggregation(func=func, property="total_tokens"))
    events = [use(10), use(spoiler)]
    # avg stays 10 (not 5 or 7.5): the spoiler is not even in the denominator.
    assert aggregate(the_meter, events) == Decimal(expected)
    assert usage(the_meter, events).consumed_units == Decimal(expected)
    assert matches(the_meter, use(10))
    assert not matches(the_meter, use(spoiler))


@pytest.mark.parametrize(
    ("func", "values", "expected"),
    [
        pytest.param("sum", [0.1, 0.2], "0.3", id="sum-floats-by-shortest-repr"),
        pytest.param("sum", [1, 0.5], "1.5", id="sum-int-and-float"),
        pytest.param("avg", [1, 1, 2], "1." + "3" * 33, id="avg-34-digits"),
        pytest.param("avg", [2, 3], "2.5", id="avg-exact"),
        pytest.param("avg", [1, 2], "1.5", id="avg-half"),
        pytest.param("max", [1, 2.5, 2], "2.5", id="max-float"),
        pytest.param("min", [3, 0.25, 1], "0.25", id="min-float"),
        pytest.param("sum", [10**20, 10**20], "2E+20", id="sum-big-ints"),
    ],
)
def test_exact_aggregation(func: str, values: list[object], expected: str) -> None:
    the_meter = meter(PropertyAggregation(func=func, property="total_tokens"))
    assert aggregate(the_meter, [use(v) for v in values]) == Decimal(expected)


def test_aggregate_ignores_customers_credits_and_resets_but_dedups() -> None:
    events = [
        use(10, external_id="x"),
        use(10, external_id="x"),
        reset(),
        credit(100),
        use(5, customer="globex"),
    ]
    # SPEC section 3: dedup holds in every function; aggregate scopes the whole
    # log. A reset or a credit does not change a quantity.
    assert aggregate(TOKENS, events) == 15


def test_aggregation_by_dot_path() -> None:
    the_meter = meter(PropertyAggregation(func="sum", property="_llm.tokens"))
    events = [
        {**use(), "metadata": {"_llm": {"tokens": 4}}},
        {**use(), "metadata": {"_llm": {"tokens": 6}}},
        {**use(), "metadata": {"_llm": "flat"}},
    ]
    assert aggregate(the_meter, events) == 10


# Usage ------------------------------------------------------------------------

USAGE_CASES = [
    pytest.param(
        [use(20), reset(), use(10), use(10), use(0), credit(10)],
        expect(20, 10, 0, 0),
        id="spec-reset-window",
    ),
    pytest.param(
        [credit(80), credit(60, rollover=True), use(100)],
        expect(100, 140, 40, 40),
        id="spec-rollover-usage-100",
    ),
    pytest.param(
        [credit(80), credit(60, rollover=True), use(80)],
        expect(80, 140, 60, 60),
        id="spec-rollover-usage-80",
    ),
    pytest.param(
        [credit(80), credit(60, rollover=True), use(150)],
        expect(150, 140, 0, 0),
        id="spec-rollover-usage-150",
    ),
    pytest.param(
        [credit(100), credit(-150), credit(50)],
        expect(0, 50, 50, 0),
        id="spec-revocation-clamps",
    ),
    pytest.param(
        [credit(60, rollover=True), credit(80), use(100)],
        expect(100, 140, 40, 40),
        id="rollover-order-does-not-matter",
    ),
    pytest.param(
        [credit(60, rollover=True), use(100.5)],
        expect("100.5", 60, 0, 0),
        id="rollover-with-fractional-usage",
    ),
    pytest.param(
        [credit(100, rollover=True), use(0.5)],
        expect("0.5", 100, "99.5", 99),
        id="rollover-whole-units",
    ),
    pytest.param(
        [credit(100, rollover=True), credit(-150, rollover=True), credit(30)],
        expect(0, 30, 30, 0),
        id="rollover-revoked",
    ),
    pytest.param(
        [credit(100), use(10), reset(), use(5)],
        expect(5, 0, 0, 0),
        id="reset-drops-credits",
    ),
    pytest.param(
        [use(1), reset(), use(2), reset(), use(4)],
        expect(4, 0, 0, 0),
        id="last-reset-wins",
    ),
    pytest.param([use(7), reset()], expect(0, 0, 0, 0), id="reset-at-the-end"),
    pytest.param(
        [use(10), reset(meter_id=OTHER_METER_ID), use(5)],
        expect(15, 0, 0, 0),
        id="other-meter-reset-ignored",
    ),
    pytest.param(
        [credit(100, meter_id=OTHER_METER_ID), use(5)],
        expect(5, 0, 0, 0),
        id="other-meter-credit-ignored",
    ),
    pytest.param(
        [credit(10, meter_id=METER_ID.upper()), use(5)],
        expect(5, 10, 5, 0),
        id="meter-id-in-any-case",
    ),
    pytest.param(
        [credit(True, meter_id=OTHER_METER_ID), credit("x", meter_id=OTHER_METER_ID)],
        expect(0, 0, 0, 0),
        id="other-meter-bad-credit-ignored",
    ),
    pytest.param(
        [use(10), {**reset(), "source": "user"}, {**credit(50), "source": "user"}],
        expect(10, 0, 0, 0),
        id="user-events-are-never-credits-or-resets",
    ),
    pytest.param(
        [{**use(10), "source": "system"}, use(3)],
        expect(3, 0, 0, 0),
        id="system-events-are-never-consumption",
    ),
    pytest.param(
        [{**credit(10), "name": "meter.other"}, use(3)],
        expect(3, 0, 0, 0),
        id="unknown-system-event-ignored",
    ),
    pytest.param([], expect(0, 0, 0, 0), id="no-events"),
]


@pytest.mark.parametrize(("events", "expected"), USAGE_CASES)
def test_usage(events: list[dict[str, Any]], expected: Usage) -> None:
    assert usage(TOKENS, events, external_customer_id="acme") == expected
    # The same log as `Event` objects, and folded one event at a time.
    assert usage(TOKENS, [as_event(e) for e in events]) == expected
    accumulator = UsageAccumulator(TOKENS, external_customer_id="acme")
    for event in events:
        accumulator.add(event)
    assert accumulator.usage() == expected


def test_user_reset_counts_as_consumption_for_a_count_meter() -> None:
    counter = meter(
        CountAggregation(), FilterClause(property="name", operator="ne", value="x")
    )
    events = [use(), {**reset(), "source": "user"}, use()]
    assert usage(counter, events) == expect(3, 0, 0, 0)


# Customers --------------------------------------------------------------------

MIXED_CUSTOMERS = [
    use(1, customer="acme"),
    use(2, customer="globex"),
    use(4, customer=None, customer_id=CUSTOMER_ID),
    use(8, customer="globex", customer_id=CUSTOMER_ID),
    use(16, customer=None, customer_id=OTHER_CUSTOMER_ID),
    use(32, customer=None),
    credit(100, customer="acme"),
    credit(200, customer="globex"),
    {**credit(400, customer=None), "customer_id": CUSTOMER_ID},
]


@pytest.mark.parametrize(
    ("selection", "consumed", "credited"),
    [
        pytest.param({"external_customer_id": "acme"}, 1, 100, id="external-acme"),
        pytest.param({"external_customer_id": "globex"}, 10, 200, id="external-globex"),
        pytest.param({"customer_id": CUSTOMER_ID}, 12, 400, id="customer-id"),
        pytest.param(
            {"customer_id": CUSTOMER_ID.upper()}, 12, 400, id="customer-id-any-case"
        ),
        pytest.param({"customer_id": OTHER_CUSTOMER_ID}, 16, 0, id="other-customer"),
        pytest.param(
            {"customer_id": CUSTOMER_ID, "external_customer_id": "acme"},
            13,
            500,
            id="either-key",
        ),
        pytest.param({"external_customer_id": "nobody"}, 0, 0, id="unknown-customer"),
        pytest.param({}, 63, 700, id="everyone"),
    ],
)
def test_customers(selection: dict[str, str], consumed: int, credited: int) -> None:
    result = usage(TOKENS, MIXED_CUSTOMERS, **selection)
    assert (result.consumed_units, result.credited_units) == (consumed, credited)
    events = [as_event(e) for e in MIXED_CUSTOMERS]
    assert usage(TOKENS, events, **selection) == result


def test_reset_of_another_customer_is_ignored() -> None:
    events = [use(5), credit(10), reset(customer="globex"), use(1)]
    assert usage(TOKENS, events, external_customer_id="acme") == expect(6, 10, 4, 0)
    assert usage(TOKENS, events, external_customer_id="globex") == expect(0, 0, 0, 0)


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param({"customer_id": "not-a-uuid"}, id="customer-id"),
        pytest.param({"external_customer_id": ""}, id="empty-external"),
        pytest.param({"external_customer_id": 7}, id="external-not-text"),
    ],
)
def test_bad_customer_selection(selection: dict[str, object]) -> None:
    with pytest.raises(MeterkitError) as info:
        usage(TOKENS, [use(1)], **selection)
    ((key, value),) = selection.items()
    assert key in str(info.value)
    assert repr(value) in str(info.value)


# Dedup ------------------------------------------------------------------------

DEDUP_CASES = [
    pytest.param(
        [use(10, external_id="a"), use(20, external_id="a"), use(5, external_id="b")],
        expect(15, 0, 0, 0),
        id="first-counts-later-differs",
    ),
    pytest.param(
        [use(7), use(7), use(7, external_id="a"), use(7, external_id="a")],
        expect(21, 0, 0, 0),
        id="null-external-id-never-deduplicated",
    ),
    pytest.param(
        [credit(100, external_id="c"), credit(100, external_id="c"), use(10)],
        expect(10, 100, 90, 0),
        id="duplicate-credit",
    ),
    pytest.param(
        [{**use(10, external_id="a"), "name": "api"}, use(10, external_id="a")],
        expect(0, 0, 0, 0),
        id="first-is-not-matching",
    ),
    pytest.param(
        [use(10, external_id="a"), reset(), use(10, external_id="a")],
        expect(0, 0, 0, 0),
        id="duplicate-after-reset",
    ),
    pytest.param(
        [use(10), reset(external_id="r"), use(5), reset(external_id="r")],
        expect(5, 0, 0, 0),
        id="duplicate-reset",
    ),
    pytest.param(
        [use(10, external_id="a", customer="globex"), use(3, external_id="a")],
        expect(3, 0, 0, 0),
        id="scoped-to-the-customer",
    ),
]


@pytest.mark.parametrize(("events", "expected"), DEDUP_CASES)
def test_dedup(events: list[dict[str, Any]], expected: Usage) -> None:
    assert usage(TOKENS, events, external_customer_id="acme") == expected
    assert usage(
        TOKENS, [as_event(e) for e in events], external_customer_id="acme"
    ) == (expected)


def test_dedup_is_per_customer() -> None:
    # Two customers may use the same external_id: each keeps its own first event.
    events = [use(10, external_id="a"), use(20, external_id="a", customer="globex")]
    assert usage(TOKENS, events, external_customer_id="acme").consumed_units == 10
    assert usage(TOKENS, events, external_customer_id="globex").consumed_units == 20
    # Without a customer, the whole log is one scope.
    assert usage(TOKENS, events).consumed_units == 10


# Bad credits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "shown"),
    [
        pytest.param(_MISSING, "None", id="missing"),
        pytest.param(None, "None", id="null"),
        pytest.param(True, "True", id="bool"),
        pytest.param("10", "'10'", id="string"),
        pytest.param(10.0, "10.0", id="float"),
        pytest.param([10], "[10]", id="list"),
    ],
)
def test_bad_credit_units(units: object, shown: str) -> None:
    bad = credit(units)
    if units is _MISSING:
        del bad["metadata"]["units"]
    events = [use(1), credit(5), bad, use(2)]
    for fold in (
        lambda: usage(TOKENS, events, external_customer_id="acme"),
        lambda: usage(TOKENS, events),
        lambda: usage(TOKENS, [as_event(e) for e in events]),
    ):
        with pytest.raises(InvalidTypeError) as info:
            fold()
        assert isinstance(info.value, MeterkitError)
        assert info.value.path == "events[2].metadata.units"
        assert str(info.value).startswith("events[2].metadata.units:")
        assert shown in str(info.value)


def test_bad_credit_rollover() -> None:
    events = [use(1), credit(5, rollover="yes")]  # type: ignore[arg-type]
    with pytest.raises(MeterkitError) as info:
        usage(TOKENS, events)
    assert str(info.value).startswith("events[1].metadata.rollover:")
    assert "'yes'" in str(info.value)


# Bad events -------------------------------------------------------------------

GOOD = use(1)

BAD_EVENTS = [
    pytest.param(
        {k: v for k, v in GOOD.items() if k != "name"},
        MissingFieldError,
        "events[2].name",
        None,
        id="missing-name",
    ),
    pytest.param(
        {k: v for k, v in GOOD.items() if k != "timestamp"},
        MissingFieldError,
        "events[2].timestamp",
        None,
        id="missing-timestamp",
    ),
    pytest.param(
        {**GOOD, "timestamp": "2025-01-02T10:00:00"},
        ValidationError,
        "events[2].timestamp",
        "'2025-01-02T10:00:00'",
        id="naive-timestamp",
    ),
    pytest.param(
        {**GOOD, "timestamp": "yesterday"},
        ValidationError,
        "events[2].timestamp",
        "'yesterday'",
        id="malformed-timestamp",
    ),
    pytest.param(
        {**GOOD, "timestamp": 1735689600},
        ValidationError,
        "events[2].timestamp",
        "1735689600",
        id="numeric-timestamp",
    ),
    pytest.param(
        {**GOOD, "metadata": [1, 2]},
        InvalidTypeError,
        "events[2].metadata",
        "[1, 2]",
        id="metadata-list",
    ),
    pytest.param(
        {**GOOD, "name": ""}, ValidationError, "events[2].name", "''", id="empty-name"
    ),
    pytest.param(
        {**GOOD, "source": "admin"},
        ValidationError,
        "events[2].source",
        "'admin'",
        id="unknown-source",
    ),
    pytest.param(
        {**GOOD, "external_id": 17},
        InvalidTypeError,
        "events[2].external_id",
        "17",
        id="external-id-not-text",
    ),
    pytest.param(
        {**GOOD, "metadata": {"total_tokens": -1}},
        ValidationError,
        "events[2].metadata.total_tokens",
        "-1",
        id="negative-tokens",
    ),
    pytest.param(5, InvalidTypeError, "events[2]", "5", id="int-event"),
    pytest.param(None, InvalidTypeError, "events[2]", "None", id="null-event"),
    pytest.param("llm", InvalidTypeError, "events[2]", "'llm'", id="string-event"),
    pytest.param([GOOD], InvalidTypeError, "events[2]", "[{", id="list-event"),
]


@pytest.mark.parametrize(("bad", "error", "path", "shown"), BAD_EVENTS)
@pytest.mark.parametrize(
    "selection",
    [
        pytest.param({}, id="everyone"),
        pytest.param({"external_customer_id": "acme"}, id="customer"),
    ],
)
def test_bad_events(
    bad: object,
    error: type[MeterkitError],
    path: str,
    shown: str | None,
    selection: dict[str, str],
) -> None:
    events = [use(1), as_event(use(2)), bad, use(3)]
    with pytest.raises(error) as info:
        usage(TOKENS, events, **selection)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}:")
    if shown is not None:
        assert shown in str(info.value)
    with pytest.raises(error) as info:
        aggregate(TOKENS, events)
    assert info.value.path == path


@pytest.mark.parametrize("wrap", [dict, MappingProxyType], ids=["dict", "mapping"])
def test_a_mapping_that_is_not_a_dict_reads_the_same(wrap: Any) -> None:
    # Wire dicts take a shortcut past the Mapping ABC checks; other mappings
    # must read, and fail, exactly alike.
    event = use(5, external_id="e1")
    event["metadata"] = wrap(event["metadata"])
    assert usage(TOKENS, [wrap(event)]).consumed_units == 5
    for key in ("customer_id", "external_customer_id", "external_id"):
        for bad, error in ((5, InvalidTypeError), ("", ValidationError)):
            with pytest.raises(error) as info:
                usage(TOKENS, [use(1), wrap({**event, key: bad})])
            assert info.value.path == f"events[1].{key}"
    with pytest.raises(InvalidTypeError) as info:
        usage(TOKENS, [wrap({**event, "metadata": [1]})])
    assert info.value.path == "events[0].metadata"


def test_error_index_counts_across_updates() -> None:
    accumulator = UsageAccumulator(TOKENS)
    accumulator.update([use(1), use(2)])
    accumulator.add(use(4))
    with pytest.raises(MissingFieldError) as info:
        accumulator.update([use(8), {"name": "llm"}])
    assert info.value.path == "events[4].timestamp"


def test_numbering_after_an_error_counts_the_bad_event() -> None:
    accumulator = UsageAccumulator(TOKENS)
    with pytest.raises(MissingFieldError) as info:
        accumulator.update([use(1), {"name": "llm"}])
    assert info.value.path == "events[1].timestamp"
    # The bad event was given: the next one is the third of the stream.
    with pytest.raises(MissingFieldError) as info:
        accumulator.update([{"name": "llm"}])
    assert info.value.path == "events[2].timestamp"
    assert accumulator.usage().consumed_units == 1


@pytest.mark.parametrize("container", [list, tuple, iter], ids=lambda c: c.__name__)
def test_one_customer_key_numbers_events_in_any_container(
    container: Callable[[list[Any]], Any],
) -> None:
    # With one customer key, lists and tuples are scanned without enumerate()
    # (the index is read off the iterator); every container must number alike.
    mine = {"customer_id": CUSTOMER_ID.upper(), "external_customer_id": None}
    theirs = {"customer_id": OTHER_CUSTOMER_ID, "external_customer_id": None}
    accumulator = UsageAccumulator(TOKENS, customer_id=CUSTOMER_ID)
    accumulator.update(container([use(1, **theirs), use(2, **mine), use(4, **theirs)]))
    with pytest.raises(MissingFieldError) as info:
        accumulator.update(
            container([use(8, **mine), use(16, **theirs), {"name": "llm", **mine}])
        )
    assert info.value.path == "events[5].timestamp"
    accumulator.update(container([use(32, **mine)]))
    accumulator.update(container([use(64, **theirs)]))
    with pytest.raises(InvalidTypeError) as info:
        accumulator.update(container([None]))  # not a mapping: read in full
    assert info.value.path == "events[8]"
    accumulator.update(container([]))
    with pytest.raises(InvalidTypeError) as info:
        accumulator.update(container([use(128, **mine), 7]))
    assert info.value.path == "events[10]"
    assert accumulator.usage().consumed_units == 2 + 8 + 32 + 128


def test_after_an_error_the_accumulator_holds_the_events_before_it() -> None:
    accumulator = UsageAccumulator(TOKENS)
    accumulator.update([use(1)])
    with pytest.raises(MeterkitError):
        accumulator.update([use(2), credit(10), credit("x"), use(100)])
    assert accumulator.usage() == expect(3, 10, 7, 0)
    counter = AggregateAccumulator(TOKENS)
    with pytest.raises(MeterkitError):
        counter.update([use(2), use(3), 7, use(100)])
    assert counter.value() == 5


# Streams ----------------------------------------------------------------------

LOG = [
    use(20),
    credit(80),
    use(5, external_id="e1"),
    reset(customer="globex"),
    credit(60, rollover=True, external_id="c1"),
    use(5, external_id="e1"),
    use(7, customer="globex"),
    use(1, customer=None, customer_id=CUSTOMER_ID),
    reset(),
    use(30, external_id="e2"),
    credit(100, rollover=True),
    credit(-20),
    use(2.5),
    credit(60, rollover=True, external_id="c1"),
]


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param({}, id="everyone"),
        pytest.param({"external_customer_id": "acme"}, id="acme"),
        pytest.param({"external_customer_id": "globex"}, id="globex"),
        pytest.param({"customer_id": CUSTOMER_ID}, id="customer-id"),
    ],
)
def test_events_and_mappings_mixed_give_the_same_result(
    selection: dict[str, str],
) -> None:
    expected = usage(TOKENS, LOG, **selection)
    as_events = [as_event(e) for e in LOG]
    assert usage(TOKENS, as_events, **selection) == expected
    for parity in (0, 1):
        mixed = [as_event(e) if i % 2 == parity else e for i, e in enumerate(LOG)]
        assert usage(TOKENS, mixed, **selection) == expected
        assert aggregate(TOKENS, mixed) == aggregate(TOKENS, LOG)


def test_the_log_reference_values() -> None:
    # Worked by hand: acme after the reset: 30 + 2.5 consumed; credits 100
    # (rollover) then -20 on the all-credits sum, c1 is a duplicate.
    assert usage(TOKENS, LOG, external_customer_id="acme") == expect(
        "32.5", 80, "47.5", 67
    )


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(CUSTOMER_ID.upper(), id="upper-case"),
    ],
)
def test_customer_id_in_any_case_in_a_mapping_is_the_same_customer(
    written: str,
) -> None:
    # `Event` stores ids in canonical lower case; a wire mapping must not differ.
    mapping = use(5, customer=None, customer_id=written)
    for events in ([mapping], [as_event(mapping)]):
        for asked in (CUSTOMER_ID, written):
            assert usage(TOKENS, events, customer_id=asked).consumed_units == 5


def test_mixed_case_customer_id_in_a_mapping_is_the_customer() -> None:
    # Issue 13: the one-key fast path once missed mixed case (usage() gave 0 where
    # quantities() gave 5). Every function now compares the canonical form.
    written = CUSTOMER_ID[:8].upper() + CUSTOMER_ID[8:]
    mapping = use(5, customer=None, customer_id=written)
    for events in ([mapping], [as_event(mapping)]):
        assert usage(TOKENS, events, customer_id=CUSTOMER_ID).consumed_units == 5


class Once:
    """An iterable that can be iterated only once, and counts what it yields."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.iterated = False
        self.yielded = 0

    def __iter__(self) -> Iterator[Any]:
        assert not self.iterated, "iterated twice"
        self.iterated = True
        for event in self.events:
            self.yielded += 1
            yield event


def test_a_generator_is_consumed_once() -> None:
    expected = usage(TOKENS, LOG, external_customer_id="acme")
    once = Once(LOG)
    assert usage(TOKENS, once, external_customer_id="acme") == expected
    assert once.yielded == len(LOG)
    generator = (event for event in LOG)
    assert usage(TOKENS, generator, external_customer_id="acme") == expected
    assert next(generator, None) is None
    once = Once(LOG)
    assert aggregate(TOKENS, once) == aggregate(TOKENS, LOG)
    assert once.yielded == len(LOG)


# Accumulators -----------------------------------------------------------------


def test_accumulator_merge_in_log_order() -> None:
    first = UsageAccumulator(TOKENS, external_customer_id="acme")
    later = UsageAccumulator(TOKENS, external_customer_id="acme", at_start=False)
    first.update(LOG[:6])
    later.update(LOG[6:])
    expected = usage(TOKENS, LOG, external_customer_id="acme")
    assert first.merge(later).usage() == expected
    assert pickle.loads(pickle.dumps(first)).merge(later).usage() == expected
    # The inputs of a merge are left as they were.
    assert first.usage() == usage(TOKENS, LOG[:6], external_customer_id="acme")


def test_merge_is_not_commutative() -> None:
    left = UsageAccumulator(TOKENS)
    right = UsageAccumulator(TOKENS, at_start=False)
    left.update([use(10)])
    right.update([reset(), use(1)])
    assert left.merge(right).usage().consumed_units == 1
    assert right.merge(left).usage().consumed_units == 11


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(UsageAccumulator(meter(CountAggregation())), id="other-meter"),
        pytest.param(
            UsageAccumulator(TOKENS, external_customer_id="globex"),
            id="other-customer",
        ),
        pytest.param(AggregateAccumulator(TOKENS), id="other-kind"),
    ],
)
def test_merge_refuses_a_different_fold(other: object) -> None:
    with pytest.raises(ValidationError, match="other"):
        UsageAccumulator(TOKENS).merge(other)  # type: ignore[arg-type]


def test_aggregate_accumulator_merge_refuses_another_meter() -> None:
    with pytest.raises(ValidationError, match="other"):
        AggregateAccumulator(TOKENS).merge(
            AggregateAccumulator(meter(CountAggregation()))
        )


@pytest.mark.parametrize(
    ("build", "path"),
    [
        pytest.param(lambda: UsageAccumulator("meter"), "meter", id="usage-meter"),  # type: ignore[arg-type]
        pytest.param(
            lambda: UsageAccumulator(TOKENS, at_start=1), "at_start", id="at-start"
        ),
        pytest.param(lambda: AggregateAccumulator(None), "meter", id="aggregate-meter"),  # type: ignore[arg-type]
        pytest.param(lambda: usage(None, []), "meter", id="usage-function"),  # type: ignore[arg-type]
    ],
)
def test_bad_accumulator_arguments(build: Any, path: str) -> None:
    with pytest.raises(InvalidTypeError) as info:
        build()
    assert info.value.path == path


# Pinned bugs ------------------------------------------------------------------


def test_pickled_unique_accumulator_ignores_missing_values() -> None:
    unique = meter(UniqueAggregation(property="total_tokens"))
    accumulator = UsageAccumulator(unique, at_start=False)
    accumulator.add(use(_MISSING, external_id="x1"))
    assert accumulator.usage().consumed_units == 0
    assert pickle.loads(pickle.dumps(accumulator)).usage().consumed_units == 0


def test_unique_of_an_object_with_mixed_keys_raises_a_meterkit_error() -> None:
    unique = meter(UniqueAggregation(property="total_tokens"))
    with pytest.raises(MeterkitError) as info:
        aggregate(unique, [use(1), use({1: "a", "b": 2})])
    assert info.value.path == "events[1].metadata.total_tokens"


def test_a_mean_below_the_unit_range_is_rounded_into_it() -> None:
    # 1E-28 / 3 is below the smallest unit meterkit holds; the mean is rounded to
    # a multiple of 1E-28 (here 0) instead of failing later in usage().
    avg = meter(PropertyAggregation(func="avg", property="total_tokens"))
    events = [use(1e-28), use(0), use(0)]
    assert aggregate(avg, events) == 0
    assert usage(avg, events, external_customer_id="acme").consumed_units == 0
    assert aggregate(avg, [use(2e-28), use(1e-28)]) == Decimal("1.5E-28")  # in range


@pytest.mark.parametrize("events", [5, None, 1.5])
def test_events_must_be_iterable(events: Any) -> None:
    for fold in (
        lambda: usage(meter(), events),
        lambda: aggregate(meter(), events),
    ):
        with pytest.raises(MeterkitError, match=r"^events: must be an iterable"):
            fold()
