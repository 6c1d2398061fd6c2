"""The generated fast scans (`meterkit._fastscan`) give exactly the scan's verdicts.

A `UsageAccumulator` uses a fast scan when its meter can be inlined; forcing
``_fast = None`` makes it read the generic `_verdicts.Scan` only. On random meters
of the inlinable shape (and some that are not), random logs with malformed events,
mixed-case ids, duplicates, credits and resets, in every form (list, tuple,
generator, `Event` objects mixed in), both must give the same `Usage`, or raise the
same error at the same event, and hold the same state afterwards.
"""

from __future__ import annotations

import itertools
import sys
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UsageAccumulator,
    UsageByCustomer,
    usage,
)
from meterkit._fastscan import fast_scan
from meterkit._verdicts import Scan
from meterkit.matching import CompiledMeter

from . import engine_strategies as es

# Clauses the fast scan inlines: name, source, timestamp and top-level keys.
FLAT_PROPERTIES = ("name", "source", "timestamp", "tokens", "metadata.tokens", "model")

# Values each property holds in the logs, so that clauses pass as often as fail.
VOCABULARY: dict[str, tuple[Any, ...]] = {
    "name": ("llm", "api", "meter.reset"),
    "source": ("user", "system"),
    "timestamp": es.HOURS,
    "tokens": (0, 1, 4, 5, 10, 25, "5"),
    "metadata.tokens": (0, 4, 5, 10),
    "model": ("gpt-4o", "gpt-4", "4", 4, True),
}


@st.composite
def flat_clauses(draw: st.DrawFn) -> FilterClause:
    prop = draw(st.sampled_from(FLAT_PROPERTIES))
    value = draw(
        st.one_of(st.sampled_from(VOCABULARY[prop]), es.clause_values())
        if draw(st.integers(0, 3))
        else es.clause_values()
    )
    operator = draw(
        st.one_of(st.sampled_from(("eq", "ne")), st.sampled_from(es.OPERATORS))
    )
    return FilterClause(property=prop, operator=operator, value=value)


@st.composite
def flat_meters(draw: st.DrawFn) -> Meter:
    clauses = draw(st.lists(flat_clauses(), max_size=3))
    conjunction = "and" if len(clauses) > 1 else draw(st.sampled_from(("and", "or")))
    aggregation = draw(
        st.one_of(
            st.just(CountAggregation()),
            st.builds(
                PropertyAggregation,
                func=st.sampled_from(("sum", "avg")),
                property=st.sampled_from(("tokens", "metadata.tokens")),
            ),
        )
    )
    return Meter(
        id=es.METER_ID,
        name="flat",
        filter=Filter(conjunction=conjunction, clauses=clauses),
        aggregation=aggregation,
        created_at=es.T0,
    )


