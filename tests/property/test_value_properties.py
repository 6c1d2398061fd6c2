"""Properties of the value types and of `consume` / `credit`.

The oracle is plain arithmetic on `int` and `fractions.Fraction` (the immoney way):
whatever meterkit computes in `Decimal` must equal it exactly, or meterkit must
raise a `MeterkitError` exactly where the oracle says the result leaves meterkit's
documented range (see ``tests/strategies.py``, Rule 3).
"""

from __future__ import annotations

import decimal
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meterkit import (
    CustomerMeter,
    MeterkitError,
    MeterRef,
    SubscriptionMeter,
    ValidationError,
    consume,
    credit,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from tests import strategies as mst

UTC = timezone.utc


def assert_valid_customer_meter(meter: CustomerMeter) -> None:
    """The invariants of every `CustomerMeter`, checked against the oracle."""
    assert type(meter.consumed_units) is Decimal
    assert type(meter.credited_units) is int
    assert type(meter.balance) is Decimal
    assert meter.consumed_units >= 0
    assert meter.credited_units >= 0
    assert meter.balance >= 0
    exact = Fraction(meter.credited_units) - Fraction(meter.consumed_units)
    assert Fraction(meter.balance) == max(Fraction(0), exact)
    assert meter.meter_id == meter.meter.id
    # Rebuilding runs every converter and validator again: the value is valid.
    rebuilt = attrs.evolve(meter)
    assert rebuilt == meter
    assert rebuilt.balance == meter.balance


def _example_meter(consumed: object = 25, credited: int = 100) -> CustomerMeter:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    ref = MeterRef(
        id="d498a884-e2cd-4d3e-8002-f536468a8b22", name="Tokens", created_at=t
    )
    return CustomerMeter(
        id="6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
        created_at=t,
        modified_at=None,
        customer_id="992fae2a-2a17-4b7a-8d9e-e287cf90131b",
        meter_id=ref.id,
        consumed_units=consumed,
        credited_units=credited,
        meter=ref,
    )


# --------------------------------------------------------------- construction


@given(kwargs=mst.customer_meter_kwargs(raw_units=True))
@example(
    kwargs={
        "id": "6B0D1D7E-1F0A-4C4E-9A53-2F6F2F1B8F10",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "modified_at": None,
        "customer_id": uuid.UUID("992fae2a-2a17-4b7a-8d9e-e287cf90131b"),
        "meter_id": "D498A884-E2CD-4D3E-8002-F536468A8B22",
        "consumed_units": 0.1,
        "credited_units": 0,
        "meter": MeterRef(
            id="d498a884-e2cd-4d3e-8002-f536468a8b22",
            name="Tokens",
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
        ),
        "_consumed": Decimal("0.1"),
    }
)
def test_constructor_normalises_every_accepted_form(kwargs: dict[str, Any]) -> None:
    consumed = kwargs["_consumed"]
    kwargs = {k: v for k, v in kwargs.items() if k != "_consumed"}
    meter = CustomerMeter(**kwargs)
    assert meter.id == mst.canonical_id(kwargs["id"])
    assert meter.customer_id == mst.canonical_id(kwargs["customer_id"])
    assert meter.meter_id == mst.canonical_id(kwargs["meter_id"])
    assert meter.id == meter.id.lower()
    assert meter.created_at.tzinfo is UTC
    assert meter.created_at == mst.to_utc(kwargs["created_at"])
    if kwargs["modified_at"] is None:
        assert meter.modified_at is None
    else:
        assert meter.modified_at is not None
        assert meter.modified_at.tzinfo is UTC
        assert meter.modified_at == mst.to_utc(kwargs["modified_at"])
    assert meter.consumed_units == consumed
    assert meter.credited_units == kwargs["credited_units"]
    assert_valid_customer_meter(meter)


@given(meter=mst.customer_meters(units=mst.unit_decimals(max_digits=50)))
def test_balance_is_never_negative_and_matches_the_oracle(meter: CustomerMeter) -> None:
    assert_valid_customer_meter(meter)


@given(
    consumed=mst.unit_decimals(max_digits=50),
    credited=mst.credited_units(),
    meter=mst.meter_refs(),
)
@example(consumed=Decimal("0." + "9" * 50), credited=1, meter=None)
@example(consumed=Decimal("1E-28"), credited=mst.MAX_CREDITED_UNITS, meter=None)
def test_a_customer_meter_exists_exactly_when_its_balance_fits(
    consumed: Decimal, credited: int, meter: MeterRef | None
) -> None:
    meter = meter or MeterRef(
        id=uuid.UUID(int=1), name="m", created_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    kwargs = {
        "id": uuid.UUID(int=2),
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "modified_at": None,
        "customer_id": uuid.UUID(int=3),
        "meter_id": meter.id,
        "consumed_units": consumed,
        "credited_units": credited,
        "meter": meter,
    }
    if mst.fits_units(Fraction(credited) - Fraction(consumed)):
        assert_valid_customer_meter(CustomerMeter(**kwargs))
    else:
        with pytest.raises(ValidationError) as info:
            CustomerMeter(**kwargs)
        assert info.value.path == "consumed_units"


def _replace_one(draw: st.DrawFn, kwargs: dict[str, Any]) -> tuple[str, object]:
    bad: dict[str, st.SearchStrategy[object]] = {
        "id": mst.invalid_ids(),
        "customer_id": mst.invalid_ids(),
        "meter_id": mst.invalid_ids(),
        "created_at": st.one_of(mst.naive_datetimes(), st.text(), st.none()),
        "modified_at": st.one_of(mst.naive_datetimes(), st.integers()),
        "consumed_units": mst.invalid_unit_inputs(),
        "credited_units": st.one_of(
            st.booleans(),
            st.integers(max_value=-1),
            st.integers(min_value=mst.MAX_CREDITED_UNITS + 1, max_value=10**40),
            st.floats(),
            st.sampled_from(["1", Decimal(1), None]),
        ),
        "meter": st.one_of(st.none(), st.builds(dict), st.text()),
    }
    name = draw(st.sampled_from(sorted(bad)))
    return name, draw(bad[name])


@st.composite
def _invalid_customer_meter_kwargs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kwargs = draw(mst.customer_meter_kwargs())
    name, value = _replace_one(draw, kwargs)
    kwargs[name] = value
    return name, kwargs


@given(case=_invalid_customer_meter_kwargs())
def test_an_invalid_field_is_a_meterkit_error_naming_it(
    case: tuple[str, dict[str, Any]],
) -> None:
    name, kwargs = case
    with pytest.raises(MeterkitError) as info:
        CustomerMeter(**kwargs)
    assert info.value.path == name
    assert isinstance(info.value, (ValueError, TypeError))
    assert str(info.value).startswith(f"{name}: ")


@given(kwargs=mst.customer_meter_kwargs(), other=st.uuids())
def test_meter_id_must_name_the_meter(kwargs: dict[str, Any], other: uuid.UUID) -> None:
    if str(other) == kwargs["meter"].id:
        return
    kwargs["meter_id"] = other
    with pytest.raises(ValidationError) as info:
        CustomerMeter(**kwargs)
    assert info.value.path == "meter_id"


@given(kwargs=mst.subscription_meter_kwargs(units=mst.unit_decimals(max_digits=50)))
def test_subscription_meter_keeps_its_fields_exactly(kwargs: dict[str, Any]) -> None:
    meter = SubscriptionMeter(**kwargs)
    assert meter.consumed_units == kwargs["consumed_units"]
    assert type(meter.consumed_units) is Decimal
    assert meter.credited_units == kwargs["credited_units"]
    assert meter.amount == kwargs["amount"]
    assert meter.meter_id == mst.canonical_id(kwargs["meter_id"])
    assert meter.created_at == mst.to_utc(kwargs["created_at"])
    assert meter.created_at.tzinfo is UTC
    assert attrs.evolve(meter) == meter


# ------------------------------------------------------------ consume / credit


@given(meter=mst.customer_meters(), units=mst.unit_inputs())
@example(meter=_example_meter(), units=(Decimal("-0"), Decimal(0)))
@example(meter=_example_meter(), units=(-0.0, Decimal(0)))
@example(meter=_example_meter(consumed="0.1"), units=(0.2, Decimal("0.2")))
def test_consume_adds_exactly(
    meter: CustomerMeter, units: tuple[object, Decimal]
) -> None:
    raw, exact = units
    total = Fraction(meter.consumed_units) + Fraction(exact)
    if not (mst.fits_units(total) and mst.fits_units(meter.credited_units - total)):
        with pytest.raises(MeterkitError):
            consume(meter, raw)
        return
    result = consume(meter, raw)
    assert Fraction(result.consumed_units) == total
    assert result.credited_units == meter.credited_units
    assert result.modified_at == meter.modified_at
    assert (result.id, result.customer_id, result.meter) == (
        meter.id,
        meter.customer_id,
        meter.meter,
    )
    assert_valid_customer_meter(result)


@given(meter=mst.customer_meters(), units=mst.invalid_unit_inputs())
@example(meter=_example_meter(), units=-1)
@example(meter=_example_meter(), units=Decimal("-0.000001"))
@example(meter=_example_meter(), units=True)
def test_consume_refuses_invalid_units(meter: CustomerMeter, units: object) -> None:
    with pytest.raises(ValidationError) as info:
        consume(meter, units)
    assert info.value.path == "units"


@given(meter=mst.customer_meters(), at=mst.aware_datetimes(), units=mst.unit_inputs())
def test_consume_and_credit_stamp_modified_at(
    meter: CustomerMeter, at: datetime, units: tuple[object, Decimal]
) -> None:
    credited = credit(meter, 0, at=at)
    assert credited.modified_at == mst.to_utc(at)
    assert credited.modified_at is not None
    assert credited.modified_at.tzinfo is UTC
    consumed = consume(meter, 0, at=at)
    assert consumed.modified_at == mst.to_utc(at)


@given(meter=mst.customer_meters(), at=mst.naive_datetimes())
def test_a_naive_at_is_refused(meter: CustomerMeter, at: datetime) -> None:
    with pytest.raises(ValidationError) as info:
        consume(meter, 1, at=at)
    assert info.value.path == "at"
    with pytest.raises(ValidationError):
        credit(meter, 1, at=at)


@given(meter=mst.customer_meters(), units=st.integers(-(10**30), 10**30))
def test_credit_clamps_at_zero(meter: CustomerMeter, units: int) -> None:
    expected = max(0, meter.credited_units + units)
    if expected > mst.MAX_CREDITED_UNITS or not mst.fits_units(
        expected - Fraction(meter.consumed_units)
    ):
        with pytest.raises(MeterkitError):
            credit(meter, units)
        return
    result = credit(meter, units)
    assert result.credited_units == expected
    assert result.consumed_units == meter.consumed_units
    assert_valid_customer_meter(result)


@given(
    meter=mst.customer_meters(),
    units=st.one_of(
        st.booleans(),
        st.floats(),
        st.decimals(allow_nan=False),
        st.text(max_size=5),
        st.none(),
    ),
)
@example(meter=_example_meter(), units=1.0)
@example(meter=_example_meter(), units="5")
@example(meter=_example_meter(), units=True)
def test_credit_takes_only_ints(meter: CustomerMeter, units: object) -> None:
    with pytest.raises(MeterkitError) as info:
        credit(meter, units)  # type: ignore[arg-type]
    assert info.value.path == "units"
    assert isinstance(info.value, TypeError)


@given(meter=mst.customer_meters(), units=st.integers(0, 10**12))
def test_credit_then_revoke(meter: CustomerMeter, units: int) -> None:
    # Revoking what was just granted restores the credits: no clamping happens.
    if meter.credited_units + units > mst.MAX_CREDITED_UNITS:
        return
    assert credit(credit(meter, units), -units).credited_units == meter.credited_units
    # Revoking first clamps at zero, so granting back may not restore them.
    oracle = max(0, meter.credited_units - units) + units
    if oracle > mst.MAX_CREDITED_UNITS:
        return
    assert credit(credit(meter, -units), units).credited_units == oracle
    assert oracle >= meter.credited_units
    assert (oracle == meter.credited_units) == (units <= meter.credited_units)


# ------------------------------------------------------- random op sequences

_CONSUME = st.tuples(
    st.just("consume"), mst.unit_inputs(), st.one_of(st.none(), mst.aware_datetimes())
)
_CREDIT = st.tuples(
    st.just("credit"),
    st.one_of(st.integers(-1000, 1000), st.integers(-(10**30), 10**30)),
    st.one_of(st.none(), mst.aware_datetimes()),
)
_OPS = st.lists(st.one_of(_CONSUME, _CREDIT), max_size=25)


@given(meter=mst.customer_meters(), ops=_OPS)
@example(
    meter=_example_meter(consumed=0, credited=0),
    ops=[
        ("credit", 100, None),
        ("credit", -150, None),
        ("credit", 50, None),
        ("consume", ("0.1", Decimal("0.1")), None),
        ("consume", (0.2, Decimal("0.2")), None),
    ],
)
def test_operation_sequences_match_the_int_fraction_oracle(
    meter: CustomerMeter, ops: list[tuple[str, Any, datetime | None]]
) -> None:
    consumed = Fraction(meter.consumed_units)
    credited = meter.credited_units
    modified_at = meter.modified_at
    for name, units, at in ops:
        if name == "consume":
            raw, exact = units
            new_consumed, new_credited = consumed + Fraction(exact), credited
        else:
            raw = units
            new_consumed, new_credited = consumed, max(0, credited + units)
        possible = (
            mst.fits_units(new_consumed)
            and new_credited <= mst.MAX_CREDITED_UNITS
            and mst.fits_units(new_credited - new_consumed)
        )
        operation = consume if name == "consume" else credit
        if not possible:
            with pytest.raises(MeterkitError):
                operation(meter, raw, at=at)
            continue
        meter = operation(meter, raw, at=at)
        consumed, credited = new_consumed, new_credited
        if at is not None:
            modified_at = mst.to_utc(at)
        assert Fraction(meter.consumed_units) == consumed
        assert meter.credited_units == credited
        assert meter.modified_at == modified_at
        assert Fraction(meter.balance) == max(Fraction(0), credited - consumed)
    assert_valid_customer_meter(meter)


# ------------------------------------------------ hostile ambient decimal context

_HOSTILE_CONTEXTS = {
    "prec3-down": {"prec": 3, "rounding": decimal.ROUND_DOWN},
    "prec3-down-trap-inexact": {
        "prec": 3,
        "rounding": decimal.ROUND_DOWN,
        "traps": [
            decimal.Inexact,
            decimal.Rounded,
            decimal.InvalidOperation,
            decimal.FloatOperation,
        ],
    },
    # Nothing trapped: a malformed string would make NaN in this context.
    "prec3-down-no-traps": {"prec": 3, "rounding": decimal.ROUND_DOWN, "traps": []},
    # Tiny exponent limits too; ``capitals`` stays 1 because it changes how `repr`
    # spells a Decimal ('1e+1'), which the transcript compares, not meterkit's output.
    "prec3-down-tiny-exponents": {
        "prec": 3,
        "rounding": decimal.ROUND_DOWN,
        "Emax": 5,
        "Emin": -5,
    },
}


def _transcript(
    kwargs: dict[str, Any], ops: list[tuple[str, Any, datetime | None]]
) -> list[object]:
    """Everything observable of building a meter, running ``ops`` and serializing."""
    log: list[object] = []

    def record(action: Any) -> Any:
        try:
            result = action()
        except MeterkitError as exc:
            log.append(("error", type(exc).__name__, str(exc)))
            return None
        log.append(("ok", repr(result)))
        return result

    meter = record(lambda: CustomerMeter(**kwargs))
    if meter is None:
        return log
    for name, units, at in ops:
        raw = units[0] if name == "consume" else units
        operation = consume if name == "consume" else credit
        meter = record(lambda m=meter, o=operation, r=raw, a=at: o(m, r, at=a)) or meter
        log.append(repr(meter.balance))
    for style in mst.STYLES:
        document = record(lambda s=style: to_dict(meter, style=s))
        record(lambda s=style: to_json(meter, style=s))
        record(lambda d=document, s=style: from_dict(CustomerMeter, d, style=s))
        record(
            lambda s=style: from_json(CustomerMeter, to_json(meter, style=s), style=s)
        )
    return log


@pytest.mark.parametrize("context", sorted(_HOSTILE_CONTEXTS))
@given(kwargs=mst.customer_meter_kwargs(raw_units=True), ops=_OPS)
@example(
    kwargs={
        "id": uuid.UUID(int=1),
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "modified_at": None,
        "customer_id": uuid.UUID(int=2),
        "meter_id": uuid.UUID(int=3),
        "consumed_units": "1.23456789",
        "credited_units": 10**20,
        "meter": MeterRef(
            id=uuid.UUID(int=3), name="m", created_at=datetime(2025, 1, 1, tzinfo=UTC)
        ),
        "_consumed": Decimal("1.23456789"),
    },
    ops=[
        ("consume", ("0.00001", Decimal("0.00001")), None),
        ("consume", (1e-20, Decimal("1e-20")), None),
        ("credit", -(10**20), None),
        ("consume", ("abc", None), None),
        ("consume", (-1, None), None),
    ],
)
def test_results_do_not_depend_on_the_ambient_decimal_context(
    context: str,
    kwargs: dict[str, Any],
    ops: list[tuple[str, Any, datetime | None]],
) -> None:
    kwargs = {k: v for k, v in kwargs.items() if k != "_consumed"}
    with decimal.localcontext(decimal.Context()):
        expected = _transcript(kwargs, ops)
    with decimal.localcontext(decimal.Context(**_HOSTILE_CONTEXTS[context])):
        observed = _transcript(kwargs, ops)
    assert observed == expected


@pytest.mark.parametrize("text", ["abc", "1,5", "", "0x10"])
def test_unit_parsing_errors_do_not_depend_on_ambient_traps(text: str) -> None:
    def message() -> str:
        with pytest.raises(MeterkitError) as info:
            consume(_example_meter(), text)
        return str(info.value)

    with decimal.localcontext(decimal.Context()):
        expected = message()
    lenient = decimal.Context(traps=[])
    with decimal.localcontext(lenient):
        assert message() == expected


# ------------------------------------------------------------------ known bugs
# Each case below is a bug found by the properties above, pinned as an example. They
# were bugs in src/meterkit, fixed; they stay as regression tests.

_HUGE = 10**5000  # more digits than `int.__repr__` will write (sys.int_info limit)
_TOO_EARLY = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
_TOO_LATE = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))


