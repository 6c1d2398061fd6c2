"""Metered unit prices and the amount due for a quantity of units.

Rule 1: a `MeteredUnitPrice` is valid once built: ``unit_amount`` is an exact
`Decimal` of cents per unit, > 0, below 1E+29, with at most 12 decimal places;
``cap_amount`` is ``None`` or an ``int`` of cents >= 0. A ``float`` unit amount is
refused: most decimal prices have no exact binary form, so a string is asked for.
Rule 2: `amount_due` is exact up to one rounding. The billable units
``max(0, consumed_units - credited_units)`` and their product with ``unit_amount``
are exact; the product is rounded once, half away from zero, to whole cents
(`meterkit._units.round_half_away_from_zero`), and only then capped at
``cap_amount``.
Rule 3: nothing here reads the ambient decimal context; the same arguments give the
same cents whatever context the host application has set.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Literal

import attrs

from . import _fields
from ._units import (
    MAX_UNITS_EXPONENT,
    ZERO,
    decimal_from_number,
    parse_units,
    round_half_away_from_zero,
    subtract_units,
)
from .errors import InexactError, InvalidTypeError, ValidationError

__all__ = ["MeteredUnitPrice", "amount_due"]

#: Most decimal places a unit amount may have (the API's limit).
_MAX_PLACES = 12

# The exact product of a unit amount and a unit count. A unit amount has at most
# 41 significant digits (below 1E+29, down to 1E-12) and a unit count at most 50,
# so a product needs at most 91 digits and its exponent stays within +-100: 200
# digits and a wide exponent range make every product exact. The traps turn any
# rounding into an error rather than a silently wrong amount.
_PRODUCT = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    flags=[],
    traps=[
        decimal.Inexact,
        decimal.InvalidOperation,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
    ],
)


def _trim_places(number: Decimal, path: str, value: object) -> Decimal:
    """``number`` with at most 12 decimal places, dropping only trailing zeros."""
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - callers pass finite values
        raise TypeError("not a finite Decimal")
    excess = -_MAX_PLACES - exponent
    if excess <= 0:
        return number
    if any(digits[-excess:]):
        raise ValidationError(
            f"must have at most {_MAX_PLACES} decimal places; round it explicitly",
            path=path,
            value=value,
        )
    # Zeros past the 12th place carry no value: drop them so that the stored
    # coefficient stays short and products stay well inside `_PRODUCT`.
    return Decimal((sign, digits[:-excess], exponent + excess))


def _unit_amount(value: object) -> Decimal:
    path = "unit_amount"
    if isinstance(value, float):
        example = repr(value) if math.isfinite(value) else "0.5"
        raise InvalidTypeError(
            "must not be a float, which cannot hold most decimal prices exactly; "
            f"pass unit_amount as a string such as '{example}' to keep it exact",
            path=path,
            value=value,
        )
    if not isinstance(value, (str, int, Decimal)):
        raise InvalidTypeError(
            "must be a str, int or Decimal such as '0.5'", path=path, value=value
        )
    number = decimal_from_number(value, path)
    if number <= 0:
        raise ValidationError("must be > 0", path=path, value=value)
    if number.adjusted() > MAX_UNITS_EXPONENT:
        raise ValidationError(
            f"must be below 1E+{MAX_UNITS_EXPONENT + 1}", path=path, value=value
        )
    return _trim_places(number, path, value)


def _cap_amount(value: object) -> int | None:
    if value is None:
        return None
    return _fields.parse_count(value, "cap_amount")


@attrs.frozen(kw_only=True)
class MeteredUnitPrice:
    """A price of ``unit_amount`` cents per unit of one meter, optionally capped.

    ``unit_amount`` is exact: give it as a ``str``, ``int`` or ``Decimal``.
    ``amount_type`` is always ``"metered_unit"``, the API's discriminator; it is
    not a constructor keyword.

    >>> price = MeteredUnitPrice(unit_amount="0.5", cap_amount=5000,
    ...                          meter_id="D498A884-E2CD-4D3E-8002-F536468A8B22")
    >>> price.unit_amount, price.cap_amount, price.meter_id
    (Decimal('0.5'), 5000, 'd498a884-e2cd-4d3e-8002-f536468a8b22')
    >>> price.amount_type
    'metered_unit'
    """

    amount_type: Literal["metered_unit"] = attrs.field(
        init=False, default="metered_unit"
    )
    unit_amount: Decimal = attrs.field(converter=_unit_amount)
    cap_amount: int | None = attrs.field(default=None, converter=_cap_amount)
    meter_id: str = attrs.field(converter=_fields.meter_id_field)


def amount_due(
    price: MeteredUnitPrice,
    consumed_units: Decimal | int | float | str,
    credited_units: int = 0,
) -> int:
    """The cents due for ``consumed_units`` at ``price``, after ``credited_units``.

    ``billable = max(0, consumed_units - credited_units)``; the amount is
    ``unit_amount * billable`` rounded once, half away from zero, to whole cents,
    then capped at ``cap_amount`` when the price has one. ``consumed_units`` is
    read like every unit count (``int``, ``str``, ``Decimal``, or a ``float`` by
    its shortest repr); ``credited_units`` is an ``int`` >= 0.

    >>> meter_id = "d498a884-e2cd-4d3e-8002-f536468a8b22"
    >>> price = MeteredUnitPrice(unit_amount=100, meter_id=meter_id)
    >>> amount_due(price, "1.994"), amount_due(price, "1.995")
    (199, 200)
    >>> amount_due(price, 5, credited_units=10)
    0
    >>> capped = MeteredUnitPrice(unit_amount=100, cap_amount=5000, meter_id=meter_id)
    >>> amount_due(capped, 1000)
    5000
    >>> amount_due(MeteredUnitPrice(unit_amount="0.5", meter_id=meter_id), 100)
    50
    >>> tiny = MeteredUnitPrice(unit_amount="0.000000000001", meter_id=meter_id)
    >>> amount_due(tiny, 10**12)
    1
    """
    if not isinstance(price, MeteredUnitPrice):
        raise InvalidTypeError("must be a MeteredUnitPrice", path="price", value=price)
    consumed = parse_units(consumed_units, "consumed_units")
    credited = _fields.parse_count(credited_units, "credited_units")
    # Comparing a Decimal with an int is exact and context-free. Deciding here keeps
    # credits far beyond the consumption (which need not fit `UNITS`) from failing a
    # subtraction whose answer is plainly 0; below the consumption, the difference
    # always fits 50 digits.
    if credited >= consumed:
        billable = ZERO
    else:
        billable = subtract_units(consumed, Decimal(credited))
    try:
        exact = _PRODUCT.multiply(price.unit_amount, billable)
    except decimal.DecimalException:  # pragma: no cover - bounds make this exact
        raise InexactError(
            "unit_amount * billable units is not exact in 200 significant digits",
            path="consumed_units",
            value=(price.unit_amount, billable),
        ) from None
    amount = round_half_away_from_zero(exact)
    if price.cap_amount is not None and amount > price.cap_amount:
        return price.cap_amount
    return amount
