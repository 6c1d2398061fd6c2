"""Fast reading of the hot wire shapes, proven equal to the cattrs path.

Rule 1: a fast reader is an accelerator, never a second definition. It accepts a
document only when every field is in the plain form the API writes (a lower-case
UUID, a ``...Z`` timestamp, an ``int`` or finite ``float`` unit count, ...) and then
builds the very value the attrs constructor would build; for anything else it
answers `FALLBACK`, and `serialization.from_dict` reads the document the ordinary
way, which also names the path of any error. The test suite checks the two paths
against each other on generated documents.
Rule 2: the value is built without re-running the constructor's converters (the
fast checks have already normalised every field), but its ``__attrs_post_init__``
runs, so cross-field rules (``meter_id == meter.id``, the derived ``balance``) hold.
Rule 3: readers are generated once per class and style, from the attrs fields and
a table mapping each field converter to its fast check; a class with a field outside
the table has no fast reader.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from . import _fields
from ._fields import parse_rfc3339
from ._units import MAX_UNITS_EXPONENT, units_to_json
from .errors import MeterkitError

__all__ = ["FALLBACK", "derived_agrees", "make_fast_reader"]

#: What a fast reader returns when the ordinary path must decide.
FALLBACK: Any = object()

_LOWER_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch
_UNITS_LIMIT = 10 ** (MAX_UNITS_EXPONENT + 1)
_FLOAT_LOW = 1e-20  # well inside the context's smallest exponent (1E-28)
_FLOAT_ZERO = Decimal("0.0")


def _timestamp(value: Any) -> Any:
    if type(value) is str and len(value) in (20, 27) and value[-1] == "Z":
        try:
            moment = parse_rfc3339(value, "")
        except MeterkitError:
            return FALLBACK
        return moment
    return FALLBACK


def _optional_timestamp(value: Any) -> Any:
    return None if value is None else _timestamp(value)


def _id(value: Any) -> Any:
    return value if type(value) is str and _LOWER_UUID(value) else FALLBACK


def _text(value: Any) -> Any:
    return value if type(value) is str and value else FALLBACK


def _units(value: Any) -> Any:
    if type(value) is int:
        return Decimal(value) if 0 <= value < _UNITS_LIMIT else FALLBACK
    if type(value) is float and math.isfinite(value):
        if value == 0.0:
            return _FLOAT_ZERO  # what the ordinary path makes of 0.0 and -0.0
        if _FLOAT_LOW <= value < 1e28:
            return Decimal(repr(value))
    return FALLBACK


def _count(value: Any) -> Any:
    return value if type(value) is int and value >= 0 else FALLBACK


def _credited(value: Any) -> Any:
    if type(value) is int and 0 <= value <= _fields.MAX_CREDITED_UNITS:
        return value
    return FALLBACK


# RFC 3339 in the API's exact layout, parsed by `datetime.fromisoformat` (3.11+
# reads 'Z'); the separator tests keep out the ISO 8601 forms RFC 3339 lacks, the
# same tests as `_fields.parse_rfc3339`'s own fast path. Anything else goes
# through `_timestamp`.
_TIMESTAMP: tuple[str, ...] = (
    (
        # v[4:20:3] is the characters at 4, 7, 10, 13, 16 and 19: one compare.
        "if type(v) is str and len(v) == 20 and v[4:20:3] == '--T::Z':",
        "    try: v = _fromisoformat(v)",
        "    except ValueError: return _F",
        "else:",
        "    v = _timestamp(v)",
        "    if v is _F: return _F",
    )
    if sys.version_info >= (3, 11)
    else ("v = _timestamp(v)", "if v is _F: return _F")
)

# Each fast check as straight-line source, applied to ``v`` (which is `FALLBACK`
# when the key is missing; every check then answers `FALLBACK` too).
_CHECKS: dict[str, tuple[str, ...]] = {
    "id": ("if type(v) is not str or not _uuid(v): return _F",),
    "text": ("if type(v) is not str or not v: return _F",),
    "timestamp": _TIMESTAMP,
    "optional_timestamp": (
        "if v is not None:",
        *(f"    {line}" for line in _TIMESTAMP),
    ),
    "units": (
        "if type(v) is int and 0 <= v < _limit: v = _decimal(v)",
        "elif type(v) is float and _float_low <= v < 1e28: v = _decimal(repr(v))",
        "else:",
        "    v = _units(v)",
        "    if v is _F: return _F",
    ),
    "count": ("if type(v) is not int or v < 0: return _F",),
    "credited": ("if type(v) is not int or v < 0 or v > _max_credited: return _F",),
}


def _check_kinds() -> dict[Callable[..., Any], str]:
    from . import values

    return {
        _fields.id_field: "id",
        _fields.customer_id_field: "id",
        _fields.meter_id_field: "id",
        _fields.name_field: "text",
        _fields.created_at_field: "timestamp",
        _fields.modified_at_field: "optional_timestamp",
        _fields.credited_units_field: "credited",
        _fields.amount_field: "count",
        values._consumed_units: "units",
    }


def make_fast_reader(
    cls: type[Any],
    key_of: Callable[[type[Any], str], str],
    reader_of: Callable[[type[Any]], Callable[[Any], Any] | None],
) -> Callable[[Any], Any] | None:
    """A reader for ``cls`` in one style, or ``None`` when a field has no fast check.

    ``key_of(cls, attribute)`` gives the JSON key; ``reader_of(nested_cls)`` the
    fast reader of a nested shaped class (or ``None``). The reader is generated as
    one straight-line function: per field a lookup, an inline check and a slot
    store, with no loop and no call for the common forms.
    """
    kinds = _check_kinds()
    names: dict[str, Any] = {
        "_F": FALLBACK,
        "_uuid": _LOWER_UUID,
        "_timestamp": _timestamp,
        "_units": _units,
        "_decimal": Decimal,
        "_fromisoformat": datetime.fromisoformat,
        "_limit": _UNITS_LIMIT,
        "_float_low": _FLOAT_LOW,
        "_max_credited": _fields.MAX_CREDITED_UNITS,
        "_new": object.__new__,
        "_cls": cls,
        "_agrees": derived_agrees,
        "_post_init": getattr(cls, "__attrs_post_init__", None),
        "_MeterkitError": MeterkitError,
    }
    lines = [
        "def read(data):",
        "    if type(data) is not dict: return _F",
        "    get = data.get",
        "    obj = _new(_cls)",
    ]
    derived: list[tuple[str, str]] = []
    for field in attrs.fields(attrs.resolve_types(cls)):
        key = key_of(cls, field.name)
        if not field.init:
            # A field the constructor does not take: a constant such as ``func``
            # (stored here, as attrs' __init__ would) or one computed by
            # ``__attrs_post_init__`` such as ``balance``; either must agree with
            # the document.
            derived.append((field.name, key))
            if field.default is attrs.NOTHING:
                continue
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                return None
            names[f"_default_{field.name}"] = field.default
            names[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
            lines.append(f"    _set_{field.name}(obj, _default_{field.name})")
            continue
        kind = kinds.get(field.converter)
        if kind is not None:
            check: tuple[str, ...] = _CHECKS[kind]
        elif isinstance(field.type, type) and attrs.has(field.type):
            nested = reader_of(field.type)
            if nested is None:
                return None
            names[f"_read_{field.name}"] = nested
            check = (f"v = _read_{field.name}(v)", "if v is _F: return _F")
        else:
            return None
        names[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
        lines.append(f"    v = get({key!r}, _F)")
        lines.extend(f"    {line}" for line in check)
        lines.append(f"    _set_{field.name}(obj, v)")
    if names["_post_init"] is not None:
        lines += [
            "    try:",
            "        _post_init(obj)",
            "    except _MeterkitError:",
            "        return _F",
        ]
    for name, key in derived:
        lines += [
            f"    v = get({key!r}, _F)",
            f"    if v is not _F and not _agrees(obj.{name}, v): return _F",
        ]
    lines.append("    return obj")
    exec(
        compile("\n".join(lines), f"<meterkit fast reader {cls.__name__}>", "exec"),
        names,
    )
    reader: Callable[[Any], Any] = names["read"]
    return reader


def derived_agrees(computed: Any, given: Any) -> bool:
    """Whether a document's value of a derived field agrees with the computed one.

    The one rule for both reading paths (`serialization` uses it too): same JSON
    type, or numbers (never bools) of equal value; a float given for an int (the
    nearest double, as a doubles-only JSON writer sends it) agrees when it is
    that int's nearest double.
    """
    if isinstance(computed, Decimal):
        if type(given) is float:  # the common case, decided in one compare
            return given == float(computed)
        computed = units_to_json(computed)
    if type(given) is float and type(computed) is int:
        return given == float(computed)
    return (
        type(given) is type(computed)
        or (isinstance(given, (int, float)) and not isinstance(given, bool))
    ) and given == computed
