"""`matches` and the filter types: the rules of SPEC.md section 3, one row a case.

Every row is checked twice, on the wire mapping and on the equivalent `Event`, so
that the two ways into the engine cannot drift apart.
"""

from __future__ import annotations

import decimal
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from meterkit import (
    CountAggregation,
    Event,
    Filter,
    FilterClause,
    InvalidTypeError,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    ValidationError,
    matches,
)
from meterkit.events import read_event
from meterkit.matching import (
    CompiledMeter,
    compile_clause,
    compile_filter,
    compile_refusal,
    json_text,
    unique_key,
)

from .samples import METER_ID, T0

#: The epoch seconds of ``2025-01-01T00:00:00Z``, worked out by hand:
#: 55 years of 365 days plus 14 leap days (1972 ... 2024).
JAN_1_2025 = (55 * 365 + 14) * 86_400


def meter(
    *clauses: FilterClause | Filter,
    conjunction: str = "and",
    aggregation: Any = None,
) -> Meter:
    return Meter(
        id=METER_ID,
        name="Test meter",
        filter=Filter(conjunction=conjunction, clauses=clauses),
        aggregation=CountAggregation() if aggregation is None else aggregation,
        created_at=T0,
    )


def clause(prop: str, operator: str, value: object) -> FilterClause:
    return FilterClause(property=prop, operator=operator, value=value)


def wire(
    metadata: dict[str, Any] | None = None,
    *,
    name: str = "llm",
    source: str = "user",
    timestamp: str = "2025-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "name": name,
        "timestamp": timestamp,
        "source": source,
        "metadata": {} if metadata is None else metadata,
    }


def as_event(mapping: dict[str, Any]) -> Event:
    """The `Event` of a wire mapping, with its timestamp parsed here."""
    return Event(
        name=mapping["name"],
        timestamp=datetime.fromisoformat(mapping["timestamp"].replace("Z", "+00:00")),
        source=mapping["source"],
        metadata=mapping["metadata"],
    )


def check(the_meter: Meter, mapping: dict[str, Any], expected: bool) -> None:
    assert matches(the_meter, mapping) is expected
    assert matches(the_meter, as_event(mapping)) is expected


def test_epoch_constant_is_right() -> None:
    # The oracle of the timestamp rows, checked against the standard library.
    assert datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp() == JAN_1_2025


