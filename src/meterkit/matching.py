"""Which events a meter matches, and what each matching event contributes.

Rule 1 (properties): ``name`` and ``source`` are the event's fields, ``timestamp`` is
its time in whole epoch seconds; any other property is a dot path into ``metadata``
(``_llm.model`` reads ``metadata["_llm"]["model"]``), and a leading ``metadata.`` is
ignored. A missing or null property makes a clause false, for every operator.
Rule 2 (types): numbers compare with numbers, strings with strings (code-point
order), booleans with booleans (``eq``/``ne`` only). Any other pairing makes the
clause false, ``ne`` included. A ``bool`` is never a number. A NaN or an infinity
(no JSON number; possible in a wire mapping) is an error naming the event, in any
clause that reads it.
Rule 3 (``like``): a case-sensitive literal substring test on text: ``%`` and ``_``
are ordinary characters. The text of a string is itself, of a number its JSON form
(a ``Decimal`` written as `json.dumps` writes a float), of a boolean
``true``/``false``.
Rule 4 (aggregations): ``sum``/``max``/``min``/``avg`` read a numeric property
(``int``/``float``/``Decimal``, not ``bool``); an event without one does not
match at all, and one with a NaN, an infinity, a negative number or one beyond
`_units.UNITS` is an error naming the event. ``unique`` counts distinct non-null
values by JSON type and value, at every depth (`unique_key`).
Rule 5 (size): a filter tree is at most `meters.MAX_FILTER_DEPTH` levels deep, and
each level compiles to one call however many clauses it joins, so evaluating a
filter never nests deeper than that.

A meter is compiled once into plain closures (`compile_meter`), so the per-event
work is a few calls with no re-interpretation of the filter tree. `compile_refusal`
says why a filter refuses an event, from the very same clause predicates.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ._sentinel import Sentinel
from ._units import MAX_UNITS_EXPONENT, parse_units
from .errors import InvalidTypeError, MeterkitError, ValidationError
from .events import EventView, event_time
from .meters import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)

__all__ = ["matches"]

#: What a property getter returns for a property the event does not have.
MISSING: Any = Sentinel("MISSING", __name__)
_INT_LIMIT = 10 ** (MAX_UNITS_EXPONENT + 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# A getter reads one property from an event; ``index`` names the event in errors.
Getter = Callable[[EventView, int], Any]
Predicate = Callable[[EventView, int], bool]


def metadata_steps(prop: str) -> tuple[str, ...]:
    """The keys a metadata property reads, outermost first: ``metadata.a.b`` and
    ``a.b`` read ``("a", "b")`` (the SQL path reads the same steps)."""
    return tuple(prop.removeprefix("metadata.").split("."))


def property_getter(prop: str) -> Getter:
    """A function reading ``prop`` from an event view (`MISSING` when absent)."""
    if prop == "name":
        return lambda view, index: view.name
    if prop == "source":
        return lambda view, index: view.source
    if prop == "timestamp":
        return _epoch_seconds
    steps = metadata_steps(prop)
    if len(steps) == 1:
        path = steps[0]
        return lambda view, index: view.metadata.get(path, MISSING)

    def walk(view: EventView, index: int) -> Any:
        node: Any = view.metadata
        for step in steps:
            if not isinstance(node, Mapping):
                return MISSING
            node = node.get(step, MISSING)
            if node is MISSING:
                return MISSING
        return node

    return walk


def _epoch_seconds(view: EventView, index: int) -> int:
    return (event_time(view, index) - _EPOCH) // _SECOND


_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH


def _is_number(value: object) -> bool:
    """A finite ``int``, ``float`` or ``Decimal``; never a ``bool``, NaN or infinity."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, Decimal) and value.is_finite()


def _is_non_finite(value: object) -> bool:
    """A NaN or an infinity, as a ``float`` or a ``Decimal``: no JSON number."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, Decimal) and not value.is_finite()


_NOT_FINITE = "must be a finite number (JSON has no NaN or Infinity)"


def json_text(value: object) -> str | None:
    """The text ``like`` compares: strings as they are, numbers and bools as JSON.

    An ``int`` is written as `json.dumps` writes it, and so is a ``float``
    (``1e-07``, ``10.0``). A ``Decimal`` is what `json.loads` gives for a JSON
    float read with ``parse_float=Decimal``, so it is written as `json.dumps`
    writes a float, with every digit it has (`_decimal_json`), whatever the
    ambient decimal context. NaN, infinities, objects, arrays and null have no
    text (``None``).

    >>> json_text(Decimal("1E-7")), json_text(1e-07), json_text(Decimal("10.50"))
    ('1e-07', '1e-07', '10.5')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return int.__repr__(value)
        except ValueError:  # more digits than Python will write (json.dumps too)
            return None
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else None
    if isinstance(value, Decimal) and value.is_finite():
        return _decimal_json(value)
    return None


