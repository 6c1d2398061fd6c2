"""Fast reading of the hot wire shapes, built from the ordinary path's own rules.

Rule 1: a fast reader is an accelerator, never a second definition. It reads each
field with the very rule the ordinary path applies to it: the field's attrs
converter (the shared rules of `_fields` and `_units`: `parse_id`, `parse_text`,
`parse_units`, `parse_count`, ...) or, for a timestamp, `_fields.parse_rfc3339`,
which is how the converters' JSON hook reads text. All it adds is a test of the
JSON type where a converter takes more than a JSON document may hold there (a
`uuid.UUID` for an id, a numeric string for units). When a rule refuses, a key is
missing or a value is not of the plain JSON type, it answers `FALLBACK`, and
`serialization.from_dict` reads the document the ordinary way, which also names the
path of any error. The test suite checks the two paths against each other on
generated documents.
Rule 2: the value is built without calling the constructor (the rules have already
normalised every field), but field validators and ``__attrs_post_init__`` run, so
cross-field rules (``meter_id == meter.id``, the derived ``balance``) hold. A
derived field must be in the document and agree with the computed value; a constant
field (``func``) may be absent. `derived_fields` and `derived_agrees` say so for
both reading paths.
Rule 3: readers are generated once per class and style, as one straight-line
function, from the attrs fields and `_wire_forms` (the JSON form of each field
converter); a class with a field outside the table has no fast reader. The source
is registered in `linecache` under a name of its own (``<meterkit fastread
CustomerMeter wire>``), as cattrs does for its generated code, so that tracebacks
and `inspect.getsource` show it; the cache holds that source text only.
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

import attrs

from . import _fields
from ._fields import parse_rfc3339
from ._sentinel import Sentinel
from ._units import units_to_json
from .errors import MeterkitError

__all__: list[str] = []

#: What a fast reader returns when the ordinary path must decide.
FALLBACK: Any = Sentinel("FALLBACK", __name__)


class _WireForm(NamedTuple):
    """How a field is read from JSON, keyed by its converter in `_wire_forms`.

    ``gate`` is the JSON type the value must have, as a test of ``v`` (empty when
    the converter refuses everything else itself); the field's converter then
    reads the value. A ``timestamp`` is read by `parse_rfc3339` instead, as the
    converters' JSON hook reads it (``None`` passing through when ``optional``):
    its converter, `_fields.parse_timestamp`, hands back the UTC datetime that
    gives as it is, so it is not called again (the property tests compare both
    paths' values in ``repr``, tzinfo objects included).
    """

    gate: str = ""
    timestamp: bool = False
    optional: bool = False


# The JSON number types a unit count may have; a string is refused on the wire (and
# `Decimal` or an int subclass goes the ordinary way).
_NUMBER = "type(v) is int or type(v) is float"


def _wire_forms() -> dict[Callable[..., Any], _WireForm]:
    forms = {
        # parse_id also takes a uuid.UUID, which a JSON document cannot hold.
        _fields.id_field: _WireForm(gate="type(v) is str"),
        _fields.customer_id_field: _WireForm(gate="type(v) is str"),
        _fields.meter_id_field: _WireForm(gate="type(v) is str"),
        _fields.name_field: _WireForm(),
        _fields.created_at_field: _WireForm(timestamp=True),
        _fields.modified_at_field: _WireForm(timestamp=True, optional=True),
        # parse_int refuses what the JSON integer hook refuses (bools, floats).
        _fields.credited_units_field: _WireForm(),
        _fields.amount_field: _WireForm(),
    }
    # Only a class of `values` has a field read by `values._consumed_units`: when
    # that module is not loaded yet, no class being read needs its form (and
    # reading a meter does not import it).
    values = sys.modules.get(f"{__package__}.values")
    if values is not None:
        forms[values._consumed_units] = _WireForm(gate=_NUMBER)
    return forms


def derived_fields(cls: type[Any]) -> list[tuple[str, bool]]:
    """The fields of ``cls`` the constructor does not take, and whether each is
    required in a document.

    A field computed by ``__attrs_post_init__`` (``CustomerMeter.balance``) is part
    of the documented shape: required, and it must agree with the computed value.
    A constant with a default (``func``, ``amount_type``) may be left out.
    """
    return [
        (field.name, field.default is attrs.NOTHING)
        for field in attrs.fields(cls)
        if not field.init
    ]


def make_fast_reader(
    cls: type[Any],
    key_of: Callable[[type[Any], str], str],
    reader_of: Callable[[type[Any]], Callable[[Any], Any] | None],
    label: str = "",
) -> Callable[[Any], Any] | None:
    """A reader for ``cls`` in one style, or ``None`` when a field has no wire form.

    ``key_of(cls, attribute)`` gives the JSON key; ``reader_of(nested_cls)`` the
    fast reader of a nested shaped class (or ``None``); ``label`` (the style) goes
    into the name of the generated source. The reader is one straight-line
    function: per field a lookup, the JSON type test, the field's rule and a slot
    store, all in one ``try`` where a `MeterkitError` (a rule refused) or a
    `KeyError` (a key is missing) means `FALLBACK`.
    """
    forms = _wire_forms()
    names: dict[str, Any] = {
        "_F": FALLBACK,
        "_parse_rfc3339": parse_rfc3339,
        "_new": object.__new__,
        "_cls": cls,
        "_agrees": derived_agrees,
        "_MeterkitError": MeterkitError,
    }
    body: list[str] = []
    for field in attrs.fields(attrs.resolve_types(cls)):
        if not field.init:
            # A constant such as ``func`` is stored here, as attrs' __init__
            # would; ``balance`` is computed by ``__attrs_post_init__`` below.
            if field.default is attrs.NOTHING:
                continue
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                return None
            names[f"_default_{field.name}"] = field.default
            names[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
            body.append(f"_set_{field.name}(obj, _default_{field.name})")
            continue
        key = key_of(cls, field.name)
        names[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
        store = f"_set_{field.name}(obj, {{}})".format
        form = forms.get(field.converter)
        rule = f"_rule_{field.name}"
        if form is not None:
            names[rule] = field.converter
            if form.gate:
                body += [f"v = data[{key!r}]", f"if not ({form.gate}): return _F"]
                value = "v"
            else:
                value = f"data[{key!r}]"
            if form.timestamp and form.optional:
                body += [
                    f"v = {value}",
                    store(f"v if v is None else _parse_rfc3339(v, {key!r})"),
                ]
            elif form.timestamp:
                body.append(store(f"_parse_rfc3339({value}, {key!r})"))
            else:
                body.append(store(f"{rule}({value})"))
        elif isinstance(field.type, type) and attrs.has(field.type):
            nested = reader_of(field.type)
            if nested is None:
                return None
            names[f"_read_{field.name}"] = nested
            body += [
                f"v = _read_{field.name}(data[{key!r}])",
                "if v is _F: return _F",
                store("v"),
            ]
        else:
            return None
        if field.validator is not None:
            # Run as attrs' __init__ runs it, once the value is stored.
            names[f"_validate_{field.name}"] = field.validator
            names[f"_field_{field.name}"] = field
            body.append(
                f"_validate_{field.name}(obj, _field_{field.name}, obj.{field.name})"
            )
    post_init = getattr(cls, "__attrs_post_init__", None)
    if post_init is not None:
        names["_post_init"] = post_init
        body.append("_post_init(obj)")
    lines = [
        "def read(data):",
        "    if type(data) is not dict: return _F",
        "    obj = _new(_cls)",
        "    try:",
        *(f"        {line}" for line in body),
        "    except (_MeterkitError, KeyError):",
        "        return _F",
    ]
    for name, required in derived_fields(cls):
        key = key_of(cls, name)
        missing = "v is _F or " if required else "v is not _F and "
        lines += [
            f"    v = data.get({key!r}, _F)",
            f"    if {missing}not _agrees(obj.{name}, v): return _F",
        ]
    lines.append("    return obj")
    source = "\n".join(lines) + "\n"
    filename = _register_source(f"meterkit fastread {cls.__qualname__} {label}", source)
    exec(compile(source, filename, "exec"), names)
    reader: Callable[[Any], Any] = names["read"]
    return reader


def _register_source(name: str, source: str) -> str:
    """A file name of its own for generated ``source``, with the text in linecache.

    The same text under the same name is shared; other text gets a ``-2``, ``-3``
    suffix (what cattrs does for its generated code). The entry has no
    modification time, so `linecache.checkcache` keeps it.
    """
    lines = source.splitlines(keepends=True)
    count = 1
    while True:
        suffix = "" if count == 1 else f"-{count}"
        filename = f"<{name.strip()}{suffix}>"
        entry = (len(source), None, lines, filename)
        if linecache.cache.setdefault(filename, entry) == entry:
            return filename
        count += 1


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
