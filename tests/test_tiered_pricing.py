"""Graduated, volume and package prices: hand-computed amounts, refusals, JSON, CLI.

Every amount in the tables below was worked out by hand (the working is in the
comments), at the edges that matter: exactly ``up_to``, one unit above, fractional
units across a bound, flat amounts, package rounding both ways, caps and credits.
"""

from __future__ import annotations

import decimal
import json
import math
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest

import meterkit
from meterkit import (
    GraduatedPrice,
    InvalidTypeError,
    MeteredUnitPrice,
    MeterkitError,
    MissingFieldError,
    PackagePrice,
    Price,
    Tier,
    ValidationError,
    VolumePrice,
    amount_due,
    build_subscription_meter,
    from_dict,
    from_json,
    price_from_dict,
    price_from_json,
    serialization,
    to_dict,
    to_json,
)
from meterkit._paths import join_path
from meterkit.cli import main

from .samples import METER_ID
from .test_values import NOT_JSON_NUMBERS

STYLES: tuple[Any, ...] = ("wire", "camel")

OTHER_METER_ID = "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10"

#: Up to 1000 units at 2 cents; up to 5000 at 1.5 cents (+100 once reached); beyond
#: at 0.25 cents (+500 once reached).
TIERS = (
    Tier(up_to=1000, unit_amount=2),
    Tier(up_to=5000, unit_amount="1.5", flat_amount=100),
    Tier(up_to=None, unit_amount="0.25", flat_amount=500),
)


def graduated(**changes: Any) -> GraduatedPrice:
    fields: dict[str, Any] = {"tiers": TIERS, "meter_id": METER_ID}
    fields.update(changes)
    return GraduatedPrice(**fields)


def volume(**changes: Any) -> VolumePrice:
    fields: dict[str, Any] = {"tiers": TIERS, "meter_id": METER_ID}
    fields.update(changes)
    return VolumePrice(**fields)


def package(**changes: Any) -> PackagePrice:
    fields: dict[str, Any] = {
        "package_units": 1000,
        "package_amount": 50,
        "meter_id": METER_ID,
    }
    fields.update(changes)
    return PackagePrice(**fields)


# -- amounts --------------------------------------------------------------------------

GRADUATED_CASES = [
    pytest.param(0, 0, 0, id="nothing-reaches-no-tier"),
    pytest.param("0.5", 0, 1, id="half-unit-in-tier-1"),  # 0.5 * 2
    pytest.param(1, 0, 2, id="one-unit"),
    pytest.param(1000, 0, 2000, id="exactly-up-to-of-tier-1"),
    # 2000 + 0.5 * 1.5 + 100 = 2100.75
    pytest.param("1000.5", 0, 2101, id="half-unit-above-tier-1"),
    # 2000 + 1 * 1.5 + 100 = 2101.5, half away from zero
    pytest.param(1001, 0, 2102, id="one-above-tier-1-reaches-flat"),
    pytest.param(5000, 0, 8100, id="exactly-up-to-of-tier-2"),  # 2000 + 6000 + 100
    pytest.param(5001, 0, 8600, id="one-above-tier-2"),  # 8100 + 0.25 + 500
    pytest.param(5002, 0, 8601, id="two-above-tier-2-half"),  # 8100 + 0.5 + 500
    pytest.param(10000, 0, 9850, id="deep-in-last-tier"),  # 8100 + 1250 + 500
    pytest.param(1500, 500, 2000, id="credits-come-off-first"),
    pytest.param(5, 10, 0, id="fully-credited-no-flat"),
    pytest.param(1001, 1, 2000, id="credits-bring-back-to-tier-1"),
]


@pytest.mark.parametrize(("consumed", "credited", "cents"), GRADUATED_CASES)
def test_graduated_amounts(consumed: object, credited: int, cents: int) -> None:
    due = amount_due(graduated(), consumed, credited)  # type: ignore[arg-type]
    assert due == cents
    assert type(due) is int


VOLUME_CASES = [
    pytest.param(0, 0, 0, id="nothing-reaches-no-tier"),
    pytest.param("0.5", 0, 1, id="half-unit"),  # 0.5 * 2
    pytest.param(1000, 0, 2000, id="exactly-up-to-of-tier-1"),
    pytest.param(1001, 0, 1602, id="one-above-is-cheaper"),  # 1001*1.5 + 100 = 1601.5
    pytest.param("1000.5", 0, 1601, id="fraction-above"),  # 1500.75 + 100
    pytest.param(5000, 0, 7600, id="exactly-up-to-of-tier-2"),  # 7500 + 100
    pytest.param(5001, 0, 1750, id="one-above-tier-2"),  # 1250.25 + 500
    pytest.param(5002, 0, 1751, id="half-cent-rounds-up"),  # 1250.5 + 500
    pytest.param(10000, 0, 3000, id="deep-in-last-tier"),  # 2500 + 500
    pytest.param("1001.5", 1, 1601, id="credited-fraction"),  # 1000.5 as above
    pytest.param(5, 10, 0, id="fully-credited-no-flat"),
]


@pytest.mark.parametrize(("consumed", "credited", "cents"), VOLUME_CASES)
def test_volume_amounts(consumed: object, credited: int, cents: int) -> None:
    assert amount_due(volume(), consumed, credited) == cents  # type: ignore[arg-type]


FREE_THEN_PAID = (
    Tier(up_to=100, unit_amount=0, flat_amount=1000),
    Tier(up_to=None, unit_amount=1),
)


@pytest.mark.parametrize(
    ("kind", "units", "cents"),
    [
        pytest.param(GraduatedPrice, 0, 0, id="graduated-0"),
        pytest.param(GraduatedPrice, "0.001", 1000, id="graduated-any-unit-reaches"),
        pytest.param(GraduatedPrice, 100, 1000, id="graduated-up-to"),
        pytest.param(GraduatedPrice, 101, 1001, id="graduated-above"),
        pytest.param(VolumePrice, 0, 0, id="volume-0"),
        pytest.param(VolumePrice, 100, 1000, id="volume-up-to"),
        pytest.param(VolumePrice, 101, 101, id="volume-above-drops-flat"),
    ],
)
def test_flat_only_first_tier(kind: type[Price], units: object, cents: int) -> None:
    price = kind(tiers=FREE_THEN_PAID, meter_id=METER_ID)  # type: ignore[call-arg]
    assert amount_due(price, units) == cents  # type: ignore[arg-type]


