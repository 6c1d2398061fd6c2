"""Exact units and cents: the one decimal context, parsing, and the one rounding.

Rule 1: no arithmetic on units uses the ambient decimal context (the host application
owns it). Every operation goes through `UNITS` explicitly, whose traps turn an
inexact or out-of-range result into an `InexactError` instead of a silent rounding.
Rule 2: a unit count is a finite, non-negative `Decimal`. A ``float`` is read by its
shortest repr (``0.1`` means ``Decimal("0.1")``); ``bool``, NaN and infinities are
refused. A ``str`` is a number only in JSON number syntax (`JSON_NUMBER`: ASCII
digits, an optional leading ``-``, no spaces, ``+``, ``_``, NaN or Infinity), the
one rule for every number meterkit reads from text.
Rule 3: money is an ``int`` of cents, and the only place units become cents is
`round_half_away_from_zero`.
Rule 4: a ``Decimal`` becomes text only through `decimal_text` (plain notation,
never an exponent), which, like the arithmetic, ignores the ambient context.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from .errors import InexactError, InvalidTypeError, ValidationError

__all__: list[str] = []

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

#: Text that is a number: the JSON number grammar (RFC 8259, section 6), in ASCII
#: digits only. `Decimal()` alone would also take ``"1_000"``, ``" 7 "``, ``"+1"``,
#: ``".5"``, ``"NaN"`` and digits of other scripts (``"\u0663"`` is 3).
JSON_NUMBER = re.compile(
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII
).fullmatch

# Unit counts in these ranges are read without the general checks below: an int
# of at most 29 digits, or a float whose shortest repr has at most 17 significant
# digits and an exponent well inside `UNITS` (1E-28), is exact in `UNITS` as it is,
# so `UNITS.plus` would return it unchanged.
_INT_LIMIT = 10 ** (MAX_UNITS_EXPONENT + 1)
_FLOAT_LOW = 1e-20
_FLOAT_HIGH = 1e28


def decimal_from_number(value: object, path: str) -> Decimal:
    """Read ``int``, ``float``, ``str`` or ``Decimal`` as an exact, finite ``Decimal``.

    A ``str`` must be a JSON number (`JSON_NUMBER`). The result may be negative;
    range checks belong to the caller.
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
        if JSON_NUMBER(value) is None:
            raise ValidationError(
                "must be a decimal number in JSON number syntax, such as '12.5' or"
                " '1E-3' (ASCII digits; no spaces, '+', '_', NaN or Infinity)",
                path=path,
                value=value,
            )
        try:
            # Exact whatever the context; UNITS only decides what an exponent
            # beyond any context does (an error, never the ambient context's NaN).
            number = Decimal(value, context=UNITS)
        except decimal.InvalidOperation:
            raise ValidationError(
                "must be a decimal number with an exponent of a sensible size",
                path=path,
                value=value,
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
    # The plain forms first (a JSON document's ints and floats), with the same
    # result as the general path below.
    kind = type(value)
    if kind is int:
        if 0 <= value < _INT_LIMIT:  # type: ignore[operator]
            return Decimal(value)  # type: ignore[arg-type]
    elif kind is float and _FLOAT_LOW <= value < _FLOAT_HIGH:  # type: ignore[operator]
        return Decimal(repr(value))
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


def decimal_text(value: Decimal) -> str:
    """``value`` in plain notation, the same whatever the ambient decimal context.

    No exponent (``Decimal("4E-7")`` is ``"0.0000004"``, ``Decimal("1E+3")`` is
    ``"1000"``) and the value's own fractional digits (``Decimal("1.50")`` is
    ``"1.50"``), so that `Decimal` reads the text back to the same digits.
    ``str()`` would write exponents, in the case the ambient context's
    ``capitals`` picks.

    >>> decimal_text(Decimal("4E-7")), decimal_text(Decimal("0E+5"))
    ('0.0000004', '0')
    """
    # The 'f' format of a finite Decimal without a precision never rounds and never
    # reads the context; finiteness is every caller's invariant.
    return format(value, "f")


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
