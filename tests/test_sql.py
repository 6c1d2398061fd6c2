"""Meters compiled to SQL: example tables per rule, on DuckDB and on Postgres.

Every case runs on both engines and on the fold: each engine must give the
expected value, and so must the fold (the SQL path has no rules of its own).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest

from meterkit import (
    CountAggregation,
    Filter,
    FilterClause,
    InexactError,
    InvalidTypeError,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    Usage,
    ValidationError,
    aggregate,
    compile_sql,
    create_table_sql,
    jsonl_table_sql,
    jsonl_view_sql,
    load_events,
    quantities,
    sql_aggregate,
    sql_quantities,
    sql_usage,
    sql_usage_by_customer,
    usage,
    usage_by_customer,
)
from tests.sql_engines import Engines, engines, raw_rows

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
CUSTOMER = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"


@pytest.fixture(scope="module")
def sql() -> Engines:
    return engines()


def meter(aggregation: Any = None, *clauses: Any, conjunction: str = "and") -> Meter:
    return Meter(
        id=METER_ID,
        name="m",
        filter=Filter(conjunction=conjunction, clauses=clauses),
        aggregation=aggregation or CountAggregation(),
        created_at=T0,
    )


def total(prop: str = "v", func: str = "sum") -> Meter:
    return meter(PropertyAggregation(func=func, property=prop))


def use(
    at: str = "2025-01-01T00:00:00Z", name: str = "llm", **metadata: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "timestamp": at,
        "external_customer_id": "acme",
        "metadata": metadata,
    }


def system(
    name: str, at: str = "2025-01-01T00:00:00Z", **metadata: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "timestamp": at,
        "source": "system",
        "external_customer_id": "acme",
        "metadata": {"meter_id": METER_ID, **metadata},
    }


def outcome(call: Any) -> Any:
    try:
        return call()
    except MeterkitError as exc:
        return type(exc)


def on_both(sql: Engines, log: list[dict[str, Any]], fold: Any, run: Any) -> list[Any]:
    """[fold, duckdb, postgres] results (or exception classes)."""
    sql.load(raw_rows(log))
    return [outcome(fold)] + [outcome(partial(run, c)) for _, c in sql.connections()]


def clause(prop: str, op: str, value: Any) -> Meter:
    return meter(None, FilterClause(property=prop, operator=op, value=value))


# -- filters: one row a case: (id, property, operator, value, metadata, matches) ---

FILTER_CASES = [
    ("number-gt-int", "v", "gt", 10, {"v": 10.5}, True),
    ("int-eq", "v", "eq", 10, {"v": 10}, True),
    ("float-eq-int", "v", "eq", 10, {"v": 10.0}, True),
    ("string-vs-int-ne", "v", "ne", 10, {"v": "10"}, False),
    ("missing-ne", "v", "ne", "x", {}, False),
    ("null-ne", "v", "ne", "x", {"v": None}, False),
    ("missing-not-like", "v", "not_like", "x", {}, False),
    ("bool-not-number", "v", "eq", 1, {"v": True}, False),
    ("bool-eq", "v", "eq", True, {"v": True}, True),
    ("bool-ne", "v", "ne", True, {"v": False}, True),
    ("bool-gt-never", "v", "gt", False, {"v": True}, False),
    ("code-point-order", "v", "lt", "apple", {"v": "Zebra"}, True),
    ("code-point-non-ascii", "v", "gt", "z", {"v": "é"}, True),
    ("like-literal-percent", "v", "like", "gpt%", {"v": "gpt-4o"}, False),
    ("like-percent-itself", "v", "like", "%", {"v": "100%"}, True),
    ("like-underscore", "v", "like", "a_b", {"v": "axb"}, False),
    ("like-case-sensitive", "v", "like", "GPT", {"v": "gpt"}, False),
    ("like-float-text", "v", "like", "1.5", {"v": 1.5}, True),
    ("like-exponent-text", "v", "like", "e-07", {"v": 1e-07}, True),
    ("like-whole-float", "v", "like", "10.0", {"v": 10.0}, True),
    ("like-int-text", "v", "like", "10", {"v": 10}, True),
    ("like-bool-text", "v", "like", "true", {"v": True}, True),
    ("like-object-no-text", "v", "not_like", "x", {"v": {"a": 1}}, False),
    ("not-like", "v", "not_like", "x", {"v": "abc"}, True),
    ("like-empty-needle", "v", "like", "", {"v": ""}, True),
    ("dot-path", "_llm.model", "eq", "gpt-4o", {"_llm": {"model": "gpt-4o"}}, True),
    ("metadata-prefix", "metadata.v", "eq", 1, {"v": 1}, True),
    ("array-not-indexed", "a.0", "eq", 5, {"a": [5]}, False),
    ("object-key-0", "a.0", "eq", 5, {"a": {"0": 5}}, True),
    ("quote-in-key", 'we"ird', "eq", 1, {'we"ird': 1}, True),
    ("backslash-in-key", "back\\slash", "eq", 1, {"back\\slash": 1}, True),
    ("big-int", "v", "gt", 10, {"v": 10**30}, True),
    ("name-field", "name", "eq", "llm", {}, True),
    ("name-not-int", "name", "eq", 5, {}, False),
    ("name-like", "name", "like", "l", {}, True),
    ("source-field", "source", "eq", "user", {}, True),
    ("timestamp-epoch", "timestamp", "eq", 1735689600, {}, True),
    ("timestamp-like", "timestamp", "like", "17356", {}, True),
    ("timestamp-not-string", "timestamp", "eq", "1735689600", {}, False),
]


@pytest.mark.parametrize(
    ("prop", "op", "value", "metadata", "expected"),
    [case[1:] for case in FILTER_CASES],
    ids=[case[0] for case in FILTER_CASES],
)
def test_filter_clauses(
    sql: Engines,
    prop: str,
    op: str,
    value: Any,
    metadata: dict[str, Any],
    expected: bool,
) -> None:
    m = clause(prop, op, value)
    log = [use(**metadata)]
    assert (
        on_both(sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m))
        == [Decimal(int(expected))] * 3
    )


def test_timestamp_is_floored_epoch_seconds(sql: Engines) -> None:
    m = clause("timestamp", "eq", -1)
    log = [use("1969-12-31T23:59:59.5Z")]
    assert (
        on_both(sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m))
        == [Decimal(1)] * 3
    )


def test_nested_and_or(sql: Engines) -> None:
    inner = Filter(
        conjunction="or",
        clauses=[
            FilterClause(property="model", operator="like", value="gpt"),
            FilterClause(property="v", operator="gte", value=1000),
        ],
    )
    m = meter(None, FilterClause(property="name", operator="eq", value="llm"), inner)
    log = [use(model="gpt-4o"), use(v=5), use(v=2000), use(name="api", v=2000)]
    assert (
        on_both(sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m))
        == [Decimal(2)] * 3
    )


# -- aggregations ------------------------------------------------------------------

TOKENS = [10, 20, 30, 30]
AGGREGATION_CASES = [
    ("count", CountAggregation(), TOKENS, "4"),
    ("sum", PropertyAggregation(func="sum", property="v"), TOKENS, "90"),
    ("avg", PropertyAggregation(func="avg", property="v"), TOKENS, "22.5"),
    ("min", PropertyAggregation(func="min", property="v"), TOKENS, "10"),
    ("max", PropertyAggregation(func="max", property="v"), TOKENS, "30"),
    ("unique", UniqueAggregation(property="v"), TOKENS, "3"),
    ("sum-exact", PropertyAggregation(func="sum", property="v"), [0.1, 0.2], "0.3"),
    (
        "avg-34-digits",
        PropertyAggregation(func="avg", property="v"),
        [1, 1, 2],
        "1.333333333333333333333333333333333",
    ),
    (
        "sum-mixed",
        PropertyAggregation(func="sum", property="v"),
        [1, 1.5, 10**20],
        "100000000000000000002.5",
    ),
    (
        "max-mixed",
        PropertyAggregation(func="max", property="v"),
        [3, 2.5, 10**25],
        "1E+25",
    ),
    (
        "min-float",
        PropertyAggregation(func="min", property="v"),
        [3, 2.5, 1e-07],
        "1E-7",
    ),
    (
        "unique-types",
        UniqueAggregation(property="v"),
        [1, "1", 1.0, None, True, {"a": 1}, {"a": 1.0}, [1, "x"]],
        "5",
    ),
    (
        "not-a-number-skipped",
        PropertyAggregation(func="avg", property="v"),
        [10, "10", None, True],
        "10",
    ),
    ("empty", PropertyAggregation(func="max", property="v"), [], "0"),
]


@pytest.mark.parametrize(
    ("aggregation", "values", "expected"),
    [case[1:] for case in AGGREGATION_CASES],
    ids=[case[0] for case in AGGREGATION_CASES],
)
def test_aggregations(
    sql: Engines, aggregation: Any, values: list[Any], expected: str
) -> None:
    m = meter(aggregation)
    log = [use(v=value) for value in values]
    assert (
        on_both(sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m))
        == [Decimal(expected)] * 3
    )


def test_sum_keeps_the_folds_digits(sql: Engines) -> None:
    m = total()
    log = [use(v=1.50), use(v=2), use(v=0.25)]
    results = on_both(
        sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m)
    )
    assert [str(r) for r in results] == ["3.75"] * 3


def test_latest_greatest_timestamp_ties_to_the_later_event(sql: Engines) -> None:
    m = total("v", "latest")
    log = [
        use("2025-01-03T00:00:00Z", v=12),
        use("2025-01-01T00:00:00Z", v=30),
        use("2025-01-03T00:00:00Z", v=1.5),
    ]
    assert (
        on_both(sql, log, lambda: aggregate(m, log), lambda c: sql_aggregate(c, m))
        == [Decimal("1.5")] * 3
    )


# -- usage: dedup, resets, credits --------------------------------------------------


def test_reference_case_reset(sql: Engines) -> None:
    m = total()
    log = [
        use(v=20),
        system("meter.reset"),
        use(v=10),
        use(v=10),
        use(v=0),
        system("meter.credited", units=10),
    ]
    expected = Usage(consumed_units=20, credited_units=10, balance=0, rollover_units=0)
    assert (
        on_both(
            sql,
            log,
            lambda: usage(m, log, external_customer_id="acme"),
            lambda c: sql_usage(c, m, external_customer_id="acme"),
        )
        == [expected] * 3
    )


@pytest.mark.parametrize(("used", "rollover"), [(100, 40), (80, 60), (150, 0)])
def test_reference_cases_rollover(sql: Engines, used: int, rollover: int) -> None:
    m = total()
    log = [
        system("meter.credited", units=80),
        system("meter.credited", units=60, rollover=True),
        use(v=used),
    ]
    results = on_both(sql, log, lambda: usage(m, log), lambda c: sql_usage(c, m))
    assert [r.rollover_units for r in results] == [rollover] * 3


def test_credits_are_a_clamped_running_sum(sql: Engines) -> None:
    m = total()
    log = [system("meter.credited", units=u) for u in (100, -150, 50)]
    results = on_both(sql, log, lambda: usage(m, log), lambda c: sql_usage(c, m))
    assert [r.credited_units for r in results] == [50] * 3


def test_dedup_first_event_holds_the_id_whatever_its_kind(sql: Engines) -> None:
    m = total()
    log = [
        {**system("meter.credited", units=5), "external_id": "a"},
        {**use(v=10), "external_id": "a"},
        {**use(v=3), "external_id": "b"},
        {**use(v=4), "external_id": "b"},
    ]
    results = on_both(sql, log, lambda: usage(m, log), lambda c: sql_usage(c, m))
    assert [(r.consumed_units, r.credited_units) for r in results] == [(3, 5)] * 3


def test_dedup_is_per_customer(sql: Engines) -> None:
    m = total()
    log = [
        {**use(v=10), "external_id": "a"},
        {**use(v=20), "external_id": "a", "external_customer_id": "globex"},
    ]
    results = on_both(
        sql,
        log,
        lambda: usage_by_customer(m, log, by="external_customer_id"),
        lambda c: sql_usage_by_customer(c, m, by="external_customer_id"),
    )
    assert [{k: u.consumed_units for k, u in r.items()} for r in results] == [
        {"acme": 10, "globex": 20}
    ] * 3


def test_reset_meter_id_in_any_case_and_other_meters_ignored(sql: Engines) -> None:
    m = total()
    other = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
    log = [
        use(v=7),
        {**system("meter.reset"), "metadata": {"meter_id": METER_ID.upper()}},
        use(v=1),
        {**system("meter.reset"), "metadata": {"meter_id": other}},
        use(v=2),
    ]
    results = on_both(sql, log, lambda: usage(m, log), lambda c: sql_usage(c, m))
    assert [r.consumed_units for r in results] == [3] * 3


def test_customer_ids_in_any_case(sql: Engines) -> None:
    m = total()
    log = [
        {**use(v=1), "customer_id": CUSTOMER.upper()},
        {**use(v=2), "customer_id": CUSTOMER},
    ]
    results = on_both(
        sql,
        log,
        lambda: usage(m, log, customer_id=CUSTOMER.upper()),
        lambda c: sql_usage(c, m, customer_id=CUSTOMER.upper()),
    )
    assert [r.consumed_units for r in results] == [3] * 3
    by = on_both(
        sql,
        log,
        lambda: usage_by_customer(m, log),
        lambda c: sql_usage_by_customer(c, m),
    )
    assert [list(r) for r in by] == [[CUSTOMER]] * 3


# -- refusals ------------------------------------------------------------------------

REFUSAL_CASES = [
    (
        "negative",
        total(),
        [use(v=1), use(v=-1)],
        ValidationError,
        "events[1].metadata.v: must be >= 0",
    ),
    (
        "credit-units-string",
        total(),
        [system("meter.credited", units="10")],
        InvalidTypeError,
        "events[0].metadata.units",
    ),
    (
        "credit-units-float",
        total(),
        [system("meter.credited", units=1.0)],
        InvalidTypeError,
        "events[0].metadata.units",
    ),
    (
        "rollover-null",
        total(),
        [system("meter.credited", units=1, rollover=None)],
        InvalidTypeError,
        "events[0].metadata.rollover",
    ),
    (
        "duplicate-still-checked",
        total(),
        [{**use(v=1), "external_id": "a"}, {**use(v=-5), "external_id": "a"}],
        ValidationError,
        "events[1].metadata.v",
    ),
    ("too-big", total(), [use(v=10**29)], ValidationError, "must be below 1E+29"),
    ("too-fine", total(), [use(v=1e-29)], ValidationError, "below 1E-28"),
]


@pytest.mark.parametrize(
    ("m", "log", "error", "message"),
    [case[1:] for case in REFUSAL_CASES],
    ids=[case[0] for case in REFUSAL_CASES],
)
def test_refusals_are_the_folds_errors(
    sql: Engines, m: Meter, log: list[Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        usage(m, log)
    sql.load(raw_rows(log))
    for _, connection in sql.connections():
        with pytest.raises(error) as raised:
            sql_usage(connection, m)
        assert message in str(raised.value)


def test_invalid_customer_id_and_source(sql: Engines) -> None:
    for event in (
        {**use(v=1), "customer_id": "acme"},
        {**use(v=1), "source": "admin"},
        {**use(v=1), "external_id": ""},
    ):
        log = [use(v=1), event]
        fold = partial(usage, total(), log)
        assert (
            on_both(sql, log, fold, lambda c: sql_usage(c, total()))
            == [ValidationError] * 3
        )


def test_duckdb_refuses_what_its_decimal_cannot_hold(sql: Engines) -> None:
    # DuckDB sums other numbers as DECIMAL(38,20): 21 digits after the point, or
    # a value of 1E+18 or more, is refused; Postgres and the fold are exact.
    for value in (1.2345678901234568e-05, 1e18 + 0.5):
        log = [use(v=value), use(v=1)]
        fold, duck, pg = on_both(
            sql,
            log,
            partial(aggregate, total(), log),
            lambda c: sql_aggregate(c, total()),
        )
        assert duck is InexactError
        assert fold == pg
        # max, min and latest read doubles as they are.
        for func in ("max", "min", "latest"):
            m = total(func=func)
            fold, duck, pg = on_both(
                sql, log, partial(aggregate, m, log), partial(sql_aggregate, meter=m)
            )
            assert fold == duck == pg
            if func == "min":
                assert fold == Decimal(repr(min(value, 1)))


def test_duckdb_refuses_a_sum_beyond_its_decimal(sql: Engines) -> None:
    log = [use(v=9e17 + 0.25), use(v=9e17 + 0.25)]  # 9e+17: each value fits
    fold, duck, pg = on_both(
        sql, log, lambda: aggregate(total(), log), lambda c: sql_aggregate(c, total())
    )
    assert duck is InexactError
    assert fold == pg == Decimal("1.8E+18")


def test_duckdb_reads_an_overflowing_number_as_infinity(sql: Engines) -> None:
    # json.loads and DuckDB both read 1e400 as an infinity: the fold refuses it.
    m = clause("v", "gt", 1)
    rows = raw_rows([use(v=1)])
    rows[0] = (*rows[0][:-1], '{"v": 1e400}')
    sql.duck.execute("DELETE FROM events")
    sql.duck.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    with pytest.raises(ValidationError, match="finite"):
        aggregate(
            m,
            [
                json.loads(
                    '{"name": "llm", "timestamp": "2025-01-01T00:00:00Z",'
                    ' "metadata": {"v": 1e400}}'
                )
            ],
        )
    with pytest.raises(ValidationError, match=r"events\[0\].metadata.v"):
        sql_aggregate(sql.duck, m)


def test_postgres_reads_a_numbers_own_digits(sql: Engines) -> None:
    log = [use(v=Decimal("0.10000000000000000001")), use(v=Decimal("0.2"))]
    sql.pg.execute("DELETE FROM events")
    load_events(sql.pg, log)
    assert (
        sql_aggregate(sql.pg, total())
        == aggregate(total(), log)
        == Decimal("0.30000000000000000001")
    )


# -- repeated keys: DuckDB reads the first, the fold and Postgres the last ----------

OTHER_METER = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"


def load_raw(
    sql: Engines, events: list[tuple[dict[str, Any], str | None]]
) -> list[dict[str, Any]]:
    """Load ``events`` into both engines, each with its metadata as the given raw
    JSON text (None: the event's own); the fold's log reads that text as
    `json.loads` does (a repeated key keeps its last value)."""
    log = [
        event if text is None else {**event, "metadata": json.loads(text)}
        for event, text in events
    ]
    rows = [
        row if text is None else (*row[:-1], text)
        for row, (_, text) in zip(raw_rows(log), events, strict=True)
    ]
    sql.load(rows)
    return log


def sum_if(prop: str, value: Any) -> Meter:
    """The sum of ``v`` over the events whose ``prop`` equals ``value``."""
    return meter(
        PropertyAggregation(func="sum", property="v"),
        FilterClause(property=prop, operator="eq", value=value),
    )


def credit(meter_id: str, rest: str) -> tuple[dict[str, Any], str]:
    """A ``meter.credited`` event with the raw metadata ``{"meter_id": .., rest}``."""
    return system("meter.credited"), f'{{"meter_id": "{meter_id}", {rest}}}'


REPEATED_KEY_CASES = [
    (
        "filter-key",
        sum_if("model", "x"),
        [(use(model="x", v=1), None), (use(), '{"model": "y", "model": "x", "v": 2}')],
        "events[1].metadata.model",
    ),
    ("property-key", total(), [(use(), '{"v": 1, "v": 2}')], "events[0].metadata.v"),
    (
        "property-key-first-not-a-number",
        total(),
        [(use(), '{"v": "1", "v": 2}')],
        "events[0].metadata.v",
    ),
    (
        "key-with-like-wildcards",
        total("total_tokens%"),
        [(use(), '{"total_tokens%": 1, "total_tokens%": 2}')],
        "events[0].metadata.total_tokens%",
    ),
    (
        "nested-step",
        total("a.b"),
        [(use(), '{"a": {"b": 1, "b": 2}}')],
        "events[0].metadata.a.b",
    ),
    (
        "nested-parent",
        total("a.b"),
        [(use(), '{"a": {"b": 1}, "a": {"b": 2}}')],
        "events[0].metadata.a",
    ),
    (
        "credit-units",
        total(),
        [credit(METER_ID, '"units": 5, "units": 9')],
        "events[0].metadata.units",
    ),
    (
        "credit-rollover",
        total(),
        [credit(METER_ID, '"units": 5, "rollover": false, "rollover": true')],
        "events[0].metadata.rollover",
    ),
    (
        "reset-meter-id",
        total(),
        [
            (use(v=5), None),
            (
                system("meter.reset"),
                f'{{"meter_id": "{OTHER_METER}", "meter_id": "{METER_ID}"}}',
            ),
        ],
        "events[1].metadata.meter_id",
    ),
    (
        "escaped-key-twice",
        sum_if("model", "x"),
        [(use(), '{"mod\\u0065l": "y", "mod\\u0065l": "x", "v": 1}')],
        "events[0].metadata.model",
    ),
    (
        "escaped-and-plain-key",
        sum_if("model", "x"),
        [(use(), '{"mod\\u0065l": "y", "model": "x", "v": 1}')],
        "events[0].metadata.model",
    ),
    (
        "quote-in-key",
        total('we"ird'),
        [(use(), '{"we\\"ird": 1, "we\\"ird": 2}')],
        'events[0].metadata.we"ird',
    ),
]


@pytest.mark.parametrize(
    ("m", "events", "path"),
    [case[1:] for case in REPEATED_KEY_CASES],
    ids=[case[0] for case in REPEATED_KEY_CASES],
)
def test_duckdb_refuses_a_repeated_key_the_meter_reads(
    sql: Engines, m: Meter, events: list[Any], path: str
) -> None:
    log = load_raw(sql, events)
    # Postgres's jsonb keeps the last of repeated keys, as json.loads does.
    assert sql_usage(sql.pg, m) == usage(m, log)
    runs = [
        partial(sql_aggregate, sql.duck, m),
        partial(sql_usage, sql.duck, m, external_customer_id="acme"),
        partial(sql_usage_by_customer, sql.duck, m, by="external_customer_id"),
    ]
    for run in runs:
        with pytest.raises(ValidationError) as raised:
            run()
        assert raised.value.path == path
        assert "DuckDB reads the first of duplicate keys" in str(raised.value)
        assert "use the fold or Postgres" in str(raised.value)


UNREAD_REPEATED_KEY_CASES = [
    ("other-key", total(), [(use(), '{"v": 1, "x": 1, "x": 2}')]),
    (
        "property-of-an-event-the-filter-refuses",
        sum_if("model", "x"),
        [(use(model="x", v=1), None), (use(), '{"model": "y", "v": 1, "v": 2}')],
    ),
    (
        "credit-key-of-a-user-event",
        total(),
        [(use(), '{"v": 1, "units": 1, "units": 2}')],
    ),
    (
        "credit-units-of-another-meter",
        total(),
        [credit(OTHER_METER, '"units": 5, "units": 9')],
    ),
    (
        "inside-the-property",
        meter(UniqueAggregation(property="a")),
        [(use(), '{"a": {"x": 1, "x": 2}}'), (use(), '{"a": {"x": 2}}')],
    ),
]


@pytest.mark.parametrize(
    ("m", "events"),
    [case[1:] for case in UNREAD_REPEATED_KEY_CASES],
    ids=[case[0] for case in UNREAD_REPEATED_KEY_CASES],
)
def test_a_repeated_key_the_meter_does_not_read_changes_nothing(
    sql: Engines, m: Meter, events: list[Any]
) -> None:
    log = load_raw(sql, events)
    assert sql_usage(sql.duck, m) == sql_usage(sql.pg, m) == usage(m, log)


def test_the_first_refused_event_decides_with_a_repeated_key(sql: Engines) -> None:
    repeated = (use(), '{"v": 1, "v": 2}')
    negative = (use(v=-1), None)
    load_raw(sql, [negative, repeated])
    with pytest.raises(ValidationError, match=r"events\[0\]\.metadata\.v: must be"):
        sql_usage(sql.duck, total())
    load_raw(sql, [repeated, negative])
    with pytest.raises(ValidationError, match=r"events\[0\]\.metadata\.v: repeats"):
        sql_usage(sql.duck, total())


def test_the_folds_own_error_wins_on_an_event_with_a_repeated_key(
    sql: Engines,
) -> None:
    # The fold reads the last value, -1: its error, not the repeated key's.
    log = load_raw(sql, [(use(), '{"v": 1, "v": -1}')])
    for run in (partial(usage, total(), log), partial(sql_usage, sql.duck, total())):
        with pytest.raises(ValidationError, match=r"events\[0\]\.metadata\.v: must"):
            run()
    # The fold reads the last value, 1: the repeated key is the reason.
    load_raw(sql, [(use(), '{"v": -1, "v": 1}')])
    with pytest.raises(ValidationError, match=r"events\[0\]\.metadata\.v: repeats"):
        sql_usage(sql.duck, total())


def jsonl_line(metadata: str) -> str:
    """A JSON Lines event of ``acme`` whose metadata is the raw JSON ``metadata``."""
    line = json.dumps({**use(), "metadata": None})
    return line.replace('"metadata": null', f'"metadata": {metadata}')


@pytest.mark.parametrize("make", [jsonl_view_sql, jsonl_table_sql])
def test_jsonl_readers_refuse_a_repeated_metadata_key(
    tmp_path: Path, make: Any
) -> None:
    m = sum_if("model", "x")
    path = tmp_path / "events.jsonl"
    good = jsonl_line('{"model": "x", "v": 1}')
    for metadata in (
        '{"model": "y", "model": "x", "v": 2}',
        '{"mod\\u0065l": "y", "model": "x", "v": 2}',
    ):
        path.write_text(f"{good}\n{jsonl_line(metadata)}\n")
        con = duckdb.connect()
        con.execute(make(str(path)))
        with pytest.raises(ValidationError) as raised:
            sql_usage_by_customer(con, m, by="external_customer_id")
        assert raised.value.path == "events[1].metadata.model"
    # A repeat of a key the meter does not read changes nothing.
    other = jsonl_line('{"model": "x", "x": 1, "x": 2, "v": 2}')
    path.write_text(f"{good}\n{other}\n")
    log = [json.loads(line) for line in (good, other)]
    con = duckdb.connect()
    con.execute(make(str(path)))
    by = "external_customer_id"
    assert sql_usage_by_customer(con, m, by=by) == usage_by_customer(m, log, by=by)


def test_jsonl_readers_refuse_a_repeated_event_key(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    line = jsonl_line('{"v": 1}')
    path.write_text(
        line
        + "\n"
        + line.replace('{"name": "llm"', '{"name": "a", "name": "llm"')
        + "\n"
    )
    con = duckdb.connect()
    con.execute(jsonl_view_sql(str(path)))
    with pytest.raises(ValidationError, match="cannot be read by duckdb"):
        sql_usage(con, total())
    # A table reads the file when it is made: DuckDB's own error, before a query.
    with pytest.raises(duckdb.InvalidInputException, match=r"(?i)duplicate key"):
        duckdb.connect().execute(jsonl_table_sql(str(path)))


def test_a_duckdb_message_cut_inside_a_character_is_a_validation_error(
    tmp_path: Path,
) -> None:
    # DuckDB quotes the bad line in its message, cut at a byte count: here in the
    # middle of a character, which its Python module cannot decode (DuckDB 2.0.1).
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'[{"\\u001f\\u001f":-100000,"\\u001f\xc2\x80":null,"0\\u001f\xc2\x80":null}]\n'
    )
    con = duckdb.connect()
    con.execute(jsonl_view_sql(str(path)))
    with pytest.raises(ValidationError, match="cannot be read by duckdb"):
        sql_usage(con, total())


# -- quantities ---------------------------------------------------------------------


def series(result: Any) -> tuple[list[tuple[str, str]], str]:
    return (
        [(q.timestamp.isoformat(), str(q.quantity)) for q in result.quantities],
        str(result.total),
    )


QUANTITY_CASES = [
    (
        "months",
        "UTC",
        "month",
        datetime(2025, 1, 1, tzinfo=timezone.utc),
        datetime(2025, 3, 1, tzinfo=timezone.utc),
        ["2025-01-15T00:00:00Z", "2025-03-01T00:00:00Z"],
        3,
    ),
    (
        "paris-short-day",
        "Europe/Paris",
        "day",
        datetime(2025, 3, 29, tzinfo=timezone.utc),
        datetime(2025, 3, 31, tzinfo=timezone.utc),
        ["2025-03-29T23:30:00Z", "2025-03-30T21:59:00Z", "2025-03-30T22:00:00Z"],
        3,
    ),
    (
        "paris-skipped-hour",
        "Europe/Paris",
        "hour",
        datetime(2025, 3, 30, 0, tzinfo=timezone.utc),
        datetime(2025, 3, 30, 2, tzinfo=timezone.utc),
        ["2025-03-30T00:59:59Z", "2025-03-30T01:00:00Z"],
        3,
    ),
    (
        "new-york-repeated-hour",
        "America/New_York",
        "hour",
        datetime(2025, 11, 2, 5, tzinfo=timezone.utc),
        datetime(2025, 11, 2, 7, tzinfo=timezone.utc),
        ["2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"],
        3,
    ),
    (
        "weeks-start-monday",
        "Asia/Kolkata",
        "week",
        datetime(2025, 1, 1, tzinfo=timezone.utc),
        datetime(2025, 1, 20, tzinfo=timezone.utc),
        ["2025-01-05T18:29:00Z", "2025-01-05T18:30:00Z"],
        4,
    ),
    (
        "lord-howe-half-hour",
        "Australia/Lord_Howe",
        "hour",
        datetime(2025, 4, 5, 14, tzinfo=timezone.utc),
        datetime(2025, 4, 5, 16, tzinfo=timezone.utc),
        ["2025-04-05T14:45:00Z", "2025-04-05T15:15:00Z", "2025-04-05T15:45:00Z"],
        2,
    ),
]


@pytest.mark.parametrize(
    ("zone", "interval", "start", "end", "times", "buckets"),
    [case[1:] for case in QUANTITY_CASES],
    ids=[case[0] for case in QUANTITY_CASES],
)
@pytest.mark.parametrize("func", ["sum", "avg", "max", "latest"])
def test_quantities_across_dst(
    sql: Engines,
    zone: str,
    interval: str,
    start: datetime,
    end: datetime,
    times: list[str],
    buckets: int,
    func: str,
) -> None:
    m = total(func=func)
    log = [use(at, v=n + 1) for n, at in enumerate(times)]
    args = {"start": start, "end": end, "interval": interval, "timezone": zone}
    fold, duck, pg = on_both(
        sql,
        log,
        lambda: quantities(m, log, **args),
        lambda c: sql_quantities(c, m, **args),
    )
    assert len(fold.quantities) == buckets
    assert series(duck) == series(pg) == series(fold)


def test_quantities_reference_avg_total(sql: Engines) -> None:
    m = total(func="avg")
    log = [use("2025-01-01T01:00:00Z", v=10)] * 3 + [use("2025-01-03T01:00:00Z", v=50)]
    end = datetime(2025, 1, 3, tzinfo=timezone.utc)
    args = {"start": T0, "end": end, "interval": "day"}
    results = on_both(
        sql,
        log,
        lambda: quantities(m, log, **args),
        lambda c: sql_quantities(c, m, **args),
    )
    assert [series(r) for r in results] == [
        (
            [
                ("2025-01-01T00:00:00+00:00", "10"),
                ("2025-01-02T00:00:00+00:00", "0"),
                ("2025-01-03T00:00:00+00:00", "50"),
            ],
            "20",
        )
    ] * 3


# -- the API --------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["events; DROP TABLE x", "1events", "a.b.c", "", 5])
def test_odd_table_names_are_refused(table: Any) -> None:
    with pytest.raises(MeterkitError):
        compile_sql(total(), "usage", dialect="duckdb", table=table)


def test_schema_qualified_table_is_quoted() -> None:
    query = compile_sql(
        total(), "aggregate", dialect="postgres", table="billing.events"
    )
    assert 'FROM "billing"."events"' in query.text


def test_unknown_dialect_query_and_connection() -> None:
    with pytest.raises(ValidationError, match="dialect"):
        compile_sql(total(), "usage", dialect="sqlite")
    with pytest.raises(ValidationError, match="query"):
        compile_sql(total(), "balance", dialect="duckdb")
    with pytest.raises(InvalidTypeError, match=r"meterkit\[duckdb\]"):
        sql_usage(object(), total())


def test_clause_values_are_bound_parameters() -> None:
    m = clause("model", "eq", "x'); DROP TABLE events; --")
    query = compile_sql(m, "aggregate", dialect="postgres")
    assert "DROP TABLE" not in query.text
    assert "x'); DROP TABLE events; --" in query.params.values()


def test_importing_meterkit_does_not_import_the_engines() -> None:
    import subprocess
    import sys

    code = (
        "import sys, meterkit, meterkit.sql; "
        "print('duckdb' in sys.modules, 'psycopg' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_jsonl_view(tmp_path: Path) -> None:
    log = [
        use(v=1),
        {**use(v=2), "external_customer_id": "globex"},
        {**use(v=3), "external_id": "a"},
        {**use(v=4), "external_id": "a"},
        system("meter.credited", units=10),
        {**use(v=0.5), "customer_id": CUSTOMER},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in log))
    con = duckdb.connect()
    con.execute(jsonl_view_sql(str(path)))
    for by in ("customer_id", "external_customer_id"):
        assert sql_usage_by_customer(con, total(), by=by) == usage_by_customer(
            total(), log, by=by
        )


def test_load_events_checks_events_as_the_fold_does() -> None:
    con = duckdb.connect()
    con.execute(create_table_sql("duckdb"))
    with pytest.raises(ValidationError, match=r"events\[1\].timestamp"):
        load_events(con, [use(), use("2025-13-01T00:00:00Z")])