PACKAGE_CASES = [
    pytest.param({}, 0, 0, id="up-nothing"),
    pytest.param({}, 1, 50, id="up-one-unit-starts-a-package"),
    pytest.param({}, 999, 50, id="up-just-below"),
    pytest.param({}, 1000, 50, id="up-exactly-one-package"),
    pytest.param({}, 1001, 100, id="up-one-above"),
    pytest.param({}, "1000.5", 100, id="up-fraction-above"),
    pytest.param({}, 2000, 100, id="up-exactly-two"),
    pytest.param({"rounding": "down"}, 0, 0, id="down-nothing"),
    pytest.param({"rounding": "down"}, 999, 0, id="down-just-below"),
    pytest.param({"rounding": "down"}, 1000, 50, id="down-exactly-one"),
    pytest.param({"rounding": "down"}, 1001, 50, id="down-one-above"),
    pytest.param({"rounding": "down"}, 1999, 50, id="down-just-below-two"),
    pytest.param({"rounding": "down"}, 2000, 100, id="down-exactly-two"),
    # Half a cent a package: 1 package is 0.5 (-> 1), 3 are 1.5 (-> 2), 5 are 2.5.
    pytest.param({"package_amount": "0.5"}, 1, 1, id="half-cent-package"),
    pytest.param({"package_amount": "0.5"}, 2001, 2, id="one-and-a-half-cents"),
    pytest.param({"package_amount": "0.5"}, 4001, 3, id="two-and-a-half-cents"),
    pytest.param(
        {"package_amount": "0.5", "rounding": "down"}, 4999, 2, id="half-cent-down"
    ),
    # Packages of 2.5 units: 6 units start 3 packages and fill 2.
    pytest.param({"package_units": "2.5"}, 6, 150, id="fractional-package-up"),
    pytest.param(
        {"package_units": "2.5", "rounding": "down"}, 6, 100, id="fractional-down"
    ),
    pytest.param({"package_units": "2.5"}, 5, 100, id="fractional-exact"),
    pytest.param({}, "1E-28", 50, id="smallest-unit-starts-a-package"),
    pytest.param({"cap_amount": 120}, 5000, 120, id="capped"),
]


@pytest.mark.parametrize(("changes", "units", "cents"), PACKAGE_CASES)
def test_package_amounts(changes: dict[str, Any], units: object, cents: int) -> None:
    assert amount_due(package(**changes), units) == cents  # type: ignore[arg-type]


def test_package_credits_come_off_before_packages() -> None:
    assert amount_due(package(), 2500, credited_units=1500) == 50
    assert amount_due(package(rounding="down"), 2500, credited_units=1501) == 0


@pytest.mark.parametrize(
    ("price", "units", "cents"),
    [
        pytest.param(graduated(cap_amount=5000), 10000, 5000, id="graduated-capped"),
        pytest.param(graduated(cap_amount=9850), 10000, 9850, id="graduated-at-cap"),
        pytest.param(graduated(cap_amount=0), 1, 0, id="graduated-cap-zero"),
        # 1601.5 rounds to 1602 first, then the cap.
        pytest.param(volume(cap_amount=1601), 1001, 1601, id="volume-round-then-cap"),
        pytest.param(volume(cap_amount=1602), 1001, 1602, id="volume-cap-equal"),
        pytest.param(volume(cap_amount=2000), 1001, 1602, id="volume-under-cap"),
        pytest.param(package(cap_amount=0), 1, 0, id="package-cap-zero"),
    ],
)
def test_caps(price: Price, units: int, cents: int) -> None:
    assert amount_due(price, units) == cents


def test_one_tier_graduated_is_the_metered_unit_price() -> None:
    metered = MeteredUnitPrice(unit_amount="0.37", cap_amount=900, meter_id=METER_ID)
    one_tier = GraduatedPrice(
        tiers=[Tier(up_to=None, unit_amount="0.37")], cap_amount=900, meter_id=METER_ID
    )
    for units in (0, 1, "1.5", 2, 1000, 2432, "2432.4", 2433, 10**6):
        assert amount_due(one_tier, units) == amount_due(metered, units)
    assert amount_due(one_tier, 2) == 1  # 0.74
    assert amount_due(one_tier, 10**6) == 900


def test_largest_values_are_exact() -> None:
    # 12 decimal places on 29 integral digits, times 50-digit unit counts.
    rate = "9" * 29 + "." + "9" * 12
    units = "9" * 29 + "." + "9" * 21
    price = GraduatedPrice(
        tiers=[
            Tier(up_to="0.0000000000000000000000000001", unit_amount=rate),
            Tier(up_to=None, unit_amount="0.000000000001", flat_amount=10**30),
        ],
        meter_id=METER_ID,
    )
    smallest = Fraction("1E-28")
    exact = (
        Fraction(rate) * smallest
        + (Fraction(units) - smallest) * Fraction("1E-12")
        + 10**30
    )
    assert amount_due(price, units) == math.floor(exact + Fraction(1, 2))
    # (10**50 - 1) * 10**7 packages of 1E-28 units at the largest package amount.
    huge = package(package_units="1E-28", package_amount=rate)
    packages = Fraction(units) / smallest
    assert packages.denominator == 1
    assert amount_due(huge, units) == math.floor(
        packages * Fraction(rate) + Fraction(1, 2)
    )


