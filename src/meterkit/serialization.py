"""JSON shapes: one cattrs converter per style, and `to_dict`/`from_dict` on top.

Rule 1: two styles. ``"wire"`` is the API's JSON: snake_case keys in the documented
order (the order the attrs classes declare their fields in), RFC 3339 UTC timestamps
with ``Z``, units as JSON numbers, derived fields such as ``balance`` written out.
``"camel"`` is the same content under the SDKs' camelCase names (``createdAt``).
Rule 2: reading is strict about what is there and lenient about what is not ours:
a missing key, a wrong type, a naive timestamp or a derived value that contradicts
the others is a `MeterkitError` naming the JSON path (``$.meter.created_at``);
unknown extra keys are ignored, for forward compatibility.
Rule 3: nothing but `MeterkitError` escapes `from_dict`/`from_json`: cattrs'
validation groups are translated by `_paths.translate`, and nowhere else.

The converters follow cattrs' preconf pattern: `make_converter(style)` builds one,
`configure_converter` adds meterkit's hooks to any converter you already have.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._fastread import FALLBACK, derived_agrees, derived_fields, make_fast_reader
from ._fields import format_timestamp, parse_rfc3339
from ._paths import STYLES, Style, check_style, json_key, translate
from ._units import decimal_text, units_to_json
from .errors import InvalidTypeError, MeterkitError, MissingFieldError, ValidationError
from .meters import (
    MAX_FILTER_DEPTH,
    Aggregation,
    ClauseValue,
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)
from .pricing import (
    GraduatedPrice,
    MeteredUnitPrice,
    PackagePrice,
    Price,
    Tier,
    VolumePrice,
)

__all__ = [
    "STYLES",
    "Style",
    "configure_converter",
    "from_dict",
    "from_json",
    "make_converter",
    "price_from_dict",
    "price_from_json",
    "to_dict",
    "to_json",
]

T = TypeVar("T")

#: The classes with a documented JSON shape, each written as its attrs fields, in
#: declaration order (which is the documented key order): by module and name, not
#: imported, so that reading a meter does not import the value, time series,
#: grants and explain modules (about 15 ms of every command's start-up).
_SHAPED: tuple[tuple[str, str], ...] = (
    ("values", "MeterRef"),
    ("values", "CustomerMeter"),
    ("values", "SubscriptionMeter"),
    ("meters", "Meter"),
    ("meters", "Filter"),
    ("meters", "FilterClause"),
    ("meters", "CountAggregation"),
    ("meters", "PropertyAggregation"),
    ("meters", "UniqueAggregation"),
    ("events", "Event"),
    ("usage", "Usage"),
    ("grants", "CreditGrant"),
    ("pricing", "MeteredUnitPrice"),
    ("pricing", "Tier"),
    ("pricing", "GraduatedPrice"),
    ("pricing", "VolumePrice"),
    ("pricing", "PackagePrice"),
    ("timeseries", "MeterQuantity"),
    ("timeseries", "MeterQuantities"),
    ("timeseries", "GroupQuantities"),
    ("grants", "Draw"),
    ("explain", "FailedClause"),
    ("explain", "TraceEntry"),
)
_SHAPED_KEYS = frozenset((f"{__package__}.{module}", name) for module, name in _SHAPED)


def _is_shaped(cls: object) -> bool:
    return isinstance(cls, type) and (cls.__module__, cls.__qualname__) in _SHAPED_KEYS


# Fields whose JSON form differs from their type's usual one: a unit price is
# written as a decimal string, as the API does, so that it stays exact: in plain
# notation ("0.0000004", never "4E-7"), whatever the ambient decimal context.
_FIELD_UNSTRUCTURE: dict[tuple[type, str], Callable[[Any], Any]] = {
    (MeteredUnitPrice, "unit_amount"): decimal_text,
    (Tier, "unit_amount"): decimal_text,
    (PackagePrice, "package_amount"): decimal_text,
}
# ... and read from a string or an integer; the constructor refuses a float, with a
# message that says why.
_FIELD_STRUCTURE: dict[tuple[type, str], Callable[[Any, Any], Any]] = {
    (MeteredUnitPrice, "unit_amount"): lambda value, _: value,
    (Tier, "unit_amount"): lambda value, _: value,
    (PackagePrice, "package_amount"): lambda value, _: value,
}


# Scalar hooks. Reading from JSON is strict about types: a unit count is a JSON
# number (not a string), an int is not a bool, a timestamp is an RFC 3339 string.


def _structure_number(value: object, _: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvalidTypeError("must be a JSON number", value=value)
    return value  # the class's converter makes it an exact Decimal


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError("must be a JSON integer", value=value)
    return value


def _structure_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidTypeError("must be a JSON boolean", value=value)
    return value


def _structure_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError("must be a JSON string", value=value)
    return value


def _structure_timestamp(value: object, _: object) -> datetime:
    try:
        return parse_rfc3339(value, "")
    except MeterkitError as exc:
        # The path is added by `_paths.translate`, which knows where in the document
        # we are.
        raise type(exc)(exc.reason, value=value) from None


def _structure_optional_timestamp(value: object, _: object) -> datetime | None:
    return None if value is None else _structure_timestamp(value, None)


def _unstructure_optional_timestamp(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def configure_converter(converter: cattrs.Converter, style: Style) -> None:
    """Teach ``converter`` meterkit's scalar rules and the shapes of ``style``."""
    check_style(style)
    converter.register_unstructure_hook(Decimal, units_to_json)
    converter.register_unstructure_hook(datetime, format_timestamp)
    converter.register_unstructure_hook_func(
        lambda t: t == (datetime | None), _unstructure_optional_timestamp
    )
    converter.register_structure_hook(Decimal, _structure_number)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    # Without its own hook a bool field would reach the int hook (bool is an int
    # subclass), which refuses bools.
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, _structure_timestamp)
    converter.register_structure_hook_func(
        lambda t: t == (datetime | None), _structure_optional_timestamp
    )
    # Values the constructors check themselves (with better messages than a generic
    # type test) pass through: Literal-typed fields, clause values, metadata.
    converter.register_structure_hook_func(_is_literal, _structure_passthrough)
    converter.register_structure_hook(ClauseValue, _structure_clause_value)
    converter.register_structure_hook_func(
        lambda t: t == dict[str, Any], _structure_passthrough
    )
    converter.register_structure_hook(
        FilterClause | Filter,
        lambda data, _: converter.structure(data, _clause_or_filter(data)),
    )
    converter.register_structure_hook(
        Aggregation,
        lambda data, _: converter.structure(data, _aggregation_class(data)),
    )
    converter.register_structure_hook(
        Price,
        lambda data, _: converter.structure(data, _price_class(data, style)),
    )
    converter.register_unstructure_hook_func(
        lambda t: t in (Aggregation, FilterClause | Filter, Price),
        converter.unstructure,
    )
    converter.register_structure_hook_func(
        _is_tuple,
        lambda value, type_: _structure_array(converter, value, type_),
    )
    # Hooks for the shaped classes are generated on first use, keeping import cheap.
    converter.register_unstructure_hook_factory(
        _is_shaped, lambda cls: _make_unstructure(converter, cls, style)
    )
    converter.register_structure_hook_factory(
        _is_shaped, lambda cls: _make_structure(converter, cls, style)
    )


