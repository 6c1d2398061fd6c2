"""Properties of amount_due, checked against exact `Fraction` arithmetic."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given
from hypothesis import strategies as st

from meterkit.pricing import MeteredUnitPrice, amount_due

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
HALF = Fraction(1, 2)


def _decimal(coefficient: int, exponent: int) -> Decimal:
    # Built from text, so that no decimal context takes part.
    return Decimal(f"{coefficient}E{exponent}")


#: Unit amounts: > 0, at most 12 decimal places, from 1E-12 to 1E+16 cents per unit.
unit_amounts = st.builds(
    _decimal, st.integers(1, 10**16), st.integers(-12, 0)
) | st.sampled_from([Decimal("0.5"), Decimal(100), Decimal("0.000000000001")])

#: Unit counts: exact decimals with up to 21 digits, 20 decimal places, below 1E+29.
units = st.builds(_decimal, st.integers(0, 10**20), st.integers(-20, 8)) | st.integers(
    0, 10**6
).map(Decimal)

credits = st.integers(0, 10**6) | st.integers(0, 10**30)
caps = st.none() | st.integers(0, 10**9)

rounding_modes = st.sampled_from(
    [
        decimal.ROUND_DOWN,
        decimal.ROUND_UP,
        decimal.ROUND_CEILING,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_05UP,
    ]
)


def make_price(unit_amount: Decimal, cap: int | None) -> MeteredUnitPrice:
    return MeteredUnitPrice(unit_amount=unit_amount, cap_amount=cap, meter_id=METER_ID)


def exact_product(unit_amount: Decimal, consumed: Decimal, credited: int) -> Fraction:
    billable = max(Fraction(0), Fraction(consumed) - credited)
    return Fraction(unit_amount) * billable


@given(unit_amounts, caps, units, units, credits)
@example(Decimal(100), None, Decimal("1.994"), Decimal("1.995"), 0)
@example(Decimal("0.5"), None, Decimal(1), Decimal(3), 0)
def test_monotonic_in_consumed_units(
    unit_amount: Decimal,
    cap: int | None,
    first: Decimal,
    second: Decimal,
    credited: int,
) -> None:
    price = make_price(unit_amount, cap)
    fewer, more = sorted([first, second])
    assert amount_due(price, fewer, credited) <= amount_due(price, more, credited)


@given(unit_amounts, caps, units, credits)
def test_never_negative_and_never_above_the_cap(
    unit_amount: Decimal, cap: int | None, consumed: Decimal, credited: int
) -> None:
    due = amount_due(make_price(unit_amount, cap), consumed, credited)
    assert type(due) is int
    assert due >= 0
    if cap is not None:
        assert due <= cap


@given(unit_amounts, caps, units, credits)
@example(Decimal(100), None, Decimal("1.995"), 0)
@example(Decimal(100), 199, Decimal("1.995"), 0)
@example(Decimal("0.000000000001"), None, Decimal(10**12), 0)
@example(Decimal("0.5"), None, Decimal("10.5"), 10)
def test_within_half_a_cent_of_the_exact_product(
    unit_amount: Decimal, cap: int | None, consumed: Decimal, credited: int
) -> None:
    exact = exact_product(unit_amount, consumed, credited)
    uncapped = amount_due(make_price(unit_amount, None), consumed, credited)
    # Rounding half away from zero, for a non-negative amount, is floor(x + 1/2).
    assert uncapped == math.floor(exact + HALF)
    assert abs(uncapped - exact) <= HALF
    due = amount_due(make_price(unit_amount, cap), consumed, credited)
    # Round first, then cap.
    assert due == (uncapped if cap is None else min(uncapped, cap))
    if cap is None or exact + HALF < cap:
        assert abs(due - exact) <= HALF


@given(
    unit_amounts,
    caps,
    units,
    credits,
    st.integers(1, 10),
    rounding_modes,
    st.booleans(),
)
@example(Decimal(100), None, Decimal("1.995"), 0, 3, decimal.ROUND_DOWN, True)
@example(Decimal("0.000000000001"), None, Decimal(10**12), 0, 1, decimal.ROUND_UP, True)
def test_identical_under_any_ambient_context(
    unit_amount: Decimal,
    cap: int | None,
    consumed: Decimal,
    credited: int,
    precision: int,
    rounding: str,
    trap_inexact: bool,
) -> None:
    expected = amount_due(make_price(unit_amount, cap), consumed, credited)
    with decimal.localcontext() as hostile:
        hostile.prec = precision
        hostile.rounding = rounding
        hostile.traps[decimal.Inexact] = trap_inexact
        # Strings make the price and the units go through parsing in the context.
        price = MeteredUnitPrice(
            unit_amount=str(unit_amount), cap_amount=cap, meter_id=METER_ID
        )
        due = amount_due(price, str(consumed), credited)
    assert due == expected


@given(unit_amounts, caps, units, st.integers(0, 10**30))
@example(Decimal(100), None, Decimal(5), 5)
def test_credits_covering_the_consumption_give_zero(
    unit_amount: Decimal, cap: int | None, consumed: Decimal, extra: int
) -> None:
    credited = math.ceil(Fraction(consumed)) + extra
    assert amount_due(make_price(unit_amount, cap), consumed, credited) == 0
