"""Properties of `aggregate`, `usage` and their accumulators.

The oracle is a brute-force reading of SPEC.md section 3, written here from the text
with plain loops over a list and `fractions.Fraction` arithmetic; it shares no code
with meterkit (only the `Meter` it reads its settings from).
"""

from __future__ import annotations

import contextlib
import decimal
import itertools
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from meterkit import (
    AggregateAccumulator,
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    Usage,
    UsageAccumulator,
    aggregate,
    matches,
    usage,
)

from . import engine_strategies as es

# The reference implementation ------------------------------------------------

_MISSING: Any = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ref_read(event: dict[str, Any], prop: str) -> Any:
    """SPEC: name and source are fields, timestamp epoch seconds, else a dot path."""
    if prop == "name":
        return event["name"]
    if prop == "source":
        return event.get("source", "user")
    if prop == "timestamp":
        moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        return (moment - _EPOCH) // timedelta(seconds=1)
    if prop.startswith("metadata."):
        prop = prop[len("metadata.") :]
    node: Any = event.get("metadata") or {}
    for step in prop.split("."):
        if not isinstance(node, dict) or step not in node:
            return _MISSING
        node = node[step]
    return node


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text_of(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if is_number(value):
        return json.dumps(value)
    return None


def ref_clause(clause: FilterClause, event: dict[str, Any]) -> bool:
    actual = ref_read(event, clause.property)
    if actual is _MISSING or actual is None:
        return False
    operator, expected = clause.operator, clause.value
    if operator in ("like", "not_like"):
        text = text_of(actual)
        if text is None:
            return False
        needle = text_of(expected)
        assert needle is not None
        return (needle in text) == (operator == "like")
    if isinstance(expected, bool):
        if not isinstance(actual, bool) or operator not in ("eq", "ne"):
            return False
        return (actual == expected) == (operator == "eq")
    if isinstance(expected, int):
        if not is_number(actual):
            return False
    elif not isinstance(actual, str):
        return False
    if operator == "eq":
        return bool(actual == expected)
    if operator == "ne":
        return bool(actual != expected)
    if operator == "gt":
        return bool(actual > expected)
    if operator == "gte":
        return bool(actual >= expected)
    if operator == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)


def ref_filter(filter_: Filter, event: dict[str, Any]) -> bool:
    results = [
        ref_filter(c, event) if isinstance(c, Filter) else ref_clause(c, event)
        for c in filter_.clauses
    ]
    if not results:
        return True
    return all(results) if filter_.conjunction == "and" else any(results)


def exact(value: int | float) -> Fraction:
    # A float is the decimal its shortest repr spells (SPEC section 2, units).
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def ref_matches(meter: Meter, event: dict[str, Any]) -> bool:
    if event.get("source", "user") != "user" or not ref_filter(meter.filter, event):
        return False
    func = meter.aggregation.func
    if func in ("sum", "max", "min", "avg", "latest"):
        return is_number(ref_read(event, meter.aggregation.property))  # type: ignore[union-attr]
    return True


def unique_key(value: object) -> object:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        return ("string", value)
    if is_number(value):
        return ("number", exact(value))  # type: ignore[arg-type]
    return ("json", json.dumps(value, sort_keys=True))


AVG = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=99, Emin=-99)


def ref_instant(event: dict[str, Any]) -> datetime:
    """The event's time as an aware datetime (any offset; compared as instants)."""
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))


