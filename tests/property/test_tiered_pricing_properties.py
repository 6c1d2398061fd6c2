"""Properties of graduated, volume and package prices, against `Fraction` oracles.

The oracles below state each pricing model the way the docs do, tier by tier in
exact rational arithmetic, independently of how `meterkit.pricing` loops: units in
``(up_to of the tier before, up_to]`` belong to a tier, a tier is reached when the
billable units are above the bound of the tier before it (0 units reach the first
tier only with ``flat_fee_at_zero``), and one rounding half away from zero
(``floor(x + 1/2)`` for x >= 0) comes before the minimum, which comes before the
cap.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meterkit import (
    GraduatedPrice,
    InvalidTypeError,
    MeteredUnitPrice,
    MeterkitError,
    PackagePrice,
    Price,
    Tier,
    ValidationError,
    VolumePrice,
    amount_due,
    from_dict,
    price_from_dict,
    price_from_json,
    to_dict,
    to_json,
)
from meterkit._units import subtract_units

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
HALF = Fraction(1, 2)
STYLES = st.sampled_from(["wire", "camel"])


def _decimal(coefficient: int, exponent: int) -> Decimal:
    # Built from text, so that no decimal context takes part.
    return Decimal(f"{coefficient}E{exponent}")


#: Cents per unit in a tier: >= 0 (free tiers), at most 12 decimal places.
rates = st.builds(
    _decimal, st.integers(0, 10**12), st.integers(-12, 0)
) | st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(2), Decimal("1E-12")])
#: Cents per unit of a metered unit price and per package: > 0.
positive_rates = rates.filter(bool)
flats = st.integers(0, 10**6) | st.just(0)
caps = st.none() | st.integers(0, 10**9)
#: Minimums, often within reach of the amounts drawn, sometimes far above them.
minimums = st.none() | st.integers(0, 10**4) | st.integers(0, 10**9)
credits = st.integers(0, 10**6) | st.integers(0, 10**30)

#: Tier bounds and package sizes: > 0, at most 15 significant digits, so that their
#: JSON numbers read back exactly (SPEC: round trips for up to 15 digits).
bounds = st.builds(
    _decimal, st.integers(1, 10**15 - 1), st.integers(-6, 6)
) | st.integers(1, 10**6).map(Decimal)

#: Unit counts: exact decimals with up to 21 digits, 20 decimal places, below 1E+29.
units = st.builds(_decimal, st.integers(0, 10**20), st.integers(-20, 8)) | st.integers(
    0, 10**6
).map(Decimal)

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


@st.composite
def tier_lists(draw: st.DrawFn, min_size: int = 1) -> tuple[Tier, ...]:
    """Valid tiers: increasing bounds, the last unbounded."""
    upper = draw(st.lists(bounds, min_size=min_size - 1, max_size=5, unique=True))
    return tuple(
        Tier(up_to=bound, unit_amount=draw(rates), flat_amount=draw(flats))
        for bound in [*sorted(upper), None]
    )


@st.composite
def amount_bounds(draw: st.DrawFn) -> dict[str, int | None]:
    """A cap and a minimum, the minimum not above the cap when both are set."""
    cap = draw(caps)
    if cap is None:
        return {"cap_amount": None, "minimum_amount": draw(minimums)}
    minimum = draw(st.none() | st.integers(0, min(cap, 10**4)) | st.integers(0, cap))
    return {"cap_amount": cap, "minimum_amount": minimum}


def bounded(cls: Any, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Prices of ``cls`` with the fields drawn from ``fields`` and `amount_bounds`."""
    return st.builds(
        lambda limits, **drawn: cls(**drawn, **limits), amount_bounds(), **fields
    )


graduated_prices: st.SearchStrategy[GraduatedPrice] = bounded(
    GraduatedPrice,
    tiers=tier_lists(),
    flat_fee_at_zero=st.booleans(),
    meter_id=st.just(METER_ID),
)
volume_prices: st.SearchStrategy[VolumePrice] = bounded(
    VolumePrice,
    tiers=tier_lists(),
    flat_fee_at_zero=st.booleans(),
    meter_id=st.just(METER_ID),
)
package_prices: st.SearchStrategy[PackagePrice] = bounded(
    PackagePrice,
    package_units=bounds,
    package_amount=positive_rates,
    rounding=st.sampled_from(["up", "down"]),
    meter_id=st.just(METER_ID),
)
metered_prices: st.SearchStrategy[MeteredUnitPrice] = bounded(
    MeteredUnitPrice, unit_amount=positive_rates, meter_id=st.just(METER_ID)
)
prices: st.SearchStrategy[Price] = (
    graduated_prices | volume_prices | package_prices | metered_prices
)