@pytest.mark.parametrize(
    "price",
    [
        pytest.param(graduated(), id="graduated"),
        pytest.param(volume(), id="volume"),
        pytest.param(package(package_amount="0.5"), id="package"),
    ],
)
def test_hostile_ambient_context_changes_nothing(price: Price) -> None:
    units: list[str | int] = ["0.5", 1000, "1000.5", 1001, 5001, 5002, 4001, "1E+20"]
    expected = [amount_due(price, u) for u in units]
    with decimal.localcontext() as hostile:
        hostile.prec = 2
        hostile.rounding = decimal.ROUND_DOWN
        hostile.Emax = 3
        hostile.Emin = -3
        hostile.traps[decimal.Inexact] = True
        again = [amount_due(price, u) for u in units]
        rebuilt = price_from_json(to_json(price))
    assert again == expected
    assert rebuilt == price


def test_volume_tier_of() -> None:
    price = volume()
    assert price.tier_of(Decimal(0)) is None
    assert price.tier_of(Decimal("0.0001")) is TIERS[0]
    assert price.tier_of(Decimal(1000)) is TIERS[0]
    assert price.tier_of(Decimal("1000.0001")) is TIERS[1]
    assert price.tier_of(Decimal(5000)) is TIERS[1]
    assert price.tier_of(Decimal(10**28)) is TIERS[2]


def test_package_count() -> None:
    assert package().packages(Decimal(0)) == 0
    assert package().packages(Decimal(1001)) == 2
    assert package(rounding="down").packages(Decimal(1001)) == 1


# -- construction ---------------------------------------------------------------------


def test_fields_are_normalised_and_amount_types_fixed() -> None:
    tier = Tier(up_to="1000.50", unit_amount="0.5000", flat_amount=0)
    assert tier.up_to == Decimal("1000.5")
    assert tier.unit_amount == Decimal("0.5")
    assert Tier(up_to=None, unit_amount=0).flat_amount == 0
    made = graduated(tiers=[TIERS[0], TIERS[2]])
    assert type(made.tiers) is tuple
    assert made.meter_id == METER_ID
    assert made.cap_amount is None
    assert made.minimum_amount is None
    assert made.flat_fee_at_zero is False
    assert volume().flat_fee_at_zero is False
    assert package().minimum_amount is None
    assert (made.amount_type, volume().amount_type, package().amount_type) == (
        "graduated",
        "volume",
        "package",
    )
    assert package().rounding == "up"
    assert package(package_units=0.5).package_units == Decimal("0.5")
    assert [f.name for f in attrs.fields(Tier)] == [
        "up_to",
        "unit_amount",
        "flat_amount",
    ]
    assert [f.name for f in attrs.fields(GraduatedPrice)] == [
        "amount_type",
        "tiers",
        "flat_fee_at_zero",
        "cap_amount",
        "minimum_amount",
        "meter_id",
    ]
    assert [f.name for f in attrs.fields(VolumePrice)] == [
        "amount_type",
        "tiers",
        "flat_fee_at_zero",
        "cap_amount",
        "minimum_amount",
        "meter_id",
    ]
    assert [f.name for f in attrs.fields(PackagePrice)] == [
        "amount_type",
        "package_units",
        "package_amount",
        "rounding",
        "cap_amount",
        "minimum_amount",
        "meter_id",
    ]


@pytest.mark.parametrize("kind", [GraduatedPrice, VolumePrice, PackagePrice])
def test_amount_type_is_not_a_keyword(kind: type[Price]) -> None:
    with pytest.raises(TypeError, match="amount_type"):
        kind(amount_type="graduated", meter_id=METER_ID)  # type: ignore[call-arg]


def test_prices_are_frozen_and_compare_by_value() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        graduated().cap_amount = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        TIERS[0].up_to = None  # type: ignore[misc]
    same = graduated(tiers=[Tier(up_to="1000.0", unit_amount="2.00"), *TIERS[1:]])
    assert same == graduated()
    assert hash(same) == hash(graduated())
    assert graduated() != volume()  # type: ignore[comparison-overlap]
    assert package() != package(rounding="down")


def tiers_at(*bounds: object) -> list[Tier]:
    return [Tier(up_to=bound, unit_amount=1) for bound in bounds]


