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
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from . import _fields
from ._fields import parse_rfc3339
from ._units import MAX_UNITS_EXPONENT, units_to_json
from .errors import MeterkitError

__all__ = ["FALLBACK", "make_fast_reader"]

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


def _fast_checks() -> dict[Callable[..., Any], Callable[[Any], Any]]:
    from . import values

    return {
        _fields.id_field: _id,
        _fields.customer_id_field: _id,
        _fields.meter_id_field: _id,
        _fields.name_field: _text,
        _fields.created_at_field: _timestamp,
        _fields.modified_at_field: _optional_timestamp,
        _fields.credited_units_field: _credited,
        _fields.amount_field: _count,
        values._consumed_units: _units,  # the table is the point
    }


def make_fast_reader(
    cls: type[Any],
    key_of: Callable[[type[Any], str], str],
    reader_of: Callable[[type[Any]], Callable[[Any], Any] | None],
) -> Callable[[Any], Any] | None:
    """A reader for ``cls`` in one style, or ``None`` when a field has no fast check.

    ``key_of(cls, attribute)`` gives the JSON key; ``reader_of(nested_cls)`` the
    fast reader of a nested shaped class (or ``None``).
    """
    checks = _fast_checks()
    plan: list[tuple[str, str, Callable[[Any], Any]]] = []
    derived: list[tuple[str, str]] = []
    for field in attrs.fields(attrs.resolve_types(cls)):
        key = key_of(cls, field.name)
        if not field.init:
            derived.append((field.name, key))
            continue
        check = checks.get(field.converter)
        if check is None and isinstance(field.type, type) and attrs.has(field.type):
            check = reader_of(field.type)
        if check is None:
            return None
        plan.append((field.name, key, check))
    post_init = getattr(cls, "__attrs_post_init__", None)
    new = object.__new__
    setattr_ = object.__setattr__

    def read(data: Any) -> Any:
        if type(data) is not dict:
            return FALLBACK
        obj = new(cls)
        for name, key, check in plan:
            raw = data.get(key, FALLBACK)
            if raw is FALLBACK:
                return FALLBACK
            value = check(raw)
            if value is FALLBACK:
                return FALLBACK
            setattr_(obj, name, value)
        if post_init is not None:
            try:
                post_init(obj)
            except MeterkitError:
                return FALLBACK
        for name, key in derived:
            given = data.get(key, FALLBACK)
            if given is not FALLBACK and not _agrees(getattr(obj, name), given):
                return FALLBACK
        return obj

    return read


def _agrees(computed: Any, given: Any) -> bool:
    if isinstance(computed, Decimal):
        computed = units_to_json(computed)
    if type(given) is float and type(computed) is int:
        return given == float(computed)
    return type(given) in (int, float) and given == computed