def api_layout(event: Any) -> Any:
    """``event`` with its timestamp written as the API writes it, when it can be."""
    if not isinstance(event, dict) or not isinstance(event.get("timestamp"), str):
        return event
    try:
        moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    except ValueError:
        return event
    utc = moment.astimezone(timezone.utc).replace(microsecond=0)
    return {**event, "timestamp": utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


# Near misses of the API layout: each must get the scan's own verdict.
LAYOUTS = [
    "2025-01-01T10:11:12Z",
    "2025-01-01T10:11.12Z",
    "2025-01-01 10:11:12Z",
    "2025-01-01t10:11:12z",
    "2025-W01-1T10:11:12Z",
    "2025-001T10:11:12.1Z",
    "20250101T101112.12Z",
    "2025-02-29T10:11:12Z",
    "2025-01-01T24:00:00Z",
    "2025-01-01T23:59:60Z",
    "2025-13-01T10:11:12Z",
    "2025-01-01T10:11:12+00:00",
    "2025-01-01T10:11:12.5Z",
    "+025-01-01T10:11:12Z",
    "2025-01-01T10:11:12",
    "٢٠٢٥-01-01T10:11:12Z",
]


@pytest.mark.parametrize("timestamp", LAYOUTS)
def test_timestamp_layouts_get_the_scans_verdict(timestamp: str) -> None:
    meter = Meter(
        id=es.METER_ID,
        name="m",
        filter=Filter(),
        aggregation=CountAggregation(),
        created_at=es.T0,
    )
    event = {"name": "llm", "timestamp": timestamp, "metadata": {}}
    assert outcome(meter, {}, [[event]], "list", fast=True) == outcome(
        meter, {}, [[event]], "list", fast=False
    )


def outcome(
    meter: Meter,
    selection: dict[str, str],
    chunks: list[list[Any]],
    form: str,
    *,
    fast: bool,
) -> tuple[Any, ...]:
    """Fold ``chunks`` one after another (later ones at_start=False, merged)."""
    result = None
    for number, chunk in enumerate(chunks):
        accumulator = UsageAccumulator(meter, at_start=number == 0, **selection)
        if not fast:
            accumulator._fast = None
        try:
            accumulator.update(es.feed(chunk, form))
        except MeterkitError as exc:
            return ("error", number, type(exc), str(exc), accumulator.usage())
        result = accumulator if result is None else result.merge(accumulator)
    assert result is not None
    return ("usage", result.usage())


@given(
    meter=st.one_of(flat_meters(), flat_meters(), es.meters()),
    data=st.data(),
)
def test_fast_scan_equals_the_scan(meter: Meter, data: st.DataObject) -> None:
    log = data.draw(es.verdict_logs(invalid_duplicate=True))
    if data.draw(st.booleans()):
        # Mostly what the fast scan decides itself: wire dicts whose timestamps
        # have the API's layout.
        log = [api_layout(e) for e in log]
        form = data.draw(st.sampled_from(es.FORMS))
    else:
        log, form = data.draw(es.mixed_forms(log))
    selection = data.draw(es.selections())
    cuts = data.draw(st.lists(st.integers(0, len(log)), max_size=2))
    bounds = [0, *sorted(cuts), len(log)]
    chunks = [log[a:b] for a, b in itertools.pairwise(bounds)]
    assert outcome(meter, selection, chunks, form, fast=True) == outcome(
        meter, selection, chunks, form, fast=False
    )


@given(meter=flat_meters(), selection=es.selections())
def test_flat_count_sum_avg_meters_get_a_fast_scan(
    meter: Meter, selection: dict[str, str]
) -> None:
    # A dead fast scan would make the property above pass trivially.
    if len(selection) == 2:
        return  # both keys: the scan alone (documented in _fastscan Rule 3)
    compiled = CompiledMeter(meter)
    scan = Scan(
        compiled, selection.get("customer_id"), selection.get("external_customer_id")
    )
    # Python 3.10's fromisoformat does not read a 'Z': no fast scans there.
    assert (fast_scan(scan) is not None) == (sys.version_info >= (3, 11))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="no fast scans on 3.10")
def test_a_fast_scan_takes_the_common_event_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fast path decides an ordinary event without the scan's verdict.
    meter = Meter(
        id=es.METER_ID,
        name="m",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=PropertyAggregation(func="sum", property="tokens"),
        created_at=es.T0,
    )
    accumulator = UsageAccumulator(meter)
    event = {
        "name": "llm",
        "timestamp": "2025-01-01T00:00:00Z",
        "metadata": {"tokens": 5},
    }
    accumulator.update([event])
    called: list[int] = []
    real = Scan.verdict

    def spy(*args: Any) -> Any:
        called.append(1)
        return real(*args)

    monkeypatch.setattr(Scan, "verdict", spy)
    accumulator = UsageAccumulator(meter)  # binds the spy
    accumulator.update([event, event])
    assert called == []
    accumulator.update([{**event, "source": "system"}])
    assert called == [1]  # a system event goes to the scan
    accumulator = UsageAccumulator(meter)
    accumulator.update([event, event])
    assert accumulator.usage().consumed_units == 10


@pytest.mark.parametrize(
    "meter",
    [
        Meter(
            id=es.METER_ID,
            name="nested",
            filter=Filter(clauses=[Filter(clauses=[])]),
            aggregation=CountAggregation(),
            created_at=es.T0,
        ),
        Meter(
            id=es.METER_ID,
            name="max",
            filter=Filter(),
            aggregation=PropertyAggregation(func="max", property="tokens"),
            created_at=es.T0,
        ),
        Meter(
            id=es.METER_ID,
            name="dotted",
            filter=Filter(
                clauses=[FilterClause(property="_llm.model", operator="eq", value="x")]
            ),
            aggregation=CountAggregation(),
            created_at=es.T0,
        ),
    ],
    ids=["nested-filter", "max", "dotted-path"],
)
def test_meters_it_cannot_inline_get_none(meter: Meter) -> None:
    assert fast_scan(Scan(CompiledMeter(meter))) is None


