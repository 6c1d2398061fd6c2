"""MeteredUnitPrice construction and amount_due: the reference cases of SPEC.md."""

from __future__ import annotations

import decimal
import math
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest

from meterkit.errors import InvalidTypeError, MeterkitError, ValidationError
from meterkit.pricing import MeteredUnitPrice, amount_due

from .samples import METER_ID
from .test_values import NOT_JSON_NUMBERS


def price(**changes: Any) -> MeteredUnitPrice:
    fields: dict[str, Any] = {"unit_amount": "100", "meter_id": METER_ID}
    fields.update(changes)
    return MeteredUnitPrice(**fields)


# SPEC.md section 4: (unit_amount, cap, consumed, credited) -> cents.
REFERENCE_CASES = [
    pytest.param(100, None, "1.994", 0, 199, id="rounds-down-below-half"),
    pytest.param(100, None, "1.995", 0, 200, id="rounds-half-away-from-zero"),
    pytest.param(100, 5000, 1000, 0, 5000, id="capped"),
    pytest.param("0.5", None, 100, 0, 50, id="fractional-unit-amount"),
    pytest.param(100, None, 5, 10, 0, id="credits-exceed-consumption"),
    pytest.param("0.000000000001", None, 10**12, 0, 1, id="twelve-decimal-places"),
]


@pytest.mark.parametrize(
    ("unit_amount", "cap", "consumed", "credited", "cents"), REFERENCE_CASES
)
def test_reference_cases(
    unit_amount: object,
    cap: int | None,
    consumed: Decimal | int | float | str,
    credited: int,
    cents: int,
) -> None:
    due = amount_due(price(unit_amount=unit_amount, cap_amount=cap), consumed, credited)
    assert due == cents
    assert type(due) is int


@pytest.mark.parametrize(
    ("unit_amount", "cap", "consumed", "credited", "cents"), REFERENCE_CASES
)
def test_reference_cases_under_hostile_ambient_context(
    unit_amount: object,
    cap: int | None,
    consumed: Decimal | int | float | str,
    credited: int,
    cents: int,
) -> None:
    # A host application may run with any context; these settings would round
    # 199.5 down to 199 and 10**12 * 1E-12 to nothing if they leaked in.
    with decimal.localcontext() as hostile:
        hostile.prec = 3
        hostile.rounding = decimal.ROUND_DOWN
        hostile.Emax = 5
        hostile.Emin = -5
        hostile.traps[decimal.Inexact] = True
        due = amount_due(
            price(unit_amount=unit_amount, cap_amount=cap), consumed, credited
        )
    assert due == cents


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(100, Decimal(100), id="int"),
        pytest.param("0.5", Decimal("0.5"), id="str"),
        pytest.param("2.25", Decimal("2.25"), id="str-fraction"),
        pytest.param("4E-7", Decimal("0.0000004"), id="str-exponent"),
        pytest.param("1e2", Decimal(100), id="str-lower-exponent"),
        pytest.param(Decimal("0.000000000001"), Decimal("1E-12"), id="decimal-1e-12"),
        pytest.param("1.0000000000000000", Decimal(1), id="trailing-zeros-past-12"),
        pytest.param("9" * 29, Decimal("9" * 29), id="largest-integral"),
    ],
)
def test_unit_amount_accepted(given: object, expected: Decimal) -> None:
    stored = price(unit_amount=given).unit_amount
    assert stored == expected
    assert type(stored) is Decimal
    exponent = stored.as_tuple().exponent
    assert isinstance(exponent, int)
    assert exponent >= -12


def test_trailing_zeros_past_twelve_places_are_dropped() -> None:
    stored = price(unit_amount="1." + "0" * 40).unit_amount
    assert stored.as_tuple() == Decimal("1.000000000000").as_tuple()


