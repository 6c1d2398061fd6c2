"""Which events a meter matches, and what each matching event contributes.

Rule 1 (properties): ``name`` and ``source`` are the event's fields, ``timestamp`` is
its time in whole epoch seconds; any other property is a dot path into ``metadata``
(``_llm.model`` reads ``metadata["_llm"]["model"]``), and a leading ``metadata.`` is
ignored. A missing or null property makes a clause false, for every operator.
Rule 2 (types): numbers compare with numbers, strings with strings (code-point
order), booleans with booleans (``eq``/``ne`` only). Any other pairing makes the
clause false, ``ne`` included. A ``bool`` is never a number.
Rule 3 (``like``): a case-sensitive literal substring test on text: ``%`` and ``_``
are ordinary characters. The text of a string is itself, of a number its JSON form,
of a boolean ``true``/``false``.
Rule 4 (aggregations): ``sum``/``max``/``min``/``avg`` read a numeric property
(``int``/``float``/``Decimal``, finite, not ``bool``); an event without one does not
match at all. ``unique`` counts distinct non-null values by JSON type and value.

A meter is compiled once into plain closures (`compile_meter`), so the per-event
work is a few calls with no re-interpretation of the filter tree. `compile_refusal`
says why a filter refuses an event, from the very same clause predicates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ._units import MAX_UNITS_EXPONENT, parse_units
from .errors import InvalidTypeError, MeterkitError
from .events import EventView, event_time, read_event
from .meters import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)

__all__ = [
    "MISSING",
    "NO_MATCH",
    "NO_VALUE",
    "CompiledMeter",
    "Refusal",
    "compile_refusal",
    "matches",
]

_MISSING: Any = object()
_INT_LIMIT = 10 ** (MAX_UNITS_EXPONENT + 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# A getter reads one property from an event; ``index`` names the event in errors.
Getter = Callable[[EventView, int], Any]
Predicate = Callable[[EventView, int], bool]


def property_getter(prop: str) -> Getter:
    """A function reading ``prop`` from an event view (`_MISSING` when absent)."""
    if prop == "name":
        return lambda view, index: view.name
    if prop == "source":
        return lambda view, index: view.source
    if prop == "timestamp":
        return _epoch_seconds
    path = prop.removeprefix("metadata.")
    if "." not in path:
        return lambda view, index: view.metadata.get(path, _MISSING)
    steps = tuple(path.split("."))

    def walk(view: EventView, index: int) -> Any:
        node: Any = view.metadata
        for step in steps:
            if not isinstance(node, Mapping):
                return _MISSING
            node = node.get(step, _MISSING)
            if node is _MISSING:
                return _MISSING
        return node

    return walk


def _epoch_seconds(view: EventView, index: int) -> int:
    return (event_time(view, index) - _EPOCH) // _SECOND


_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, Decimal) and value.is_finite()


def json_text(value: object) -> str | None:
    """The text ``like`` compares: strings as they are, numbers and bools as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and _is_number(value):
        return json.dumps(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    return None


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def compile_clause(clause: FilterClause) -> Predicate:
    """One clause as a predicate over event views."""
    get = property_getter(clause.property)
    operator, expected = clause.operator, clause.value

    if operator in ("like", "not_like"):
        needle = json_text(expected)
        assert needle is not None  # clause values are str, int or bool
        wanted = operator == "like"

        def like(view: EventView, index: int) -> bool:
            text = json_text(get(view, index))
            return text is not None and (needle in text) is wanted

        return like

    compare = _ORDERED[operator]
    if isinstance(expected, bool):
        if operator not in ("eq", "ne"):
            return lambda view, index: False
        return lambda view, index: (
            isinstance(actual := get(view, index), bool) and compare(actual, expected)
        )
    if isinstance(expected, int):
        return lambda view, index: (
            _is_number(actual := get(view, index)) and compare(actual, expected)
        )
    return lambda view, index: (
        isinstance(actual := get(view, index), str) and compare(actual, expected)
    )


def compile_filter(filter_: Filter) -> Predicate:
    """A filter tree as one predicate; an empty filter matches everything."""
    parts = [
        compile_filter(c) if isinstance(c, Filter) else compile_clause(c)
        for c in filter_.clauses
    ]
    if not parts:
        return lambda view, index: True
    # Chained pairwise from the right: no generator per event, and the same
    # short-circuit order as all()/any() over the clauses.
    combine = _both if filter_.conjunction == "and" else _either
    predicate = parts[-1]
    for part in reversed(parts[:-1]):
        predicate = combine(part, predicate)
    return predicate


def _both(first: Predicate, then: Predicate) -> Predicate:
    return lambda view, index: first(view, index) and then(view, index)


def _either(first: Predicate, then: Predicate) -> Predicate:
    return lambda view, index: first(view, index) or then(view, index)


#: What `compile_refusal` gives for an event: each clause that failed, with the value
#: the event had for its property (`MISSING` when absent); empty when it passed.
Refusal = tuple[tuple[FilterClause, Any], ...]
#: The value `compile_refusal` reports for a property the event does not have.
MISSING: Any = _MISSING


def compile_refusal(filter_: Filter) -> Callable[[EventView, int], Refusal]:
    """Why a filter refuses an event: the failing clauses and the values they saw.

    Each verdict is `compile_clause`'s, so a refusal is empty exactly when
    `compile_filter`'s predicate is true. An ``and`` fails at its first failing
    clause and names that one (or, for a nested filter, that filter's refusal); an
    ``or`` fails only when every clause fails, and names the refusal of each clause,
    in order. For ``or(a, b)`` that is ``a`` and ``b``: making either pass would
    let the event through.
    """
    parts = [
        compile_refusal(c) if isinstance(c, Filter) else _clause_refusal(c)
        for c in filter_.clauses
    ]
    if not parts:
        return lambda view, index: ()
    if len(parts) == 1 or filter_.conjunction == "and":

        def first(view: EventView, index: int) -> Refusal:
            for part in parts:
                failed = part(view, index)
                if failed:
                    return failed
            return ()

        return first

    def every(view: EventView, index: int) -> Refusal:
        failed: list[tuple[FilterClause, Any]] = []
        for part in parts:
            found = part(view, index)
            if not found:
                return ()
            failed.extend(found)
        return tuple(failed)

    return every


def _clause_refusal(clause: FilterClause) -> Callable[[EventView, int], Refusal]:
    passes = compile_clause(clause)
    get = property_getter(clause.property)

    def refusal(view: EventView, index: int) -> Refusal:
        return () if passes(view, index) else ((clause, get(view, index)),)

    return refusal


class CompiledMeter:
    """A meter turned into two functions over event views.

    ``predicate(view, index)`` says whether a *user* event passes the filter;
    ``contribution(view, index)`` gives what a passing event adds to the
    aggregation, or `NO_MATCH` when the aggregation property disqualifies it
    (``None`` for ``count``; an exact ``int`` or ``Decimal`` >= 0 for
    ``sum``/``max``/``min``/``avg``;
    a hashable key, or `NO_VALUE` for a null one, for ``unique``).
    """

    __slots__ = ("contribution", "func", "meter", "predicate")

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.func: str = meter.aggregation.func
        self.predicate = compile_filter(meter.filter)
        self.contribution = _contribution(meter)


class _Sentinel:
    """A marker that pickles by name, so it stays itself across processes."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


#: What `CompiledMeter.contribution` returns for an event the meter does not count.
NO_MATCH: Any = _Sentinel("NO_MATCH")
#: What a ``unique`` meter contributes for an event whose property is missing/null.
NO_VALUE: Any = _Sentinel("NO_VALUE")


def _contribution(meter: Meter) -> Getter:
    aggregation = meter.aggregation
    if isinstance(aggregation, CountAggregation):
        return lambda view, index: None
    get = property_getter(aggregation.property)
    # Where an error about an event's aggregation property points, by index.
    where = f"events[{{}}].metadata.{aggregation.property.removeprefix('metadata.')}"
    if isinstance(aggregation, UniqueAggregation):

        def key(view: EventView, index: int) -> Any:
            value = get(view, index)
            if value is None or value is _MISSING:
                return NO_VALUE
            try:
                return unique_key(value)
            except MeterkitError as exc:
                raise exc.at(where.format(index)) from None

        return key
    assert isinstance(aggregation, PropertyAggregation)

    def number(view: EventView, index: int) -> Any:
        value = get(view, index)
        # Ints in range are the common case and stay ints: int sums are exact.
        if type(value) is int and 0 <= value < _INT_LIMIT:
            return value
        if not _is_number(value):
            return NO_MATCH
        # Negative, huge or over-precise values are errors naming the event.
        return parse_units(value, where.format(index))

    return number


def unique_key(value: object) -> object:
    """A key distinct by JSON type and value: ``1`` and ``1.0`` are one value,
    ``"1"`` is another."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        return ("str", value)
    if _is_number(value):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else value)
    try:
        return ("json", json.dumps(value, sort_keys=True, default=str))
    except (TypeError, ValueError):  # keys of mixed types, or a cycle
        raise InvalidTypeError(
            "must be a JSON value (object keys must be strings)", value=value
        ) from None


def matches(meter: Meter, event: object) -> bool:
    """Whether ``event`` (an `Event` or a wire mapping) counts towards ``meter``.

    It counts when it is a ``user`` event, passes the filter, and, for
    ``sum``/``max``/``min``/``avg``, carries a numeric aggregation property.

    >>> from meterkit import Meter, Filter, FilterClause, PropertyAggregation
    >>> meter = example_meter()  # name == "llm", sum of total_tokens
    >>> event = {"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
    ...          "metadata": {"total_tokens": 10}}
    >>> matches(meter, event), matches(meter, {**event, "name": "other"})
    (True, False)
    """
    compiled = CompiledMeter(meter)
    view = read_event(event, 0)
    return (
        view.source == "user"
        and compiled.predicate(view, 0)
        and compiled.contribution(view, 0) is not NO_MATCH
    )