def by_customer(meter: Meter, log: list[Any], form: str, by: str, *, fast: bool) -> Any:
    folds = UsageByCustomer(meter, by=by)
    if not fast:
        folds._fast = None
    try:
        folds.update(es.feed(log, form))
    except MeterkitError as exc:
        return ("error", type(exc), str(exc), folds.result(), folds.counts())
    return ("usage", folds.result(), folds.counts())


@given(
    meter=st.one_of(flat_meters(), flat_meters(), es.meters()),
    by=st.sampled_from(("customer_id", "external_customer_id")),
    data=st.data(),
)
def test_fast_scan_by_customer_equals_the_scan(
    meter: Meter, by: str, data: st.DataObject
) -> None:
    log = data.draw(es.verdict_logs(invalid_duplicate=True))
    # Mostly events of a few customers, so that each customer's later events
    # are the fast scan's to decide.
    keys = st.sampled_from(
        (*es.CUSTOMER_IDS, es.CUSTOMER_IDS[0].upper(), *es.EXTERNAL_CUSTOMER_IDS)
    )
    log = [
        {**e, by: data.draw(keys)}
        if isinstance(e, dict) and e.get(by) is None and data.draw(st.booleans())
        else e
        for e in log
    ]
    if data.draw(st.booleans()):
        log = [api_layout(e) for e in log]
        form = data.draw(st.sampled_from(es.FORMS))
    else:
        log, form = data.draw(es.mixed_forms(log))
    fast = by_customer(meter, log, form, by, fast=True)
    assert fast == by_customer(meter, log, form, by, fast=False)
    if fast[0] == "usage":
        for key, result in fast[1].items():
            assert usage(meter, log, **{by: key}) == result


SUM = Meter(
    id=es.METER_ID,
    name="sum",
    filter=Filter(clauses=[FilterClause(property="name", operator="eq", value="llm")]),
    aggregation=PropertyAggregation(func="sum", property="tokens"),
    created_at=es.T0,
)


def wire(tokens: int, customer: str, name: str = "llm", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "timestamp": "2025-01-01T00:00:00Z",
        "customer_id": customer,
        "external_customer_id": None,
        "external_id": None,
        "source": "user",
        "metadata": {"tokens": tokens},
        **extra,
    }


A, B = es.CUSTOMER_IDS


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ([wire(1, A), wire(2, A), wire(4, B), wire(8, A)], {A: 11, B: 4}),
        (
            [wire(1, A), wire(2, A, external_id="x"), wire(4, A, external_id="x")],
            {A: 3},
        ),
        (
            [
                wire(1, A),
                wire(2, A, name="api", external_id="x"),
                wire(4, A, external_id="x"),
            ],
            {A: 1},
        ),
        ([wire(1, A), wire(2, A.upper()), wire(4, A.upper())], {A: 7}),
        ([wire(1, A), wire(2, B), wire(4, A), wire(8, B)], {A: 5, B: 10}),
    ],
    ids=[
        "two-customers",
        "duplicate",
        "held-by-a-non-match",
        "any-case",
        "interleaved",
    ],
)
def test_by_customer_cases(log: list[Any], expected: dict[str, int]) -> None:
    for fast in (True, False):
        result = by_customer(SUM, log, "list", "customer_id", fast=fast)
        assert {k: u.consumed_units for k, u in result[1].items()} == expected


def test_by_customer_error_keeps_what_came_before() -> None:
    log = [wire(1, A), wire(2, A), {**wire(4, A), "metadata": {"tokens": -4}}]
    fast = by_customer(SUM, log, "list", "customer_id", fast=True)
    assert fast == by_customer(SUM, log, "list", "customer_id", fast=False)
    assert fast[0] == "error"
    assert "events[2].metadata.tokens" in fast[2]
    assert fast[3][A].consumed_units == 3