# (build, error class, path, offending value as the message shows it, words)
REFUSED = [
    pytest.param(
        lambda: graduated(tiers=tiers_at(1000, 500, None)),
        ValidationError,
        "tiers[1].up_to",
        "Decimal('500')",
        "increasing order",
        id="tiers-out-of-order",
    ),
    pytest.param(
        lambda: volume(tiers=tiers_at(100, 1000, 999, None)),
        ValidationError,
        "tiers[2].up_to",
        "Decimal('999')",
        "above the bound of the tier before it (1000)",
        id="tiers-out-of-order-at-2",
    ),
    pytest.param(
        lambda: graduated(tiers=tiers_at(1000, 1000, None)),
        ValidationError,
        "tiers[1].up_to",
        "Decimal('1000')",
        "increasing order",
        id="tiers-equal-bounds",
    ),
    pytest.param(
        lambda: graduated(tiers=tiers_at(None, None)),
        ValidationError,
        "tiers[0].up_to",
        "None",
        "every tier but the last",
        id="non-final-tier-without-up-to",
    ),
    pytest.param(
        lambda: volume(tiers=tiers_at(100, None, 1000, None)),
        ValidationError,
        "tiers[1].up_to",
        "None",
        "every tier but the last",
        id="middle-tier-without-up-to",
    ),
    pytest.param(
        lambda: graduated(tiers=tiers_at(100, 200)),
        ValidationError,
        "tiers[1].up_to",
        "Decimal('200')",
        "None on the last tier",
        id="final-tier-with-up-to",
    ),
    pytest.param(
        lambda: volume(tiers=tiers_at(100)),
        ValidationError,
        "tiers[0].up_to",
        "Decimal('100')",
        "None on the last tier",
        id="single-tier-with-up-to",
    ),
    pytest.param(
        lambda: graduated(tiers=[]),
        ValidationError,
        "tiers",
        "[]",
        "at least one tier",
        id="no-tiers",
    ),
    pytest.param(
        lambda: graduated(tiers=TIERS[2]),
        InvalidTypeError,
        "tiers",
        repr(TIERS[2]),
        "list or tuple of Tier",
        id="tiers-a-tier",
    ),
    pytest.param(
        lambda: graduated(tiers="abc"),
        InvalidTypeError,
        "tiers",
        "'abc'",
        "list or tuple of Tier",
        id="tiers-a-string",
    ),
    pytest.param(
        lambda: graduated(tiers=[TIERS[0], {"up_to": None, "unit_amount": 1}]),
        InvalidTypeError,
        "tiers[1]",
        "{'up_to': None, 'unit_amount': 1}",
        "must be a Tier",
        id="tier-a-dict",
    ),
    pytest.param(
        lambda: Tier(up_to=0, unit_amount=1),
        ValidationError,
        "up_to",
        "0",
        "> 0",
        id="up-to-zero",
    ),
    pytest.param(
        lambda: Tier(up_to=-5, unit_amount=1),
        ValidationError,
        "up_to",
        "-5",
        "> 0",
        id="up-to-negative",
    ),
    pytest.param(
        lambda: Tier(up_to=True, unit_amount=1),
        InvalidTypeError,
        "up_to",
        "True",
        "bool",
        id="up-to-bool",
    ),
    pytest.param(
        lambda: Tier(up_to="lots", unit_amount=1),
        ValidationError,
        "up_to",
        "'lots'",
        "decimal number",
        id="up-to-text",
    ),
    pytest.param(
        lambda: Tier(up_to="1E+29", unit_amount=1),
        ValidationError,
        "up_to",
        "'1E+29'",
        "1E+29",
        id="up-to-too-large",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=0.5),
        InvalidTypeError,
        "unit_amount",
        "0.5",
        "pass unit_amount as a string such as '0.5'",
        id="float-unit-amount",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=-1),
        ValidationError,
        "unit_amount",
        "-1",
        ">= 0",
        id="negative-unit-amount",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount="0.0000000000001"),
        ValidationError,
        "unit_amount",
        "'0.0000000000001'",
        "at most 12 decimal places",
        id="unit-amount-13-places",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=None),
        InvalidTypeError,
        "unit_amount",
        "None",
        "str, int or Decimal",
        id="unit-amount-none",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=1, flat_amount=-1),
        ValidationError,
        "flat_amount",
        "-1",
        ">= 0",
        id="flat-amount-negative",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=1, flat_amount=1.5),
        InvalidTypeError,
        "flat_amount",
        "1.5",
        "int",
        id="flat-amount-float",
    ),
    pytest.param(
        lambda: Tier(up_to=None, unit_amount=1, flat_amount="100"),
        InvalidTypeError,
        "flat_amount",
        "'100'",
        "int",
        id="flat-amount-str",
    ),
    pytest.param(
        lambda: package(package_units=0),
        ValidationError,
        "package_units",
        "0",
        "> 0",
        id="package-size-zero",
    ),
    pytest.param(
        lambda: package(package_units=-10),
        ValidationError,
        "package_units",
        "-10",
        "> 0",
        id="package-size-negative",
    ),
    pytest.param(
        lambda: package(package_units="0.0"),
        ValidationError,
        "package_units",
        "'0.0'",
        "> 0",
        id="package-size-zero-text",
    ),
    pytest.param(
        lambda: package(package_units=None),
        InvalidTypeError,
        "package_units",
        "None",
        "must be an int, float, str or Decimal",
        id="package-size-none",
    ),
    pytest.param(
        lambda: package(package_amount=0),
        ValidationError,
        "package_amount",
        "0",
        "> 0",
        id="package-amount-zero",
    ),
    pytest.param(
        lambda: package(package_amount=0.05),
        InvalidTypeError,
        "package_amount",
        "0.05",
        "pass package_amount as a string such as '0.05'",
        id="package-amount-float",
    ),
    pytest.param(
        lambda: package(rounding="nearest"),
        ValidationError,
        "rounding",
        "'nearest'",
        "'up'",
        id="rounding-nearest",
    ),
    pytest.param(
        lambda: package(rounding="UP"),
        ValidationError,
        "rounding",
        "'UP'",
        "'down'",
        id="rounding-upper-case",
    ),
    pytest.param(
        lambda: package(rounding=None),
        ValidationError,
        "rounding",
        "None",
        "'up'",
        id="rounding-none",
    ),
    pytest.param(
        lambda: package(cap_amount=-1),
        ValidationError,
        "cap_amount",
        "-1",
        ">= 0",
        id="package-cap-negative",
    ),
    pytest.param(
        lambda: graduated(cap_amount=True),
        InvalidTypeError,
        "cap_amount",
        "True",
        "int",
        id="graduated-cap-bool",
    ),
    pytest.param(
        lambda: volume(meter_id="meter-1"),
        ValidationError,
        "meter_id",
        "'meter-1'",
        "UUID",
        id="volume-meter-id",
    ),
]


