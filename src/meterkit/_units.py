"""Exact units and cents: the one decimal context, parsing, and the one rounding.

Rule 1: no arithmetic on units uses the ambient decimal context (the host application
owns it). Every operation goes through `UNITS` explicitly, whose traps turn an
inexact or out-of-range result into an `InexactError` instead of a silent rounding.
Rule 2: a unit count is a finite, non-negative `Decimal`. A ``float`` is read by its
shortest repr (``0.1`` means ``Decimal("0.1")``); ``bool``, NaN and infinities are
refused.
Rule 3: money is an ``int`` of cents, and the only place units become cents is
`round_half_away_from_zero`.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from .errors import InexactError, InvalidTypeError, ValidationError

__all__ = [
    "MAX_UNITS_EXPONENT",
    "UNITS",
    "ZERO",
    "add_units",
    "decimal_from_number",
    "parse_units",
    "round_half_away_from_zero",
    "subtract_units",
    "units_to_json",
]

#: Largest adjusted exponent a unit count may have: values stay below 10**29.
MAX_UNITS_EXPONENT = 28

#: The decimal context of every unit calculation. Fifty significant digits hold any
#: real meter reading with room to spare; anything that would need more is an error.
UNITS = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=MAX_UNITS_EXPONENT,
    Emin=-MAX_UNITS_EXPONENT,
    capitals=1,
    clamp=0,
    flags=[],
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
        decimal.Inexact,
    ],
)

ZERO = Decimal(0)


def decimal_from_number(value: object, path: str) -> Decimal:
    """Read ``int``, ``float``, ``str`` or ``Decimal`` as an exact, finite ``Decimal``.

    The result may be negative; range checks belong to the caller.
    """
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise InvalidTypeError("must be a number, not a bool", path=path, value=value)
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # The shortest repr is the number the writer meant: 0.1 is Decimal("0.1").
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            # The context only decides what a malformed string does: UNITS traps
            # InvalidOperation, so the ambient context cannot turn it into NaN.
            number = Decimal(value.strip(), context=UNITS)
        except decimal.InvalidOperation:
            raise ValidationError(
                "must be a decimal number such as '12.5'", path=path, value=value
            ) from None
    else:
        raise InvalidTypeError(
            "must be an int, float, str or Decimal", path=path, value=value
        )
    if not number.is_finite():
        raise ValidationError("must be a finite number", path=path, value=value)
    return number


def parse_units(value: object, path: str) -> Decimal:
    """Read a unit count: a finite, non-negative number that fits `UNITS`."""
    number = decimal_from_number(value, path)
    if number < 0:
        raise ValidationError("must be >= 0", path=path, value=value)
    if number and number.adjusted() > MAX_UNITS_EXPONENT:
        raise ValidationError(
            f"must be below 1E+{MAX_UNITS_EXPONENT + 1}", path=path, value=value
        )
    try:
        # Values beyond 50 significant digits or below 1E-28 cannot take part in
        # exact sums: refuse them here rather than fail later.
        return UNITS.plus(number)
    except decimal.DecimalException:
        raise ValidationError(
            "needs more than 50 significant digits or is below 1E-28",
            path=path,
            value=value,
        ) from None


def add_units(left: Decimal, right: Decimal) -> Decimal:
    """``left + right`` exactly, or `InexactError`."""
    try:
        return UNITS.add(left, right)
    except decimal.DecimalException:
        raise InexactError(
            "sum does not fit 50 significant digits below 1E+29",
            value=(left, right),
        ) from None


def subtract_units(left: Decimal, right: Decimal) -> Decimal:
    """``left - right`` exactly, or `InexactError`."""
    try:
        return UNITS.subtract(left, right)
    except decimal.DecimalException:
        raise InexactError(
            "difference does not fit 50 significant digits below 1E+29",
            value=(left, right),
        ) from None


def units_to_json(value: Decimal) -> int | float:
    """A unit count as a JSON number: an exact ``int`` when integral, else a float."""
    integral = int(value)
    if integral == value:
        return integral
    return float(value)


# Rounding money needs more room than unit counts (unit prices carry 12 decimal
# places), so it has its own context, used nowhere else.
_CENTS = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_UP,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero],
)


def round_half_away_from_zero(amount: Decimal) -> int:
    """Round an exact amount of cents to a whole number of cents, halves away from 0.

    ``ROUND_HALF_UP`` in the decimal module rounds halves away from zero (1.5 -> 2,
    -1.5 -> -2). This is the only place meterkit turns a decimal into cents.

    >>> round_half_away_from_zero(Decimal("1.995") * 100)
    200
    """
    return int(amount.to_integral_value(rounding=decimal.ROUND_HALF_UP, context=_CENTS))