# (metadata value of "p", operator, clause value, expected)
COMPARISONS = [
    # str / str, code-point order, case-sensitive.
    pytest.param("gpt-4o", "eq", "gpt-4o", True, id="str-eq"),
    pytest.param("gpt-4o", "eq", "gpt-4", False, id="str-eq-prefix"),
    pytest.param("gpt-4o", "eq", "GPT-4o", False, id="str-eq-case-sensitive"),
    pytest.param("gpt-4o", "ne", "gpt-4", True, id="str-ne"),
    pytest.param("gpt-4o", "ne", "gpt-4o", False, id="str-ne-equal"),
    pytest.param("gpt-4o", "gt", "gpt-4", True, id="str-gt-longer"),
    pytest.param("gpt-4o", "gt", "gpt-4o", False, id="str-gt-equal"),
    pytest.param("gpt-4o", "gt", "gpt-5", False, id="str-gt-smaller"),
    pytest.param("gpt-4o", "gte", "gpt-4o", True, id="str-gte-equal"),
    pytest.param("gpt-4o", "gte", "gpt-5", False, id="str-gte-smaller"),
    pytest.param("gpt-4o", "lt", "gpt-5", True, id="str-lt"),
    pytest.param("gpt-4o", "lt", "gpt-4o", False, id="str-lt-equal"),
    pytest.param("gpt-4o", "lte", "gpt-4o", True, id="str-lte-equal"),
    pytest.param("gpt-4o", "lte", "gpt-4", False, id="str-lte-greater"),
    pytest.param("Zebra", "lt", "apple", True, id="str-uppercase-before-lowercase"),
    pytest.param("\u00e9", "gt", "z", True, id="str-accent-after-ascii"),
    pytest.param("10", "lt", "9", True, id="str-digits-compare-as-text"),
    # U+1F600 is above U+FFFF by code point, below it in UTF-16 code units.
    pytest.param("\U0001f600", "gt", "\uffff", True, id="str-astral-code-point"),
    # int / int.
    pytest.param(10, "eq", 10, True, id="int-eq"),
    pytest.param(10, "eq", 11, False, id="int-eq-other"),
    pytest.param(10, "ne", 11, True, id="int-ne"),
    pytest.param(10, "ne", 10, False, id="int-ne-equal"),
    pytest.param(10, "gt", 9, True, id="int-gt"),
    pytest.param(10, "gt", 10, False, id="int-gt-equal"),
    pytest.param(10, "gte", 10, True, id="int-gte-equal"),
    pytest.param(10, "gte", 11, False, id="int-gte-smaller"),
    pytest.param(10, "lt", 11, True, id="int-lt"),
    pytest.param(10, "lt", 10, False, id="int-lt-equal"),
    pytest.param(10, "lte", 10, True, id="int-lte-equal"),
    pytest.param(10, "lte", 9, False, id="int-lte-greater"),
    pytest.param(-5, "lt", 0, True, id="int-negative"),
    pytest.param(2**40, "gt", 2**31 - 1, True, id="int-property-beyond-32-bits"),
    # int clause / float property.
    pytest.param(10.0, "eq", 10, True, id="float-eq-int"),
    pytest.param(10.0, "ne", 10, False, id="float-ne-equal-int"),
    pytest.param(10.5, "ne", 10, True, id="float-ne-int"),
    pytest.param(10.5, "gt", 10, True, id="float-gt-int"),
    pytest.param(10.5, "gte", 11, False, id="float-gte-int"),
    pytest.param(9.99, "lt", 10, True, id="float-lt-int"),
    pytest.param(10.5, "lte", 10, False, id="float-lte-int"),
    # bool / bool: eq and ne only.
    pytest.param(True, "eq", True, True, id="bool-eq"),
    pytest.param(True, "eq", False, False, id="bool-eq-other"),
    pytest.param(False, "eq", False, True, id="bool-eq-false"),
    pytest.param(True, "ne", False, True, id="bool-ne"),
    pytest.param(True, "ne", True, False, id="bool-ne-equal"),
    pytest.param(True, "gt", False, False, id="bool-gt-is-false"),
    pytest.param(True, "gte", False, False, id="bool-gte-is-false"),
    pytest.param(False, "lt", True, False, id="bool-lt-is-false"),
    pytest.param(True, "lte", True, False, id="bool-lte-is-false"),
    # A bool is never a number, either way round.
    pytest.param(True, "eq", 1, False, id="bool-property-eq-int"),
    pytest.param(True, "ne", 1, False, id="bool-property-ne-int"),
    pytest.param(True, "gt", 0, False, id="bool-property-gt-int"),
    pytest.param(1, "eq", True, False, id="int-property-eq-bool"),
    pytest.param(1, "ne", True, False, id="int-property-ne-bool"),
    pytest.param(0, "eq", False, False, id="zero-property-eq-false"),
    # Any other pairing is false, ne included.
    pytest.param("10", "eq", 10, False, id="mixed-str-eq-int"),
    pytest.param("10", "ne", 10, False, id="mixed-str-ne-int"),
    pytest.param("10", "gt", 5, False, id="mixed-str-gt-int"),
    pytest.param(10, "eq", "10", False, id="mixed-int-eq-str"),
    pytest.param(10, "ne", "10", False, id="mixed-int-ne-str"),
    pytest.param(10, "lt", "z", False, id="mixed-int-lt-str"),
    pytest.param(1.5, "ne", "1.5", False, id="mixed-float-ne-str"),
    pytest.param("true", "eq", True, False, id="mixed-str-eq-bool"),
    pytest.param("true", "ne", True, False, id="mixed-str-ne-bool"),
    pytest.param(True, "eq", "true", False, id="mixed-bool-eq-str"),
    pytest.param(True, "ne", "true", False, id="mixed-bool-ne-str"),
    pytest.param([1], "eq", 1, False, id="mixed-list-eq-int"),
    pytest.param([1], "ne", 1, False, id="mixed-list-ne-int"),
    pytest.param({"a": 1}, "ne", "x", False, id="mixed-object-ne-str"),
    pytest.param({"a": 1}, "ne", True, False, id="mixed-object-ne-bool"),
    # like / not_like: case-sensitive literal substrings; % and _ are characters.
    pytest.param("gpt-4o-mini", "like", "4o", True, id="like-substring"),
    pytest.param("gpt-4o-mini", "like", "gpt-4o-mini", True, id="like-whole"),
    pytest.param("gpt-4o-mini", "like", "4O", False, id="like-case-sensitive"),
    pytest.param("gpt-4o-mini", "not_like", "4o", False, id="not-like-substring"),
    pytest.param("gpt-4o-mini", "not_like", "claude", True, id="not-like-absent"),
    pytest.param("gpt-4o", "like", "gpt%", False, id="like-percent-is-literal"),
    pytest.param("gpt%4", "like", "gpt%", True, id="like-percent-matches-percent"),
    pytest.param("gpt", "like", "g_t", False, id="like-underscore-is-literal"),
    pytest.param("a g_t b", "like", "g_t", True, id="like-underscore-matches"),
    pytest.param("abc", "not_like", "%", True, id="not-like-percent-literal"),
    pytest.param("100%", "not_like", "%", False, id="not-like-percent-present"),
    # like on numbers: their JSON form.
    pytest.param(1.5, "like", "1.5", True, id="like-float-json-form"),
    pytest.param(1.5, "like", ".", True, id="like-float-decimal-point"),
    pytest.param(2.25, "like", "2.3", False, id="like-float-no-rounding"),
    pytest.param(1.5, "not_like", "1", False, id="not-like-float"),
    pytest.param(1.5, "not_like", "2", True, id="not-like-float-absent"),
    pytest.param(10, "like", "1", True, id="like-int-json-form"),
    pytest.param(15, "like", 5, True, id="like-int-clause-on-int"),
    pytest.param("v10", "like", 10, True, id="like-int-clause-on-str"),
    pytest.param(-7, "like", "-", True, id="like-negative-int"),
    # like on booleans: true / false.
    pytest.param(True, "like", "true", True, id="like-true"),
    pytest.param(True, "like", "ru", True, id="like-true-substring"),
    pytest.param(False, "like", "false", True, id="like-false"),
    pytest.param(True, "like", "True", False, id="like-bool-case-sensitive"),
    pytest.param(True, "like", "1", False, id="like-bool-is-not-one"),
    pytest.param(False, "not_like", "true", True, id="not-like-false"),
    pytest.param(True, "not_like", "true", False, id="not-like-true"),
    pytest.param("it is true", "like", True, True, id="like-bool-clause-on-str"),
    pytest.param("it is True", "like", True, False, id="like-bool-clause-lowercase"),
    # Objects and lists have no text: like and not_like are both false.
    pytest.param([1], "like", "1", False, id="like-list"),
    pytest.param([1], "not_like", "x", False, id="not-like-list"),
    pytest.param({"a": "b"}, "like", "a", False, id="like-object"),
    pytest.param({"a": "b"}, "not_like", "x", False, id="not-like-object"),
]