def test_fields_are_normalised_and_amount_type_is_fixed() -> None:
    made = MeteredUnitPrice(
        unit_amount="0.5", cap_amount=0, meter_id=uuid.UUID(METER_ID.upper())
    )
    assert made.meter_id == METER_ID
    assert made.cap_amount == 0
    assert made.amount_type == "metered_unit"
    assert price().cap_amount is None
    assert price().minimum_amount is None
    assert [field.name for field in attrs.fields(MeteredUnitPrice)] == [
        "amount_type",
        "unit_amount",
        "cap_amount",
        "minimum_amount",
        "meter_id",
    ]


def test_amount_type_is_not_a_keyword() -> None:
    with pytest.raises(TypeError, match="amount_type"):
        MeteredUnitPrice(  # type: ignore[call-arg]
            amount_type="metered_unit", unit_amount=1, meter_id=METER_ID
        )


def test_price_is_frozen() -> None:
    made = price()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.unit_amount = Decimal(1)  # type: ignore[misc]


def test_prices_compare_by_value() -> None:
    assert price(unit_amount="100.00") == price(unit_amount=100)
    assert hash(price(unit_amount="100.00")) == hash(price(unit_amount=100))
    assert price(unit_amount=100) != price(unit_amount=101)


PRICE_REFUSED = [
    pytest.param("unit_amount", 0.5, InvalidTypeError, "'0.5'", id="float"),
    pytest.param("unit_amount", math.nan, InvalidTypeError, "string", id="float-nan"),
    pytest.param("unit_amount", 0, ValidationError, "> 0", id="zero"),
    pytest.param("unit_amount", "0.0", ValidationError, "> 0", id="zero-str"),
    pytest.param("unit_amount", -1, ValidationError, "> 0", id="negative"),
    pytest.param("unit_amount", "-0.5", ValidationError, "> 0", id="negative-str"),
    pytest.param(
        "unit_amount",
        "0.0000000000001",
        ValidationError,
        "at most 12 decimal places",
        id="13-decimal-places",
    ),
    pytest.param(
        "unit_amount",
        Decimal("1.0000000000001"),
        ValidationError,
        "at most 12 decimal places",
        id="13-decimal-places-decimal",
    ),
    pytest.param("unit_amount", Decimal("NaN"), ValidationError, "finite", id="nan"),
    pytest.param(
        "unit_amount", "Infinity", ValidationError, "JSON number", id="inf-str"
    ),
    *(
        pytest.param(
            "unit_amount", text, ValidationError, "JSON number", id=f"str-{name}"
        )
        for name, text in NOT_JSON_NUMBERS
    ),
    pytest.param("unit_amount", "abc", ValidationError, "decimal", id="garbage"),
    pytest.param("unit_amount", True, InvalidTypeError, "bool", id="bool"),
    pytest.param("unit_amount", None, InvalidTypeError, "str, int", id="none"),
    pytest.param("unit_amount", 10**29, ValidationError, "1E+29", id="too-large"),
    pytest.param("cap_amount", -1, ValidationError, ">= 0", id="cap-negative"),
    pytest.param("cap_amount", True, InvalidTypeError, "int", id="cap-bool"),
    pytest.param("cap_amount", 1.5, InvalidTypeError, "int", id="cap-float"),
    pytest.param("cap_amount", "5000", InvalidTypeError, "int", id="cap-str"),
    pytest.param("meter_id", "meter-1", ValidationError, "UUID", id="meter-id-text"),
    pytest.param("meter_id", 42, InvalidTypeError, "UUID", id="meter-id-int"),
]


@pytest.mark.parametrize(("field", "given", "error", "words"), PRICE_REFUSED)
def test_price_refused(
    field: str, given: object, error: type[MeterkitError], words: str
) -> None:
    with pytest.raises(error) as caught:
        price(**{field: given})
    assert type(caught.value) is error
    assert caught.value.path == field
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert words in message
    assert f"(got {given!r})" in message


def test_float_unit_amount_suggests_the_string() -> None:
    with pytest.raises(InvalidTypeError) as caught:
        price(unit_amount=0.1)
    assert "pass unit_amount as a string such as '0.1'" in str(caught.value)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)