def _is_literal(cls: object) -> bool:
    return get_origin(cls) is Literal


def _structure_passthrough(value: object, _: object) -> object:
    return value


def _structure_clause_value(value: object, _: object) -> object:
    if not isinstance(value, (str, int)):  # bool is an int
        raise InvalidTypeError("must be a JSON string, integer or boolean", value=value)
    return value


def _is_tuple(type_: object) -> bool:
    return get_origin(type_) is tuple


def _structure_array(converter: cattrs.Converter, value: object, type_: Any) -> object:
    """A JSON array as a tuple; an object or a string is refused, not iterated."""
    if not isinstance(value, (list, tuple)):
        raise InvalidTypeError("must be a JSON array", value=value)
    item_type = get_args(type_)[0]
    items = []
    for index, item in enumerate(value):
        try:
            items.append(converter.structure(item, item_type))
        except Exception as exc:  # noqa: BLE001  # passed on, with its position
            # cattrs reads element positions from notes; set them the way it does,
            # which also works before Python 3.11's add_note.
            note = IterableValidationNote(
                f"Structuring {type_} @ index {index}", index, item_type
            )
            exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
            raise IterableValidationError(
                "While structuring an array", [exc], type_
            ) from None
    return tuple(items)


def _clause_or_filter(data: object) -> type:
    """A nested filter has ``clauses``; a clause has ``property``."""
    if isinstance(data, Mapping) and "clauses" in data:
        return Filter
    return FilterClause