@pytest.mark.parametrize(("actual", "operator", "value", "expected"), COMPARISONS)
def test_comparison(
    actual: object, operator: str, value: object, expected: bool
) -> None:
    check(meter(clause("p", operator, value)), wire({"p": actual}), expected)


# A clause value for each operator that would make it true if the property were
# present with a matching value: missing or null must still make it false.
TRUE_IF_PRESENT = [
    pytest.param("eq", "x", id="eq"),
    pytest.param("ne", "x", id="ne"),
    pytest.param("gt", 0, id="gt"),
    pytest.param("gte", 0, id="gte"),
    pytest.param("lt", 0, id="lt"),
    pytest.param("lte", 0, id="lte"),
    pytest.param("like", "x", id="like"),
    pytest.param("not_like", "x", id="not_like"),
    pytest.param("eq", True, id="eq-bool"),
    pytest.param("ne", True, id="ne-bool"),
    pytest.param("ne", 0, id="ne-int"),
]


@pytest.mark.parametrize(("operator", "value"), TRUE_IF_PRESENT)
def test_missing_property_is_false(operator: str, value: object) -> None:
    check(meter(clause("p", operator, value)), wire({"other": 1}), False)


@pytest.mark.parametrize(("operator", "value"), TRUE_IF_PRESENT)
def test_null_property_is_false(operator: str, value: object) -> None:
    check(meter(clause("p", operator, value)), wire({"p": None}), False)


@pytest.mark.parametrize(("operator", "value"), TRUE_IF_PRESENT)
def test_missing_nested_property_is_false(operator: str, value: object) -> None:
    check(meter(clause("a.b", operator, value)), wire({"a": {"c": 1}}), False)


NESTED = {
    "_llm": {"model": "gpt-4o", "usage": {"tokens": 5}},
    "model": "top",
    "metadata": {"model": "inner"},
    "a.b": 1,
    "name": "from-metadata",
    "source": "from-metadata",
}

PATHS = [
    pytest.param("_llm.model", "eq", "gpt-4o", True, id="dot-path"),
    pytest.param("_llm.usage.tokens", "gt", 4, True, id="dot-path-depth-3"),
    pytest.param("_llm.usage.tokens", "lt", 5, False, id="dot-path-depth-3-false"),
    pytest.param("_llm.missing", "ne", "x", False, id="dot-path-missing"),
    pytest.param("_llm.model.x", "ne", "x", False, id="dot-path-through-a-string"),
    pytest.param("_llm", "ne", "x", False, id="object-is-not-a-string"),
    pytest.param("a.b", "eq", 1, False, id="dotted-key-is-a-path"),
    pytest.param("metadata.model", "eq", "top", True, id="leading-metadata-ignored"),
    pytest.param(
        "metadata._llm.model", "eq", "gpt-4o", True, id="leading-metadata-path"
    ),
    pytest.param("metadata.metadata.model", "eq", "inner", True, id="only-one-prefix"),
    pytest.param("metadata", "eq", "x", False, id="metadata-key-itself"),
    pytest.param("name", "eq", "llm", True, id="name-is-the-event-name"),
    pytest.param("name", "eq", "from-metadata", False, id="name-not-from-metadata"),
    pytest.param("metadata.name", "eq", "from-metadata", True, id="metadata-name"),
    pytest.param("name", "like", "ll", True, id="name-like"),
    pytest.param("name", "ne", "api", True, id="name-ne"),
    pytest.param("source", "eq", "user", True, id="source-is-the-event-source"),
    pytest.param("source", "ne", "system", True, id="source-ne"),
    pytest.param("source", "eq", "from-metadata", False, id="source-not-metadata"),
    pytest.param("timestamp", "eq", JAN_1_2025, True, id="timestamp-epoch-seconds"),
    pytest.param("timestamp", "gt", JAN_1_2025 - 1, True, id="timestamp-gt"),
    pytest.param("timestamp", "lt", JAN_1_2025, False, id="timestamp-lt"),
    pytest.param("timestamp", "lte", JAN_1_2025, True, id="timestamp-lte"),
    pytest.param("timestamp", "like", "17356", True, id="timestamp-like-json"),
    pytest.param("timestamp", "eq", str(JAN_1_2025), False, id="timestamp-not-text"),
    pytest.param("timestamp", "ne", "2025", False, id="timestamp-ne-text"),
]


