"""Properties of the ``latest`` gauge (SPEC.md section 6), on logs full of ties.

The oracle is a sort: of the events a function counts (the customer's, the first of
each ``external_id``, after the last reset for `usage`, matching the meter), sorted
by time with Python's stable sort, the last one's value is the level. A stable sort
keeps log order among equal instants, so the last of them is the later in the log:
exactly the rule, written another way than meterkit's running comparison.

The logs take every timestamp from a pool of three instants, each written in two
layouts (``Z`` and an offset), so nearly every reading ties with another one, and
which of them wins is decided by log order alone.
"""

from __future__ import annotations

import itertools
import pickle
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from meterkit import (
    AggregateAccumulator,
    Filter,
    Meter,
    PropertyAggregation,
    UsageAccumulator,
    aggregate,
    explain,
    quantities,
    usage,
    usage_by_customer,
)

from . import engine_strategies as es
from .test_usage_properties import (
    belongs,
    exact,
    first_of_each_id,
    for_this_meter,
    ref_matches,
    ref_read,
)

#: Three instants (T0, half a second later, an hour later), each in two layouts.
TIMESTAMPS = (
    "2025-01-01T00:00:00Z",
    "2024-12-31T19:00:00-05:00",
    "2025-01-01T00:00:00.500000Z",
    "2025-01-01T05:30:00.500000+05:30",
    "2025-01-01T01:00:00Z",
    "2025-01-01T02:00:00+01:00",
)


def instant(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))


@st.composite
def tie_logs(draw: st.DrawFn, max_size: int = 25) -> list[dict[str, Any]]:
    """`es.event_logs` (uses, credits, resets, duplicates, other customers), every
    event at one of `TIMESTAMPS`."""
    log = draw(es.event_logs(max_size=max_size))
    return [dict(e, timestamp=draw(st.sampled_from(TIMESTAMPS))) for e in log]


LATEST = st.builds(
    PropertyAggregation,
    func=st.just("latest"),
    property=st.sampled_from(es.NUMERIC_PROPERTIES),
)
GAUGES = es.meters(LATEST)


def counted(
    meter: Meter,
    events: list[dict[str, Any]],
    selection: dict[str, str],
    *,
    after_last_reset: bool,
) -> list[dict[str, Any]]:
    """The events a function counts, in log order: the customer's, the first of each
    ``external_id``, after the last reset of the meter (for `usage`), matching."""
    kept = first_of_each_id([e for e in events if belongs(e, selection)])
    if after_last_reset:
        resets = [
            i for i, e in enumerate(kept) if for_this_meter(e, meter, "meter.reset")
        ]
        if resets:
            kept = kept[resets[-1] + 1 :]
    return [e for e in kept if ref_matches(meter, e)]


def last_by_time(meter: Meter, events: list[dict[str, Any]]) -> Fraction:
    """The oracle: sort by time (stable), take the last; 0 when there is none."""
    newest = sorted(events, key=instant)[-1:]
    if not newest:
        return Fraction(0)
    return exact(ref_read(newest[0], meter.aggregation.property))  # type: ignore[union-attr]


def reading(when: str, tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "llm",
        "timestamp": when,
        "external_customer_id": "acme",
        "metadata": {"tokens": tokens},
        **extra,
    }


GAUGE = Meter(
    id=es.METER_ID,
    name="Gauge",
    filter=Filter(),
    aggregation=PropertyAggregation(func="latest", property="tokens"),
    created_at=es.T0,
)
#: A tie whose winner, folded alone, is a copy that a merge must drop.
DROPPED_COPY = [
    reading(TIMESTAMPS[0], 5, external_id="x1"),
    reading(TIMESTAMPS[1], 6),
    reading(TIMESTAMPS[0], 7, external_id="x1"),
]
#: A reset between two readings of one instant: only the later counts in usage.
RESET_IN_A_TIE = [
    reading(TIMESTAMPS[4], 9),
    {
        "name": "meter.reset",
        "source": "system",
        "timestamp": TIMESTAMPS[0],
        "external_customer_id": "acme",
        "metadata": {"meter_id": es.METER_ID},
    },
    reading(TIMESTAMPS[5], 4),
    reading(TIMESTAMPS[0], 8),
]


# 1. The oracle --------------------------------------------------------------------


@given(meter=GAUGES, log=tie_logs(), selection=es.selections())
@example(meter=GAUGE, log=DROPPED_COPY, selection={})
@example(meter=GAUGE, log=RESET_IN_A_TIE, selection={"external_customer_id": "acme"})
def test_latest_is_the_last_of_a_stable_sort_by_time(
    meter: Meter, log: list[dict[str, Any]], selection: dict[str, str]
) -> None:
    window = counted(meter, log, selection, after_last_reset=True)
    expected = last_by_time(meter, window)
    result = usage(meter, log, **selection)
    assert Fraction(result.consumed_units) == expected
    assert result.balance == max(
        Decimal(0), Decimal(result.credited_units) - result.consumed_units
    )
    # explain's running level ends at the same reading.
    entries = [e for e in explain(meter, log, **selection) if e.kind == "counted"]
    assert Fraction(entries[-1].consumed_units if entries else 0) == expected
    assert all(e.units is None for e in entries)
    # aggregate: the whole log, resets or not.
    everything = counted(meter, log, {}, after_last_reset=False)
    assert Fraction(aggregate(meter, log)) == last_by_time(meter, everything)


