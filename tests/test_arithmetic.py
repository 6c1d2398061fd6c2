"""consume() and credit(): pure, exact, clamped."""

from __future__ import annotations

import decimal
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from meterkit import (
    InvalidTypeError,
    MeterkitError,
    ValidationError,
    consume,
    credit,
)

from .samples import T0, customer_meter, subscription_meter


@pytest.mark.parametrize(
    ("units", "consumed", "balance"),
    [
        pytest.param(0, Decimal(25), Decimal(75), id="zero"),
        pytest.param("12.5", Decimal("37.5"), Decimal("62.5"), id="fraction"),
        pytest.param(75, Decimal(100), Decimal(0), id="to-zero"),
        pytest.param(200, Decimal(225), Decimal(0), id="past-zero-clamped"),
        pytest.param(0.1, Decimal("25.1"), Decimal("74.9"), id="float-by-repr"),
    ],
)
def test_consume(units: object, consumed: Decimal, balance: Decimal) -> None:
    before = customer_meter()
    after = consume(before, units)
    assert after.consumed_units == consumed
    assert after.balance == balance
    assert before.consumed_units == Decimal(25)  # the argument is untouched
    assert after.modified_at is None


@pytest.mark.parametrize(
    ("units", "credited", "balance"),
    [
        pytest.param(50, 150, Decimal(125), id="grant"),
        pytest.param(-50, 50, Decimal(25), id="partial-revocation"),
        pytest.param(-100, 0, Decimal(0), id="full-revocation"),
        pytest.param(-150, 0, Decimal(0), id="over-revocation-clamped"),
        pytest.param(0, 100, Decimal(75), id="zero"),
    ],
)
def test_credit(units: int, credited: int, balance: Decimal) -> None:
    after = credit(customer_meter(), units)
    assert after.credited_units == credited
    assert after.balance == balance


def test_spec_running_sum_of_credits() -> None:
    # SPEC section 3: credits 100, -150, 50 give 50.
    meter = customer_meter(credited_units=0, consumed_units=0)
    for units in (100, -150, 50):
        meter = credit(meter, units)
    assert meter.credited_units == 50


def test_at_sets_modified_at_in_utc() -> None:
    at = datetime(2025, 2, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert consume(customer_meter(), 1, at=at).modified_at == datetime(
        2025, 2, 1, tzinfo=timezone.utc
    )
    assert credit(customer_meter(modified_at=T0), 1).modified_at == T0


@pytest.mark.parametrize(
    ("call", "error", "path"),
    [
        pytest.param(lambda m: consume(m, -1), ValidationError, "units", id="neg"),
        pytest.param(lambda m: consume(m, True), InvalidTypeError, "units", id="bool"),
        pytest.param(lambda m: consume(m, "x"), ValidationError, "units", id="text"),
        pytest.param(
            lambda m: consume(m, "1E-28"), ValidationError, "units", id="inexact-sum"
        ),
        pytest.param(lambda m: credit(m, 1.5), InvalidTypeError, "units", id="float"),
        pytest.param(lambda m: credit(m, True), InvalidTypeError, "units", id="c-bool"),
        pytest.param(lambda m: credit(m, "5"), InvalidTypeError, "units", id="c-str"),
        pytest.param(
            lambda m: credit(m, 10**29), ValidationError, "credited_units", id="huge"
        ),
        pytest.param(
            lambda m: consume(m, 1, at=datetime(2025, 1, 1)),
            ValidationError,
            "at",
            id="naive-at",
        ),
    ],
)
def test_bad_input(call: object, error: type[MeterkitError], path: str) -> None:
    big = customer_meter(consumed_units=Decimal("1" * 29))
    with pytest.raises(error, match=rf"^{path}: "):
        call(big)  # type: ignore[operator]


@pytest.mark.parametrize("fn", [consume, credit])
def test_only_customer_meters(fn: object) -> None:
    with pytest.raises(InvalidTypeError, match=r"^meter: must be a CustomerMeter"):
        fn(subscription_meter(), 1)  # type: ignore[operator]


def test_exact_under_hostile_ambient_context() -> None:
    meter = customer_meter(consumed_units=Decimal("123456.789"))
    expected = consume(meter, "0.000000001")
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_DOWN
        ctx.traps[decimal.Inexact] = True
        got = consume(meter, "0.000000001")
    assert got == expected
    assert got.consumed_units == Decimal("123456.789000001")