@pytest.mark.parametrize(("build", "error", "path", "shown", "words"), REFUSED)
def test_refused_at_construction(
    build: Any, error: type[MeterkitError], path: str, shown: str, words: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert type(caught.value) is error
    assert caught.value.path == path
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert words in message
    assert message.endswith(f"(got {shown})")


@pytest.mark.parametrize(
    ("price", "error"),
    [
        pytest.param(None, InvalidTypeError, id="none"),
        pytest.param(TIERS[0], InvalidTypeError, id="a-tier"),
        pytest.param({"amount_type": "graduated"}, InvalidTypeError, id="a-dict"),
    ],
)
def test_amount_due_refuses_what_is_not_a_price(
    price: object, error: type[MeterkitError]
) -> None:
    with pytest.raises(error) as caught:
        amount_due(price, 1)  # type: ignore[arg-type]
    assert type(caught.value) is error
    assert caught.value.path == "price"
    assert "GraduatedPrice, VolumePrice or PackagePrice" in str(caught.value)
    assert f"(got {price!r})" in str(caught.value)


@pytest.mark.parametrize("price", [graduated(), volume(), package()])
@pytest.mark.parametrize(
    ("consumed", "credited", "path"),
    [
        pytest.param(-1, 0, "consumed_units", id="negative-units"),
        pytest.param(math.nan, 0, "consumed_units", id="nan-units"),
        pytest.param(1, -1, "credited_units", id="negative-credits"),
    ],
)
def test_amount_due_checks_units_for_every_kind(
    price: Price, consumed: Any, credited: Any, path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        amount_due(price, consumed, credited)
    assert caught.value.path == path


# -- JSON -----------------------------------------------------------------------------

EXAMPLES = [
    pytest.param(graduated(), id="graduated"),
    pytest.param(graduated(cap_amount=10, tiers=[TIERS[2]]), id="graduated-one-tier"),
    pytest.param(
        volume(tiers=[Tier(up_to="0.5", unit_amount="1E-12"), TIERS[2]]),
        id="volume-tiny",
    ),
    pytest.param(package(), id="package"),
    pytest.param(
        package(package_units="2.5", package_amount="0.000000000001", rounding="down"),
        id="package-fractional",
    ),
    pytest.param(
        MeteredUnitPrice(unit_amount="0.5", meter_id=METER_ID), id="metered-unit"
    ),
]


@pytest.mark.parametrize("style", ["wire", "camel"])
@pytest.mark.parametrize("price", EXAMPLES)
def test_round_trip_and_type_picked_by_amount_type(price: Price, style: Any) -> None:
    document = to_dict(price, style=style)
    assert json.loads(json.dumps(document)) == document
    key = "amountType" if style == "camel" else "amount_type"
    assert next(iter(document)) == key
    assert document[key] == price.amount_type
    assert from_dict(type(price), document, style=style) == price
    for picked in (
        from_dict(Price, document, style=style),  # type: ignore[arg-type]
        price_from_dict(document, style=style),
        price_from_json(to_json(price, style=style), style=style),
        from_json(Price, to_json(price, style=style), style=style),  # type: ignore[arg-type]
    ):
        assert type(picked) is type(price)
        assert picked == price


def test_wire_and_camel_shapes() -> None:
    assert to_dict(graduated(cap_amount=9000)) == {
        "amount_type": "graduated",
        "tiers": [
            {"up_to": 1000, "unit_amount": "2", "flat_amount": 0},
            {"up_to": 5000, "unit_amount": "1.5", "flat_amount": 100},
            {"up_to": None, "unit_amount": "0.25", "flat_amount": 500},
        ],
        "flat_fee_at_zero": False,
        "cap_amount": 9000,
        "minimum_amount": None,
        "meter_id": METER_ID,
    }
    assert to_dict(package(package_units="2.5"), style="camel") == {
        "amountType": "package",
        "packageUnits": 2.5,
        "packageAmount": "50",
        "rounding": "up",
        "capAmount": None,
        "minimumAmount": None,
        "meterId": METER_ID,
    }
    assert to_dict(Tier(up_to="0.5", unit_amount="1E-12")) == {
        "up_to": 0.5,
        "unit_amount": "0.000000000001",
        "flat_amount": 0,
    }


# How an amount of cents is given -> the decimal string it is written as: plain
# notation, never an exponent; the fractional digits as stored (trailing zeros
# within 12 places are kept, so the value reads back with the same digits).
PLAIN_AMOUNTS = [
    pytest.param(Decimal("4E-7"), "0.0000004", id="small-exponent"),
    pytest.param("4E-7", "0.0000004", id="small-exponent-text"),
    pytest.param(Decimal("1E-12"), "0.000000000001", id="twelve-places"),
    pytest.param("0.000000000001", "0.000000000001", id="twelve-places-text"),
    pytest.param(Decimal("1E+5"), "100000", id="large-exponent"),
    pytest.param(Decimal("2.5E+3"), "2500", id="large-exponent-fraction"),
    pytest.param("9" * 29, "9" * 29, id="largest"),
    pytest.param(Decimal("1.50"), "1.50", id="trailing-zero-kept"),
    pytest.param("1." + "0" * 14, "1.000000000000", id="zeros-past-12-dropped"),
    pytest.param(100, "100", id="int"),
    pytest.param("0.5", "0.5", id="half"),
]


@pytest.mark.parametrize(("given", "text"), PLAIN_AMOUNTS)
def test_amounts_are_written_as_plain_decimal_strings(given: object, text: str) -> None:
    values = [
        MeteredUnitPrice(unit_amount=given, meter_id=METER_ID),
        volume(tiers=[Tier(up_to=None, unit_amount=given)]),
        package(package_amount=given),
    ]
    for value in values:
        for style in STYLES:
            document = to_dict(value, style=style)
            assert json.loads(to_json(value, style=style)) == document
            camel = style == "camel"
            if isinstance(value, VolumePrice):
                written = document["tiers"][0]["unitAmount" if camel else "unit_amount"]
            elif isinstance(value, PackagePrice):
                written = document["packageAmount" if camel else "package_amount"]
            else:
                written = document["unitAmount" if camel else "unit_amount"]
            assert written == text
            again = from_dict(type(value), document, style=style)
            assert again == value
            assert repr(again) == repr(value)  # the same digits, not only the value


@pytest.mark.parametrize(
    "zero",
    [
        pytest.param(Decimal("0E+5"), id="zero-with-exponent"),
        pytest.param(Decimal("0E+999999999"), id="zero-with-a-huge-exponent"),
        pytest.param(Decimal("-0"), id="negative-zero"),
        pytest.param("-0", id="negative-zero-text"),
        pytest.param(0, id="int"),
    ],
)
def test_a_free_tier_is_written_as_zero(zero: object) -> None:
    tier = Tier(up_to=None, unit_amount=zero)
    assert to_dict(tier)["unit_amount"] == "0"
    assert repr(tier.unit_amount) == "Decimal('0')"


def _ambient_prices() -> list[Any]:
    return [
        MeteredUnitPrice(unit_amount=Decimal("1E-12"), meter_id=METER_ID),
        MeteredUnitPrice(unit_amount="123456789.123456789012", meter_id=METER_ID),
        graduated(
            tiers=[
                Tier(up_to=Decimal("1E+3"), unit_amount=Decimal("4E-7")),
                Tier(up_to=None, unit_amount=Decimal("0E+5"), flat_amount=7),
            ]
        ),
        package(package_units=Decimal("2.5E+3"), package_amount=Decimal("1.5E+1")),
    ]


def test_price_json_does_not_depend_on_the_ambient_decimal_context() -> None:
    prices = _ambient_prices()
    expected = [to_json(price, style=style) for price in prices for style in STYLES]
    assert '"unit_amount":"0.000000000001"' in expected[0]
    with decimal.localcontext() as host:
        host.capitals = 0  # str(Decimal("1E-12")) is then "1e-12"
        host.prec = 1
        host.rounding = decimal.ROUND_DOWN
        host.Emax, host.Emin = 1, -1
        for signal in (decimal.Inexact, decimal.Rounded, decimal.Clamped):
            host.traps[signal] = True
        written = [to_json(price, style=style) for price in prices for style in STYLES]
        assert written == expected
        read = [
            price_from_json(text, style=style)
            for text, style in zip(written, STYLES * len(prices), strict=True)
        ]
    assert read == [price for price in prices for _ in STYLES]


def test_refusals_name_bounds_without_the_ambient_context() -> None:
    tiers = [
        Tier(up_to=Decimal("1E+3"), unit_amount=1),
        Tier(up_to=Decimal("5E+2"), unit_amount=1),
        Tier(up_to=None, unit_amount=1),
    ]
    with decimal.localcontext() as host:
        host.capitals = 0
        host.prec = 1
        with pytest.raises(ValidationError) as caught:
            graduated(tiers=tiers)
    assert "above the bound of the tier before it (1000)" in str(caught.value)


TEXT_NUMBER_FIELDS = [
    pytest.param(lambda t: Tier(up_to=None, unit_amount=t), "unit_amount", id="tier"),
    pytest.param(lambda t: Tier(up_to=t, unit_amount=1), "up_to", id="up-to"),
    pytest.param(lambda t: package(package_units=t), "package_units", id="package"),
    pytest.param(
        lambda t: package(package_amount=t), "package_amount", id="package-amount"
    ),
]


@pytest.mark.parametrize(("build", "path"), TEXT_NUMBER_FIELDS)
@pytest.mark.parametrize(
    "text", [pytest.param(text, id=name) for name, text in NOT_JSON_NUMBERS]
)
def test_numbers_given_as_text_must_be_json_numbers(
    build: Any, path: str, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        build(text)
    assert caught.value.path == path
    assert "JSON number syntax" in str(caught.value)
    assert str(caught.value).endswith(f"(got {text!r})")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("text", ["1_000", "\u0663", " 1", "+1", "Infinity", "1."])
def test_documents_with_amounts_not_in_json_syntax_are_refused(
    text: str, style: Any
) -> None:
    document = to_dict(graduated(), style=style)
    key = "unitAmount" if style == "camel" else "unit_amount"
    document["tiers"][1][key] = text
    with pytest.raises(ValidationError) as caught:
        price_from_dict(document, style=style)
    assert caught.value.path == f"$.tiers[1].{key}"
    assert f"(got {text!r})" in str(caught.value)


def test_defaults_may_be_left_out() -> None:
    document = {
        "amount_type": "volume",
        "tiers": [{"up_to": 1000, "unit_amount": 2}, {"up_to": None, "unit_amount": 1}],
        "meter_id": METER_ID,
    }
    assert price_from_dict(document) == volume(
        tiers=[Tier(up_to=1000, unit_amount=2), Tier(up_to=None, unit_amount=1)]
    )
    minimal = {"amount_type": "package", "package_units": 10, "package_amount": "3"}
    read = price_from_dict({**minimal, "meter_id": METER_ID, "extra": 1})
    assert read == package(package_units=10, package_amount=3)


def test_missing_amount_type_with_unit_amount_is_a_metered_unit_price() -> None:
    for style, document in [
        ("wire", {"unit_amount": "0.5", "meter_id": METER_ID}),
        ("camel", {"unitAmount": "0.5", "meterId": METER_ID}),
    ]:
        read = price_from_dict(document, style=style)  # type: ignore[arg-type]
        assert read == MeteredUnitPrice(unit_amount="0.5", meter_id=METER_ID)


def graduated_document(style: str = "wire", **changes: Any) -> dict[str, Any]:
    document = to_dict(graduated(), style=style)  # type: ignore[arg-type]
    document.update(changes)
    return document


# (style, document, error class, path, shown value or None, words)
READ_REFUSED = [
    pytest.param(
        "wire",
        graduated_document(amount_type="tiered"),
        ValidationError,
        "$.amount_type",
        "'tiered'",
        "must be one of 'metered_unit', 'graduated', 'volume', 'package'",
        id="unknown-amount-type",
    ),
    pytest.param(
        "camel",
        graduated_document("camel", amountType="per_unit"),
        ValidationError,
        "$.amountType",
        "'per_unit'",
        "must be one of",
        id="unknown-amount-type-camel",
    ),
    pytest.param(
        "wire",
        graduated_document(amount_type=5),
        ValidationError,
        "$.amount_type",
        "5",
        "must be one of",
        id="amount-type-not-a-string",
    ),
    pytest.param(
        "wire",
        graduated_document(amount_type=["graduated"]),
        ValidationError,
        "$.amount_type",
        "['graduated']",
        "must be one of",
        id="amount-type-a-list",
    ),
    pytest.param(
        "wire",
        {"tiers": [], "meter_id": METER_ID},
        MissingFieldError,
        "$.amount_type",
        None,
        "required key is missing",
        id="amount-type-missing",
    ),
    pytest.param(
        "wire",
        [graduated_document()],
        InvalidTypeError,
        "$",
        None,
        "must be a JSON object",
        id="not-an-object",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[
                {"up_to": 100, "unit_amount": "1"},
                {"up_to": 1000, "unit_amount": "1"},
                {"up_to": 999, "unit_amount": "1"},
                {"up_to": None, "unit_amount": "1"},
            ]
        ),
        ValidationError,
        "$.tiers[2].up_to",
        "Decimal('999')",
        "increasing order",
        id="tiers-out-of-order",
    ),
    pytest.param(
        "camel",
        graduated_document(
            "camel",
            tiers=[
                {"upTo": 100, "unitAmount": "1"},
                {"upTo": 1000, "unitAmount": "1"},
                {"upTo": 999, "unitAmount": "1"},
                {"upTo": None, "unitAmount": "1"},
            ],
        ),
        ValidationError,
        "$.tiers[2].upTo",
        "Decimal('999')",
        "increasing order",
        id="tiers-out-of-order-camel",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[
                {"up_to": None, "unit_amount": "1"},
                {"up_to": None, "unit_amount": 1},
            ]
        ),
        ValidationError,
        "$.tiers[0].up_to",
        "None",
        "every tier but the last",
        id="non-final-tier-without-up-to",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[{"up_to": 10, "unit_amount": "1"}, {"up_to": 20, "unit_amount": 1}]
        ),
        ValidationError,
        "$.tiers[1].up_to",
        "Decimal('20')",
        "None on the last tier",
        id="final-tier-with-up-to",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[
                {"up_to": 10, "unit_amount": "1"},
                {"up_to": None, "unit_amount": 0.5},
            ]
        ),
        InvalidTypeError,
        "$.tiers[1].unit_amount",
        "0.5",
        "must not be a float",
        id="float-unit-amount",
    ),
    pytest.param(
        "camel",
        graduated_document(
            "camel",
            tiers=[{"upTo": 10, "unitAmount": "1"}, {"upTo": None, "unitAmount": 0.5}],
        ),
        InvalidTypeError,
        "$.tiers[1].unitAmount",
        "0.5",
        "must not be a float",
        id="float-unit-amount-camel",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[{"up_to": -1, "unit_amount": "1"}, {"up_to": None, "unit_amount": 1}]
        ),
        ValidationError,
        "$.tiers[0].up_to",
        "-1",
        "> 0",
        id="negative-up-to",
    ),
    pytest.param(
        "wire",
        graduated_document(
            tiers=[
                {"up_to": "10", "unit_amount": "1"},
                {"up_to": None, "unit_amount": 1},
            ]
        ),
        InvalidTypeError,
        "$.tiers[0].up_to",
        "'10'",
        "JSON number",
        id="up-to-a-string",
    ),
    pytest.param(
        "wire",
        graduated_document(tiers=[{"up_to": None}]),
        MissingFieldError,
        "$.tiers[0].unit_amount",
        None,
        "required key is missing",
        id="tier-without-unit-amount",
    ),
    pytest.param(
        "wire",
        graduated_document(tiers={"up_to": None, "unit_amount": "1"}),
        InvalidTypeError,
        "$.tiers",
        None,
        "must be a JSON array",
        id="tiers-an-object",
    ),
    pytest.param(
        "wire",
        {**to_dict(package()), "package_units": 0},
        ValidationError,
        "$.package_units",
        "0",
        "> 0",
        id="package-size-zero",
    ),
    pytest.param(
        "camel",
        {**to_dict(package(), style="camel"), "packageUnits": -3},
        ValidationError,
        "$.packageUnits",
        "-3",
        "> 0",
        id="package-size-negative-camel",
    ),
    pytest.param(
        "wire",
        {**to_dict(package()), "rounding": "nearest"},
        ValidationError,
        "$.rounding",
        "'nearest'",
        "'up'",
        id="rounding-nearest",
    ),
    pytest.param(
        "wire",
        {**to_dict(package()), "package_amount": 0.5},
        InvalidTypeError,
        "$.package_amount",
        "0.5",
        "must not be a float",
        id="package-amount-float",
    ),
]


