"""Usage events: the `Event` type, and reading events from wire mappings.

Rule 1: an `Event` is valid by construction: aware UTC timestamp, ``source`` of
``user`` or ``system``, UUID ids, non-empty free-text ids, JSON-like ``metadata``
with string keys.
Rule 2: the engine also reads events straight from wire mappings (what `json.loads`
gives), without building `Event` objects: `read_event` checks each mapping for what
the engine relies on (``name``, ``timestamp``, ``source``, the customer ids,
``external_id``, ``metadata``) and names the event's position in the stream
(``events[17].timestamp``) in every error. A timestamp the meter never reads is
checked for shape (an RFC 3339 layout that carries a zone), not parsed; when the
meter or the caller needs the instant, it is parsed in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

import attrs

from . import _fields
from .errors import InvalidTypeError, MissingFieldError, ValidationError

__all__ = ["SOURCES", "Event", "EventView", "read_event"]

SOURCES = ("user", "system")


def _name(value: object) -> str:
    return _fields.parse_text(value, "name")


def _timestamp(value: object) -> datetime:
    return _fields.parse_timestamp(value, "timestamp")


def _customer_id(value: object) -> str | None:
    return None if value is None else _fields.parse_id(value, "customer_id")


def _external_customer_id(value: object) -> str | None:
    return None if value is None else _fields.parse_text(value, "external_customer_id")


def _external_id(value: object) -> str | None:
    return None if value is None else _fields.parse_text(value, "external_id")


def _source(value: object) -> str:
    if value not in SOURCES:
        raise ValidationError("must be 'user' or 'system'", path="source", value=value)
    return str(value)


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidTypeError("must be a mapping", path="metadata", value=value)
    copy = dict(value)
    _check_json(copy, "metadata")
    return copy


def _check_json(value: object, path: str) -> None:
    """Metadata holds JSON values only: str keys; str, int, float, bool, None, lists."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidTypeError("keys must be strings", path=path, value=key)
            _check_json(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
    elif not (value is None or isinstance(value, (str, int, float))):
        raise InvalidTypeError(
            "must be a JSON value (str, int, float, bool, None, list, dict)",
            path=path,
            value=value,
        )


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
    """The fields of one event as the engine reads them (no `Event` is built)."""

    name: str
    timestamp: object  # an aware datetime, or RFC 3339 text checked for shape
    customer_id: str | None
    external_customer_id: str | None
    external_id: str | None
    source: str
    metadata: Mapping[str, Any]


_EMPTY: Mapping[str, Any] = {}


def read_event(event: object, index: int) -> EventView:
    """Read an `Event` or a wire mapping; errors name ``events[index].field``."""
    if type(event) is dict:  # what json.loads gives: skip the ABC checks
        return _read_mapping(event, index)
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
    return _read_mapping(event, index)


def _read_mapping(event: Mapping[str, Any], index: int) -> EventView:
    try:
        name = event["name"]
        timestamp = event["timestamp"]
    except KeyError as exc:
        raise MissingFieldError(
            "required key is missing", path=f"events[{index}].{exc.args[0]}"
        ) from None
    if not (isinstance(name, str) and name):
        raise _bad(index, "name", "must be a non-empty string", name)
    if not _aware_shape(timestamp):
        _full_timestamp(timestamp, index)  # raises the precise error
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
    if (
        (customer_id is None or (type(customer_id) is str and customer_id))
        and (
            external_customer_id is None
            or (type(external_customer_id) is str and external_customer_id)
        )
        and (external_id is None or (type(external_id) is str and external_id))
    ):
        pass  # the common case, decided without the loop below
    else:
        _check_ids(index, customer_id, external_customer_id, external_id)
    return EventView(
        name,
        timestamp,
        customer_id,
        external_customer_id,
        external_id,
        source,
        metadata,
    )


def _check_ids(index: int, *ids: object) -> None:
    """Raise the error for the first id that is neither null nor a non-empty str."""
    for key, value in zip(
        ("customer_id", "external_customer_id", "external_id"), ids, strict=True
    ):
        if value is not None and not isinstance(value, str):
            raise InvalidTypeError(
                "must be a string or null", path=f"events[{index}].{key}", value=value
            )
        if value == "":
            # As in `Event`: an empty id would silently merge unrelated events.
            raise _bad(index, key, "must not be empty (use null for no id)", value)


def _bad(index: int, key: str, reason: str, value: object) -> ValidationError:
    return ValidationError(reason, path=f"events[{index}].{key}", value=value)


def _aware_shape(value: object) -> bool:
    """A cheap test that ``value`` is laid out as RFC 3339 text with a zone.

    It checks the separators and the zone designator, not the digits; the full
    parse (`event_time`) runs when the instant is needed.
    """
    if isinstance(value, str):
        n = len(value)
        return (
            n >= 20
            and value[4] == "-"
            and value[7] == "-"
            and value[13] == ":"
            and (value[-1] in "Zz" or (value[-6] in "+-" and value[-3] == ":"))
        )
    return isinstance(value, datetime) and value.utcoffset() is not None


def _full_timestamp(value: object, index: int) -> datetime:
    return _fields.parse_rfc3339(value, f"events[{index}].timestamp")


def event_time(view: EventView, index: int) -> datetime:
    """The event's instant as an aware UTC datetime, parsed in full."""
    timestamp = view.timestamp
    if isinstance(timestamp, datetime) and timestamp.tzinfo is _fields.UTC:
        return timestamp
    return _full_timestamp(timestamp, index)