def ref_aggregate(meter: Meter, events: list[dict[str, Any]]) -> Fraction:
    matching = [e for e in events if ref_matches(meter, e)]
    func = meter.aggregation.func
    if func == "count":
        return Fraction(len(matching))
    prop = meter.aggregation.property  # type: ignore[union-attr]
    if func == "latest":
        # SPEC section 6: the greatest timestamp, a tie to the later in log order.
        # A stable sort keeps log order among equal instants: take the last.
        newest = sorted(matching, key=ref_instant)[-1:]
        return exact(ref_read(newest[0], prop)) if newest else Fraction(0)
    values = [ref_read(e, prop) for e in matching]
    if func == "unique":
        keys = {unique_key(v) for v in values if v is not _MISSING and v is not None}
        return Fraction(len(keys))
    if not values:
        return Fraction(0)
    numbers = [exact(v) for v in values]
    if func == "sum":
        return sum(numbers, Fraction(0))
    if func == "max":
        return max(numbers)
    if func == "min":
        return min(numbers)
    mean = sum(numbers, Fraction(0)) / len(numbers)
    # avg is rounded once, to 34 significant digits, half-even.
    rounded = AVG.divide(Decimal(mean.numerator), Decimal(mean.denominator))
    return Fraction(rounded)


def belongs(event: dict[str, Any], selection: dict[str, str]) -> bool:
    if not selection:
        return True
    customer_id = selection.get("customer_id")
    external = selection.get("external_customer_id")
    return (
        customer_id is not None
        and event.get("customer_id") is not None
        and event["customer_id"].lower() == customer_id.lower()
    ) or (external is not None and event.get("external_customer_id") == external)


def for_this_meter(event: dict[str, Any], meter: Meter, name: str) -> bool:
    target = (event.get("metadata") or {}).get("meter_id")
    return (
        event.get("source", "user") == "system"
        and event["name"] == name
        and isinstance(target, str)
        and target.lower() == meter.id
    )