def units_for(price: Price) -> st.SearchStrategy[Decimal]:
    """Unit counts, often at a tier bound or a package size, or just around it."""
    if isinstance(price, (GraduatedPrice, VolumePrice)):
        edges = [t.up_to for t in price.tiers if t.up_to is not None]
    elif isinstance(price, PackagePrice):
        edges = [price.package_units * n for n in (1, 2, 3)]
    else:
        edges = []
    if not edges:
        return units
    nudges = st.sampled_from([Decimal(0), Decimal(1), Decimal("1E-9"), Decimal(-1)])
    near = st.builds(
        lambda edge, nudge: max(Decimal(0), edge + nudge),
        st.sampled_from(edges),
        nudges,
    )
    return units | near


# -- oracles --------------------------------------------------------------------------


def billable(consumed: Decimal, credited: int) -> Fraction:
    return max(Fraction(0), Fraction(consumed) - credited)


def lower_bounds(tiers: Sequence[Tier]) -> list[Fraction]:
    return [Fraction(0)] + [Fraction(t.up_to) for t in tiers[:-1] if t.up_to]


def graduated_exact(
    tiers: Sequence[Tier], b: Fraction, flat_fee_at_zero: bool = False
) -> Fraction:
    total = Fraction(0)
    for index, (tier, low) in enumerate(zip(tiers, lower_bounds(tiers), strict=True)):
        high = b if tier.up_to is None else min(b, Fraction(tier.up_to))
        if b > low or (index == 0 and flat_fee_at_zero):  # reached
            total += Fraction(tier.unit_amount) * (high - low) + tier.flat_amount
    return total


def holding_tier(tiers: Sequence[Tier], b: Fraction) -> Tier | None:
    for tier, low in zip(tiers, lower_bounds(tiers), strict=True):
        if low < b and (tier.up_to is None or b <= Fraction(tier.up_to)):
            return tier
    return None


def volume_exact(
    tiers: Sequence[Tier], b: Fraction, flat_fee_at_zero: bool = False
) -> Fraction:
    tier = holding_tier(tiers, b)
    if tier is None:  # 0 units, held by no tier
        return Fraction(tiers[0].flat_amount if flat_fee_at_zero else 0)
    return Fraction(tier.unit_amount) * b + tier.flat_amount


def package_exact(price: PackagePrice, b: Fraction) -> Fraction:
    packages = b / Fraction(price.package_units)
    count = math.ceil(packages) if price.rounding == "up" else math.floor(packages)
    return count * Fraction(price.package_amount)


def exact_amount(price: Price, b: Fraction) -> Fraction:
    if isinstance(price, GraduatedPrice):
        return graduated_exact(price.tiers, b, price.flat_fee_at_zero)
    if isinstance(price, VolumePrice):
        return volume_exact(price.tiers, b, price.flat_fee_at_zero)
    if isinstance(price, PackagePrice):
        return package_exact(price, b)
    return Fraction(price.unit_amount) * b


def rounded_and_bounded(
    exact: Fraction, cap: int | None, minimum: int | None = None
) -> int:
    """``min(max(round(exact), minimum), cap)``, an absent bound left out."""
    amount = math.floor(exact + HALF)
    if minimum is not None:
        amount = max(amount, minimum)
    return amount if cap is None else min(amount, cap)


# -- properties -----------------------------------------------------------------------


@given(st.data(), prices, credits)
def test_never_negative_and_never_above_the_cap(
    data: st.DataObject, price: Price, credited: int
) -> None:
    consumed = data.draw(units_for(price))
    due = amount_due(price, consumed, credited)
    assert type(due) is int
    assert due >= 0
    if price.cap_amount is not None:
        assert due <= price.cap_amount
    if price.minimum_amount is not None:  # never above the cap (Rule 1)
        assert due >= price.minimum_amount


@given(st.data(), prices, credits)
def test_equals_the_exact_oracle_rounded_once_then_bounded(
    data: st.DataObject, price: Price, credited: int
) -> None:
    consumed = data.draw(units_for(price))
    exact = exact_amount(price, billable(consumed, credited))
    assert amount_due(price, consumed, credited) == rounded_and_bounded(
        exact, price.cap_amount, price.minimum_amount
    )