def _decimal_json(value: Decimal) -> str:
    """A finite ``Decimal`` in the layout of ``repr(float)``, all its digits kept.

    Trailing zeros go (``10.50`` is ``10.5``); a whole number keeps ``.0``; the
    exponent form is used below ``1e-04`` and from ``1e+16`` on, with a signed
    exponent of at least two digits. For every ``Decimal`` that is the shortest
    repr of a float this is that repr, digit for digit.
    """
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    minus = "-" if sign else ""
    if not stripped:
        return f"{minus}0.0"
    exponent += len(digits) - len(stripped)
    digits = stripped
    point = len(digits) + exponent  # where the decimal point falls in ``digits``
    if not -4 < point <= 16:
        fraction = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{minus}{digits[0]}{fraction}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}.0"
    return f"{minus}{digits[:point]}.{digits[point:]}"


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}

#: Properties that are fields of the event, not paths into ``metadata``.
_FIELDS = ("name", "source", "timestamp")


def _where(prop: str) -> str:
    """The path of a metadata property in errors, ``{}`` standing for the index."""
    return f"events[{{}}].metadata.{prop.removeprefix('metadata.')}"


def _refuser(prop: str) -> Callable[[Any, int], bool]:
    """What a clause on ``prop`` says of a value of the wrong type: false, unless
    the value is a NaN or an infinity, which no event may hold (an error)."""
    if prop in _FIELDS:
        return lambda value, index: False
    where = _where(prop)

    def refuse(value: object, index: int) -> bool:
        if isinstance(value, (float, Decimal)) and _is_non_finite(value):
            raise ValidationError(_NOT_FINITE, path=where.format(index), value=value)
        return False

    return refuse


def compile_clause(clause: FilterClause) -> Predicate:
    """One clause as a predicate over event views.

    A clause that reads a NaN or an infinity (a ``float`` or ``Decimal`` in a wire
    mapping; JSON has neither) raises a `ValidationError` naming
    ``events[i].metadata.<property>``, whatever its operator or value.
    """
    prop, operator_, expected = clause.property, clause.operator, clause.value
    get = property_getter(prop)
    refuse = _refuser(prop)

    if operator_ in ("like", "not_like"):
        needle = json_text(expected)
        assert needle is not None  # clause values are str, int or bool
        wanted = operator_ == "like"

        def like(view: EventView, index: int) -> bool:
            text = json_text(actual := get(view, index))
            if text is None:
                return refuse(actual, index)
            return (needle in text) is wanted

        return like

    compare = _ORDERED[operator_]
    if isinstance(expected, bool):
        if operator_ not in ("eq", "ne"):
            return lambda view, index: refuse(get(view, index), index)
        return lambda view, index: (
            compare(actual, expected)
            if isinstance(actual := get(view, index), bool)
            else refuse(actual, index)
        )
    if isinstance(expected, int):

        def number(view: EventView, index: int) -> bool:
            actual = get(view, index)
            if type(actual) is int or _is_number(actual):
                return compare(actual, expected)
            return refuse(actual, index)

        return number
    # Text clauses, the common kind, read their property without a getter call
    # where they can.
    if prop in ("name", "source"):  # always a str: no type test needed
        field = EventView._fields.index(prop)
        if operator_ == "eq":
            return lambda view, index: view[field] == expected
        return lambda view, index: compare(view[field], expected)
    key = prop.removeprefix("metadata.")
    if operator_ == "eq" and prop not in _FIELDS and "." not in key:
        # One metadata key (``model``): read in place; a missing key reads None.
        return lambda view, index: (
            actual == expected
            if isinstance(actual := view.metadata.get(key), str)
            else refuse(actual, index)
        )
    return lambda view, index: (
        compare(actual, expected)
        if isinstance(actual := get(view, index), str)
        else refuse(actual, index)
    )