@pytest.mark.parametrize(("prop", "operator", "value", "expected"), PATHS)
def test_property_paths(
    prop: str, operator: str, value: object, expected: bool
) -> None:
    check(meter(clause(prop, operator, value)), wire(NESTED), expected)


@pytest.mark.parametrize(
    ("timestamp", "seconds"),
    [
        pytest.param("2025-01-01T00:00:00Z", JAN_1_2025, id="utc"),
        pytest.param("2025-01-01T00:00:00.999999Z", JAN_1_2025, id="whole-seconds"),
        pytest.param("2025-01-01T01:00:00+01:00", JAN_1_2025, id="offset"),
        pytest.param("2024-12-31T19:00:01-05:00", JAN_1_2025 + 1, id="negative-offset"),
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
    ],
)
def test_timestamp_is_epoch_seconds(timestamp: str, seconds: int) -> None:
    the_meter = meter(clause("timestamp", "eq", seconds))
    check(the_meter, wire(timestamp=timestamp), True)
    check(meter(clause("timestamp", "ne", seconds)), wire(timestamp=timestamp), False)


# Depth 3: name == "llm" and (model == "gpt-4o" or (tokens > 100 and flag == true)).
DEEP = meter(
    clause("name", "eq", "llm"),
    Filter(
        conjunction="or",
        clauses=[
            clause("model", "eq", "gpt-4o"),
            Filter(clauses=[clause("tokens", "gt", 100), clause("flag", "eq", True)]),
        ],
    ),
)

NESTING = [
    pytest.param(DEEP, wire({"model": "gpt-4o"}), True, id="deep-first-branch"),
    pytest.param(
        DEEP, wire({"tokens": 101, "flag": True}), True, id="deep-second-branch"
    ),
    pytest.param(
        DEEP, wire({"tokens": 101, "flag": False}), False, id="deep-inner-and-fails"
    ),
    pytest.param(DEEP, wire({"tokens": 100, "flag": True}), False, id="deep-boundary"),
    pytest.param(
        DEEP, wire({"model": "gpt-4o"}, name="api"), False, id="deep-outer-and-fails"
    ),
    pytest.param(DEEP, wire({}), False, id="deep-nothing"),
    pytest.param(meter(), wire({}), True, id="empty-filter-matches-all"),
    pytest.param(
        meter(conjunction="or"), wire({}), True, id="empty-or-filter-matches-all"
    ),
    pytest.param(
        meter(clause("name", "eq", "api"), Filter()),
        wire({}),
        False,
        id="nested-empty-filter-in-and",
    ),
    pytest.param(
        meter(clause("name", "eq", "api"), Filter(), conjunction="or"),
        wire({}),
        True,
        id="nested-empty-filter-in-or",
    ),
    pytest.param(
        meter(clause("name", "eq", "api"), clause("name", "eq", "llm")),
        wire({}),
        False,
        id="and-needs-all",
    ),
    pytest.param(
        meter(
            clause("name", "eq", "api"), clause("name", "eq", "llm"), conjunction="or"
        ),
        wire({}),
        True,
        id="or-needs-one",
    ),
    pytest.param(
        meter(clause("name", "eq", "api"), conjunction="or"),
        wire({}),
        False,
        id="single-clause-or",
    ),
    pytest.param(
        meter(Filter(clauses=[Filter(clauses=[clause("name", "ne", "llm")])])),
        wire({}),
        False,
        id="nested-single-clause-depth-3",
    ),
]


@pytest.mark.parametrize(("the_meter", "event", "expected"), NESTING)
def test_nesting(the_meter: Meter, event: dict[str, Any], expected: bool) -> None:
    check(the_meter, event, expected)


