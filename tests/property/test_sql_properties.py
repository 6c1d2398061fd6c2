"""Differential properties: the fold, DuckDB and Postgres agree on every log.

Random meters (every operator and type pairing, nested and/or, every aggregation)
and random logs (duplicates, resets, credits and revocations, mixed customers)
run through `usage`, `usage_by_customer`, `aggregate` and `quantities`, and
through the SQL runners on both engines: each result is equal, or each engine
refuses with the fold's exception class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import attrs
import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meterkit import (
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    aggregate,
    quantities,
    sql_aggregate,
    sql_quantities,
    sql_usage,
    sql_usage_by_customer,
    usage,
    usage_by_customer,
)
from meterkit.errors import MeterkitError
from meterkit.sql import _aggregate, _jsonl_table, _usage_by_customer
from tests.sql_engines import Engines, engines, raw_rows

from .engine_strategies import METER_ID, event_logs, meters, selections

pytestmark = pytest.mark.slow
EXAMPLES = settings(max_examples=60, deadline=None)


@pytest.fixture(scope="module")
def sql() -> Engines:
    return engines()


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except MeterkitError as exc:
        return ("error", type(exc))


def check(
    sql: Engines,
    log: list[dict[str, Any]],
    fold: Callable[[], Any],
    run: Callable[[Any], Any],
) -> None:
    expected = outcome(fold)
    sql.load(raw_rows(log))
    for name, connection in sql.connections():
        assert outcome(partial(run, connection)) == expected, name


@EXAMPLES
@given(meter=meters(), log=event_logs(), selection=selections())
def test_usage_is_the_folds(sql: Engines, meter: Any, log: Any, selection: Any) -> None:
    check(
        sql,
        log,
        lambda: usage(meter, log, **selection),
        lambda con: sql_usage(con, meter, **selection),
    )


@EXAMPLES
@given(
    meter=meters(),
    log=event_logs(),
    by=st.sampled_from(("customer_id", "external_customer_id")),
)
def test_usage_by_customer_is_the_folds(
    sql: Engines, meter: Any, log: Any, by: str
) -> None:
    check(
        sql,
        log,
        lambda: usage_by_customer(meter, log, by=by),
        lambda con: sql_usage_by_customer(con, meter, by=by),
    )


@EXAMPLES
@given(meter=meters(), log=event_logs())
def test_aggregate_is_the_folds(sql: Engines, meter: Any, log: Any) -> None:
    check(
        sql, log, lambda: aggregate(meter, log), lambda con: sql_aggregate(con, meter)
    )


#: Instants around daylight saving changes (New York, Paris, Lord Howe's 30
#: minutes), and the ranges and zones of the series.
DST = (
    datetime(2025, 3, 9, 6, 30, tzinfo=timezone.utc),
    datetime(2025, 3, 9, 7, 15, tzinfo=timezone.utc),
    datetime(2025, 11, 2, 5, 30, tzinfo=timezone.utc),
    datetime(2025, 11, 2, 6, 30, tzinfo=timezone.utc),
    datetime(2025, 3, 30, 0, 59, 59, 500000, tzinfo=timezone.utc),
    datetime(2025, 3, 30, 1, 0, tzinfo=timezone.utc),
    datetime(2025, 10, 26, 0, 30, tzinfo=timezone.utc),
    datetime(2025, 10, 26, 1, 30, tzinfo=timezone.utc),
    datetime(2025, 4, 5, 14, 45, tzinfo=timezone.utc),
    datetime(2025, 4, 5, 15, 15, tzinfo=timezone.utc),
)
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
)


@st.composite
def dst_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    log = draw(event_logs())
    for event in log:
        moment = draw(st.sampled_from(DST)) + timedelta(
            minutes=draw(st.sampled_from((0, 0, 10, 45, -50)))
        )
        event["timestamp"] = moment.isoformat()
    return log


@EXAMPLES
@given(
    meter=meters(),
    log=dst_logs(),
    selection=selections(),
    interval=st.sampled_from(("hour", "day", "week", "month")),
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(DST),
    length=st.sampled_from(
        (timedelta(0), timedelta(hours=5), timedelta(days=40), timedelta(days=240))
    ),
)
def test_quantities_are_the_folds(
    sql: Engines,
    meter: Any,
    log: Any,
    selection: Any,
    interval: str,
    zone: str,
    start: datetime,
    length: timedelta,
) -> None:
    begin = start - timedelta(hours=3)
    args = dict(
        start=begin, end=begin + length, interval=interval, timezone=zone, **selection
    )
    check(
        sql,
        log,
        lambda: quantities(meter, log, **args),
        lambda con: sql_quantities(con, meter, **args),
    )


#: Defects the fold finds with the meter's checks, which the SQL path finds too.
METER_DEFECTS = (
    ("tokens", -1),
    ("tokens", -0.5),
    ("_llm", {"tokens": -3}),
    ("units", "10"),
    ("units", 1.5),
    ("units", True),
    ("units", None),
    ("rollover", None),
    ("rollover", "true"),
    ("rollover", 1),
)
#: Defects of the event's own fields (only checked in scope: the whole log here).
SHAPE_DEFECTS = (
    ("customer_id", "acme"),
    ("source", "admin"),
    ("external_id", ""),
    ("external_customer_id", ""),
)


@st.composite
def spoiled_logs(draw: st.DrawFn, shapes: bool) -> list[dict[str, Any]]:
    """Valid logs with one to three defective events inserted anywhere."""
    log = draw(event_logs())
    defects = METER_DEFECTS + (SHAPE_DEFECTS if shapes else ())
    for _ in range(draw(st.integers(1, 3))):
        event = dict(draw(st.sampled_from(log)))
        key, value = draw(st.sampled_from(defects))
        metadata = dict(event.get("metadata") or {})
        if key in ("units", "rollover"):
            event.update(name="meter.credited", source="system")
            metadata.setdefault("meter_id", "d498a884-e2cd-4d3e-8002-f536468a8b22")
            metadata.setdefault("units", 5)
            if value is None and key == "units":
                metadata.pop("units")
            else:
                metadata[key] = value
            event["metadata"] = metadata
        elif key in ("tokens", "_llm"):
            event.update(name="llm", source="user")
            metadata[key] = value
            event["metadata"] = metadata
        else:
            event[key] = value
        log.insert(draw(st.integers(0, len(log))), event)
    return log


@EXAMPLES
@given(meter=meters(), log=spoiled_logs(shapes=False), selection=selections())
def test_refusals_are_the_folds(
    sql: Engines, meter: Any, log: Any, selection: Any
) -> None:
    check(
        sql,
        log,
        lambda: usage(meter, log, **selection),
        lambda con: sql_usage(con, meter, **selection),
    )


@EXAMPLES
@given(meter=meters(), log=spoiled_logs(shapes=True))
def test_refusals_of_the_whole_log_are_the_folds(
    sql: Engines, meter: Any, log: Any
) -> None:
    check(
        sql, log, lambda: aggregate(meter, log), lambda con: sql_aggregate(con, meter)
    )
    check(sql, log, lambda: usage(meter, log), lambda con: sql_usage(con, meter))


# -- quoted string columns (`_sql_plan`, Rule 4) ----------------------------------

#: Strings whose JSON text needs escapes, or whose case or width is tricky.
TRICKY = (
    "llm",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "é",
    "ÉCLAIR",
    "ß",
    "😀",
    "\u2028",
    "\x7f",
    "\x01",
    "a/b",
    "",
    "meter.reset",
)


USE = {
    "name": "llm",
    "timestamp": "2025-01-01T00:00:00Z",
    "external_customer_id": "acme",
    "metadata": {"tokens": 3},
}
TOTAL = Meter(
    id=METER_ID,
    name="tokens",
    filter=Filter(conjunction="and", clauses=[]),
    aggregation=PropertyAggregation(func="sum", property="tokens"),
    created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
)


def named(operator: str, value: str) -> Meter:
    """`TOTAL` of the events whose ``name`` passes ``operator`` ``value``."""
    clause = FilterClause(property="name", operator=operator, value=value)
    return attrs.evolve(TOTAL, filter=Filter(conjunction="and", clauses=[clause]))


@st.composite
def tricky_cases(draw: st.DrawFn) -> tuple[Any, list[dict[str, Any]]]:
    """A random meter and spoiled log, and some of the log's names, external ids
    and external customer ids (and, half the time, the meter's filter on ``name``)
    swapped for strings with escapes, non-ASCII text or case to fold."""
    meter = draw(meters())
    log = draw(st.one_of(event_logs(), spoiled_logs(shapes=True)))
    fields = ("name", "external_id", "external_customer_id")
    for event in log:
        for field in fields:
            if draw(st.integers(0, 3)) == 0:
                event[field] = draw(st.sampled_from(TRICKY))
    if draw(st.booleans()):
        clause = FilterClause(
            property="name",
            operator=draw(st.sampled_from(("eq", "ne", "gt", "lte", "like"))),
            value=draw(st.sampled_from(TRICKY[:-2])),
        )
        meter = attrs.evolve(meter, filter=Filter(conjunction="and", clauses=[clause]))
    return meter, log


def told(call: Callable[[], Any]) -> tuple[str, Any]:
    """`outcome`, with the error's message (which names the event and field)."""
    try:
        return ("ok", call())
    except MeterkitError as exc:
        return ("error", (type(exc), str(exc)))


@EXAMPLES
@given(case=tricky_cases())
@example(case=(TOTAL, [{**USE, "external_id": ""}]))
@example(case=(named("like", 'say "hi"'), [{**USE, "name": 'say "hi" twice'}]))
@example(case=(named("gt", "é"), [{**USE, "name": "ü"}, {**USE, "name": "a"}]))
def test_quoted_string_columns_read_as_the_folds(
    tmp_path_factory: pytest.TempPathFactory, case: Any
) -> None:
    """The command line's DuckDB path (`cli._engine`): a JSON Lines file read with
    its string fields quoted gives the results, or the refusal, of the same file
    read unquoted (the table contract); for the whole log, the fold's."""
    meter, log = case
    path = tmp_path_factory.mktemp("quoted") / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in log))
    con = duckdb.connect()
    con.execute(_jsonl_table(str(path), "quoted", quoted=True))
    con.execute(_jsonl_table(str(path), "plain", quoted=False))
    for by in ("customer_id", "external_customer_id"):
        found = [
            told(
                partial(
                    _usage_by_customer, con, meter, by=by, table=table, quoted=quoted
                )
            )
            for table, quoted in (("quoted", True), ("plain", False))
        ]
        assert found[0] == found[1], by
    expected = told(partial(aggregate, meter, log))
    for table, quoted in (("quoted", True), ("plain", False)):
        found_total = told(partial(_aggregate, con, meter, table=table, quoted=quoted))
        assert found_total == expected, table