_AGGREGATIONS: dict[str, type] = {
    "count": CountAggregation,
    "unique": UniqueAggregation,
    "sum": PropertyAggregation,
    "max": PropertyAggregation,
    "min": PropertyAggregation,
    "avg": PropertyAggregation,
    "latest": PropertyAggregation,
}


def _aggregation_class(data: object) -> type:
    if not isinstance(data, Mapping):
        raise InvalidTypeError("must be a JSON object", value=data)
    func = data.get("func")
    if func is None and "func" not in data:
        raise MissingFieldError("required key is missing", path="func")
    if not isinstance(func, str) or func not in _AGGREGATIONS:
        raise ValidationError(
            f"must be one of {', '.join(_AGGREGATIONS)}", path="func", value=func
        )
    return _AGGREGATIONS[func]


_PRICES: dict[str, type[Price]] = {
    "metered_unit": MeteredUnitPrice,
    "graduated": GraduatedPrice,
    "volume": VolumePrice,
    "package": PackagePrice,
}


def _price_class(data: object, style: Style) -> type[Price]:
    """The price class named by ``amount_type``.

    A document without ``amount_type`` but with a ``unit_amount`` is a metered
    unit price, the only kind there was before the discriminator was read.
    """
    if not isinstance(data, Mapping):
        raise InvalidTypeError("must be a JSON object", value=data)
    key = json_key(MeteredUnitPrice, "amount_type", style)
    kinds = ", ".join(map(repr, _PRICES))
    if key not in data:
        if json_key(MeteredUnitPrice, "unit_amount", style) in data:
            return MeteredUnitPrice
        raise MissingFieldError(
            f"required key is missing; give one of {kinds}", path=key
        )
    kind = data[key]
    if not isinstance(kind, str) or kind not in _PRICES:
        raise ValidationError(f"must be one of {kinds}", path=key, value=kind)
    return _PRICES[kind]


def _renames(cls: type[Any], style: Style) -> dict[str, Any]:
    return {
        f.name: override(
            rename=json_key(cls, f.name, style),
            unstruct_hook=_FIELD_UNSTRUCTURE.get((cls, f.name)),
            struct_hook=_FIELD_STRUCTURE.get((cls, f.name)),
        )
        for f in attrs.fields(cls)
    }


def _make_unstructure(
    converter: cattrs.Converter, cls: type[Any], style: Style
) -> Callable[[Any], dict[str, Any]]:
    return make_dict_unstructure_fn(
        cls, converter, _cattrs_include_init_false=True, **_renames(cls, style)
    )


def _make_structure(
    converter: cattrs.Converter, cls: type[Any], style: Style
) -> Callable[[object, object], object]:
    structure = make_dict_structure_fn(cls, converter, **_renames(cls, style))
    derived = [
        (name, json_key(cls, name, style), required)
        for name, required in derived_fields(cls)
    ]

    def structure_checked(data: object, _: object) -> object:
        if not isinstance(data, Mapping):
            raise InvalidTypeError("must be a JSON object", value=data)
        value = structure(data, cls)
        for name, key, required in derived:
            if key in data:
                _check_derived(value, name, data[key])
            elif required:
                # ``balance`` is computed, yet the documented shape has it.
                raise MissingFieldError("required key is missing", path=name)
        return value

    return structure_checked


def _check_derived(value: object, name: str, given: object) -> None:
    """A derived field on input must agree with the one computed from the others."""
    computed = getattr(value, name)
    if isinstance(computed, Decimal):
        computed = units_to_json(computed)
    if not derived_agrees(computed, given):
        raise ValidationError(
            f"contradicts the other fields, which give {computed!r}",
            path=name,
            value=given,
        )