@given(st.data(), graduated_prices | package_prices, credits)
def test_graduated_and_package_are_monotonic_in_units(
    data: st.DataObject, price: GraduatedPrice | PackagePrice, credited: int
) -> None:
    fewer, more = sorted([data.draw(units_for(price)), data.draw(units_for(price))])
    assert amount_due(price, fewer, credited) <= amount_due(price, more, credited)


@given(st.data(), volume_prices, credits)
def test_volume_is_the_holding_tier_rate_times_the_units_plus_its_flat(
    data: st.DataObject, price: VolumePrice, credited: int
) -> None:
    consumed = data.draw(units_for(price))
    b = billable(consumed, credited)
    total = subtract_units(consumed, Decimal(credited)) if b else Decimal(0)
    tier = price.tier_of(total)
    assert tier is holding_tier(price.tiers, b)
    if tier is None:  # tier_of(0) is None, flat_fee_at_zero or not
        assert b == 0
        exact = Fraction(price.tiers[0].flat_amount * price.flat_fee_at_zero)
    else:
        exact = Fraction(tier.unit_amount) * b + tier.flat_amount
    expected = rounded_and_bounded(exact, price.cap_amount, price.minimum_amount)
    assert amount_due(price, consumed, credited) == expected


def test_volume_amounts_need_not_be_monotonic() -> None:
    # The reason the property above replaces monotonicity for volume prices.
    price = VolumePrice(
        tiers=[Tier(up_to=1000, unit_amount=1), Tier(up_to=None, unit_amount="0.5")],
        meter_id=METER_ID,
    )
    assert amount_due(price, 1000) > amount_due(price, 1001)


@given(positive_rates, flats, caps, units, credits)
@example(Decimal(100), 0, None, Decimal("1.995"), 0)
@example(Decimal("0.000000000001"), 0, None, Decimal(10**12), 0)
def test_one_tier_graduated_equals_the_metered_unit_price(
    rate: Decimal, flat: int, cap: int | None, consumed: Decimal, credited: int
) -> None:
    metered = MeteredUnitPrice(unit_amount=rate, cap_amount=cap, meter_id=METER_ID)
    one_tier = GraduatedPrice(
        tiers=[Tier(up_to=None, unit_amount=rate)], cap_amount=cap, meter_id=METER_ID
    )
    assert amount_due(one_tier, consumed, credited) == amount_due(
        metered, consumed, credited
    )
    # With a flat amount, the same plus the flat once anything is billable.
    flat_tier = GraduatedPrice(
        tiers=[Tier(up_to=None, unit_amount=rate, flat_amount=flat)],
        meter_id=METER_ID,
    )
    uncapped = MeteredUnitPrice(unit_amount=rate, meter_id=METER_ID)
    reached = billable(consumed, credited) > 0
    assert amount_due(flat_tier, consumed, credited) == (
        amount_due(uncapped, consumed, credited) + flat * reached
    )


@given(tier_lists(min_size=2), caps, units, st.integers(0, 10**6))
@example(
    (
        Tier(up_to=1000, unit_amount=2, flat_amount=7),
        Tier(up_to=None, unit_amount=1),
    ),
    None,
    Decimal(1000),
    0,
)
def test_graduated_equals_volume_while_the_units_fit_the_first_tier(
    tiers: tuple[Tier, ...], cap: int | None, consumed: Decimal, credited: int
) -> None:
    first = tiers[0].up_to
    assert first is not None
    inside = min(consumed, first + credited)  # billable <= the first bound
    grad = GraduatedPrice(tiers=tiers, cap_amount=cap, meter_id=METER_ID)
    vol = VolumePrice(tiers=tiers, cap_amount=cap, meter_id=METER_ID)
    assert amount_due(grad, inside, credited) == amount_due(vol, inside, credited)


def rebuilt_from_text(price: Price) -> Price:
    """The same price, built again from strings (parsed in the current context)."""
    if isinstance(price, MeteredUnitPrice):
        return MeteredUnitPrice(
            unit_amount=str(price.unit_amount),
            cap_amount=price.cap_amount,
            minimum_amount=price.minimum_amount,
            meter_id=METER_ID,
        )
    if isinstance(price, PackagePrice):
        return PackagePrice(
            package_units=str(price.package_units),
            package_amount=str(price.package_amount),
            rounding=price.rounding,
            cap_amount=price.cap_amount,
            minimum_amount=price.minimum_amount,
            meter_id=METER_ID,
        )
    tiers = [
        Tier(
            up_to=None if t.up_to is None else str(t.up_to),
            unit_amount=str(t.unit_amount),
            flat_amount=t.flat_amount,
        )
        for t in price.tiers
    ]
    return type(price)(
        tiers=tiers,
        flat_fee_at_zero=price.flat_fee_at_zero,
        cap_amount=price.cap_amount,
        minimum_amount=price.minimum_amount,
        meter_id=METER_ID,
    )


