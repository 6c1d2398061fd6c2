"""Meter definitions: filters, aggregations and `Meter`.

Rule 1: a filter is a tree. `Filter` holds `FilterClause` leaves and nested `Filter`
nodes under an ``and``/``or`` conjunction; an empty filter matches every event. A
tree nests at most `MAX_FILTER_DEPTH` levels and holds at most `MAX_FILTER_CLAUSES`
clauses in all, nested filters included: limits far beyond real meters, checked at
construction without recursion, so that no filter that exists can exhaust the stack
of anything that walks it (comparing, hashing, printing, pickling, serializing,
compiling).
Rule 2: clause values are what the API allows: a ``str`` of at most 1000 characters,
an ``int`` in the signed 32-bit range, or a ``bool``. Operators and aggregation
functions outside the documented sets are errors at construction.
Rule 3: each aggregation type carries its ``func`` as a fixed field, so the JSON
shape (``{"func": "sum", "property": ...}``) follows from the fields.
How a meter is applied to events lives in `matching` and `usage`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import attrs

from . import _fields
from .errors import InvalidTypeError, ValidationError

__all__ = [
    "AGGREGATION_FUNCS",
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_DEPTH",
    "OPERATORS",
    "Aggregation",
    "CountAggregation",
    "Filter",
    "FilterClause",
    "Meter",
    "PropertyAggregation",
    "UniqueAggregation",
]

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "like", "not_like"]
OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "not_like")
AGGREGATION_FUNCS: tuple[str, ...] = (
    "count",
    "sum",
    "max",
    "min",
    "avg",
    "unique",
    "latest",
)
_PROPERTY_FUNCS = ("sum", "max", "min", "avg", "latest")

MAX_CLAUSE_TEXT = 1000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

ClauseValue = str | int | bool

#: The most levels a filter tree may nest: a filter of plain clauses is one level
#: deep, a filter holding such a filter two. Every walk of a filter (equality, hash,
#: repr, pickling, serialization, compiling) recurses once or a few times per level,
#: so 32 levels stay far from Python's recursion limit.
MAX_FILTER_DEPTH = 32
#: The most clauses one filter tree may hold, counting every entry of every
#: ``clauses`` tuple in it: comparisons and nested filters alike.
MAX_FILTER_CLAUSES = 1000


def _property(value: object) -> str:
    return _fields.parse_text(value, "property")


def _operator(value: object) -> str:
    if value not in OPERATORS:
        raise ValidationError(
            f"must be one of {', '.join(OPERATORS)}", path="operator", value=value
        )
    return str(value)


def _clause_value(value: object) -> ClauseValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT32_MIN <= value <= INT32_MAX:
            raise ValidationError(
                "must be in the signed 32-bit range", path="value", value=value
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_CLAUSE_TEXT:
            raise ValidationError(
                f"must be at most {MAX_CLAUSE_TEXT} characters (got {len(value)})",
                path="value",
            )
        return value
    raise InvalidTypeError("must be a str, int or bool", path="value", value=value)


@attrs.frozen(kw_only=True)
class FilterClause:
    """One comparison: ``property operator value``.

    >>> FilterClause(property="_llm.model", operator="eq", value="gpt-4o")
    FilterClause(property='_llm.model', operator='eq', value='gpt-4o')
    """

    property: str = attrs.field(converter=_property)
    operator: Operator = attrs.field(converter=_operator)
    value: ClauseValue = attrs.field(converter=_clause_value)


def _conjunction(value: object) -> str:
    if value not in ("and", "or"):
        raise ValidationError("must be 'and' or 'or'", path="conjunction", value=value)
    return str(value)


def _clauses(value: object) -> tuple[FilterClause | Filter, ...]:
    clauses = _fields.parse_items(value, "clauses", FilterClause, Filter)
    _check_tree(clauses)
    return clauses


def _check_tree(clauses: tuple[FilterClause | Filter, ...]) -> None:
    """Refuse a tree over `MAX_FILTER_DEPTH` or `MAX_FILTER_CLAUSES`.

    The walk keeps its own stack, so even a chain of filters 100,000 deep (which no
    constructor lets anyone build, but a forged one could hold) is measured without
    recursion. Nested filters were checked when they were built, so the walk visits
    at most about ``MAX_FILTER_CLAUSES`` entries per entry of ``clauses``.
    """
    count, depth = len(clauses), 1
    stack = [(child, 2) for child in clauses if isinstance(child, Filter)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        count += len(node.clauses)
        stack.extend(
            (child, level + 1) for child in node.clauses if isinstance(child, Filter)
        )
    if depth > MAX_FILTER_DEPTH:
        raise ValidationError(
            f"must nest at most {MAX_FILTER_DEPTH} levels of filters (got {depth})",
            path="clauses",
        )
    if count > MAX_FILTER_CLAUSES:
        raise ValidationError(
            f"must hold at most {MAX_FILTER_CLAUSES} clauses in all, nested filters"
            f" and their clauses included (got {count})",
            path="clauses",
        )


@attrs.frozen(kw_only=True)
class Filter:
    """Clauses joined by ``and`` or ``or``; clauses may be nested filters.

    A tree nests at most `MAX_FILTER_DEPTH` levels and holds at most
    `MAX_FILTER_CLAUSES` clauses in all (nested filters included).

    >>> Filter(clauses=[FilterClause(property="name", operator="eq", value="llm")])
    Filter(conjunction='and',
           clauses=(FilterClause(property='name', operator='eq', value='llm'),))
    """

    conjunction: Literal["and", "or"] = attrs.field(
        default="and", converter=_conjunction
    )
    clauses: tuple[FilterClause | Filter, ...] = attrs.field(
        default=(), converter=_clauses
    )


@attrs.frozen(kw_only=True)
class CountAggregation:
    """Count the matching events."""

    func: Literal["count"] = attrs.field(default="count", init=False)


def _func(value: object) -> str:
    if value not in _PROPERTY_FUNCS:
        hint = (
            " (use CountAggregation or UniqueAggregation)"
            if value in ("count", "unique")
            else ""
        )
        raise ValidationError(
            f"must be one of {', '.join(_PROPERTY_FUNCS)}{hint}",
            path="func",
            value=value,
        )
    return str(value)


@attrs.frozen(kw_only=True)
class PropertyAggregation:
    """``sum``, ``max``, ``min``, ``avg`` or ``latest`` of a numeric metadata property.

    ``latest`` is a gauge: the value on the matching event with the greatest
    timestamp (a tie goes to the later event in log order), for what is billed by
    level (seats, storage) rather than by sum.
    """

    func: Literal["sum", "max", "min", "avg", "latest"] = attrs.field(converter=_func)
    property: str = attrs.field(converter=_property)


@attrs.frozen(kw_only=True)
class UniqueAggregation:
    """The number of distinct values of a metadata property."""

    func: Literal["unique"] = attrs.field(default="unique", init=False)
    property: str = attrs.field(converter=_property)


Aggregation = CountAggregation | PropertyAggregation | UniqueAggregation


def _filter(value: Any) -> Filter:
    if not isinstance(value, Filter):
        raise InvalidTypeError("must be a Filter", path="filter", value=value)
    return value


def _aggregation(value: Any) -> Aggregation:
    if not isinstance(
        value, (CountAggregation, PropertyAggregation, UniqueAggregation)
    ):
        raise InvalidTypeError(
            "must be a CountAggregation, PropertyAggregation or UniqueAggregation",
            path="aggregation",
            value=value,
        )
    return value


@attrs.frozen(kw_only=True)
class Meter:
    """A meter: which events count (``filter``) and how (``aggregation``).

    Fields are in the order of the API's ``Meter`` shape.

    >>> from datetime import datetime, timezone
    >>> meter = Meter(
    ...     id="d498a884-e2cd-4d3e-8002-f536468a8b22", name="LLM tokens",
    ...     filter=Filter(clauses=[FilterClause(property="name", operator="eq",
    ...                                         value="llm")]),
    ...     aggregation=PropertyAggregation(func="sum", property="total_tokens"),
    ...     created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> meter.aggregation.func
    'sum'
    """

    created_at: datetime = attrs.field(converter=_fields.created_at_field)
    modified_at: datetime | None = attrs.field(
        default=None, converter=_fields.modified_at_field
    )
    id: str = attrs.field(converter=_fields.id_field)
    name: str = attrs.field(converter=_fields.name_field)
    filter: Filter = attrs.field(converter=_filter)
    aggregation: Aggregation = attrs.field(converter=_aggregation)