def first_of_each_id(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dedup: of the events sharing an external_id, the first in log order."""
    seen: set[str] = set()
    kept = []
    for event in events:
        external_id = event.get("external_id")
        if external_id is not None:
            if external_id in seen:
                continue
            seen.add(external_id)
        kept.append(event)
    return kept


def ref_usage(
    meter: Meter, events: list[dict[str, Any]], selection: dict[str, str]
) -> tuple[Fraction, int, Fraction, int]:
    kept = first_of_each_id([e for e in events if belongs(e, selection)])
    start = 0
    for index, event in enumerate(kept):
        if for_this_meter(event, meter, "meter.reset"):
            start = index + 1
    window = kept[start:]
    consumed = ref_aggregate(meter, window)
    credited = non_rollover = rollover = 0
    for event in window:
        if for_this_meter(event, meter, "meter.credited"):
            units = event["metadata"]["units"]
            credited = max(0, credited + units)
            if event["metadata"].get("rollover", False):
                rollover = max(0, rollover + units)
            else:
                non_rollover = max(0, non_rollover + units)
    balance = max(Fraction(0), credited - consumed)
    rolled = max(0, min(int(non_rollover + rollover - consumed), rollover))
    return consumed, credited, balance, rolled


def as_tuple(result: Usage) -> tuple[Fraction, int, Fraction, int]:
    return (
        Fraction(result.consumed_units),
        result.credited_units,
        Fraction(result.balance),
        result.rollover_units,
    )


# Fixed examples for @example: one of every kind of event, for every aggregation.
CUSTOMER = es.CUSTOMER_IDS[0]
EXAMPLE_LOG = [
    {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "customer_id": CUSTOMER,
     "external_id": "x1", "metadata": {"tokens": 10, "model": "gpt-4o"}},
    {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "customer_id": CUSTOMER,
     "external_id": "x1", "metadata": {"tokens": 99}},
    {"name": "meter.credited", "timestamp": "2025-01-01T00:00:00Z", "source": "system",
     "customer_id": CUSTOMER, "metadata": {"meter_id": es.METER_ID, "units": 80}},
    {"name": "meter.reset", "timestamp": "2025-01-01T00:00:00Z", "source": "system",
     "customer_id": CUSTOMER, "external_id": "x2",
     "metadata": {"meter_id": es.METER_ID}},
    {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "customer_id": CUSTOMER,
     "metadata": {"tokens": 2.1, "model": 4}},
    {"name": "meter.credited", "timestamp": "2025-01-01T00:00:00Z", "source": "system",
     "customer_id": CUSTOMER, "external_id": "x3",
     "metadata": {"meter_id": es.METER_ID, "units": 60, "rollover": True}},
    {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "customer_id": CUSTOMER,
     "external_id": "x2", "metadata": {"tokens": 50}},
    {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "customer_id": CUSTOMER,
     "metadata": {"tokens": 1, "model": 4.0}},
]  # fmt: skip


def example_meter(func: str) -> Meter:
    aggregation: Any
    if func == "count":
        aggregation = CountAggregation()
    elif func == "unique":
        aggregation = UniqueAggregation(property="model")
    else:
        aggregation = PropertyAggregation(func=func, property="tokens")
    return Meter(
        id=es.METER_ID,
        name="Example",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=aggregation,
        created_at=es.T0,
    )


# (a) The oracle ------------------------------------------------------------------


@given(meter=es.meters(), events=es.event_logs(), selection=es.selections())
@example(meter=example_meter("sum"), events=EXAMPLE_LOG, selection={})
@example(meter=example_meter("avg"), events=EXAMPLE_LOG, selection={})
@example(meter=example_meter("unique"), events=EXAMPLE_LOG, selection={})
@example(meter=example_meter("count"), events=EXAMPLE_LOG, selection={})
@example(meter=example_meter("latest"), events=EXAMPLE_LOG, selection={})
def test_usage_agrees_with_the_reference(
    meter: Meter, events: list[dict[str, Any]], selection: dict[str, str]
) -> None:
    assert as_tuple(usage(meter, events, **selection)) == ref_usage(
        meter, events, selection
    )


@given(meter=es.meters(), events=es.event_logs())
@example(meter=example_meter("avg"), events=EXAMPLE_LOG)
@example(meter=example_meter("unique"), events=EXAMPLE_LOG)
@example(meter=example_meter("latest"), events=EXAMPLE_LOG)
def test_aggregate_agrees_with_the_reference(
    meter: Meter, events: list[dict[str, Any]]
) -> None:
    # Dedup holds in aggregate too, over the whole log (SPEC section 3).
    expected = ref_aggregate(meter, first_of_each_id(events))
    assert Fraction(aggregate(meter, events)) == expected
    for event in events:
        assert matches(meter, event) is ref_matches(meter, event)


@given(meter=es.meters(), events=es.event_logs(), data=st.data())
def test_event_objects_and_mappings_agree(
    meter: Meter, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    selection = data.draw(es.selections())
    which = data.draw(
        st.lists(st.booleans(), min_size=len(events), max_size=len(events))
    )
    mixed = [es.as_event(e) if w else e for e, w in zip(events, which, strict=True)]
    assert usage(meter, mixed, **selection) == usage(meter, events, **selection)
    assert aggregate(meter, mixed) == aggregate(meter, events)


# (b) Chunked folds equal one fold -------------------------------------------------


def chunks_of(events: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = [0, *sorted(cuts), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def maybe_pickled(accumulator: Any, pickled: bool) -> Any:
    return pickle.loads(pickle.dumps(accumulator)) if pickled else accumulator


def tree_merge(parts: list[Any], data: st.DataObject) -> Any:
    """Merge ``parts`` (in log order) under a random bracketing."""
    if len(parts) == 1:
        return parts[0]
    split = data.draw(st.integers(1, len(parts) - 1))
    left, right = tree_merge(parts[:split], data), tree_merge(parts[split:], data)
    return maybe_pickled(left, data.draw(st.booleans())).merge(right)


@given(
    meter=es.meters(),
    events=es.event_logs(max_size=40),
    selection=es.selections(),
    data=st.data(),
)
def test_chunked_folds_merge_into_one_fold(
    meter: Meter,
    events: list[dict[str, Any]],
    selection: dict[str, str],
    data: st.DataObject,
) -> None:
    expected = usage(meter, events, **selection)
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=5))
    chunks = chunks_of(events, cuts)
    first_at_start = data.draw(st.booleans())
    parts = []
    for number, chunk in enumerate(chunks):
        accumulator = UsageAccumulator(
            meter, **selection, at_start=first_at_start and number == 0
        )
        accumulator = maybe_pickled(accumulator, data.draw(st.booleans()))
        # Fold a chunk in one go or in pieces: `update` continues where it stopped.
        split = data.draw(st.integers(0, len(chunk)))
        accumulator.update(chunk[:split])
        for event in chunk[split:]:
            accumulator.add(event)
        parts.append(maybe_pickled(accumulator, data.draw(st.booleans())))

    left_to_right = parts[0]
    for part in parts[1:]:
        left_to_right = left_to_right.merge(part)
    assert left_to_right.usage() == expected
    assert maybe_pickled(left_to_right, True).usage() == expected
    assert tree_merge(parts, data).usage() == expected
    # Merges leave their inputs alone: each part still reads as its own chunk.
    for part, chunk in zip(parts, chunks, strict=True):
        assert part.usage() == usage(meter, chunk, **selection)
    # A merged prefix keeps folding the rest of the log.
    keep = data.draw(st.integers(1, len(parts)))
    prefix = parts[0]
    for part in parts[1:keep]:
        prefix = prefix.merge(part)
    prefix = maybe_pickled(prefix, data.draw(st.booleans()))
    for chunk in chunks[keep:]:
        prefix.update(chunk)
    assert prefix.usage() == expected


def rollover_credit(units: int) -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "source": "system",
        "timestamp": "2025-01-01T00:00:00Z",
        "metadata": {"meter_id": es.METER_ID, "units": units, "rollover": True},
    }


@settings(max_examples=3 * settings().max_examples)
@given(
    events=es.event_logs(max_size=25, kinds=es.CREDIT_HEAVY),
    cuts=st.lists(st.integers(0, 25), min_size=1, max_size=4),
    first_at_start=st.booleans(),
)
@example(
    # A clamp in the first chunk, a grant in the second: (5, -5) then (10, 10)
    # composes to max(10, 5 + 10) = 15, not max(10, 5).
    events=[rollover_credit(-10), rollover_credit(5), rollover_credit(10)],
    cuts=[2],
    first_at_start=True,
)
def test_chunked_credits_merge_into_one_fold(
    events: list[dict[str, Any]], cuts: list[int], first_at_start: bool
) -> None:
    # Mostly credits, everyone's: the clamped sums (a, b) must compose exactly.
    meter = example_meter("sum")
    cuts = [cut % (len(events) + 1) for cut in cuts]
    merged = None
    for number, chunk in enumerate(chunks_of(events, cuts)):
        part = UsageAccumulator(meter, at_start=first_at_start and number == 0)
        part.update(chunk)
        merged = part if merged is None else merged.merge(part)
    assert merged is not None
    assert merged.usage() == usage(meter, events)
    assert as_tuple(merged.usage()) == ref_usage(meter, events, {})


# (c) AggregateAccumulator: a commutative monoid -----------------------------------


def aggregate_accumulator(meter: Meter, events: list[Any]) -> AggregateAccumulator:
    accumulator = AggregateAccumulator(meter)
    accumulator.update(events)
    return accumulator


@given(
    meter=es.meters(),
    a=es.event_logs(max_size=10),
    b=es.event_logs(max_size=10),
    c=es.event_logs(max_size=10),
)
def test_aggregate_accumulator_is_a_monoid_in_log_order(
    meter: Meter,
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    c: list[dict[str, Any]],
) -> None:
    x, y, z = (aggregate_accumulator(meter, part) for part in (a, b, c))
    empty = AggregateAccumulator(meter)
    whole = aggregate(meter, a + b + c)
    assert x.merge(y).value() == aggregate(meter, a + b)
    assert y.merge(x).value() == aggregate(meter, b + a)
    assert x.merge(y).merge(z).value() == x.merge(y.merge(z)).value() == whole
    assert x.merge(empty).value() == empty.merge(x).value() == x.value()
    assert pickle.loads(pickle.dumps(x)).merge(z).value() == aggregate(meter, a + c)
    # The inputs are unchanged by the merges.
    assert x.value() == aggregate(meter, a)


# (d) Order independence of aggregate ----------------------------------------------


@given(meter=es.meters(), data=st.data())
def test_aggregate_does_not_depend_on_order(meter: Meter, data: st.DataObject) -> None:
    # Without shared external_ids, which copy counts cannot change with the order.
    events = first_of_each_id(data.draw(es.event_logs()))
    if meter.aggregation.func == "latest":
        # Nor, for latest, without shared timestamps (log order breaks a tie):
        # give each event its own second, in an order of its own.
        seconds = data.draw(st.permutations(range(len(events))))
        events = [
            dict(e, timestamp=f"2025-01-01T00:00:{s:02d}Z")
            for e, s in zip(events, seconds, strict=True)
        ]
    shuffled = data.draw(st.permutations(events))
    assert aggregate(meter, shuffled) == aggregate(meter, events)


# (e) Balance ----------------------------------------------------------------------


@given(meter=es.meters(), events=es.event_logs(), selection=es.selections())
def test_balance_is_never_negative(
    meter: Meter, events: list[dict[str, Any]], selection: dict[str, str]
) -> None:
    result = usage(meter, events, **selection)
    assert result.balance >= 0
    assert result.balance == max(
        Decimal(0), Decimal(result.credited_units) - result.consumed_units
    )
    assert result.rollover_units >= 0
    assert type(result.credited_units) is int
    assert isinstance(result.consumed_units, Decimal)


# (f) Hostile ambient decimal context ----------------------------------------------


def hostile() -> decimal.Context:
    return decimal.Context(
        prec=3,
        rounding=decimal.ROUND_DOWN,
        Emax=4,
        Emin=-4,
        traps=[decimal.Inexact, decimal.Rounded, decimal.FloatOperation],
    )


@given(
    meter=es.meters(),
    events=es.event_logs(),
    selection=es.selections(),
    cut=st.integers(0, 30),
)
@example(meter=example_meter("avg"), events=EXAMPLE_LOG, selection={}, cut=3)
@example(meter=example_meter("sum"), events=EXAMPLE_LOG * 30, selection={}, cut=3)
def test_results_ignore_the_ambient_decimal_context(
    meter: Meter, events: list[dict[str, Any]], selection: dict[str, str], cut: int
) -> None:
    expected_usage = usage(meter, events, **selection)
    expected_aggregate = aggregate(meter, events)
    with decimal.localcontext(hostile()):
        assert usage(meter, events, **selection) == expected_usage
        assert aggregate(meter, events) == expected_aggregate
        head = UsageAccumulator(meter, **selection)
        tail = UsageAccumulator(meter, **selection, at_start=False)
        head.update(events[:cut])
        tail.update(events[cut:])
        assert head.merge(tail).usage() == expected_usage


# (g) Garbage raises MeterkitError and nothing else --------------------------------


def only_meterkit_errors(action: Callable[[], object]) -> None:
    with contextlib.suppress(MeterkitError):
        action()


@given(
    meter=es.meters(),
    good=es.event_logs(max_size=5),
    bad=st.lists(es.garbage_events(), min_size=1, max_size=5),
    selection=es.selections(),
    data=st.data(),
)
def test_garbage_raises_only_meterkit_errors(
    meter: Meter,
    good: list[Any],
    bad: list[Any],
    selection: dict[str, str],
    data: st.DataObject,
) -> None:
    events = data.draw(st.permutations(good + bad))
    only_meterkit_errors(lambda: usage(meter, events, **selection))
    only_meterkit_errors(lambda: aggregate(meter, events))
    for event in bad:
        only_meterkit_errors(lambda event=event: matches(meter, event))
        accumulator = UsageAccumulator(meter, **selection, at_start=False)
        only_meterkit_errors(lambda a=accumulator, e=event: a.add(e))
        only_meterkit_errors(accumulator.usage)