def make_converter(style: Style = "wire", *, detailed: bool = True) -> cattrs.Converter:
    """A new cattrs converter for ``style``, configured by `configure_converter`.

    ``detailed=False`` gives cattrs' lean generated code, which raises on the first
    problem without saying where; meterkit reads with it and, only when it fails,
    reads again with a detailed converter to name the path.
    """
    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    configure_converter(converter, style)
    return converter


# Converters per style, built once; they hold only hooks, never user data.
_CONVERTERS: dict[Style, cattrs.Converter] = {
    style: make_converter(style, detailed=False) for style in STYLES
}
_DETAILED: dict[Style, cattrs.Converter] = {
    style: make_converter(style) for style in STYLES
}


# The generated unstructure function of each shaped class, per style, looked up
# once: a memo of generated code (like cattrs' own dispatch cache), never user data.
_UNSTRUCTURE_HOOKS: dict[Style, dict[type, Callable[[Any], dict[str, Any]]]] = {
    style: {} for style in STYLES
}


# Fast readers of the hot shapes (see `_fastread`), generated on a class's first
# read rather than at import (all of them cost ~11 ms); ``None`` records a class
# that has none. A memo of generated code, like the hooks above.
_FAST: dict[Style, dict[type, Callable[[Any], Any] | None]] = {
    style: {} for style in STYLES
}


def _fast_reader(cls: type, style: Style) -> Callable[[Any], Any] | None:
    """The generated fast reader of a shaped class in one style, or ``None``."""
    readers = _FAST[style]
    if cls in readers:
        return readers[cls]
    reader = None
    if _is_shaped(cls):
        reader = make_fast_reader(
            cls,
            lambda c, name: json_key(c, name, style),
            lambda nested: _fast_reader(nested, style),
            style,
        )
    readers[cls] = reader
    return reader


def _converter(style: object) -> cattrs.Converter:
    check_style(style)
    return _CONVERTERS[style]  # type: ignore[index]  # checked just above


def _check_shaped(cls: object) -> None:
    if not _is_shaped(cls):
        names = ", ".join(name for _, name in _SHAPED)
        raise InvalidTypeError(
            f"has no JSON shape; shaped types are {names}", path="cls", value=cls
        )


def to_dict(obj: object, *, style: Style = "wire") -> dict[str, Any]:
    """``obj`` as a dict of JSON-ready values in the documented key order.

    >>> to_dict(example_customer_meter())["balance"]
    75
    >>> list(to_dict(example_customer_meter(), style="camel"))[:3]
    ['id', 'createdAt', 'modifiedAt']
    """
    hooks = _UNSTRUCTURE_HOOKS.get(style) if type(style) is str else None
    if hooks is None:
        check_style(style)
        raise AssertionError  # pragma: no cover  # check_style raised
    cls = type(obj)
    hook = hooks.get(cls)
    if hook is None:
        _check_shaped(cls)
        hook = hooks[cls] = _converter(style).get_unstructure_hook(cls)
    result: dict[str, Any] = hook(obj)
    return result


def to_json(obj: object, *, style: Style = "wire") -> str:
    """``obj`` as a JSON document (compact separators, keys in documented order)."""
    return json.dumps(to_dict(obj, style=style), separators=(",", ":"), allow_nan=False)


def from_dict(cls: type[T], data: object, *, style: Style = "wire") -> T:
    """Read an instance of ``cls`` from JSON-like ``data`` (as `json.loads` gives).

    Every problem is a `MeterkitError` whose message names the JSON path:

    >>> from meterkit import MeterRef
    >>> from_dict(MeterRef, {"id": "x", "name": "Tokens",
    ...                      "created_at": "2025-01-01T00:00:00Z", "modified_at": None})
    Traceback (most recent call last):
    ...
    meterkit.errors.ValidationError: $.id: must be a UUID such as '...' (got 'x')
    """
    # The fast reader first: the checks below cost as much as it does.
    readers = _FAST.get(style) if type(style) is str else None
    fast = None
    if readers is not None and type(cls) is type:
        fast = readers.get(cls, FALLBACK)  # FALLBACK: not generated yet
        if fast is FALLBACK:
            fast = _fast_reader(cls, style)
    if fast is not None:
        value: T = fast(data)
        if value is not FALLBACK:
            return value
    converter = _converter(style)
    if cls == Price:
        return price_from_dict(data, style=style)  # type: ignore[return-value]
    _check_shaped(cls)
    try:
        result: T = converter.structure(data, cls)
    except Exception as lean:  # noqa: BLE001  # every failure is translated
        too_deep = _filter_too_deep(data, cls)
        if too_deep is not None:
            raise too_deep from None
        try:
            _DETAILED[style].structure(data, cls)
        except Exception as exc:  # noqa: BLE001  # none escapes
            raise translate(exc, cls, "$", style) from None
        # The detailed reading accepted what the lean one refused: report the
        # lean error where it is, rather than return something half-read.
        raise translate(lean, cls, "$", style) from None  # pragma: no cover
    return result


