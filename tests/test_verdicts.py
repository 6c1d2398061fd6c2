"""One verdict per event: a small test for each bug of the issue's list.

Each test is named for the bug it pins: two functions that read the same event two
ways (a customer id in mixed case, an impossible timestamp, a non-finite number, a
malformed event of another customer, an invalid duplicate, a bad credit), a merge
that counts an id twice, and the exactness of results and round trips. SPEC.md
section 3 is the contract; tests/property/test_verdict_properties.py holds the
random counterparts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

import meterkit
from meterkit import (
    BurnDown,
    CountAggregation,
    CreditGrant,
    CustomerMeter,
    Event,
    Filter,
    FilterClause,
    Meter,
    MeteredUnitPrice,
    MeterkitError,
    MissingFieldError,
    PropertyAggregation,
    TraceEntry,
    Usage,
    UsageAccumulator,
    ValidationError,
    aggregate,
    build_subscription_meter,
    burn_down,
    explain,
    from_dict,
    matches,
    quantities,
    to_dict,
    usage,
)

from .samples import CUSTOMER_ID, METER_ID, OBJECT_ID, T0, customer_meter_wire

OTHER_CUSTOMER = "5f0c8e9e-2f59-4a39-9c39-2d6c1a6b9f11"
#: ``CUSTOMER_ID`` with some letters in upper case: the same customer.
MIXED_CASE = "992FAE2a-2A17-4b7a-8D9e-e287Cf90131B"
GRANT_IDS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 4)]
START = T0 - timedelta(days=1)
END = T0 + timedelta(days=31)
PRICE = MeteredUnitPrice(unit_amount="1", meter_id=METER_ID)
LLM = FilterClause(property="name", operator="eq", value="llm")


def sum_meter(*clauses: FilterClause) -> Meter:
    return Meter(
        id=METER_ID,
        name="Tokens",
        filter=Filter(clauses=clauses),
        aggregation=PropertyAggregation(func="sum", property="total_tokens"),
        created_at=T0,
    )


def count_meter() -> Meter:
    return Meter(
        id=METER_ID,
        name="Calls",
        filter=Filter(clauses=(LLM,)),
        aggregation=CountAggregation(),
        created_at=T0,
    )


def use(tokens: object = 10, **fields: Any) -> dict[str, Any]:
    """A wire user event of ``CUSTOMER_ID`` on 2025-01-01."""
    return {
        "name": "llm",
        "timestamp": "2025-01-01T00:00:00Z",
        "customer_id": CUSTOMER_ID,
        "metadata": {"total_tokens": tokens},
        **fields,
    }


def credit(units: object, **fields: Any) -> dict[str, Any]:
    """A ``meter.credited`` wire event for this meter (``...``: no ``units`` key)."""
    metadata: dict[str, Any] = {"meter_id": METER_ID}
    if units is not ...:
        metadata["units"] = units
    return {
        "name": "meter.credited",
        "timestamp": "2025-01-01T00:00:00Z",
        "source": "system",
        "customer_id": CUSTOMER_ID,
        "metadata": metadata,
        **fields,
    }


def grant(units: int = 100, n: int = 0) -> CreditGrant:
    return CreditGrant(id=GRANT_IDS[n], units=units, effective_at=T0)


def total(meter: Meter, events: list[Any], **who: Any) -> Decimal:
    series = quantities(meter, events, start=START, end=END, interval="day", **who)
    return series.total


def subscription(meter: Meter, events: list[Any], **who: Any) -> Decimal:
    built = build_subscription_meter(
        meter, PRICE, events, start=START, end=END, id=OBJECT_ID, **who
    )
    return built.consumed_units


def refusal(action: Callable[[], object]) -> str | None:
    """The path of the `MeterkitError` ``action`` raises (it must raise one)."""
    with pytest.raises(MeterkitError) as info:
        action()
    return info.value.path


def outcome(action: Callable[[], object]) -> tuple[str, object]:
    """``("ok", value)`` or ``("refused", path)``."""
    try:
        return "ok", action()
    except MeterkitError as exc:
        return "refused", exc.path


# Mixed-case customer ids -----------------------------------------------------------


@pytest.mark.parametrize("written", [MIXED_CASE, CUSTOMER_ID.upper(), CUSTOMER_ID])
def test_mixed_case_customer_id_counts_in_every_function(written: str) -> None:
    meter = sum_meter()
    events = [use(5, customer_id=written)]
    who = {"customer_id": CUSTOMER_ID}
    assert usage(meter, events, **who).consumed_units == 5
    assert total(meter, events, **who) == 5
    assert burn_down(meter, [grant()], events, **who).consumed_units == 5
    assert subscription(meter, events, **who) == 5
    assert [e.kind for e in explain(meter, events, **who)] == ["counted"]
    # Exactly as an Event with that id does.
    as_event = [Event(name="llm", timestamp=T0, customer_id=written,
                      metadata={"total_tokens": 5})]  # fmt: skip
    assert usage(meter, as_event, **who) == usage(meter, events, **who)


def test_mixed_case_customer_id_counts_in_a_generator_and_a_chunk() -> None:
    meter = sum_meter()
    who = {"customer_id": MIXED_CASE.lower()}
    assert (
        usage(meter, iter([use(5, customer_id=MIXED_CASE)]), **who).consumed_units == 5
    )
    later = UsageAccumulator(meter, **who, at_start=False)
    later.update([use(5, customer_id=MIXED_CASE)])
    assert UsageAccumulator(meter, **who).merge(later).usage().consumed_units == 5


# Non-finite numbers ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_sum_property_is_refused_never_a_smaller_total(text: str) -> None:
    # What json.loads makes of these: float inf and nan, which no total may skip.
    metadata = json.loads(f'{{"total_tokens": {text}}}')
    events = [use(metadata=metadata), use(7)]
    meter = sum_meter()
    path = "events[0].metadata.total_tokens"
    assert refusal(lambda: usage(meter, events)) == path
    assert refusal(lambda: usage(meter, events, customer_id=CUSTOMER_ID)) == path
    assert refusal(lambda: aggregate(meter, events)) == path
    assert refusal(lambda: total(meter, events)) == path
    assert refusal(lambda: total(meter, events, customer_id=CUSTOMER_ID)) == path


# Impossible timestamps ------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2025-02-29T00:00:00Z",  # 2025 is not a leap year
        "2025-01-01T23:59:60Z",  # no leap second was inserted that day
        "2025-13-45T99:99:99Z",
    ],
)
def test_impossible_timestamps_are_refused_alike(timestamp: str) -> None:
    meter = sum_meter(LLM)
    events = [use(timestamp=timestamp)]
    path = "events[0].timestamp"
    assert refusal(lambda: usage(meter, events)) == path
    assert refusal(lambda: usage(meter, events, customer_id=CUSTOMER_ID)) == path
    assert refusal(lambda: explain(meter, events, customer_id=CUSTOMER_ID)) == path
    assert refusal(lambda: total(meter, events, customer_id=CUSTOMER_ID)) == path
    assert refusal(lambda: aggregate(meter, events)) == path
    assert (refusal(lambda: matches(meter, events[0])) or "").endswith("timestamp")


# Malformed events of another customer ---------------------------------------------


@pytest.mark.parametrize(
    "defect",
    [
        {"timestamp": "2025-13-45T99:99:99Z"},
        {"metadata": 5},
        {"name": 7},
        {"source": "admin"},
        {"external_id": ""},
        {"metadata": {"total_tokens": -1}},
        {"metadata": {"total_tokens": float("nan")}},
        {"customer_id": "not-a-uuid"},
    ],
    ids=[
        "timestamp", "metadata", "name", "source", "external_id", "negative", "nan",
        "bad-uuid",
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "who",
    [
        {"customer_id": CUSTOMER_ID},
        {"customer_id": MIXED_CASE},
        {"external_customer_id": "acme"},
    ],
    ids=["customer_id", "mixed-case", "external_customer_id"],
)
def test_malformed_event_of_another_customer_usage_and_quantities_agree(
    defect: dict[str, Any], who: dict[str, str]
) -> None:
    # SPEC: another customer's event may be passed over unchecked, "by every
    # function alike (so usage() and quantities() accept and refuse the same logs)".
    meter = sum_meter()
    mine = {"customer_id": CUSTOMER_ID, "external_customer_id": "acme"}
    theirs = {"customer_id": OTHER_CUSTOMER, "external_customer_id": "globex"}
    events = [use(5, **mine), use(**{**theirs, **defect}), use(5, **mine)]
    used = outcome(lambda: usage(meter, events, **who))
    counted = outcome(lambda: total(meter, events, **who))
    if used[0] == "ok":
        assert counted == ("ok", Decimal(10))
        assert used[1].consumed_units == 10  # type: ignore[attr-defined]
    else:
        assert counted == used
        assert str(used[1]).startswith(f"events[1].{next(iter(defect))}")


# Invalid later duplicates ---------------------------------------------------------


@pytest.mark.parametrize(
    "duplicate",
    [
        use(-1, external_id="a"),
        use(float("nan"), external_id="a"),
        credit("ten", external_id="a"),
        use(timestamp="2025-13-45T99:99:99Z", external_id="a"),
    ],
    ids=["negative", "nan", "credit-ten", "timestamp"],
)
def test_invalid_later_duplicate_is_refused_by_one_fold_and_a_chunked_fold(
    duplicate: dict[str, Any],
) -> None:
    # SPEC: meter checks apply to every event in scope before dedup and resets, so
    # a chunked fold raises exactly when one fold does: here both raise.
    meter = sum_meter()
    events = [use(10, external_id="a"), duplicate]
    assert (refusal(lambda: usage(meter, events)) or "").startswith("events[1].")
    first = UsageAccumulator(meter)
    first.update(events[:1])
    second = UsageAccumulator(meter, at_start=False)
    assert (refusal(lambda: second.update(events[1:])) or "").startswith("events[0].")


# Credits --------------------------------------------------------------------------


@pytest.mark.parametrize("units", ["ten", True, 1.5, ...], ids=repr)
def test_burn_down_refuses_a_bad_credit_like_usage(units: object) -> None:
    meter = sum_meter()
    events = [use(5), credit(units)]
    who = {"customer_id": CUSTOMER_ID}
    path = "events[1].metadata.units"
    assert refusal(lambda: usage(meter, events, **who)) == path
    assert refusal(lambda: burn_down(meter, [grant()], events, **who)) == path
    assert refusal(lambda: total(meter, events, **who)) == path
    assert refusal(lambda: subscription(meter, events, **who)) == path
    assert refusal(lambda: explain(meter, events, **who)) == path


def test_null_rollover_is_refused_by_every_function() -> None:
    meter = sum_meter()
    bad = credit(10)
    bad["metadata"]["rollover"] = None  # present and not a bool
    events = [use(5), credit(10), bad]
    who = {"customer_id": CUSTOMER_ID}
    path = "events[2].metadata.rollover"
    assert refusal(lambda: usage(meter, events, **who)) == path
    assert refusal(lambda: burn_down(meter, [grant()], events, **who)) == path
    assert refusal(lambda: total(meter, events, **who)) == path
    assert refusal(lambda: explain(meter, events, **who)) == path


# Dedup ---------------------------------------------------------------------------


def test_aggregate_dedups_by_external_id() -> None:
    events = [use(10, external_id="a"), use(10, external_id="a")]
    assert aggregate(sum_meter(), events) == 10
    assert aggregate(count_meter(), events) == 1
    assert aggregate(sum_meter(), events) == usage(sum_meter(), events).consumed_units


def test_merging_two_start_accumulators_never_counts_an_id_twice() -> None:
    meter = sum_meter()
    a, b = UsageAccumulator(meter), UsageAccumulator(meter)  # both at_start=True
    a.update([use(10, external_id="a")])
    b.update([use(10, external_id="a")])
    try:
        merged = a.merge(b).usage()
    except MeterkitError:
        return  # refusing the merge is an answer
    assert merged.consumed_units == 10  # never 20


# System events -------------------------------------------------------------------


def test_system_events_never_match() -> None:
    meter = sum_meter(LLM)
    event = use(10, source="system")
    assert matches(meter, use(10))
    assert not matches(meter, event)
    assert aggregate(meter, [event]) == 0
    assert usage(meter, [event]).consumed_units == 0
    assert total(meter, [event]) == 0


# Serialization -------------------------------------------------------------------


def test_from_dict_customer_meter_without_balance_is_missing_field() -> None:
    document = customer_meter_wire()
    del document["balance"]
    with pytest.raises(MissingFieldError) as info:
        from_dict(CustomerMeter, document)
    assert info.value.path == "$.balance"


def test_trace_entry_round_trip_keeps_decimal_values() -> None:
    entry = TraceEntry(
        index=0,
        kind="counted",
        note="total_tokens = 0.1",
        units=Decimal("0.1"),
        consumed_units=Decimal("0.1"),
        value=Decimal("0.1"),
    )
    back = from_dict(TraceEntry, to_dict(entry))
    assert back == entry
    assert type(back.value) is Decimal


# usage_by_customer -----------------------------------------------------------------


def test_usage_by_customer_equals_usage_of_each_customer() -> None:
    meter = sum_meter()
    events = [
        use(5, customer_id=MIXED_CASE),
        use(7, customer_id=OTHER_CUSTOMER.upper()),
        use(11, customer_id=CUSTOMER_ID),
        use(13, customer_id=None, external_customer_id="acme"),  # nobody's by id
        credit(100, customer_id=CUSTOMER_ID.upper()),
    ]
    result = meterkit.usage_by_customer(meter, events)
    assert result == {
        CUSTOMER_ID: usage(meter, events, customer_id=CUSTOMER_ID),
        OTHER_CUSTOMER: usage(meter, events, customer_id=OTHER_CUSTOMER),
    }
    assert result[CUSTOMER_ID] == Usage(
        consumed_units=16, credited_units=100, balance=84, rollover_units=0
    )
    assert result[OTHER_CUSTOMER].consumed_units == 7


def test_usage_by_customer_reads_a_generator() -> None:
    meter = sum_meter()
    events = [use(5), use(7, customer_id=OTHER_CUSTOMER), use(1, external_id="x"),
              use(1, external_id="x")]  # fmt: skip
    result = meterkit.usage_by_customer(meter, (event for event in events))
    assert result == {
        CUSTOMER_ID: usage(meter, events, customer_id=CUSTOMER_ID),
        OTHER_CUSTOMER: usage(meter, events, customer_id=OTHER_CUSTOMER),
    }
    assert result[CUSTOMER_ID].consumed_units == 6


def test_usage_by_customer_by_external_customer_id() -> None:
    meter = sum_meter()
    events = [
        use(5, customer_id=None, external_customer_id="acme"),
        use(7, customer_id=None, external_customer_id="Acme"),  # another customer
        use(11, external_customer_id="acme"),
        use(13),  # no external_customer_id: nobody's
    ]
    result = meterkit.usage_by_customer(meter, events, by="external_customer_id")
    assert set(result) == {"acme", "Acme"}
    for key in result:
        assert result[key] == usage(meter, events, external_customer_id=key)
    assert result["acme"].consumed_units == 16


@pytest.mark.parametrize("by", ["customer", "external_id", "", 1])
def test_usage_by_customer_refuses_a_bad_by(by: object) -> None:
    with pytest.raises(ValidationError) as info:
        meterkit.usage_by_customer(sum_meter(), [use(5)], by=by)
    assert info.value.path == "by"


# Exact grants --------------------------------------------------------------------


def test_burn_down_of_three_huge_grants_is_exact_or_names_the_grants() -> None:
    meter = sum_meter()
    huge = 10**29 - 1
    grants = [grant(huge, n) for n in range(3)]
    events = [use(5)]
    kind, result = outcome(
        lambda: burn_down(meter, grants, events, customer_id=CUSTOMER_ID)
    )
    if kind == "refused":
        # An InexactError with no path leaves the caller guessing.
        assert isinstance(result, str), "the error names no path"
        assert result.startswith("grants"), result
        return
    assert isinstance(result, BurnDown)
    assert Fraction(result.balance) == 3 * huge - 5
    assert result.consumed_units == 5