def _build_with(**changes: object) -> object:
    kwargs: dict[str, Any] = {
        "id": uuid.UUID(int=1),
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "modified_at": None,
        "customer_id": uuid.UUID(int=2),
        "meter_id": "d498a884-e2cd-4d3e-8002-f536468a8b22",
        "consumed_units": 25,
        "credited_units": 100,
        "meter": _example_meter().meter,
    }
    kwargs.update(changes)
    return CustomerMeter(**kwargs)


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda: _build_with(credited_units=_HUGE), id="credited_units"),
        pytest.param(lambda: _build_with(consumed_units=_HUGE), id="consumed_units"),
        pytest.param(lambda: consume(_example_meter(), _HUGE), id="consume"),
        pytest.param(lambda: credit(_example_meter(), _HUGE), id="credit"),
    ],
)
def test_huge_ints_are_refused_with_a_meterkit_error(action: Any) -> None:
    with pytest.raises(MeterkitError):
        action()


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda: _build_with(created_at=_TOO_EARLY), id="created_at"),
        pytest.param(lambda: _build_with(modified_at=_TOO_LATE), id="modified_at"),
        pytest.param(lambda: consume(_example_meter(), 1, at=_TOO_LATE), id="at"),
    ],
)
def test_timestamps_beyond_utc_range_are_a_meterkit_error(action: Any) -> None:
    with pytest.raises(MeterkitError):
        action()