def compile_filter(filter_: Filter) -> Predicate:
    """A filter tree as one predicate; an empty filter matches everything.

    Each level of the tree is one call, whatever its number of clauses (a loop over
    them), so evaluating a filter recurses at most `MAX_FILTER_DEPTH` levels.
    """
    parts = tuple(
        compile_filter(c) if isinstance(c, Filter) else compile_clause(c)
        for c in filter_.clauses
    )
    return _all_of(parts) if filter_.conjunction == "and" else _any_of(parts)


def _always(view: EventView, index: int) -> bool:
    return True


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    """True when every part is, tried in order (the same short circuit as all())."""
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda view, index: first(view, index) and second(view, index)
    if len(parts) == 3:
        first, second, third = parts
        return lambda view, index: (
            first(view, index) and second(view, index) and third(view, index)
        )

    def every(view: EventView, index: int) -> bool:
        for part in parts:  # noqa: SIM110  # all() would make a generator per event
            if not part(view, index):
                return False
        return True

    return every


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    """True when some part is, tried in order (the same short circuit as any());
    an empty ``or`` matches everything, like an empty ``and``."""
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda view, index: first(view, index) or second(view, index)
    if len(parts) == 3:
        first, second, third = parts
        return lambda view, index: (
            first(view, index) or second(view, index) or third(view, index)
        )

    def some(view: EventView, index: int) -> bool:
        for part in parts:  # noqa: SIM110  # any() would make a generator per event
            if part(view, index):
                return True
        return False

    return some


#: What `compile_refusal` gives for an event: each clause that failed, with the value
#: the event had for its property (`MISSING` when absent); empty when it passed.
Refusal = tuple[tuple[FilterClause, Any], ...]