@given(st.data(), prices, credits, st.integers(1, 10), rounding_modes, st.booleans())
def test_identical_under_any_ambient_context(
    data: st.DataObject,
    price: Price,
    credited: int,
    precision: int,
    rounding: str,
    trap_inexact: bool,
) -> None:
    consumed = data.draw(units_for(price))
    expected = amount_due(price, consumed, credited)
    with decimal.localcontext() as hostile:
        hostile.prec = precision
        hostile.rounding = rounding
        hostile.traps[decimal.Inexact] = trap_inexact
        again = rebuilt_from_text(price)
        due = amount_due(again, str(consumed), credited)
    assert again == price
    assert due == expected


@given(prices, STYLES)
def test_round_trips_and_the_type_is_picked_by_amount_type(
    price: Price, style: Any
) -> None:
    document = to_dict(price, style=style)
    assert from_dict(type(price), document, style=style) == price
    picked = price_from_dict(document, style=style)
    assert type(picked) is type(price)
    assert picked == price
    assert price_from_json(to_json(price, style=style), style=style) == price
    assert from_dict(Price, document, style=style) == price  # type: ignore[arg-type]


@given(
    st.lists(st.none() | bounds | st.integers(-5, 0), min_size=0, max_size=5),
    st.sampled_from([GraduatedPrice, VolumePrice]),
)
@example([None, None], GraduatedPrice)
@example([Decimal(5), Decimal(5), None], VolumePrice)
@example([Decimal(5)], GraduatedPrice)
def test_tier_rules_accept_exactly_the_valid_lists(
    upper: list[Decimal | int | None], kind: type[GraduatedPrice | VolumePrice]
) -> None:
    """Built iff the bounds increase and only the last is None; else the first
    offending tier is named."""
    if any(bound is not None and bound <= 0 for bound in upper):
        with pytest.raises(ValidationError) as caught:
            [Tier(up_to=bound, unit_amount=1) for bound in upper]
        assert caught.value.path == "up_to"
        return
    tiers = [Tier(up_to=bound, unit_amount=1) for bound in upper]
    first_bad = None
    for index, bound in enumerate(upper):
        last = index == len(upper) - 1
        previous = upper[index - 1] if index else None
        if (bound is None) != last or (
            bound is not None and previous is not None and bound <= previous
        ):
            first_bad = index
            break
    if upper and first_bad is None:
        assert kind(tiers=tiers, meter_id=METER_ID).tiers == tuple(tiers)
        return
    with pytest.raises(ValidationError) as caught:
        kind(tiers=tiers, meter_id=METER_ID)
    assert caught.value.path == ("tiers" if not upper else f"tiers[{first_bad}].up_to")


# -- minimum commitments and the flat fee at zero ------------------------------------

tiered_prices: st.SearchStrategy[GraduatedPrice | VolumePrice] = (
    graduated_prices | volume_prices
)


@given(st.data(), prices, credits)
def test_a_minimum_never_lowers_the_amount(
    data: st.DataObject, price: Price, credited: int
) -> None:
    consumed = data.draw(units_for(price))
    without = attrs.evolve(price, minimum_amount=None)
    assert amount_due(price, consumed, credited) >= amount_due(
        without, consumed, credited
    )


@given(st.data(), prices, credits)
def test_the_bounds_apply_to_the_unbounded_amount(
    data: st.DataObject, price: Price, credited: int
) -> None:
    """``min(max(unbounded, minimum), cap)``, an absent bound left out."""
    consumed = data.draw(units_for(price))
    unbounded = amount_due(
        attrs.evolve(price, minimum_amount=None, cap_amount=None), consumed, credited
    )
    expected = unbounded
    if price.minimum_amount is not None:
        expected = max(expected, price.minimum_amount)
    if price.cap_amount is not None:
        expected = min(expected, price.cap_amount)
    assert amount_due(price, consumed, credited) == expected


@given(prices, st.integers(0, 10**6) | st.integers(0, 10**28))
def test_the_minimum_is_due_when_nothing_is_billable(
    price: Price, credited: int
) -> None:
    # No usage, or all of it credited: only the flat fee at zero (if any), then the
    # minimum, then the cap.
    flat = 0
    if isinstance(price, (GraduatedPrice, VolumePrice)) and price.flat_fee_at_zero:
        flat = price.tiers[0].flat_amount
    expected = rounded_and_bounded(
        Fraction(flat), price.cap_amount, price.minimum_amount
    )
    assert amount_due(price, 0, credited) == expected
    assert amount_due(price, credited, credited) == expected


