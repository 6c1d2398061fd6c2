"""`usage` streams: a generator of many events folds in constant memory.

Each case folds a generator of fresh wire mappings (nothing keeps them alive but
the engine) under `tracemalloc` and checks the peak. Keeping the events would blow
far past the limit: 300,000 events of about 370 bytes each are some 110 MB (see
`test_the_peak_limit_catches_kept_events`). The default count keeps each case near
6 s on two busy cores; ``METERKIT_STREAM_EVENTS=1000000`` runs the full million
(about 20 s a case under tracing).
"""

from __future__ import annotations

import decimal
import os
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from meterkit import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    usage,
)

from .samples import METER_ID, T0

EVENTS = int(os.environ.get("METERKIT_STREAM_EVENTS", "300000"))
PEAK_LIMIT = 20 * 1024 * 1024
CREDIT_EVERY = 1000


def tokens_of(index: int) -> int:
    return index % 100


def stream(count: int, counter: list[int]) -> Iterator[dict[str, Any]]:
    """``count`` events: two of three for acme, a credit every 1000 events."""
    for index in range(count):
        counter[0] += 1
        if index % CREDIT_EVERY == CREDIT_EVERY - 1:
            yield {
                "name": "meter.credited",
                "timestamp": "2025-01-02T09:00:00Z",
                "source": "system",
                "external_customer_id": "acme",
                "metadata": {"meter_id": METER_ID, "units": 1, "rollover": False},
            }
            continue
        yield {
            "name": "llm",
            "timestamp": "2025-01-02T10:00:00Z",
            "external_customer_id": "globex" if index % 3 == 2 else "acme",
            "metadata": {"total_tokens": tokens_of(index), "model": "gpt-4o"},
        }


def acme_tokens(count: int) -> list[int]:
    """The token values of acme's usage events, worked out without meterkit."""
    return [
        tokens_of(i)
        for i in range(count)
        if i % CREDIT_EVERY != CREDIT_EVERY - 1 and i % 3 != 2
    ]


def meter_of(aggregation: Any) -> Meter:
    return Meter(
        id=METER_ID,
        name="Streamed",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=aggregation,
        created_at=T0,
    )


def expected_quantity(func: str, values: list[int]) -> Decimal:
    if func == "count":
        return Decimal(len(values))
    if func == "sum":
        return Decimal(sum(values))
    if func == "min":
        return Decimal(min(values))
    if func == "max":
        return Decimal(max(values))
    if func == "latest":
        # Every event of the stream has the same timestamp: a tie all along, which
        # the later event in log order wins each time.
        return Decimal(values[-1])
    # avg rounds once, to 34 significant digits, half-even (an explicit context).
    context = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
    return context.divide(Decimal(sum(values)), Decimal(len(values)))


@pytest.fixture
def coverage_paused() -> Iterator[None]:
    """Pause coverage measurement, if it runs, for the duration of a test.

    Line tracing would make each streaming case five times slower, and the lines it
    runs are covered by the other tests. (pytest-cov's ``no_cover`` marker would do
    this, but it fails under ``--no-cov``.)
    """
    try:
        import coverage
    except ImportError:  # pragma: no cover - coverage comes with pytest-cov
        yield
        return
    current = coverage.Coverage.current()
    if current is None:
        yield
        return
    current.stop()
    try:
        yield
    finally:
        current.start()


@pytest.mark.usefixtures("coverage_paused")
@pytest.mark.slow
@pytest.mark.parametrize(
    "aggregation",
    [
        pytest.param(CountAggregation(), id="count"),
        pytest.param(
            PropertyAggregation(func="sum", property="total_tokens"), id="sum"
        ),
        pytest.param(
            PropertyAggregation(func="min", property="total_tokens"), id="min"
        ),
        pytest.param(
            PropertyAggregation(func="max", property="total_tokens"), id="max"
        ),
        pytest.param(
            PropertyAggregation(func="avg", property="total_tokens"), id="avg"
        ),
        pytest.param(
            PropertyAggregation(func="latest", property="total_tokens"), id="latest"
        ),
    ],
)
def test_a_generator_streams_in_constant_memory(aggregation: Any) -> None:
    meter = meter_of(aggregation)
    counter = [0]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = usage(meter, stream(EVENTS, counter), external_customer_id="acme")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counter[0] == EVENTS
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB"
    values = acme_tokens(EVENTS)
    assert result.consumed_units == expected_quantity(aggregation.func, values)
    assert result.credited_units == EVENTS // CREDIT_EVERY


def test_the_peak_limit_catches_kept_events() -> None:
    # The check above can fail: keeping a third of the events breaks the limit.
    counter = [0]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        kept = list(stream(EVENTS // 3, counter))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == EVENTS // 3
    assert peak > PEAK_LIMIT