def compile_refusal(filter_: Filter) -> Callable[[EventView, int], Refusal]:
    """Why a filter refuses an event: the failing clauses and the values they saw.

    Each verdict is `compile_clause`'s, so a refusal is empty exactly when
    `compile_filter`'s predicate is true. An ``and`` fails at its first failing
    clause and names that one (or, for a nested filter, that filter's refusal); an
    ``or`` fails only when every clause fails, and names the refusal of each clause,
    in order. For ``or(a, b)`` that is ``a`` and ``b``: making either pass would
    let the event through.
    """
    parts = tuple(
        compile_refusal(c) if isinstance(c, Filter) else _clause_refusal(c)
        for c in filter_.clauses
    )
    if not parts:
        return lambda view, index: ()
    if len(parts) == 1:
        return parts[0]
    if filter_.conjunction == "and":

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
    ``sum``/``max``/``min``/``avg``; the event's timestamp and such a number, a
    pair, for ``latest``;
    a hashable key, or `NO_VALUE` for a null one, for ``unique``).
    """

    __slots__ = ("contribution", "func", "meter", "predicate")

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.func: str = meter.aggregation.func
        self.predicate = compile_filter(meter.filter)
        self.contribution = _contribution(meter)


#: What `CompiledMeter.contribution` returns for an event the meter does not count.
NO_MATCH: Any = Sentinel("NO_MATCH", __name__)
#: What a ``unique`` meter contributes for an event whose property is missing/null.
NO_VALUE: Any = Sentinel("NO_VALUE", __name__)


def _contribution(meter: Meter) -> Getter:
    aggregation = meter.aggregation
    if isinstance(aggregation, CountAggregation):
        return lambda view, index: None
    get = property_getter(aggregation.property)
    # Where an error about an event's aggregation property points, by index.
    where = _where(aggregation.property)
    if isinstance(aggregation, UniqueAggregation):

        def key(view: EventView, index: int) -> Any:
            value = get(view, index)
            if value is None or value is MISSING:
                return NO_VALUE
            try:
                return unique_key(value)
            except MeterkitError as exc:
                raise exc.at(where.format(index) + (exc.path or "")) from None

        return key
    assert isinstance(aggregation, PropertyAggregation)

    def number(view: EventView, index: int) -> Any:
        value = get(view, index)
        # Ints in range are the common case and stay ints: int sums are exact.
        if type(value) is int and 0 <= value < _INT_LIMIT:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return NO_MATCH  # not a number: the event does not match
        # NaN, infinities, negative, huge or over-precise numbers are errors naming
        # the event, never "not a number".
        return parse_units(value, where.format(index))

    if aggregation.func != "latest":
        return number

    def reading(view: EventView, index: int) -> Any:
        value = number(view, index)
        return NO_MATCH if value is NO_MATCH else (view.timestamp, value)

    return reading


def unique_key(value: object) -> object:
    """A hashable key distinct by JSON type and value, at every depth.

    Numbers (``int``, ``float``, ``Decimal``; never ``bool``) are keyed by their
    exact value, a float by the decimal its shortest repr spells: ``1``, ``1.0``
    and ``Decimal("1.00")`` are one value, ``"1"`` and ``true`` others. Arrays
    (lists, tuples) are ordered, objects are keyed by their sorted keys:
    ``{"a": 1, "b": [1.0]}`` and ``{"b": [1], "a": 1.0}`` are one value. A value
    that is no JSON value (a NaN or an infinity, an object key that is not a
    string, a set, an object containing itself) is a `ValidationError` whose path
    says where inside ``value`` (``[2].a``; ``None`` at the top).

    >>> unique_key(1) == unique_key(1.0) == unique_key(Decimal("1.00"))
    True
    >>> unique_key({"a": 1}) == unique_key({"a": 1.0}) != unique_key({"a": "1"})
    True
    """
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, (int, float, Decimal)):
        return ("number", _exact(value, None))
    if value is None:
        return ("null",)
    return tuple(_json_tokens(value))


def _exact(value: int | float | Decimal, path: str | None) -> int | Decimal:
    """A number by its exact value (equal values hash alike, whatever the type)."""
    if isinstance(value, int):
        return int(value)
    if _is_non_finite(value):
        raise ValidationError(_NOT_FINITE, path=path, value=value)
    return Decimal(float.__repr__(value)) if isinstance(value, float) else value


_VALUE, _KEY, _CLOSE = range(3)


def _json_tokens(value: object) -> list[object]:
    """A JSON value as a flat list of tokens, read with a stack of its own.

    ``"null"``; ``"bool" b``; ``"number" n``; ``"str" s``; ``"[" value... "]"``;
    ``"{" ("key" k value)... "}"`` with the keys in sorted order. A tag always
    comes where the grammar expects one, so two values have the same tokens only
    when they are the same JSON value. Being flat, the key hashes and compares
    without recursion, however deep the value nests.
    """
    tokens: list[object] = []
    open_ids: set[int] = set()  # the arrays and objects being read: a cycle test
    # Work to do, last first: (_VALUE, a value, its path), (_KEY, a key, ""), or
    # (_CLOSE, (the closing token, the id of the container), "").
    todo: list[tuple[int, Any, str]] = [(_VALUE, value, "")]
    while todo:
        kind, item, path = todo.pop()
        if kind == _KEY:
            tokens += ("key", item)
            continue
        if kind == _CLOSE:
            token, ident = item
            tokens.append(token)
            open_ids.discard(ident)
            continue
        if isinstance(item, bool):
            tokens += ("bool", item)
        elif isinstance(item, str):
            tokens += ("str", item)
        elif isinstance(item, (int, float, Decimal)):
            tokens += ("number", _exact(item, path or None))
        elif item is None:
            tokens.append("null")
        elif isinstance(item, (Mapping, list, tuple)):
            if id(item) in open_ids:
                raise ValidationError(
                    "must not contain itself", path=path or None, value=item
                )
            open_ids.add(id(item))
            if isinstance(item, Mapping):
                for name in item:
                    if not isinstance(name, str):
                        raise InvalidTypeError(
                            "object keys must be strings", path=path or None, value=name
                        )
                tokens.append("{")
                todo.append((_CLOSE, ("}", id(item)), ""))
                for name in sorted(item, reverse=True):
                    todo.append((_VALUE, item[name], f"{path}.{name}"))
                    todo.append((_KEY, name, ""))
            else:
                tokens.append("[")
                todo.append((_CLOSE, ("]", id(item)), ""))
                for index in range(len(item) - 1, -1, -1):
                    todo.append((_VALUE, item[index], f"{path}[{index}]"))
        else:
            raise InvalidTypeError(
                "must be a JSON value (str, number, bool, None, list, dict)",
                path=path or None,
                value=item,
            )
    return tokens


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
    # The verdict of `_verdicts.Scan`, which every engine function reads (that
    # module builds on this one, hence the import here).
    from ._verdicts import COUNTED, Scan, check_meter

    scan = Scan(CompiledMeter(check_meter(meter)))
    return scan.verdict(event, 0, None).kind == COUNTED