@given(st.data(), tiered_prices, credits)
def test_flat_fee_at_zero_changes_only_the_amount_for_zero_units(
    data: st.DataObject, price: GraduatedPrice | VolumePrice, credited: int
) -> None:
    consumed = data.draw(units_for(price) | st.just(Decimal(0)))
    on = amount_due(attrs.evolve(price, flat_fee_at_zero=True), consumed, credited)
    off = amount_due(attrs.evolve(price, flat_fee_at_zero=False), consumed, credited)
    if billable(consumed, credited) > 0:
        assert on == off
    else:
        cap, minimum = price.cap_amount, price.minimum_amount
        flat = price.tiers[0].flat_amount
        assert off == rounded_and_bounded(Fraction(0), cap, minimum)
        assert on == rounded_and_bounded(Fraction(flat), cap, minimum)


@given(
    caps,
    minimums,
    st.sampled_from([MeteredUnitPrice, GraduatedPrice, VolumePrice, PackagePrice]),
)
@example(600, 700, MeteredUnitPrice)
@example(600, 600, PackagePrice)
@example(0, 1, VolumePrice)
def test_a_minimum_above_the_cap_is_refused_and_nothing_else(
    cap: int | None, minimum: int | None, kind: type[Price]
) -> None:
    required: dict[type[Price], dict[str, Any]] = {
        MeteredUnitPrice: {"unit_amount": 100},
        GraduatedPrice: {"tiers": [Tier(up_to=None, unit_amount=1)]},
        VolumePrice: {"tiers": [Tier(up_to=None, unit_amount=1)]},
        PackagePrice: {"package_units": 10, "package_amount": 5},
    }

    def build() -> Price:
        return kind(
            **required[kind], cap_amount=cap, minimum_amount=minimum, meter_id=METER_ID
        )

    if cap is not None and minimum is not None and minimum > cap:
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.path == "minimum_amount"
        assert f"cap_amount ({cap})" in str(caught.value)
        assert str(caught.value).endswith(f"(got {minimum!r})")
    else:
        made = build()
        assert (made.cap_amount, made.minimum_amount) == (cap, minimum)


#: Anything but None or an int >= 0; a bool is not an int here.
not_minimums = (
    st.integers(max_value=-1)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.decimals(allow_nan=False)
    | st.text(max_size=5)
    | st.lists(st.integers(0, 5), max_size=2)
)


@given(not_minimums, st.sampled_from([GraduatedPrice, VolumePrice]), STYLES)
def test_bad_minimums_always_raise_a_meterkit_error_naming_the_field(
    value: object, kind: type[GraduatedPrice | VolumePrice], style: Any
) -> None:
    tiers = [Tier(up_to=None, unit_amount=1)]
    with pytest.raises(MeterkitError) as caught:
        kind(tiers=tiers, minimum_amount=value, meter_id=METER_ID)
    assert caught.value.path == "minimum_amount"
    assert "minimum_amount: " in str(caught.value)
    document = to_dict(kind(tiers=tiers, meter_id=METER_ID), style=style)
    key = "minimumAmount" if style == "camel" else "minimum_amount"
    with pytest.raises(MeterkitError) as caught:
        price_from_dict({**document, key: value}, style=style)
    assert caught.value.path == f"$.{key}"


@given(
    st.integers() | st.none() | st.text(max_size=5) | st.floats(allow_nan=False),
    st.sampled_from([GraduatedPrice, VolumePrice]),
    STYLES,
)
@example(1, GraduatedPrice, "wire")
@example(0, VolumePrice, "camel")
def test_a_flat_fee_at_zero_that_is_not_a_bool_is_refused(
    value: object, kind: type[GraduatedPrice | VolumePrice], style: Any
) -> None:
    tiers = [Tier(up_to=None, unit_amount=1)]
    with pytest.raises(InvalidTypeError) as caught:
        kind(tiers=tiers, flat_fee_at_zero=value, meter_id=METER_ID)
    assert caught.value.path == "flat_fee_at_zero"
    document = to_dict(kind(tiers=tiers, meter_id=METER_ID), style=style)
    key = "flatFeeAtZero" if style == "camel" else "flat_fee_at_zero"
    with pytest.raises(InvalidTypeError) as caught:
        price_from_dict({**document, key: value}, style=style)
    assert caught.value.path == f"$.{key}"