@pytest.mark.parametrize(
    ("the_meter", "as_user"),
    [
        pytest.param(meter(), True, id="empty-filter"),
        pytest.param(
            meter(clause("source", "eq", "system")), False, id="source-system"
        ),
        pytest.param(
            meter(clause("source", "ne", "user")), False, id="source-not-user"
        ),
        pytest.param(meter(clause("name", "eq", "llm")), True, id="name-filter"),
        pytest.param(
            meter(aggregation=PropertyAggregation(func="sum", property="tokens")),
            True,
            id="sum",
        ),
    ],
)
def test_system_events_never_match(the_meter: Meter, as_user: bool) -> None:
    event = wire({"tokens": 5}, source="system")
    check(the_meter, event, False)
    # The same event from a user: only the source made the difference.
    check(the_meter, {**event, "source": "user"}, as_user)


SUM = PropertyAggregation(func="sum", property="tokens")

AGGREGATION_PROPERTY = [
    pytest.param(SUM, {"tokens": 5}, True, id="sum-int"),
    pytest.param(SUM, {"tokens": 0.5}, True, id="sum-float"),
    pytest.param(SUM, {}, False, id="sum-missing"),
    pytest.param(SUM, {"tokens": None}, False, id="sum-null"),
    pytest.param(SUM, {"tokens": "5"}, False, id="sum-string"),
    pytest.param(SUM, {"tokens": True}, False, id="sum-bool"),
    pytest.param(SUM, {"tokens": [5]}, False, id="sum-list"),
    pytest.param(
        PropertyAggregation(func="max", property="_llm.tokens"),
        {"_llm": {"tokens": 3}},
        True,
        id="max-dot-path",
    ),
    pytest.param(
        PropertyAggregation(func="min", property="metadata.tokens"),
        {"tokens": 3},
        True,
        id="min-leading-metadata",
    ),
    pytest.param(UniqueAggregation(property="tokens"), {}, True, id="unique-missing"),
    pytest.param(
        UniqueAggregation(property="tokens"), {"tokens": "x"}, True, id="unique-str"
    ),
    pytest.param(CountAggregation(), {}, True, id="count"),
]


@pytest.mark.parametrize(("aggregation", "metadata", "expected"), AGGREGATION_PROPERTY)
def test_aggregation_property_decides_the_match(
    aggregation: Any, metadata: dict[str, Any], expected: bool
) -> None:
    check(meter(aggregation=aggregation), wire(metadata), expected)


# Bad definitions: (build, error class, field named, value named).
BAD_DEFINITIONS = [
    pytest.param(
        lambda: clause("p", "eq", "x" * 1001),
        ValidationError,
        "value",
        "1001",
        id="value-too-long",
    ),
    pytest.param(
        lambda: clause("p", "eq", 2**31),
        ValidationError,
        "value",
        repr(2**31),
        id="value-above-int32",
    ),
    pytest.param(
        lambda: clause("p", "eq", -(2**31) - 1),
        ValidationError,
        "value",
        repr(-(2**31) - 1),
        id="value-below-int32",
    ),
    pytest.param(
        lambda: clause("p", "eq", 1.5),
        InvalidTypeError,
        "value",
        "1.5",
        id="float-value",
    ),
    pytest.param(
        lambda: clause("p", "eq", None),
        InvalidTypeError,
        "value",
        "None",
        id="null-value",
    ),
    pytest.param(
        lambda: clause("p", "contains", "x"),
        ValidationError,
        "operator",
        "'contains'",
        id="unknown-operator",
    ),
    pytest.param(
        lambda: clause("p", "EQ", "x"),
        ValidationError,
        "operator",
        "'EQ'",
        id="operator-case",
    ),
    pytest.param(
        lambda: Filter(conjunction="xor"),
        ValidationError,
        "conjunction",
        "'xor'",
        id="unknown-conjunction",
    ),
    pytest.param(
        lambda: Filter(clauses=[clause("p", "eq", 1), {"property": "p"}]),
        InvalidTypeError,
        "clauses[1]",
        "{'property': 'p'}",
        id="mapping-in-clauses",
    ),
    pytest.param(
        lambda: Filter(clauses=["name eq llm"]),
        InvalidTypeError,
        "clauses[0]",
        "'name eq llm'",
        id="string-in-clauses",
    ),
    pytest.param(
        lambda: PropertyAggregation(func="count", property="tokens"),
        ValidationError,
        "func",
        "'count'",
        id="property-aggregation-count",
    ),
    pytest.param(
        lambda: PropertyAggregation(func="median", property="tokens"),
        ValidationError,
        "func",
        "'median'",
        id="property-aggregation-median",
    ),
]


@pytest.mark.parametrize(("build", "error", "field", "shown"), BAD_DEFINITIONS)
def test_bad_definitions(
    build: Any, error: type[MeterkitError], field: str, shown: str
) -> None:
    with pytest.raises(error) as info:
        build()
    assert isinstance(info.value, MeterkitError)
    message = str(info.value)
    assert message.startswith(f"{field}:")
    assert shown in message


