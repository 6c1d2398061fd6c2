"""Usage events: the `Event` type, and reading events from wire mappings.

Rule 1: an `Event` is valid by construction: aware UTC timestamp, ``source`` of
``user`` or ``system``, UUID ids (stored in canonical lower case), non-empty
free-text ids, and ``metadata`` of JSON values with string keys and finite numbers,
nested at most `MAX_METADATA_DEPTH` deep. ``metadata`` is a frozen copy: changing
the caller's dict after construction does not change the event, and the event's own
``metadata`` cannot be changed.
Rule 2: the engine also reads events straight from wire mappings (what `json.loads`
gives), without building `Event` objects: `read_event` checks each mapping's
``name``, ``timestamp`` (parsed in full: month 13, February 29 of a common year
and second 60 are errors), ``source``, customer ids (``customer_id`` must be a UUID,
in any letter case; the view holds its canonical form), ``external_id`` and that
``metadata`` is an object (``null`` is none), as `Event` would, and names the
event's position in the stream (``events[17].timestamp``) in every error. The
metadata values a meter reads are checked by the meter (`matching`), not here.
Rule 3 (what only `Event` checks): an `Event` keeps every metadata value and its
``id``, so it also refuses what the engine never reads: an ``id`` that is not a
UUID, and anywhere in ``metadata`` a value that is no JSON value (NaN, an int too
large to write), a key that is not a string, or nesting past `MAX_METADATA_DEPTH`.
Checking all of it in every fold would cost `usage` half its speed (measured in
docs/performance.md), so the engine does not; ``meterkit validate --strict``
checks a file the `Event` way. `plain_metadata` is that check without a copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple, NoReturn

import attrs

from . import _fields
from .errors import InvalidTypeError, MissingFieldError, ValidationError

__all__ = ["Event"]

SOURCES = ("user", "system")


def _name(value: object) -> str:
    return _fields.parse_text(value, "name")


def _timestamp(value: object) -> datetime:
    return _fields.parse_timestamp(value, "timestamp")


def _customer_id(value: object) -> str | None:
    return None if value is None else _fields.parse_id(value, "customer_id")


def _external_customer_id(value: object) -> str | None:
    return _optional_id(value, "external_customer_id")


def _external_id(value: object) -> str | None:
    return _optional_id(value, "external_id")


#: Why an empty free-text id is refused, in `Event` and `read_event` alike: it
#: would silently merge unrelated events.
_EMPTY_ID = "must not be empty (use null for no id)"


def _optional_id(value: object, path: str) -> str | None:
    if value is None:
        return None
    if value == "":
        raise ValidationError(_EMPTY_ID, path=path, value=value)
    return _fields.parse_text(value, path)


def _source(value: object) -> str:
    if value not in SOURCES:
        raise ValidationError("must be 'user' or 'system'", path="source", value=value)
    return str(value)


#: How deep ``Event.metadata`` may nest (objects and arrays): far beyond real event
#: payloads, and shallow enough that no reader of it runs out of stack.
MAX_METADATA_DEPTH = 64


def _metadata(value: object) -> dict[str, Any]:
    if value is None:  # JSON's null: no metadata, as `read_event` reads it
        return FrozenDict()
    if not isinstance(value, Mapping):
        raise InvalidTypeError("must be a mapping", path="metadata", value=value)
    return frozen_json(value, "metadata", 0)  # type: ignore[no-any-return]


def frozen_json(value: object, path: str, depth: int = 0) -> Any:
    """A frozen copy of a JSON value: the caller's objects are never shared.

    Objects become `FrozenDict`, arrays `FrozenList`; numbers must be finite.
    """
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            raise ValidationError(
                "is too large to write as JSON",
                path=path,
                value=f"<{value.bit_length()}-bit int>",
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                "must be a finite number (JSON has no NaN or Infinity)",
                path=path,
                value=value,
            )
        return value
    if depth >= MAX_METADATA_DEPTH:
        raise ValidationError(
            f"nests deeper than {MAX_METADATA_DEPTH} levels", path=path, value="..."
        )
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidTypeError("keys must be strings", path=path, value=key)
            items[key] = frozen_json(item, f"{path}.{key}", depth + 1)
        return FrozenDict(items)
    if isinstance(value, (list, tuple)):
        return FrozenList(
            frozen_json(item, f"{path}[{index}]", depth + 1)
            for index, item in enumerate(value)
        )
    raise InvalidTypeError(
        "must be a JSON value (str, int, float, bool, None, list, dict)",
        path=path,
        value=value,
    )


# An int of more bits than this has more than 4,300 digits: `json.dumps` refuses
# to write it (Python's int-to-text limit), so an event cannot hold one.
_MAX_INT_BITS = 14_000
# |value| < _INT_BOUND: at most _MAX_INT_BITS bits (both bounds made once: negating
# a 14,000-bit int on every test would allocate it anew).
_INT_BOUND = 1 << _MAX_INT_BITS
_INT_FLOOR = -_INT_BOUND


def plain_metadata(metadata: Mapping[str, Any], depth: int = 0) -> bool:
    """Whether `frozen_json` accepts ``metadata`` (a container at ``depth``),
    decided without copying: string keys, JSON values (a str, a bool, None, an
    int of at most 14,000 bits, a finite float, a list or a dict of them),
    containers nested less than `MAX_METADATA_DEPTH` deep (Rule 3).

    ``False`` does not mean invalid, only that `frozen_json` must decide (and
    name the problem): a tuple, a subclass of dict or str, or another mapping
    type always goes there.
    """
    for key, value in metadata.items():
        if type(key) is not str or not _plain_value(value, depth + 1):
            return False
    return True


def _plain_value(value: Any, depth: int) -> bool:
    """`plain_metadata` for one value at ``depth``."""
    kind = type(value)
    if (
        kind is str
        or (kind is int and _INT_FLOOR < value < _INT_BOUND)
        or value is None
        or kind is bool
        or (kind is float and value - value == 0.0)  # finite: inf - inf is nan
    ):
        return True
    if depth >= MAX_METADATA_DEPTH:
        return False
    if kind is dict:
        return plain_metadata(value, depth)
    if kind is not list:
        return False
    for item in value:  # noqa: SIM110 (a loop: `all` of a generator is slower)
        if not _plain_value(item, depth + 1):
            return False
    return True


def _refuse_change(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is immutable: Event metadata is frozen")


class _Frozen:
    """What the frozen containers share: a copy is the container itself (it cannot
    change), and it pickles as its plain builtin (rebuilt frozen on load)."""

    __slots__ = ()
    _plain: ClassVar[Callable[[Any], object]]  # the builtin it extends

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (type(self)._plain(self),))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


class FrozenDict(_Frozen, dict[str, Any]):
    """The JSON objects of ``Event.metadata``: a `dict` that refuses changes.

    It compares equal to a `dict` with the same items and pickles as one.
    """

    __slots__ = ()
    _plain = dict
    __setitem__ = __delitem__ = __ior__ = _refuse_change
    clear = pop = popitem = setdefault = update = _refuse_change


class FrozenList(_Frozen, list[Any]):
    """The JSON arrays of ``Event.metadata``: a `list` that refuses changes."""

    __slots__ = ()
    _plain = list
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse_change
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse_change


def _event_id(value: object) -> str | None:
    return None if value is None else _fields.parse_id(value, "id")


@attrs.frozen(kw_only=True)
class Event:
    """One usage event, or a ``system`` event carrying a credit or a reset.

    >>> from datetime import datetime, timezone
    >>> e = Event(name="llm", timestamp=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...           external_customer_id="acme", metadata={"total_tokens": 10})
    >>> e.source, e.metadata["total_tokens"]
    ('user', 10)
    """

    name: str = attrs.field(converter=_name)
    timestamp: datetime = attrs.field(converter=_timestamp)
    customer_id: str | None = attrs.field(default=None, converter=_customer_id)
    external_customer_id: str | None = attrs.field(
        default=None, converter=_external_customer_id
    )
    external_id: str | None = attrs.field(default=None, converter=_external_id)
    source: Literal["user", "system"] = attrs.field(default="user", converter=_source)
    metadata: dict[str, Any] = attrs.field(
        factory=dict, converter=_metadata, hash=False
    )
    id: str | None = attrs.field(default=None, converter=_event_id)


class EventView(NamedTuple):
    """The fields of one event as the engine reads them (no `Event` is built).

    Every field has passed the checks of `Event`: ``timestamp`` is an aware UTC
    datetime and ``customer_id`` a canonical (lower-case) UUID.
    """

    name: str
    timestamp: datetime
    customer_id: str | None
    external_customer_id: str | None
    external_id: str | None
    source: str
    metadata: Mapping[str, Any]


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def read_event(
    event: object, index: int, ids: dict[str, str] | None = None
) -> EventView:
    """Read an `Event` or a wire mapping; errors name ``events[index].field``.

    A wire mapping is checked as fully as `Event` checks its fields (Rule 2).
    ``ids``, when given, remembers customer ids already checked (their canonical
    form by their text), so that a log with few customers checks each id once.
    """
    if type(event) is dict:  # what json.loads gives: skip the ABC checks
        return _read_mapping(event, index, ids)
    if isinstance(event, Event):
        return EventView(
            event.name,
            event.timestamp,
            event.customer_id,
            event.external_customer_id,
            event.external_id,
            event.source,
            event.metadata,
        )
    if not isinstance(event, Mapping):
        raise InvalidTypeError(
            "must be an Event or a JSON object", path=f"events[{index}]", value=event
        )
    return _read_mapping(event, index, ids)


def _read_mapping(
    event: Mapping[str, Any], index: int, ids: dict[str, str] | None
) -> EventView:
    try:
        name = event["name"]
        timestamp = event["timestamp"]
    except KeyError as exc:
        raise MissingFieldError(
            "required key is missing", path=f"events[{index}].{exc.args[0]}"
        ) from None
    if not (type(name) is str and name):
        if not isinstance(name, str):
            raise InvalidTypeError(
                "must be a string", path=f"events[{index}].name", value=name
            )
        if not name:
            raise _bad(index, "name", "must be a non-empty string", name)
    moment = _fields.parse_rfc3339(timestamp, f"events[{index}].timestamp")
    source = event.get("source", "user")
    if source != "user" and source != "system":  # hot path
        raise _bad(index, "source", "must be 'user' or 'system'", source)
    metadata = event.get("metadata")
    if metadata is None:
        metadata = _EMPTY
    elif type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise InvalidTypeError(
            "must be a JSON object", path=f"events[{index}].metadata", value=metadata
        )
    customer_id = event.get("customer_id")
    external_customer_id = event.get("external_customer_id")
    external_id = event.get("external_id")
    if customer_id is not None:
        canonical = (
            ids.get(customer_id)
            if ids is not None and type(customer_id) is str
            else None
        )
        if canonical is None:
            if not isinstance(customer_id, str):
                raise InvalidTypeError(
                    "must be a UUID string or null",
                    path=f"events[{index}].customer_id",
                    value=customer_id,
                )
            canonical = _fields.parse_id(customer_id, f"events[{index}].customer_id")
            if ids is not None:
                ids[customer_id] = canonical
        customer_id = canonical
    if not (
        (
            external_customer_id is None
            or (type(external_customer_id) is str and external_customer_id)
        )
        and (external_id is None or (type(external_id) is str and external_id))
    ):
        _check_ids(index, external_customer_id, external_id)
    return EventView(
        name,
        moment,
        customer_id,
        external_customer_id,
        external_id,
        source,
        metadata,
    )


def _check_ids(index: int, *ids: object) -> None:
    """Raise the error for the first id that is neither null nor a non-empty str."""
    for key, value in zip(("external_customer_id", "external_id"), ids, strict=True):
        if value is not None and not isinstance(value, str):
            raise InvalidTypeError(
                "must be a string or null", path=f"events[{index}].{key}", value=value
            )
        if value == "":
            raise _bad(index, key, _EMPTY_ID, value)


def _bad(index: int, key: str, reason: str, value: object) -> ValidationError:
    return ValidationError(reason, path=f"events[{index}].{key}", value=value)


def event_time(view: EventView, index: int) -> datetime:
    """The event's instant as an aware UTC datetime (checked when it was read)."""
    return view.timestamp
