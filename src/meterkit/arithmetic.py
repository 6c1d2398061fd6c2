"""Pure credit and consumption arithmetic on a `CustomerMeter`.

Rule 1: every function returns a new value; the argument is never changed.
Rule 2: consumption only grows (``units >= 0``); credits may be revoked with negative
units, but ``credited_units`` never drops below 0 and the balance never goes negative.
Rule 3: sums are exact (`meterkit._units.UNITS`), whatever the ambient decimal context.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._fields import parse_int, parse_timestamp
from ._units import add_units, parse_units
from .errors import InexactError, InvalidTypeError, ValidationError
from .values import CustomerMeter

__all__ = ["consume", "credit"]


def _check_meter(meter: object) -> None:
    if not isinstance(meter, CustomerMeter):
        raise InvalidTypeError("must be a CustomerMeter", path="meter", value=meter)


def _stamp(meter: CustomerMeter, at: datetime | None) -> datetime | None:
    return meter.modified_at if at is None else parse_timestamp(at, "at")


def consume(
    meter: CustomerMeter, units: object, *, at: datetime | None = None
) -> CustomerMeter:
    """Return ``meter`` with ``units`` more consumed (``units >= 0``).

    ``modified_at`` becomes ``at`` when it is given.

    >>> cm = example_customer_meter()  # consumed 25, credited 100
    >>> consume(cm, "12.5").consumed_units, consume(cm, "12.5").balance
    (Decimal('37.5'), Decimal('62.5'))
    """
    _check_meter(meter)
    added = parse_units(units, "units")
    try:
        total = add_units(meter.consumed_units, added)
    except InexactError as exc:
        raise ValidationError(
            "consumed_units + units is not exact in 50 significant digits",
            path="units",
            value=units,
        ) from exc
    return attrs.evolve(meter, consumed_units=total, modified_at=_stamp(meter, at))


def credit(
    meter: CustomerMeter, units: int, *, at: datetime | None = None
) -> CustomerMeter:
    """Return ``meter`` with ``units`` credited; negative ``units`` revoke credit.

    ``credited_units`` becomes ``max(0, credited_units + units)``.

    >>> cm = example_customer_meter()  # consumed 25, credited 100
    >>> credit(cm, 50).credited_units, credit(cm, -150).credited_units
    (150, 0)
    """
    _check_meter(meter)
    change = parse_int(units, "units")
    credited = max(0, meter.credited_units + change)
    return attrs.evolve(meter, credited_units=credited, modified_at=_stamp(meter, at))