def test_count_in_property_aggregation_points_to_the_right_type() -> None:
    with pytest.raises(ValidationError, match="CountAggregation"):
        PropertyAggregation(func="count", property="tokens")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("x" * 1000, id="1000-chars"),
        pytest.param("", id="empty-string"),
        pytest.param(2**31 - 1, id="int32-max"),
        pytest.param(-(2**31), id="int32-min"),
        pytest.param(True, id="bool"),
    ],
)
def test_values_at_the_limits_are_accepted(value: object) -> None:
    assert clause("p", "eq", value).value == value


# -- Wide filters: one stack frame per level, not per clause ----------------------


def with_stack_to_spare(frames: int, run: Any) -> Any:
    """``run()`` with only ``frames`` frames of stack left before a RecursionError."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        return run()
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("conjunction", ["and", "or"])
@pytest.mark.parametrize("size", [4, 5, 1000])
def test_a_wide_filter_is_evaluated_in_a_few_frames(
    conjunction: str, size: int
) -> None:
    # Only the last clause decides: an `and` must try every clause to reach it
    # (all pass before it), an `or` too (all fail before it). 1000 clauses used to
    # be 1000 nested calls.
    before = "ne" if conjunction == "and" else "eq"
    hits = Filter(
        conjunction=conjunction,
        clauses=[
            *(clause("model", before, f"m{n}") for n in range(size - 1)),
            clause("model", "eq", "hit"),
        ],
    )
    view = read_event(wire({"model": "hit"}), 0)
    miss_view = read_event(wire({"model": "miss"}), 0)
    predicate, refusal = compile_filter(hits), compile_refusal(hits)
    assert with_stack_to_spare(30, lambda: predicate(view, 0)) is True
    assert with_stack_to_spare(30, lambda: refusal(view, 0)) == ()
    assert with_stack_to_spare(30, lambda: predicate(miss_view, 0)) is False
    assert with_stack_to_spare(30, lambda: refusal(miss_view, 0))
    the_meter = Meter(
        id=METER_ID,
        name="Wide",
        filter=hits,
        aggregation=CountAggregation(),
        created_at=T0,
    )
    assert with_stack_to_spare(60, lambda: matches(the_meter, wire({"model": "hit"})))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 7])
@pytest.mark.parametrize("conjunction", ["and", "or"])
def test_any_number_of_clauses_combines_like_all_and_any(
    size: int, conjunction: str
) -> None:
    # Each clause passes or fails by its own key; every pattern of verdicts.
    the_filter = Filter(
        conjunction=conjunction,
        clauses=[clause(f"k{n}", "eq", True) for n in range(size)],
    )
    predicate, refusal = compile_filter(the_filter), compile_refusal(the_filter)
    for pattern in range(2**size):
        verdicts = [bool(pattern >> n & 1) for n in range(size)]
        view = read_event(wire({f"k{n}": v for n, v in enumerate(verdicts)}), 0)
        expected = (all if conjunction == "and" else any)(verdicts) or not verdicts
        assert predicate(view, 0) is expected
        assert (refusal(view, 0) == ()) is expected


def test_timestamp_text_clause_never_reads_metadata() -> None:
    # `timestamp` is the event's time even when metadata has a "timestamp" key;
    # only `metadata.timestamp` reads that key.
    event = wire({"timestamp": "1735689600"})
    check(meter(clause("timestamp", "eq", "1735689600")), event, False)
    check(meter(clause("metadata.timestamp", "eq", "1735689600")), event, True)


# -- unique: distinct by JSON type and value, at every depth ----------------------


def unique_values(*values: object) -> int:
    """The number of distinct keys the engine makes of ``values``."""
    return len({unique_key(value) for value in values})


SAME_VALUES = [
    pytest.param([1, 1.0, Decimal(1), Decimal("1.00")], id="numbers"),
    pytest.param([{"a": 1}, {"a": 1.0}, {"a": Decimal("1.0")}], id="in-object"),
    pytest.param([[1, [2.5]], [1.0, [Decimal("2.50")]]], id="in-array"),
    pytest.param([{"a": 1, "b": 2}, {"b": 2, "a": 1}], id="key-order"),
    pytest.param([[1, 2], (1, 2)], id="list-and-tuple"),
    pytest.param([0.1, Decimal("0.1")], id="float-by-shortest-repr"),
    pytest.param([{"a": None}, {"a": None}], id="nested-null"),
]


@pytest.mark.parametrize("values", SAME_VALUES)
def test_unique_same_json_value_is_one_value(values: list[object]) -> None:
    assert unique_values(*values) == 1


DIFFERENT_VALUES = [
    pytest.param([1, "1"], id="number-string"),
    pytest.param([{"a": 1}, {"a": "1"}], id="number-string-in-object"),
    pytest.param([{"a": Decimal(1)}, {"a": "1"}], id="decimal-string-in-object"),
    pytest.param([[True], [1]], id="bool-number-in-array"),
    pytest.param([{"a": None}, {"a": "None"}], id="null-string-in-object"),
    pytest.param([[1, 2], [2, 1]], id="array-order"),
    pytest.param([[1], {"0": 1}], id="array-object"),
    pytest.param([{"a": [1]}, {"a": 1}], id="nesting"),
    pytest.param([["a", "b"], ["a,b"], ["ab"]], id="string-boundaries"),
    pytest.param([{"a": "b"}, ["a", "b"], {"a": {"b": None}}], id="shapes"),
    pytest.param([{"]": 1}, {"}": 1}, {"key": 1}], id="keys-like-tokens"),
    pytest.param([["]"], [], ["["]], id="strings-like-tokens"),
    pytest.param([[], {}, None, ""], id="empties"),
]


@pytest.mark.parametrize("values", DIFFERENT_VALUES)
def test_unique_different_json_values_stay_apart(values: list[object]) -> None:
    assert unique_values(*values) == len(values)


def unique_meter(prop: str = "v") -> Meter:
    return meter(aggregation=UniqueAggregation(property=prop))


def contribution(the_meter: Meter, metadata: dict[str, Any], index: int = 0) -> Any:
    view = read_event(wire(metadata), index)
    return CompiledMeter(the_meter).contribution(view, index)


def test_unique_contribution_keys_nested_values_by_json_value() -> None:
    the_meter = unique_meter()
    keys = {
        contribution(the_meter, {"v": value})
        for value in ({"a": 1}, {"a": 1.0}, {"a": Decimal(1)}, {"a": "1"})
    }
    assert len(keys) == 2


def test_unique_value_nested_100_000_deep_is_keyed_without_recursion() -> None:
    deep: Any = 1
    deep_float: Any = 1.0
    for _ in range(100_000):
        deep, deep_float = [deep], [deep_float]
    the_meter = unique_meter()
    key = contribution(the_meter, {"v": deep})
    assert key == contribution(the_meter, {"v": deep_float})
    assert hash(key) == hash(contribution(the_meter, {"v": deep_float}))
    assert key != contribution(the_meter, {"v": [deep]})


def cycle() -> list[Any]:
    looped: list[Any] = [1]
    looped.append({"x": looped})
    return looped


@pytest.mark.parametrize(
    ("value", "error", "path", "shown"),
    [
        pytest.param(float("nan"), ValidationError, "v", "nan", id="nan"),
        pytest.param(float("-inf"), ValidationError, "v", "-inf", id="minus-inf"),
        pytest.param(Decimal("NaN"), ValidationError, "v", "NaN", id="decimal-nan"),
        pytest.param(
            {"a": [1, float("inf")]}, ValidationError, "v.a[1]", "inf", id="nested"
        ),
        pytest.param(
            [{"b": Decimal("-Infinity")}],
            ValidationError,
            "v[0].b",
            "Infinity",
            id="nested-decimal",
        ),
        pytest.param({1: "x"}, InvalidTypeError, "v", "1", id="int-key"),
        pytest.param({"a": {2.5}}, InvalidTypeError, "v.a", "{2.5}", id="a-set"),
        pytest.param(cycle(), ValidationError, "v[1].x", "[1, {", id="cycle"),
    ],
)
def test_unique_refuses_what_is_no_json_value_naming_the_event(
    value: object, error: type[MeterkitError], path: str, shown: str
) -> None:
    with pytest.raises(error) as info:
        contribution(unique_meter(), {"v": value}, index=3)
    message = str(info.value)
    assert message.startswith(f"events[3].metadata.{path}: ")
    assert shown in message


# -- Non-finite and out-of-range numbers: errors, never "not a number" -------------

BAD_AGGREGATED_NUMBERS = [
    pytest.param(float("nan"), "finite", id="nan"),
    pytest.param(float("inf"), "finite", id="inf"),
    pytest.param(float("-inf"), "finite", id="minus-inf"),
    pytest.param(Decimal("NaN"), "finite", id="decimal-nan"),
    pytest.param(Decimal("sNaN"), "finite", id="decimal-snan"),
    pytest.param(Decimal("Infinity"), "finite", id="decimal-inf"),
    pytest.param(Decimal("-Infinity"), "finite", id="decimal-minus-inf"),
    pytest.param(1e300, "below 1E+29", id="float-out-of-range"),
    pytest.param(10**29, "below 1E+29", id="int-out-of-range"),
    pytest.param(Decimal("1E+40"), "below 1E+29", id="decimal-out-of-range"),
    pytest.param(-1, ">= 0", id="negative"),
    pytest.param(Decimal("1E-40"), "1E-28", id="too-small"),
]


@pytest.mark.parametrize("func", ["sum", "max", "min", "avg"])
@pytest.mark.parametrize(("value", "reason"), BAD_AGGREGATED_NUMBERS)
def test_bad_number_in_aggregated_property_is_an_error_naming_the_event(
    func: str, value: object, reason: str
) -> None:
    the_meter = meter(
        aggregation=PropertyAggregation(func=func, property="metadata._llm.tokens")
    )
    with pytest.raises(ValidationError) as info:
        contribution(the_meter, {"_llm": {"tokens": value}}, index=7)
    message = str(info.value)
    assert message.startswith("events[7].metadata._llm.tokens: ")
    assert reason in message
    with pytest.raises(ValidationError, match=r"^events\[0\]\.metadata\._llm\.tokens"):
        matches(the_meter, wire({"_llm": {"tokens": value}}))


@pytest.mark.parametrize(
    "value", [Decimal("12.5"), Decimal("1E+3"), 2.5, 0, Decimal(0), 10**28]
)
def test_good_numbers_in_aggregated_property_match(value: object) -> None:
    assert matches(meter(aggregation=SUM), wire({"tokens": value})) is True


# -- Filters on NaN and infinities: an error naming the event, never a verdict -----

NON_FINITE = [
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(Decimal("NaN"), id="decimal-nan"),
    pytest.param(Decimal("sNaN"), id="decimal-snan"),
    pytest.param(Decimal("-Infinity"), id="decimal-minus-inf"),
]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        pytest.param("eq", 1, id="eq-int"),
        pytest.param("ne", 1, id="ne-int"),
        pytest.param("gt", 0, id="gt-int"),
        pytest.param("lte", 0, id="lte-int"),
        pytest.param("eq", "x", id="eq-str"),
        pytest.param("ne", "x", id="ne-str"),
        pytest.param("lt", "x", id="lt-str"),
        pytest.param("eq", True, id="eq-bool"),
        pytest.param("gt", True, id="gt-bool"),
        pytest.param("like", "a", id="like"),
        pytest.param("not_like", "a", id="not-like"),
    ],
)
def test_a_clause_reading_a_non_finite_number_is_an_error(
    value: object, operator: str, expected: object
) -> None:
    for prop, metadata, path in (
        ("p", {"p": value}, "p"),
        ("metadata.a.b", {"a": {"b": value}}, "a.b"),
    ):
        predicate = compile_clause(clause(prop, operator, expected))
        with pytest.raises(ValidationError) as info:
            predicate(read_event(wire(metadata), 5), 5)
        message = str(info.value)
        assert message.startswith(f"events[5].metadata.{path}: must be a finite")


def test_a_clause_that_is_not_evaluated_reads_nothing() -> None:
    # `and` stops at its first failing clause, `or` at its first passing one.
    # (Wire mappings only: an `Event` refuses a NaN in its metadata.)
    bad = wire({"p": float("nan")}, name="api")
    assert (
        matches(meter(clause("name", "eq", "llm"), clause("p", "gt", 0)), bad) is False
    )
    either = meter(clause("name", "eq", "api"), clause("p", "gt", 0), conjunction="or")
    assert matches(either, bad) is True
    with pytest.raises(ValidationError, match=r"^events\[0\]\.metadata\.p"):
        matches(meter(clause("p", "gt", 0), clause("name", "eq", "llm")), bad)


# -- like on a Decimal: its JSON float form, whatever the decimal context ----------

JSON_FLOATS = [
    "1.5",
    "10.0",
    "1e-07",
    "1E-7",
    "1.50",
    "12e+20",
    "0.0001",
    "0.00001",
    "1e16",
    "1234567890123456.0",
    "-0.0",
    "-2.5e-10",
    "100.000",
]


@pytest.mark.parametrize("text", JSON_FLOATS)
def test_a_decimal_reads_as_the_json_float_of_its_value(text: str) -> None:
    # json.loads(text, parse_float=Decimal) and json.loads(text) give the same text,
    # which is what json.dumps writes for the float.
    as_float = json.loads(text)
    as_decimal = json.loads(text, parse_float=Decimal)
    assert json_text(as_decimal) == json_text(as_float) == json.dumps(as_float)


def test_a_decimal_keeps_every_digit() -> None:
    assert (
        json_text(Decimal("0.10000000000000000000001")) == "0.10000000000000000000001"
    )
    assert json_text(Decimal("-123456789012345678901234567890")) == (
        "-1.2345678901234567890123456789e+29"
    )


def test_like_on_a_decimal_ignores_the_decimal_context() -> None:
    like_exponent = meter(clause("p", "like", "e-07"))
    with decimal.localcontext() as context:
        context.capitals = 0
        context.prec = 2
        assert json_text(Decimal("1E-7")) == "1e-07"
        assert json_text(Decimal("123.456")) == "123.456"
        assert matches(like_exponent, wire({"p": Decimal("1E-7")})) is True
        assert matches(like_exponent, wire({"p": 1e-07})) is True
    with decimal.localcontext() as context:
        context.capitals = 1
        assert json_text(Decimal("1e-7")) == "1e-07"
        assert matches(like_exponent, wire({"p": Decimal("1e-7")})) is True


def test_like_on_non_numbers_and_huge_ints_has_no_text() -> None:
    assert json_text(Decimal("NaN")) is None
    assert json_text(float("inf")) is None
    assert json_text([1]) is None
    assert json_text(None) is None
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    try:
        assert json_text(10**2000) is None  # more digits than Python will write
    finally:
        sys.set_int_max_str_digits(limit)