@pytest.mark.parametrize(
    ("style", "document", "error", "path", "shown", "words"), READ_REFUSED
)
def test_refused_on_reading(
    style: Any,
    document: Any,
    error: type[MeterkitError],
    path: str,
    shown: str | None,
    words: str,
) -> None:
    for read in (
        lambda: price_from_dict(document, style=style),
        lambda: from_dict(Price, document, style=style),  # type: ignore[arg-type]
        lambda: price_from_json(json.dumps(document), style=style),
    ):
        with pytest.raises(error) as caught:
            read()
        assert type(caught.value) is error
        assert caught.value.path == path
        message = str(caught.value)
        assert message.startswith(f"{path}: ")
        assert words in message
        if shown is not None:
            assert message.endswith(f"(got {shown})")


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_converters_pick_the_price_class(style: Any) -> None:
    converter = serialization.make_converter(style)
    for price in (graduated(), volume(), package()):
        document = converter.unstructure(price, Price)
        assert document == to_dict(price, style=style)
        assert converter.structure(document, Price) == price


@pytest.mark.parametrize(
    ("inner", "cls", "style", "joined"),
    [
        ("tiers[2].up_to", GraduatedPrice, "camel", "$.tiers[2].upTo"),
        ("tiers[2].up_to", GraduatedPrice, "wire", "$.tiers[2].up_to"),
        ("package_units", PackagePrice, "camel", "$.packageUnits"),
        ("amountType", Price, "camel", "$.amountType"),
        # Below a mapping, keys are the user's and stay as written.
        ("metadata.total_tokens", meterkit.Event, "camel", "$.metadata.total_tokens"),
        ("meter.created_at", meterkit.CustomerMeter, "camel", "$.meter.createdAt"),
    ],
)
def test_error_paths_follow_the_style_through_nested_classes(
    inner: str, cls: object, style: Any, joined: str
) -> None:
    assert join_path("$", inner, cls, style) == joined