@given(
    meter=GAUGES,
    log=tie_logs(),
    by=st.sampled_from(("customer_id", "external_customer_id")),
)
@example(meter=GAUGE, log=RESET_IN_A_TIE, by="external_customer_id")
def test_usage_by_customer_is_the_oracle_for_each_customer(
    meter: Meter, log: list[dict[str, Any]], by: str
) -> None:
    for key, result in usage_by_customer(meter, log, by=by).items():
        window = counted(meter, log, {by: key}, after_last_reset=True)
        assert Fraction(result.consumed_units) == last_by_time(meter, window)


@given(meter=GAUGES, log=tie_logs(), selection=es.selections())
@example(meter=GAUGE, log=DROPPED_COPY, selection={})
@example(meter=GAUGE, log=RESET_IN_A_TIE, selection={})
def test_each_hour_holds_its_latest_and_the_total_the_latest_overall(
    meter: Meter, log: list[dict[str, Any]], selection: dict[str, str]
) -> None:
    # The pool's instants fall in two hours: 00:00 (T0 and T0 + 0.5 s) and 01:00.
    # quantities() ignores resets: every counted event of the customer is in range.
    series = quantities(
        meter,
        log,
        start=es.T0,
        end=es.T0 + timedelta(hours=1),
        interval="hour",
        **selection,
    )
    events = counted(meter, log, selection, after_last_reset=False)
    hours = [
        [e for e in events if instant(e) < es.T0 + timedelta(hours=1)],
        [e for e in events if instant(e) >= es.T0 + timedelta(hours=1)],
    ]
    assert [Fraction(q.quantity) for q in series.quantities] == [
        last_by_time(meter, hour) for hour in hours
    ]
    assert Fraction(series.total) == last_by_time(meter, events)


# 2. Merges: any split, any grouping, one fold -------------------------------------


def cut(log: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = [0, *sorted(c % (len(log) + 1) for c in cuts), len(log)]
    return [log[a:b] for a, b in itertools.pairwise(bounds)]


def groupings(parts: list[Any]) -> list[Any]:
    """Every bracketing of the merge of 2 or 3 parts, in log order."""
    if len(parts) == 2:
        return [parts[0].merge(parts[1])]
    a, b, c = parts
    return [a.merge(b).merge(c), a.merge(b.merge(c))]


@given(
    meter=GAUGES,
    log=tie_logs(),
    selection=es.selections(),
    cuts=st.lists(st.integers(0, 25), min_size=1, max_size=2),
    first_at_start=st.booleans(),
    pickled=st.booleans(),
)
@example(
    meter=GAUGE,
    log=DROPPED_COPY,
    selection={},
    cuts=[1],
    first_at_start=True,
    pickled=False,
)
@example(
    meter=GAUGE,
    log=RESET_IN_A_TIE,
    selection={},
    cuts=[1, 3],
    first_at_start=False,
    pickled=True,
)
def test_usage_accumulators_merge_associatively(
    meter: Meter,
    log: list[dict[str, Any]],
    selection: dict[str, str],
    cuts: list[int],
    first_at_start: bool,
    pickled: bool,
) -> None:
    expected = usage(meter, log, **selection)
    parts = []
    for number, chunk in enumerate(cut(log, cuts)):
        part = UsageAccumulator(
            meter, **selection, at_start=first_at_start and number == 0
        )
        part.update(chunk)
        parts.append(pickle.loads(pickle.dumps(part)) if pickled else part)
    for merged in groupings(parts):
        assert merged.usage() == expected
    window = counted(meter, log, selection, after_last_reset=True)
    assert Fraction(expected.consumed_units) == last_by_time(meter, window)


@given(
    meter=GAUGES,
    log=tie_logs(),
    cuts=st.lists(st.integers(0, 25), min_size=1, max_size=2),
    pickled=st.booleans(),
)
@example(meter=GAUGE, log=DROPPED_COPY, cuts=[1], pickled=False)
def test_aggregate_accumulators_merge_associatively(
    meter: Meter, log: list[dict[str, Any]], cuts: list[int], pickled: bool
) -> None:
    expected = aggregate(meter, log)
    parts = []
    for chunk in cut(log, cuts):
        part = AggregateAccumulator(meter)
        part.update(chunk)
        parts.append(pickle.loads(pickle.dumps(part)) if pickled else part)
    for merged in groupings(parts):
        assert merged.value() == expected
    # With a fresh accumulator on either side: the identity.
    empty = AggregateAccumulator(meter)
    assert empty.merge(groupings(parts)[0]).value() == expected
    assert groupings(parts)[-1].merge(empty).value() == expected
    everything = counted(meter, log, {}, after_last_reset=False)
    assert Fraction(expected) == last_by_time(meter, everything)
