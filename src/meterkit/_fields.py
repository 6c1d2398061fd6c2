"""Parsing and checking of the scalar fields every value type shares.

Rule 1: ids are UUIDs stored as canonical lower-case strings; a `uuid.UUID` is
accepted, and so is a hyphenated hex string in any case. Nothing else.
Rule 2: timestamps are timezone-aware `datetime` objects, stored in UTC
(`datetime.timezone.utc`); naive ones are an error, never guessed.
Rule 3: counts of credits and cents are ``int`` (a ``bool`` is not an int here).
Rule 4: a field holding several values is a tuple, read from any iterable that is
not a string, bytes or a mapping (whose keys would be read as the values).
Each function takes the ``path`` to name in its error.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import InvalidTypeError, ValidationError

__all__: list[str] = []

UTC = timezone.utc

_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def is_uuid_text(value: str) -> bool:
    """Whether ``value`` is a UUID in the 8-4-4-4-12 hex form (any letter case)."""
    return len(value) == 36 and _UUID_TEXT.fullmatch(value) is not None


def parse_id(value: object, path: str) -> str:
    """A UUID as its canonical lower-case string."""
    if isinstance(value, str):
        if is_uuid_text(value):
            return value.lower()
        raise ValidationError(
            "must be a UUID such as '992fae2a-2a17-4b7a-8d9e-e287cf90131b'",
            path=path,
            value=value,
        )
    if isinstance(value, uuid.UUID):
        return str(value)
    raise InvalidTypeError("must be a UUID string or uuid.UUID", path=path, value=value)


def parse_items(value: object, path: str, *classes: type) -> tuple[Any, ...]:
    """A tuple of instances of ``classes`` (Rule 4); errors name ``path[i]``."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        names = " or ".join(cls.__name__ for cls in classes)
        raise InvalidTypeError(f"must be a sequence of {names}", path=path, value=value)
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, classes):
            raise InvalidTypeError(
                "must be " + " or ".join(f"a {cls.__name__}" for cls in classes),
                path=f"{path}[{index}]",
                value=item,
            )
    return items


def parse_text(value: object, path: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise InvalidTypeError("must be a string", path=path, value=value)
    if not value:
        raise ValidationError("must not be empty", path=path, value=value)
    return value


def parse_int(value: object, path: str) -> int:
    """An ``int`` of any sign; ``bool`` and integral floats are refused."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError("must be an int", path=path, value=value)
    return int(value)


def parse_count(value: object, path: str) -> int:
    """An ``int`` >= 0."""
    number = parse_int(value, path)
    if number < 0:
        raise ValidationError("must be >= 0", path=path, value=value)
    return number


def parse_timestamp(value: object, path: str) -> datetime:
    """A timezone-aware ``datetime``, normalised to UTC."""
    if not isinstance(value, datetime):
        raise InvalidTypeError(
            "must be a timezone-aware datetime", path=path, value=value
        )
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise ValidationError(
            "must be timezone-aware (give tzinfo, for example datetime.timezone.utc)",
            path=path,
            value=value,
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            "is outside the years 1-9999 once converted to UTC", path=path, value=value
        ) from None


def parse_optional_timestamp(value: object, path: str) -> datetime | None:
    """``None`` or a timezone-aware ``datetime`` in UTC."""
    if value is None:
        return None
    return parse_timestamp(value, path)


# RFC 3339 date-time: a 'T' (or, as the RFC allows, a space) between date and time,
# optional fraction, then 'Z' or an offset. Fractions beyond microseconds are cut to
# microseconds, the resolution of `datetime` (Go and others write nanoseconds).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # digits are 0-9 only, not any Unicode digit
)


# Python 3.11+ reads 'Z' in `datetime.fromisoformat`, in C. Text laid out exactly as
# the API writes it ('2025-01-01T00:00:00Z', optionally with microseconds) takes that
# path; the separators are checked first, because `fromisoformat` also accepts
# ISO 8601 forms that RFC 3339 does not.
_FAST_ISO = sys.version_info >= (3, 11)


def parse_rfc3339(value: object, path: str) -> datetime:
    """Parse an RFC 3339 timestamp string (or take an aware datetime) into UTC."""
    if (
        _FAST_ISO
        and type(value) is str
        and (
            # The characters at 4, 7, 10, 13, 16 and 19 (or 26, with microseconds).
            (len(value) == 20 and value[4:20:3] == "--T::Z")
            or (len(value) == 27 and value[4:20:3] == "--T::." and value[26] == "Z")
        )
    ):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # the general parser below gives the precise message
    if isinstance(value, datetime):
        return parse_timestamp(value, path)
    if not isinstance(value, str):
        raise InvalidTypeError(
            "must be an RFC 3339 timestamp string", path=path, value=value
        )
    match = _RFC3339.fullmatch(value)
    if match is None:
        if _looks_naive(value):
            raise ValidationError(
                "must carry a timezone ('Z' or an offset such as '+02:00')",
                path=path,
                value=value,
            )
        raise ValidationError(
            "must be an RFC 3339 timestamp such as '2025-01-01T00:00:00Z'",
            path=path,
            value=value,
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, om = (
        match.groups()
    )
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            UTC,
        )
        if not zulu:
            if int(oh) > 23 or int(om) > 59:
                raise ValueError("offset hours must be 00-23 and minutes 00-59")
            offset = timedelta(hours=int(oh), minutes=int(om))
            moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            f"is not a valid timestamp: {exc}", path=path, value=value
        ) from None
    return moment


def _looks_naive(text: str) -> bool:
    return (
        re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?", text)
        is not None
    )


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when not zero."""
    # Values reaching here went through `parse_timestamp`, so they are in UTC and
    # ``isoformat`` ends in '+00:00'.
    return value.isoformat()[:-6] + "Z"


# Converters named after the field they fill. attrs calls a converter with the value
# only, so each field name gets a small named function that passes its own name to
# the parser above; the names then appear in every constructor error.


def id_field(value: object) -> str:
    return parse_id(value, "id")


def customer_id_field(value: object) -> str:
    return parse_id(value, "customer_id")


def meter_id_field(value: object) -> str:
    return parse_id(value, "meter_id")


def name_field(value: object) -> str:
    return parse_text(value, "name")


def created_at_field(value: object) -> datetime:
    return parse_timestamp(value, "created_at")


def modified_at_field(value: object) -> datetime | None:
    return parse_optional_timestamp(value, "modified_at")


#: Credited units stay below 10**29, like every unit count (see `_units`).
MAX_CREDITED_UNITS = 10**29 - 1


def credited_units_field(value: object) -> int:
    units = parse_count(value, "credited_units")
    if units > MAX_CREDITED_UNITS:
        raise ValidationError("must be below 1E+29", path="credited_units", value=value)
    return units


def amount_field(value: object) -> int:
    return parse_count(value, "amount")
