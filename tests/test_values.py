"""Construction rules of MeterRef, CustomerMeter and SubscriptionMeter."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meterkit import InvalidTypeError, MeterkitError, ValidationError
from meterkit._units import decimal_from_number

from .samples import METER_ID, T0, customer_meter, meter_ref, subscription_meter

#: Strings that `Decimal()` reads but that are not JSON numbers: every field read
#: from text refuses them.
NOT_JSON_NUMBERS = [
    ("underscores", "1_000"),
    ("arabic-indic-digit", "\u0663"),
    ("fullwidth-digits", "\uff11\uff12"),
    ("devanagari-fraction", "1.\u0966"),
    ("padded", " 7 "),
    ("trailing-newline", "7\n"),
    ("plus-sign", "+1"),
    ("nan", "nan"),
    ("NaN", "NaN"),
    ("inf", "inf"),
    ("minus-infinity", "-Infinity"),
    ("trailing-point", "1."),
    ("leading-point", ".5"),
    ("leading-zero", "01"),
    ("bare-exponent", "1e"),
    ("exponent-point", "1e1.5"),
    ("empty", ""),
    ("minus-only", "-"),
]

#: The JSON number grammar (RFC 8259, section 6), spelled out independently.
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)

UNITS_ACCEPTED = [
    pytest.param(0, Decimal(0), id="int-zero"),
    pytest.param(25, Decimal(25), id="int"),
    pytest.param("12.5", Decimal("12.5"), id="str"),
    pytest.param("1E-12", Decimal("1E-12"), id="str-exponent"),
    pytest.param("1.5e+3", Decimal(1500), id="str-lower-exponent"),
    pytest.param("0.000", Decimal(0), id="str-zero-places"),
    pytest.param("-0", Decimal(0), id="str-negative-zero"),
    pytest.param(Decimal("1.10"), Decimal("1.1"), id="decimal"),
    pytest.param(0.1, Decimal("0.1"), id="float-shortest-repr"),
    pytest.param(1e20, Decimal("1E+20"), id="float-large"),
    pytest.param(10**28, Decimal(10**28), id="int-at-limit"),
]


@pytest.mark.parametrize(("given", "expected"), UNITS_ACCEPTED)
def test_consumed_units_accepted(given: object, expected: Decimal) -> None:
    meter = customer_meter(consumed_units=given)
    assert meter.consumed_units == expected
    assert type(meter.consumed_units) is Decimal


UNITS_REFUSED = [
    pytest.param(True, InvalidTypeError, "bool", id="bool"),
    pytest.param(-1, ValidationError, ">= 0", id="negative"),
    pytest.param("-0.5", ValidationError, ">= 0", id="negative-str"),
    pytest.param(math.nan, ValidationError, "finite", id="nan"),
    pytest.param(math.inf, ValidationError, "finite", id="inf"),
    pytest.param(Decimal("NaN"), ValidationError, "finite", id="decimal-nan"),
    pytest.param(Decimal("sNaN"), ValidationError, "finite", id="decimal-snan"),
    pytest.param("Infinity", ValidationError, "decimal number", id="str-inf"),
    pytest.param("abc", ValidationError, "decimal number", id="str-garbage"),
    # A string must be a JSON number, in ASCII digits (SPEC: one rule for every
    # number read from text).
    *(
        pytest.param(text, ValidationError, "JSON number syntax", id=name)
        for name, text in NOT_JSON_NUMBERS
    ),
    pytest.param(None, InvalidTypeError, "int, float, str or Decimal", id="none"),
    pytest.param([1], InvalidTypeError, "int, float, str or Decimal", id="list"),
    pytest.param(10**29, ValidationError, "below 1E+29", id="too-large"),
    pytest.param("1." + "1" * 60, ValidationError, "50 significant", id="too-precise"),
    pytest.param("1E-40", ValidationError, "1E-28", id="too-small"),
]


@pytest.mark.parametrize(("given", "error", "words"), UNITS_REFUSED)
def test_consumed_units_refused(
    given: object, error: type[MeterkitError], words: str
) -> None:
    with pytest.raises(error) as caught:
        customer_meter(consumed_units=given)
    message = str(caught.value)
    assert message.startswith("consumed_units: ")
    assert words in message
    assert repr(given) in message


@pytest.mark.parametrize(
    "text", [pytest.param(text, id=name) for name, text in NOT_JSON_NUMBERS]
)
def test_decimal_text_must_be_a_json_number(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decimal_from_number(text, "$.units")
    assert caught.value.path == "$.units"
    assert str(caught.value).startswith("$.units: must be a decimal number")
    assert f"(got {text!r})" in str(caught.value)


@given(st.text(alphabet="0123456789.eE+-_ \u0663\uff11x", max_size=12))
@example("1E-12")
@example("0.5")
@example("-0.0e-0")
def test_decimal_text_is_read_exactly_when_it_is_a_json_number(text: str) -> None:
    # Whatever Decimal() would make of it, text is a number only in JSON syntax.
    try:
        number = decimal_from_number(text, "units")
    except ValidationError:
        assert JSON_NUMBER.fullmatch(text) is None
    else:
        assert JSON_NUMBER.fullmatch(text) is not None
        assert number == Decimal(text)


@pytest.mark.parametrize(
    ("given", "error"),
    [
        pytest.param(True, InvalidTypeError, id="bool"),
        pytest.param(1.0, InvalidTypeError, id="float"),
        pytest.param("1", InvalidTypeError, id="str"),
        pytest.param(-1, ValidationError, id="negative"),
        pytest.param(10**29, ValidationError, id="too-large"),
    ],
)
def test_credited_units_refused(given: object, error: type[MeterkitError]) -> None:
    with pytest.raises(error, match=r"^credited_units: .*\(got "):
        customer_meter(credited_units=given)


@pytest.mark.parametrize(
    ("consumed", "credited", "balance"),
    [
        pytest.param(25, 100, Decimal(75), id="credit-left"),
        pytest.param(100, 100, Decimal(0), id="exactly-used"),
        pytest.param(150, 100, Decimal(0), id="overused-clamped"),
        pytest.param("0.5", 1, Decimal("0.5"), id="fraction"),
        pytest.param(0, 0, Decimal(0), id="empty"),
    ],
)
def test_balance_is_clamped_difference(
    consumed: object, credited: int, balance: Decimal
) -> None:
    meter = customer_meter(consumed_units=consumed, credited_units=credited)
    assert meter.balance == balance
    assert meter.balance >= 0


def test_balance_is_not_a_constructor_keyword() -> None:
    with pytest.raises(TypeError):
        customer_meter(balance=Decimal(5))


def test_balance_is_not_compared() -> None:
    # Equal fields give equal values; balance follows from them.
    assert customer_meter() == customer_meter()
    assert customer_meter() != customer_meter(consumed_units=26)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(METER_ID.upper(), id="upper-case"),
        pytest.param(uuid.UUID(METER_ID), id="uuid-object"),
    ],
)
def test_ids_are_canonical_lowercase(given: object) -> None:
    assert meter_ref(id=given).id == METER_ID


@pytest.mark.parametrize(
    ("given", "error"),
    [
        pytest.param("not-a-uuid", ValidationError, id="garbage"),
        pytest.param(METER_ID.replace("-", ""), ValidationError, id="no-hyphens"),
        pytest.param("{" + METER_ID + "}", ValidationError, id="braces"),
        pytest.param(METER_ID[:-1] + "g", ValidationError, id="non-hex"),
        pytest.param("", ValidationError, id="empty"),
        pytest.param(12, InvalidTypeError, id="int"),
        pytest.param(None, InvalidTypeError, id="none"),
    ],
)
def test_ids_refused(given: object, error: type[MeterkitError]) -> None:
    with pytest.raises(error, match=r"^id: must be a UUID"):
        meter_ref(id=given)


PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(T0, T0, id="utc"),
        pytest.param(
            datetime(2025, 1, 1, 1, tzinfo=PARIS), T0, id="zoneinfo-normalised"
        ),
        pytest.param(
            datetime(2024, 12, 31, 19, tzinfo=timezone(timedelta(hours=-5))),
            T0,
            id="fixed-offset",
        ),
        pytest.param(
            datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC")), T0, id="zoneinfo-utc"
        ),
    ],
)
def test_timestamps_normalised_to_utc(given: datetime, expected: datetime) -> None:
    meter = meter_ref(created_at=given, modified_at=given)
    assert meter.created_at == expected
    assert meter.created_at.tzinfo is timezone.utc
    assert meter.modified_at is not None
    assert meter.modified_at.tzinfo is timezone.utc


@pytest.mark.parametrize(
    ("field", "given", "error"),
    [
        pytest.param("created_at", datetime(2025, 1, 1), ValidationError, id="naive"),
        pytest.param("created_at", "2025-01-01T00:00:00Z", InvalidTypeError, id="str"),
        pytest.param("created_at", None, InvalidTypeError, id="none"),
        pytest.param(
            "modified_at", datetime(2025, 1, 1), ValidationError, id="naive-mod"
        ),
    ],
)
def test_timestamps_refused(
    field: str, given: object, error: type[MeterkitError]
) -> None:
    with pytest.raises(error, match=rf"^{field}: must be (timezone-aware|a timezone)"):
        meter_ref(**{field: given})


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": 5}, "name", id="int-name"),
    ],
)
def test_meter_ref_refused(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{path}: "):
        meter_ref(**changes)


def test_customer_meter_meter_id_must_match_meter() -> None:
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ValidationError, match=r"^meter_id: must equal meter\.id"):
        customer_meter(meter_id=other)


def test_customer_meter_meter_must_be_meter_ref() -> None:
    with pytest.raises(InvalidTypeError, match=r"^meter: must be a MeterRef"):
        customer_meter(meter={"id": METER_ID})


def test_values_are_frozen() -> None:
    meter = customer_meter()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        meter.consumed_units = Decimal(1)  # type: ignore[misc]


def test_constructors_take_keywords_only() -> None:
    with pytest.raises(TypeError):
        meter_ref(METER_ID)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "given", "error"),
    [
        pytest.param("amount", -1, ValidationError, id="negative-amount"),
        pytest.param("amount", True, InvalidTypeError, id="bool-amount"),
        pytest.param("amount", 1.5, InvalidTypeError, id="float-amount"),
        pytest.param("consumed_units", -2, ValidationError, id="negative-units"),
    ],
)
def test_subscription_meter_refused(
    field: str, given: object, error: type[MeterkitError]
) -> None:
    with pytest.raises(error, match=rf"^{field}: "):
        subscription_meter(**{field: given})


def test_errors_inherit_builtins() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(InvalidTypeError, TypeError)
    assert issubclass(InvalidTypeError, ValidationError)