def _filter_too_deep(data: object, cls: object) -> ValidationError | None:
    """The constructors' depth error for a document whose filters nest deeper than
    `MAX_FILTER_DEPTH`, found without recursion (the structuring recursion would
    run out of stack first, with another message).

    Filters are built bottom-up, so the constructors refuse the first filter, in
    that order, whose clauses nest one level too deep: this names the same one.
    """
    if cls is Meter and isinstance(data, Mapping):
        root, where = data.get("filter"), "$.filter"
    elif cls is Filter:
        root, where = data, "$"
    else:
        return None
    # Post-order walk: a node's height is known once all its children's are.
    heights: dict[int, int] = {}
    stack: list[tuple[object, str, bool]] = [(root, where, False)]
    while stack:
        node, path, children_done = stack.pop()
        if not isinstance(node, Mapping):
            continue
        clauses = node.get("clauses")
        if not isinstance(clauses, list):
            heights[id(node)] = 0  # a clause (or not a filter at all)
            continue
        if not children_done:
            stack.append((node, path, True))
            stack.extend(
                (child, f"{path}.clauses[{i}]", False)
                for i, child in reversed(list(enumerate(clauses)))
            )
            continue
        height = 1 + max(
            (heights.get(id(c), 0) for c in clauses if isinstance(c, Mapping)),
            default=0,
        )
        if height > MAX_FILTER_DEPTH:
            return ValidationError(
                f"must nest at most {MAX_FILTER_DEPTH} levels of filters "
                f"(got {height})",
                path=f"{path}.clauses",
            )
        heights[id(node)] = height
    return None


def from_json(cls: type[T], text: str | bytes, *, style: Style = "wire") -> T:
    """Parse a JSON document and read an instance of ``cls`` from it."""
    return from_dict(cls, _load_json(text), style=style)


def _load_json(text: object) -> Any:
    """The parsed JSON document ``text``; any failure is a `MeterkitError` at ``$``."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise InvalidTypeError(
            "must be a JSON document (str or bytes)", path="text", value=text
        )
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and bad UTF-8 alike
        raise ValidationError(f"is not valid JSON: {exc}", path="$") from None
    except RecursionError:
        raise ValidationError("is nested too deeply to read", path="$") from None
    return data


def price_from_dict(data: object, *, style: Style = "wire") -> Price:
    """Read any kind of price, picked by its ``amount_type``.

    The same as ``from_dict(Price, data)``, typed for mypy (whose ``type[T]``
    cannot hold a union). A document without ``amount_type`` but with a
    ``unit_amount`` is a `MeteredUnitPrice`; an unknown ``amount_type`` is a
    `ValidationError` at ``$.amount_type``.

    >>> price_from_dict({"amount_type": "package", "package_units": 1000,
    ...                  "package_amount": "50", "rounding": "up",
    ...                  "cap_amount": None,
    ...                  "meter_id": "d498a884-e2cd-4d3e-8002-f536468a8b22"})
    PackagePrice(amount_type='package', package_units=Decimal('1000'),
                 package_amount=Decimal('50'), rounding='up', cap_amount=None,
                 minimum_amount=None, meter_id='d498a884-e2cd-4d3e-8002-f536468a8b22')
    """
    check_style(style)
    try:
        cls = _price_class(data, style)
    except MeterkitError as exc:
        raise translate(exc, Price, "$", style) from None
    return from_dict(cls, data, style=style)


def price_from_json(text: str | bytes, *, style: Style = "wire") -> Price:
    """Parse a JSON document and read any kind of price from it."""
    return price_from_dict(_load_json(text), style=style)