AMOUNT_DUE_REFUSED = [
    pytest.param({"price": None}, InvalidTypeError, "price", id="price-none"),
    pytest.param(
        {"price": {"unit_amount": 1}}, InvalidTypeError, "price", id="price-dict"
    ),
    pytest.param(
        {"consumed_units": -1},
        ValidationError,
        "consumed_units",
        id="consumed-negative",
    ),
    pytest.param(
        {"consumed_units": True}, InvalidTypeError, "consumed_units", id="consumed-bool"
    ),
    pytest.param(
        {"consumed_units": math.inf},
        ValidationError,
        "consumed_units",
        id="consumed-inf",
    ),
    pytest.param(
        {"consumed_units": "1E+29"},
        ValidationError,
        "consumed_units",
        id="consumed-too-large",
    ),
    pytest.param(
        {"consumed_units": "1_000"},
        ValidationError,
        "consumed_units",
        id="consumed-underscores",
    ),
    pytest.param(
        {"consumed_units": "\u0663"},
        ValidationError,
        "consumed_units",
        id="consumed-arabic-indic-digit",
    ),
    pytest.param(
        {"consumed_units": " 5"}, ValidationError, "consumed_units", id="consumed-space"
    ),
    pytest.param(
        {"credited_units": -1}, ValidationError, "credited_units", id="credit-negative"
    ),
    pytest.param(
        {"credited_units": True}, InvalidTypeError, "credited_units", id="credit-bool"
    ),
    pytest.param(
        {"credited_units": 1.5}, InvalidTypeError, "credited_units", id="credit-float"
    ),
]


@pytest.mark.parametrize(("changes", "error", "field"), AMOUNT_DUE_REFUSED)
def test_amount_due_refused(
    changes: dict[str, Any], error: type[MeterkitError], field: str
) -> None:
    arguments: dict[str, Any] = {
        "price": price(),
        "consumed_units": 1,
        "credited_units": 0,
    }
    arguments.update(changes)
    with pytest.raises(error) as caught:
        amount_due(**arguments)
    assert type(caught.value) is error
    assert caught.value.path == field
    assert str(caught.value).startswith(f"{field}: ")
    assert f"(got {changes[field]!r})" in str(caught.value)


@pytest.mark.parametrize(
    ("unit_amount", "cap", "consumed", "credited", "cents"),
    [
        pytest.param(100, 199, "1.995", 0, 199, id="cap-below-rounded-amount"),
        pytest.param(100, 200, "1.995", 0, 200, id="cap-equal-to-rounded-amount"),
        pytest.param(100, 0, 7, 0, 0, id="cap-zero"),
        pytest.param("0.5", None, 1, 0, 1, id="half-cent-rounds-up"),
        pytest.param("0.5", None, 3, 0, 2, id="one-and-a-half-cents-round-up"),
        pytest.param("0.5", None, "0.999", 0, 0, id="below-half-cent"),
        pytest.param(100, None, "10.5", 10, 50, id="partly-credited"),
        pytest.param(100, None, 10, 10, 0, id="exactly-credited"),
        pytest.param(100, None, 0.1, 0, 10, id="float-units-by-shortest-repr"),
        pytest.param(100, None, 5, 10**40, 0, id="credits-far-beyond-units"),
        pytest.param(1, None, 0, 0, 0, id="nothing-consumed"),
    ],
)
def test_amount_due_cases(
    unit_amount: object,
    cap: int | None,
    consumed: Decimal | int | float | str,
    credited: int,
    cents: int,
) -> None:
    due = amount_due(price(unit_amount=unit_amount, cap_amount=cap), consumed, credited)
    assert due == cents


def test_largest_price_times_largest_units_is_exact() -> None:
    unit_amount = "9" * 29 + "." + "9" * 12
    units = "9" * 29 + "." + "9" * 21  # 50 significant digits, the most units hold.
    exact = Fraction(unit_amount) * Fraction(units)
    due = amount_due(price(unit_amount=unit_amount), units)
    assert due == math.floor(exact + Fraction(1, 2))


def test_smallest_price_times_smallest_units_rounds_to_zero() -> None:
    assert amount_due(price(unit_amount="0.000000000001"), "1E-28") == 0