def test_reading_one_kind_refuses_another() -> None:
    with pytest.raises(ValidationError) as caught:
        from_dict(VolumePrice, to_dict(graduated()))
    assert caught.value.path == "$.amount_type"
    assert "(got 'graduated')" in str(caught.value)


def test_price_from_json_refuses_what_is_not_json() -> None:
    with pytest.raises(ValidationError, match=r"^\$: is not valid JSON"):
        price_from_json("{")
    with pytest.raises(InvalidTypeError, match=r"^text: "):
        price_from_json(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^style: "):
        price_from_dict(to_dict(package()), style="snake")  # type: ignore[arg-type]


def test_new_names_are_exported() -> None:
    for name in (
        "GraduatedPrice",
        "PackagePrice",
        "Price",
        "Tier",
        "VolumePrice",
        "price_from_dict",
        "price_from_json",
    ):
        assert name in meterkit.__all__
        assert getattr(meterkit, name) is not None


# -- subscription meters and the CLI ------------------------------------------------

METER_DOC: dict[str, Any] = {
    "created_at": "2025-01-01T00:00:00Z",
    "modified_at": None,
    "id": METER_ID,
    "name": "Tokens",
    "filter": {
        "conjunction": "and",
        "clauses": [{"property": "name", "operator": "eq", "value": "llm"}],
    },
    "aggregation": {"func": "sum", "property": "total_tokens"},
}


def use(customer: str, tokens: float) -> dict[str, Any]:
    return {
        "name": "llm",
        "timestamp": "2025-03-01T12:00:00Z",
        "external_customer_id": customer,
        "metadata": {"total_tokens": tokens},
    }


def granted(customer: str, units: int) -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "timestamp": "2025-03-01T12:00:00Z",
        "external_customer_id": customer,
        "source": "system",
        "metadata": {"meter_id": METER_ID, "units": units},
    }


