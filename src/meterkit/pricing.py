"""Prices of a meter's units, and the amount due for a quantity of units.

Rule 1: a price is valid once built. Four kinds exist, told apart by their
``amount_type`` (the API's discriminator, never a constructor keyword):
`MeteredUnitPrice` (``"metered_unit"``), `GraduatedPrice` (``"graduated"``),
`VolumePrice` (``"volume"``) and `PackagePrice` (``"package"``); `Price` is their
union. Amounts of cents that may be fractional (``unit_amount``,
``package_amount``) are exact `Decimal` values with at most 12 decimal places,
below 1E+29, given as ``str`` (in JSON number syntax, like every number read
from text), ``int`` or ``Decimal``: a ``float`` is refused, because most decimal
prices have no exact binary form. They are stored without a positive exponent or a
negative zero, so that their plain decimal string (`meterkit._units.decimal_text`,
what `to_dict` writes) reads back to the same digits. Whole amounts of cents
(``flat_amount``, ``cap_amount``, ``minimum_amount``) are ``int`` >= 0, and a
price's ``minimum_amount`` is not above its ``cap_amount`` when both are set. Unit
counts (``up_to``, ``package_units``) are read like every unit count
(`meterkit._units.parse_units`).
Rule 2: tiers partition the billable units. Tier ``i`` holds the unit counts in
``(up_to[i-1], up_to[i]]`` (``up_to[-1]`` being 0), so ``up_to`` is inclusive,
strictly increasing, and ``None`` on the last tier only, which has no bound.
Billable units ``b`` *reach* tier ``i`` when ``b > up_to[i-1]``: 0 units reach no
tier, and any ``b`` in ``(0, up_to[0]]``, fractional or not, reaches the first.
A tiered price with ``flat_fee_at_zero`` is the one exception: there 0 billable
units reach the first tier too, though no tier holds them, so the amount for 0
units is the first tier's ``flat_amount`` (as Lago and OpenMeter bill it).
Rule 3: `amount_due` is exact up to one rounding. The billable units
``max(0, consumed_units - credited_units)`` and the price's exact amount for them
are computed without rounding; that amount is rounded once, half away from zero,
to whole cents (`meterkit._units.round_half_away_from_zero`), then raised to
``minimum_amount`` and only then capped at ``cap_amount``:
``min(max(rounded, minimum_amount), cap_amount)``, an absent bound left out. The
minimum is a commitment: it is due even when nothing is billable, whether nothing
was consumed or credits cover all of it.
Rule 4: nothing here reads the ambient decimal context; the same arguments give the
same cents (and the same messages) whatever context the host application has set.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, TypeAlias

import attrs

from . import _fields
from ._units import (
    MAX_UNITS_EXPONENT,
    ZERO,
    decimal_from_number,
    decimal_text,
    parse_units,
    round_half_away_from_zero,
    subtract_units,
)
from .errors import InexactError, InvalidTypeError, ValidationError

__all__ = [
    "GraduatedPrice",
    "MeteredUnitPrice",
    "PackagePrice",
    "Price",
    "Tier",
    "VolumePrice",
    "amount_due",
]

#: Most decimal places a unit amount may have (the API's limit).
_MAX_PLACES = 12

# The exact amounts of a price. An amount of cents has at most 41 significant
# digits (below 1E+29, down to 1E-12) and a unit count at most 50, so a product needs
# at most 91 digits; a count of packages stays below 1E+57 (1E+29 units in packages
# of at least 1E-28), and the products of a graduated price, between 1E-40 and
# 1E+58, add up within 100 digits. 200 digits and a wide exponent range make every
# step exact. The traps turn any rounding into an error rather than a silently
# wrong amount.
_PRODUCT = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    flags=[],
    traps=[
        decimal.Inexact,
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
    ],
)


def _plain_places(number: Decimal, path: str, value: object) -> Decimal:
    """``number`` (>= 0) stored with 0 to 12 decimal places and a positive sign.

    Trailing zeros past the 12th place are dropped (any other digit there is an
    error); a positive exponent is written out (``1E+3`` is stored as ``1000``) and
    ``-0`` is ``0``. Fractional digits within 12 places are kept as given
    (``"1.50"`` stays ``Decimal("1.50")``), so the decimal string `to_dict` writes
    reads back to the same digits.
    """
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - callers pass finite values
        raise TypeError("not a finite Decimal")
    if exponent > 0:
        if not any(digits):
            return ZERO  # 0E+999999999 too, without writing out its zeros
        # At most 29 digits: the caller has checked that the amount is below 1E+29.
        return Decimal((0, digits + (0,) * exponent, 0))
    excess = -_MAX_PLACES - exponent
    if excess <= 0:
        return number.copy_abs()  # the same digits; only -0 changes
    if any(digits[-excess:]):
        raise ValidationError(
            f"must have at most {_MAX_PLACES} decimal places; round it explicitly",
            path=path,
            value=value,
        )
    # Zeros past the 12th place carry no value: drop them so that the stored
    # coefficient stays short and products stay well inside `_PRODUCT`.
    return Decimal((0, digits[:-excess] or (0,), exponent + excess))


def _cents_amount(value: object, path: str, *, zero_ok: bool = False) -> Decimal:
    """An exact amount of cents (Rule 1): > 0, or >= 0 when ``zero_ok``."""
    if isinstance(value, float):
        example = repr(value) if math.isfinite(value) else "0.5"
        raise InvalidTypeError(
            "must not be a float, which cannot hold most decimal prices exactly; "
            f"pass {path} as a string such as '{example}' to keep it exact",
            path=path,
            value=value,
        )
    if not isinstance(value, (str, int, Decimal)):
        raise InvalidTypeError(
            "must be a str, int or Decimal such as '0.5'", path=path, value=value
        )
    number = decimal_from_number(value, path)
    if number < 0 or (number == 0 and not zero_ok):
        raise ValidationError(
            "must be >= 0" if zero_ok else "must be > 0", path=path, value=value
        )
    if number and number.adjusted() > MAX_UNITS_EXPONENT:
        raise ValidationError(
            f"must be below 1E+{MAX_UNITS_EXPONENT + 1}", path=path, value=value
        )
    return _plain_places(number, path, value)


def _unit_amount(value: object) -> Decimal:
    return _cents_amount(value, "unit_amount")


def _tier_unit_amount(value: object) -> Decimal:
    return _cents_amount(value, "unit_amount", zero_ok=True)


def _package_amount(value: object) -> Decimal:
    return _cents_amount(value, "package_amount")


def _cap_amount(value: object) -> int | None:
    if value is None:
        return None
    return _fields.parse_count(value, "cap_amount")


def _minimum_amount(value: object) -> int | None:
    if value is None:
        return None
    return _fields.parse_count(value, "minimum_amount")


def _minimum_within_cap(price: Price, _: object, minimum: int | None) -> None:
    """Refuse a minimum above the cap (Rule 1), which no amount could satisfy."""
    cap = price.cap_amount
    if minimum is not None and cap is not None and minimum > cap:
        raise ValidationError(
            f"must not be above cap_amount ({cap}): no amount is both at least the "
            "minimum and at most the cap; lower the minimum or raise the cap",
            path="minimum_amount",
            value=minimum,
        )


def _flat_fee_at_zero(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidTypeError(
            "must be a bool (True bills the first tier's flat_amount at 0 units)",
            path="flat_fee_at_zero",
            value=value,
        )
    return value


def _zero_units_amount(tiers: tuple[Tier, ...], flat_fee_at_zero: bool) -> Decimal:
    """The exact amount of a tiered price for 0 billable units (Rule 2)."""
    return Decimal(tiers[0].flat_amount) if flat_fee_at_zero else ZERO


def _flat_amount(value: object) -> int:
    return _fields.parse_count(value, "flat_amount")


def _positive_units(value: object, path: str) -> Decimal:
    if decimal_from_number(value, path) <= 0:
        raise ValidationError("must be > 0", path=path, value=value)
    return parse_units(value, path)


def _up_to(value: object) -> Decimal | None:
    if value is None:
        return None
    return _positive_units(value, "up_to")


def _package_units(value: object) -> Decimal:
    return _positive_units(value, "package_units")


def _rounding(value: object) -> Literal["up", "down"]:
    if isinstance(value, str) and value == "up":
        return "up"
    if isinstance(value, str) and value == "down":
        return "down"
    raise ValidationError(
        "must be 'up' (every started package is paid) or 'down' (every full one)",
        path="rounding",
        value=value,
    )


def _multiply(left: Decimal, right: Decimal) -> Decimal:
    try:
        return _PRODUCT.multiply(left, right)
    except decimal.DecimalException:  # pragma: no cover - bounds make this exact
        raise InexactError(
            "a product of the price is not exact in 200 significant digits",
            value=(left, right),
        ) from None


def _add(left: Decimal, right: Decimal) -> Decimal:
    try:
        return _PRODUCT.add(left, right)
    except decimal.DecimalException:  # pragma: no cover - bounds make this exact
        raise InexactError(
            "a sum of the price is not exact in 200 significant digits",
            value=(left, right),
        ) from None


@attrs.frozen(kw_only=True)
class MeteredUnitPrice:
    """A price of ``unit_amount`` cents per unit of one meter, optionally bounded.

    ``unit_amount`` is exact: give it as a ``str``, ``int`` or ``Decimal``.
    ``cap_amount`` and ``minimum_amount`` (``None`` or whole cents >= 0, the
    minimum not above the cap) bound the amount due, like those of every price.
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
    minimum_amount: int | None = attrs.field(
        default=None, converter=_minimum_amount, validator=_minimum_within_cap
    )
    meter_id: str = attrs.field(converter=_fields.meter_id_field)

    def _exact_amount(self, billable: Decimal) -> Decimal:
        return _multiply(self.unit_amount, billable)