EVENTS = [
    use("acme", 600),
    use("acme", 400.5),  # 1000.5 units: 2000 + 0.75 + 100 = 2100.75
    use("globex", 1000),  # exactly up_to: 2000
    use("initech", 6000),
    granted("initech", 999),  # 5001 billable: 8100 + 0.25 + 500 = 8600.25
    use("umbrella", 10),
    granted("umbrella", 20),  # nothing billable
]


def test_build_subscription_meter_takes_any_price() -> None:
    meter = from_dict(meterkit.Meter, METER_DOC)
    period = {
        "start": datetime(2025, 3, 1, tzinfo=timezone.utc),
        "end": datetime(2025, 4, 1, tzinfo=timezone.utc),
        "id": OTHER_METER_ID,
        "external_customer_id": "initech",
    }
    for price, cents in [(graduated(), 8600), (volume(), 1750), (package(), 300)]:
        made = build_subscription_meter(meter, price, EVENTS, **period)  # type: ignore[arg-type]
        assert (made.consumed_units, made.credited_units) == (Decimal(6000), 999)
        assert made.amount == cents
    with pytest.raises(ValidationError) as caught:
        build_subscription_meter(
            meter,
            graduated(meter_id=OTHER_METER_ID),
            EVENTS,
            **period,  # type: ignore[arg-type]
        )
    assert caught.value.path == "price.meter_id"


def write_files(tmp_path: Path, price: dict[str, Any]) -> dict[str, Path]:
    files = {
        "meter": tmp_path / "meter.json",
        "price": tmp_path / "price.json",
        "events": tmp_path / "events.jsonl",
    }
    files["meter"].write_text(json.dumps(METER_DOC))
    files["price"].write_text(json.dumps(price))
    files["events"].write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    return files


def run_usage(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> tuple[int, str, str]:
    argv = ["usage", "--format", "json"]
    for name in ("meter", "price", "events"):
        argv += [f"--{name}", str(files[name])]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_with_a_graduated_price_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = write_files(tmp_path, to_dict(graduated()))
    code, out, err = run_usage(capsys, files)
    # stderr holds the run's summary only (`meterkit.cli._usage.summary`).
    assert code == 0
    assert err.count("\n") == 1
    assert " lines read: " in err
    amounts = {
        record["external_customer_id"]: record["amount"]
        for record in map(json.loads, out.splitlines())
    }
    assert amounts == {"acme": 2101, "globex": 2000, "initech": 8600, "umbrella": 0}


@pytest.mark.parametrize(
    ("price", "cents"),
    [
        pytest.param(to_dict(volume()), [1601, 2000, 1750, 0], id="volume"),
        pytest.param(to_dict(package()), [100, 50, 300, 0], id="package"),
        pytest.param(
            to_dict(package(rounding="down"), style="wire"), [50, 50, 250, 0], id="down"
        ),
    ],
)
def test_cli_with_other_price_files(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    price: dict[str, Any],
    cents: list[int],
) -> None:
    code, out, _ = run_usage(capsys, write_files(tmp_path, price))
    assert code == 0
    assert [json.loads(line)["amount"] for line in out.splitlines()] == cents


@pytest.mark.parametrize(
    ("price", "message"),
    [
        pytest.param(
            to_dict(graduated(meter_id=OTHER_METER_ID)),
            "$.meter_id: the price is for meter",
            id="other-meter",
        ),
        pytest.param(
            {**to_dict(graduated()), "amount_type": "tiered"},
            "$.amount_type: must be one of",
            id="unknown-amount-type",
        ),
        pytest.param(
            {
                **to_dict(graduated()),
                "tiers": [
                    {"up_to": 10, "unit_amount": "1"},
                    {"up_to": 5, "unit_amount": "1"},
                    {"up_to": None, "unit_amount": "1"},
                ],
            },
            "$.tiers[1].up_to: must be above the bound of the tier before it (10)",
            id="tiers-out-of-order",
        ),
    ],
)
def test_cli_refuses_a_bad_price_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    price: dict[str, Any],
    message: str,
) -> None:
    files = write_files(tmp_path, price)
    code, out, err = run_usage(capsys, files)
    assert (code, out) == (1, "")
    assert err.startswith(f"{files['price']}: {message}")
    assert err.count("\n") == 1