@attrs.frozen(kw_only=True)
class Tier:
    """One tier of a `GraduatedPrice` or a `VolumePrice`.

    ``up_to`` is the tier's inclusive upper bound in units (``None`` on the last
    tier only: no bound), ``unit_amount`` its price in cents per unit (a ``str``,
    ``int`` or ``Decimal`` >= 0 with at most 12 decimal places; 0 makes a free
    tier), and ``flat_amount`` the whole cents added once when the tier is reached.

    >>> Tier(up_to=1000, unit_amount="0.5", flat_amount=100)
    Tier(up_to=Decimal('1000'), unit_amount=Decimal('0.5'), flat_amount=100)
    """

    up_to: Decimal | None = attrs.field(converter=_up_to)
    unit_amount: Decimal = attrs.field(converter=_tier_unit_amount)
    flat_amount: int = attrs.field(default=0, converter=_flat_amount)


def _tiers(value: object) -> tuple[Tier, ...]:
    """Tiers in increasing order, every one bounded but the last (Rule 2)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidTypeError(
            "must be a list or tuple of Tier", path="tiers", value=value
        )
    tiers = tuple(value)
    if not tiers:
        raise ValidationError("must hold at least one tier", path="tiers", value=value)
    last = len(tiers) - 1
    previous: Decimal | None = None
    for index, tier in enumerate(tiers):
        if not isinstance(tier, Tier):
            raise InvalidTypeError("must be a Tier", path=f"tiers[{index}]", value=tier)
        path = f"tiers[{index}].up_to"
        if index == last:
            if tier.up_to is not None:
                raise ValidationError(
                    "must be None on the last tier, which has no upper bound",
                    path=path,
                    value=tier.up_to,
                )
        elif tier.up_to is None:
            raise ValidationError(
                "must be set on every tier but the last (only the last tier is "
                "unbounded)",
                path=path,
                value=None,
            )
        elif previous is not None and tier.up_to <= previous:
            raise ValidationError(
                "must be above the bound of the tier before it"
                f" ({decimal_text(previous)}): tiers go in increasing order",
                path=path,
                value=tier.up_to,
            )
        previous = tier.up_to
    return tiers


@attrs.frozen(kw_only=True)
class GraduatedPrice:
    """Each unit at the rate of the tier it falls in, plus every reached tier's flat.

    ``amount_type`` is always ``"graduated"``. With tiers up to 1000 units at 1
    cent and beyond at 0.5 cents (and 100 cents once that tier is reached), 1500
    units cost 1000 + 250 + 100 cents:

    >>> price = GraduatedPrice(
    ...     meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
    ...     tiers=[Tier(up_to=1000, unit_amount=1),
    ...            Tier(up_to=None, unit_amount="0.5", flat_amount=100)])
    >>> amount_due(price, 1000), amount_due(price, 1500)
    (1000, 1350)

    0 billable units reach no tier and cost nothing, unless ``flat_fee_at_zero``
    is ``True``: then they bill the first tier's ``flat_amount`` (Rule 2). Usage
    above 0 is billed the same either way.

    >>> base = GraduatedPrice(
    ...     meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
    ...     tiers=[Tier(up_to=1000, unit_amount=1, flat_amount=200),
    ...            Tier(up_to=None, unit_amount="0.5")])
    >>> at_zero = attrs.evolve(base, flat_fee_at_zero=True)
    >>> amount_due(base, 0), amount_due(at_zero, 0)
    (0, 200)
    >>> amount_due(base, 10), amount_due(at_zero, 10)
    (210, 210)
    """

    amount_type: Literal["graduated"] = attrs.field(init=False, default="graduated")
    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers)
    flat_fee_at_zero: bool = attrs.field(default=False, converter=_flat_fee_at_zero)
    cap_amount: int | None = attrs.field(default=None, converter=_cap_amount)
    minimum_amount: int | None = attrs.field(
        default=None, converter=_minimum_amount, validator=_minimum_within_cap
    )
    meter_id: str = attrs.field(converter=_fields.meter_id_field)

    def _exact_amount(self, billable: Decimal) -> Decimal:
        if not billable:
            return _zero_units_amount(self.tiers, self.flat_fee_at_zero)
        amount = ZERO
        lower = ZERO
        for tier in self.tiers:
            if billable <= lower:
                break  # this tier and the ones above it are not reached
            upper = billable if tier.up_to is None else min(billable, tier.up_to)
            units = _PRODUCT.subtract(upper, lower)  # exact: both fit `UNITS`
            amount = _add(amount, _multiply(tier.unit_amount, units))
            amount = _add(amount, Decimal(tier.flat_amount))
            lower = upper
        return amount


@attrs.frozen(kw_only=True)
class VolumePrice:
    """All units at the rate of the tier the total falls in, plus that tier's flat.

    ``amount_type`` is always ``"volume"``. A volume amount need not grow with the
    units: here 1000 units cost 1000 cents and 1001 units 500.5, rounded to 501:

    >>> price = VolumePrice(
    ...     meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
    ...     tiers=[Tier(up_to=1000, unit_amount=1),
    ...            Tier(up_to=None, unit_amount="0.5")])
    >>> amount_due(price, 1000), amount_due(price, 1001)
    (1000, 501)

    With ``flat_fee_at_zero``, 0 billable units bill the first tier's
    ``flat_amount`` (their unit part being 0) instead of nothing (Rule 2):

    >>> with_flat = VolumePrice(
    ...     meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22", flat_fee_at_zero=True,
    ...     tiers=[Tier(up_to=1000, unit_amount=1, flat_amount=300),
    ...            Tier(up_to=None, unit_amount="0.5")])
    >>> amount_due(with_flat, 0), amount_due(with_flat, 10)
    (300, 310)
    """

    amount_type: Literal["volume"] = attrs.field(init=False, default="volume")
    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers)
    flat_fee_at_zero: bool = attrs.field(default=False, converter=_flat_fee_at_zero)
    cap_amount: int | None = attrs.field(default=None, converter=_cap_amount)
    minimum_amount: int | None = attrs.field(
        default=None, converter=_minimum_amount, validator=_minimum_within_cap
    )
    meter_id: str = attrs.field(converter=_fields.meter_id_field)

    def tier_of(self, units: Decimal) -> Tier | None:
        """The tier holding a total of ``units``, or ``None`` for 0 units.

        Tiers hold the unit counts above 0 (Rule 2), so 0 units are held by no
        tier, whatever ``flat_fee_at_zero`` says: that option decides what 0 units
        cost (the first tier's ``flat_amount``), not which tier holds them.

        >>> VolumePrice(meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
        ...             tiers=[Tier(up_to=10, unit_amount=2),
        ...                    Tier(up_to=None, unit_amount=1)]).tier_of(Decimal(10))
        Tier(up_to=Decimal('10'), unit_amount=Decimal('2'), flat_amount=0)
        """
        if units <= 0:
            return None
        for tier in self.tiers:
            if tier.up_to is None or units <= tier.up_to:
                return tier
        raise AssertionError(
            "unreachable: the last tier has no bound"
        )  # pragma: no cover

    def _exact_amount(self, billable: Decimal) -> Decimal:
        tier = self.tier_of(billable)
        if tier is None:  # 0 billable units, which no tier holds
            return _zero_units_amount(self.tiers, self.flat_fee_at_zero)
        return _add(_multiply(tier.unit_amount, billable), Decimal(tier.flat_amount))


@attrs.frozen(kw_only=True)
class PackagePrice:
    """``package_amount`` cents for every started (or every full) package of units.

    ``amount_type`` is always ``"package"``. ``package_units`` is the size of a
    package (units > 0); ``package_amount`` its price in cents (a ``str``, ``int``
    or ``Decimal`` > 0 with at most 12 decimal places); ``rounding`` is ``"up"``
    (a started package is paid in full) or ``"down"`` (only full packages are).

    >>> up = PackagePrice(meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
    ...                   package_units=1000, package_amount=50)
    >>> amount_due(up, 1000), amount_due(up, 1001)
    (50, 100)
    >>> down = attrs.evolve(up, rounding="down")
    >>> amount_due(down, 1999), amount_due(down, 2000)
    (50, 100)
    """

    amount_type: Literal["package"] = attrs.field(init=False, default="package")
    package_units: Decimal = attrs.field(converter=_package_units)
    package_amount: Decimal = attrs.field(converter=_package_amount)
    rounding: Literal["up", "down"] = attrs.field(default="up", converter=_rounding)
    cap_amount: int | None = attrs.field(default=None, converter=_cap_amount)
    minimum_amount: int | None = attrs.field(
        default=None, converter=_minimum_amount, validator=_minimum_within_cap
    )
    meter_id: str = attrs.field(converter=_fields.meter_id_field)

    def packages(self, units: Decimal) -> int:
        """How many packages ``units`` make, by ``rounding``.

        >>> PackagePrice(meter_id="d498a884-e2cd-4d3e-8002-f536468a8b22",
        ...              package_units="2.5", package_amount=1).packages(Decimal(6))
        3
        """
        # Integer division and remainder are exact in `_PRODUCT`: the quotient has
        # fewer than 60 digits.
        full = int(_PRODUCT.divide_int(units, self.package_units))
        started = self.rounding == "up" and bool(
            _PRODUCT.remainder(units, self.package_units)
        )
        return full + started

    def _exact_amount(self, billable: Decimal) -> Decimal:
        return _multiply(Decimal(self.packages(billable)), self.package_amount)


#: Every kind of price; `amount_due` takes any of them, and
#: ``from_dict(Price, data)`` picks the kind from ``data["amount_type"]``.
Price: TypeAlias = MeteredUnitPrice | GraduatedPrice | VolumePrice | PackagePrice


def check_price(price: object) -> None:
    """Refuse anything but one of the four price classes, naming ``price``."""
    if not isinstance(price, Price):
        raise InvalidTypeError(
            "must be a price: MeteredUnitPrice, GraduatedPrice, VolumePrice or "
            "PackagePrice",
            path="price",
            value=price,
        )


def amount_due(
    price: Price,
    consumed_units: Decimal | int | float | str,
    credited_units: int = 0,
) -> int:
    """The cents due for ``consumed_units`` at ``price``, after ``credited_units``.

    ``billable = max(0, consumed_units - credited_units)``; the price's exact
    amount for the billable units is rounded once, half away from zero, to whole
    cents, then raised to ``minimum_amount`` and then capped at ``cap_amount``,
    for each bound the price has: ``min(max(rounded, minimum_amount),
    cap_amount)``. The minimum is a commitment, due even when nothing is billable
    (nothing consumed, or credits covering it all). The exact amount is
    ``unit_amount * billable`` for a `MeteredUnitPrice`; each unit at its tier's
    rate plus every reached tier's ``flat_amount`` for a `GraduatedPrice`; every
    unit at the rate of the tier holding ``billable`` plus that tier's
    ``flat_amount`` for a `VolumePrice`; the number of packages times
    ``package_amount`` for a `PackagePrice`. For 0 billable units a tiered price
    bills nothing, or its first tier's ``flat_amount`` when ``flat_fee_at_zero``
    is set. ``consumed_units`` is read like every unit count (``int``, ``str``,
    ``Decimal``, or a ``float`` by its shortest repr); ``credited_units`` is an
    ``int`` >= 0.

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

    A minimum of 500 cents, without and with a cap of 600 (SPEC section 4):

    >>> committed = MeteredUnitPrice(unit_amount=100, minimum_amount=500,
    ...                              meter_id=meter_id)
    >>> [amount_due(committed, units) for units in (3, 7, 0)]
    [500, 700, 500]
    >>> amount_due(attrs.evolve(committed, cap_amount=600), 7)
    600
    >>> amount_due(committed, 5, credited_units=10)  # credits do not waive it
    500
    """
    check_price(price)
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
    amount = round_half_away_from_zero(price._exact_amount(billable))
    # The minimum before the cap, which Rule 1 keeps at or above the minimum.
    if price.minimum_amount is not None and amount < price.minimum_amount:
        amount = price.minimum_amount
    if price.cap_amount is not None and amount > price.cap_amount:
        return price.cap_amount
    return amount
