"""Minimum commitments (every price) and the flat fee at zero (tiered prices).

Every amount below was worked out by hand (the working is in the comments):
``amount = min(max(rounded, minimum_amount), cap_amount)``, the minimum due even
when nothing is billable, and ``flat_fee_at_zero`` billing the first tier's
``flat_amount`` for 0 billable units and changing nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest

from meterkit import (
    GraduatedPrice,
    InvalidTypeError,
    Meter,
    MeteredUnitPrice,
    MeterkitError,
    PackagePrice,
    Price,
    Tier,
    ValidationError,
    VolumePrice,
    amount_due,
    build_subscription_meter,
    from_dict,
    price_from_dict,
    price_from_json,
    to_dict,
    to_json,
)

from .samples import METER_ID

UTC = timezone.utc

#: Up to 10 units at 100 cents; beyond at 50 cents, plus 200 once reached.
TIERS = (
    Tier(up_to=10, unit_amount=100),
    Tier(up_to=None, unit_amount=50, flat_amount=200),
)
#: The same, with a flat amount of 300 on the first tier.
FLAT_TIERS = (
    Tier(up_to=10, unit_amount=100, flat_amount=300),
    Tier(up_to=None, unit_amount=50, flat_amount=200),
)


def metered(**changes: Any) -> MeteredUnitPrice:
    fields: dict[str, Any] = {"unit_amount": 100, "meter_id": METER_ID}
    fields.update(changes)
    return MeteredUnitPrice(**fields)


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
        "package_units": 100,
        "package_amount": 250,
        "meter_id": METER_ID,
    }
    fields.update(changes)
    return PackagePrice(**fields)


KINDS = [
    pytest.param(metered, id="metered-unit"),
    pytest.param(graduated, id="graduated"),
    pytest.param(volume, id="volume"),
    pytest.param(package, id="package"),
]


# -- SPEC.md section 4 ----------------------------------------------------------------

# (unit_amount 100, minimum 500) with the cap and units given -> cents.
SPEC_MINIMUM_CASES = [
    pytest.param(None, 3, 500, id="minimum-not-met"),  # 300 < 500
    pytest.param(None, 7, 700, id="minimum-met"),
    pytest.param(None, 0, 500, id="zero-usage-pays-the-minimum"),
    pytest.param(600, 7, 600, id="capped-above-the-minimum"),  # 700 > 600
]


@pytest.mark.parametrize(("cap", "units", "cents"), SPEC_MINIMUM_CASES)
def test_spec_minimum_reference_cases(cap: int | None, units: int, cents: int) -> None:
    price = metered(minimum_amount=500, cap_amount=cap)
    due = amount_due(price, units)
    assert due == cents
    assert type(due) is int


# -- minimums on every kind ----------------------------------------------------------

# (price, consumed, credited, cents)
MINIMUM_CASES = [
    # Metered unit: 100 cents a unit, a minimum of 500.
    pytest.param(metered(minimum_amount=500), 0, 0, 500, id="metered-zero"),
    pytest.param(metered(minimum_amount=500), 4, 0, 500, id="metered-not-met"),
    pytest.param(metered(minimum_amount=500), 5, 0, 500, id="metered-met-exactly"),
    pytest.param(metered(minimum_amount=500), "5.01", 0, 501, id="metered-met"),
    # 499.5 rounds to 500 first; 499.4 to 499, which the minimum raises.
    pytest.param(metered(minimum_amount=500), "4.995", 0, 500, id="metered-rounded"),
    pytest.param(metered(minimum_amount=500), "4.994", 0, 500, id="metered-raised"),
    # 10 consumed, 8 credited: 200 billable cents, below the minimum.
    pytest.param(metered(minimum_amount=500), 10, 8, 500, id="metered-credited"),
    # Credits covering all usage do not waive the commitment.
    pytest.param(metered(minimum_amount=500), 5, 10, 500, id="metered-all-credited"),
    pytest.param(metered(minimum_amount=0), 0, 0, 0, id="metered-minimum-zero"),
    pytest.param(
        metered(minimum_amount=500, cap_amount=500), 100, 0, 500, id="min-equals-cap"
    ),
    pytest.param(
        metered(minimum_amount=500, cap_amount=500), 0, 0, 500, id="min-equals-cap-0"
    ),
    # Graduated (TIERS), a minimum of 1000.
    pytest.param(graduated(minimum_amount=1000), 0, 0, 1000, id="graduated-zero"),
    pytest.param(graduated(minimum_amount=1000), 5, 0, 1000, id="graduated-not-met"),
    pytest.param(
        graduated(minimum_amount=1000), 10, 0, 1000, id="graduated-met-exactly"
    ),
    # 10 * 100 + 1 * 50 + 200 = 1250
    pytest.param(graduated(minimum_amount=1000), 11, 0, 1250, id="graduated-met"),
    pytest.param(
        graduated(minimum_amount=1000, cap_amount=1200), 11, 0, 1200, id="graduated-cap"
    ),
    pytest.param(
        graduated(minimum_amount=1000, cap_amount=1200), 5, 0, 1000, id="graduated-min"
    ),
    # 20 consumed, 15 credited: 5 billable units, 500 cents.
    pytest.param(graduated(minimum_amount=1000), 20, 15, 1000, id="graduated-credited"),
    # Volume (TIERS), a minimum of 1000.
    pytest.param(volume(minimum_amount=1000), 0, 0, 1000, id="volume-zero"),
    pytest.param(volume(minimum_amount=1000), 5, 0, 1000, id="volume-not-met"),
    pytest.param(volume(minimum_amount=1000), 10, 0, 1000, id="volume-met-exactly"),
    # 11 * 50 + 200 = 750: the cheaper tier falls below the minimum.
    pytest.param(volume(minimum_amount=1000), 11, 0, 1000, id="volume-drop-raised"),
    # 30 * 50 + 200 = 1700
    pytest.param(volume(minimum_amount=1000), 30, 0, 1700, id="volume-met"),
    pytest.param(
        volume(minimum_amount=1000, cap_amount=1200), 30, 0, 1200, id="volume-cap"
    ),
    # Packages of 100 units at 250 cents, a minimum of 600.
    pytest.param(package(minimum_amount=600), 0, 0, 600, id="package-zero"),
    pytest.param(package(minimum_amount=600), 1, 0, 600, id="package-not-met"),
    pytest.param(package(minimum_amount=600), 200, 0, 600, id="package-two"),  # 500
    pytest.param(package(minimum_amount=600), 201, 0, 750, id="package-met"),  # 3
    pytest.param(
        package(minimum_amount=600, rounding="down"), 299, 0, 600, id="package-down"
    ),
    pytest.param(
        package(minimum_amount=600, cap_amount=700), 201, 0, 700, id="package-cap"
    ),
    pytest.param(package(minimum_amount=600), 300, 300, 600, id="package-all-credited"),
]


@pytest.mark.parametrize(("price", "consumed", "credited", "cents"), MINIMUM_CASES)
def test_minimum_amounts(
    price: Price, consumed: Any, credited: int, cents: int
) -> None:
    due = amount_due(price, consumed, credited)
    assert due == cents
    assert type(due) is int


@pytest.mark.parametrize("make", KINDS)
def test_no_minimum_is_the_default_and_changes_nothing(make: Any) -> None:
    price = make()
    assert price.minimum_amount is None
    for units in (0, 1, 5, 11, 201):
        assert amount_due(price, units) == amount_due(make(minimum_amount=0), units)
    assert amount_due(price, 0) == 0
    assert amount_due(make(minimum_amount=1), 0) == 1


# -- the flat fee at zero ------------------------------------------------------------

# (kind, consumed, credited, cents without the option, cents with it), FLAT_TIERS.
FLAT_FEE_CASES = [
    pytest.param(GraduatedPrice, 0, 0, 0, 300, id="graduated-zero"),
    pytest.param(GraduatedPrice, 5, 5, 0, 300, id="graduated-all-credited"),
    pytest.param(GraduatedPrice, 5, 10, 0, 300, id="graduated-over-credited"),
    # 0.001 * 100 + 300 = 300.1
    pytest.param(GraduatedPrice, "0.001", 0, 300, 300, id="graduated-tiny"),
    pytest.param(GraduatedPrice, 1, 0, 400, 400, id="graduated-one"),  # 100 + 300
    # 1000 + 300 + 50 + 200
    pytest.param(GraduatedPrice, 11, 0, 1550, 1550, id="graduated-second-tier"),
    pytest.param(VolumePrice, 0, 0, 0, 300, id="volume-zero"),
    pytest.param(VolumePrice, 5, 10, 0, 300, id="volume-all-credited"),
    pytest.param(VolumePrice, 1, 0, 400, 400, id="volume-one"),  # 100 + 300
    pytest.param(VolumePrice, 10, 0, 1300, 1300, id="volume-up-to"),  # 1000 + 300
    pytest.param(VolumePrice, 11, 0, 750, 750, id="volume-second-tier"),  # 550 + 200
]


@pytest.mark.parametrize(("kind", "consumed", "credited", "off", "on"), FLAT_FEE_CASES)
def test_flat_fee_at_zero(
    kind: type[GraduatedPrice | VolumePrice],
    consumed: Any,
    credited: int,
    off: int,
    on: int,
) -> None:
    without = kind(tiers=FLAT_TIERS, meter_id=METER_ID)
    with_fee = kind(tiers=FLAT_TIERS, flat_fee_at_zero=True, meter_id=METER_ID)
    assert without.flat_fee_at_zero is False
    assert with_fee.flat_fee_at_zero is True
    assert amount_due(without, consumed, credited) == off
    assert amount_due(with_fee, consumed, credited) == on


# (price, units, cents): the flat fee at zero, then the minimum, then the cap.
FLAT_FEE_BOUNDED_CASES = [
    pytest.param(
        graduated(tiers=FLAT_TIERS, flat_fee_at_zero=True, minimum_amount=500),
        0,
        500,  # max(300, 500)
        id="graduated-minimum-above-the-fee",
    ),
    pytest.param(
        volume(tiers=FLAT_TIERS, flat_fee_at_zero=True, minimum_amount=200),
        0,
        300,  # max(300, 200)
        id="volume-fee-above-the-minimum",
    ),
    pytest.param(
        volume(tiers=FLAT_TIERS, flat_fee_at_zero=True, cap_amount=250),
        0,
        250,  # min(300, 250)
        id="volume-fee-capped",
    ),
    pytest.param(
        graduated(flat_fee_at_zero=True),  # TIERS: no flat amount on the first tier
        0,
        0,
        id="graduated-first-tier-without-flat",
    ),
    pytest.param(
        volume(flat_fee_at_zero=True),
        0,
        0,
        id="volume-first-tier-without-flat",
    ),
]


@pytest.mark.parametrize(("price", "units", "cents"), FLAT_FEE_BOUNDED_CASES)
def test_flat_fee_at_zero_with_bounds(price: Price, units: int, cents: int) -> None:
    assert amount_due(price, units) == cents


def test_tier_of_zero_stays_none_with_the_flat_fee() -> None:
    price = volume(tiers=FLAT_TIERS, flat_fee_at_zero=True)
    assert price.tier_of(Decimal(0)) is None
    assert price.tier_of(Decimal("0.001")) is FLAT_TIERS[0]
    assert amount_due(price, 0) == 300


@pytest.mark.parametrize("make", [metered, package], ids=["metered-unit", "package"])
def test_only_tiered_prices_take_flat_fee_at_zero(make: Any) -> None:
    with pytest.raises(TypeError, match="flat_fee_at_zero"):
        make(flat_fee_at_zero=True)


# -- subscription meters -------------------------------------------------------------


#: The sum of ``total_tokens`` over the events named "llm".
METER = from_dict(
    Meter,
    {
        "created_at": "2025-01-01T00:00:00Z",
        "modified_at": None,
        "id": METER_ID,
        "name": "Tokens",
        "filter": {
            "conjunction": "and",
            "clauses": [{"property": "name", "operator": "eq", "value": "llm"}],
        },
        "aggregation": {"func": "sum", "property": "total_tokens"},
    },
)


def test_a_subscription_meter_at_zero_usage_carries_the_minimum() -> None:
    period: dict[str, Any] = {
        "start": datetime(2025, 3, 1, tzinfo=UTC),
        "end": datetime(2025, 4, 1, tzinfo=UTC),
        "id": "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
        "external_customer_id": "acme",
    }
    other_customer = {
        "name": "llm",
        "timestamp": "2025-03-05T00:00:00Z",
        "external_customer_id": "globex",
        "metadata": {"total_tokens": 1000},
    }
    cases: list[tuple[Price, int]] = [
        (metered(minimum_amount=500), 500),
        (graduated(tiers=FLAT_TIERS, flat_fee_at_zero=True), 300),
        (package(minimum_amount=600, cap_amount=700), 600),
        (metered(), 0),
    ]
    for price, cents in cases:
        made = build_subscription_meter(METER, price, [other_customer], **period)
        assert (made.consumed_units, made.credited_units) == (Decimal(0), 0)
        assert made.amount == cents


# -- refusals -------------------------------------------------------------------------

# (field, given, error class, words in the message)
BAD_VALUES = [
    pytest.param("minimum_amount", -1, ValidationError, ">= 0", id="minimum-negative"),
    pytest.param("minimum_amount", True, InvalidTypeError, "int", id="minimum-bool"),
    pytest.param("minimum_amount", False, InvalidTypeError, "int", id="minimum-false"),
    pytest.param("minimum_amount", 5.0, InvalidTypeError, "int", id="minimum-float"),
    pytest.param("minimum_amount", "500", InvalidTypeError, "int", id="minimum-str"),
    pytest.param(
        "minimum_amount", Decimal(500), InvalidTypeError, "int", id="minimum-decimal"
    ),
]


@pytest.mark.parametrize(("field", "given", "error", "words"), BAD_VALUES)
@pytest.mark.parametrize("make", KINDS)
def test_bad_minimum_refused(
    make: Any, field: str, given: object, error: type[MeterkitError], words: str
) -> None:
    with pytest.raises(error) as caught:
        make(**{field: given})
    assert type(caught.value) is error
    assert caught.value.path == field
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert words in message
    assert message.endswith(f"(got {given!r})")


@pytest.mark.parametrize("make", KINDS)
@pytest.mark.parametrize(
    ("cap", "minimum"),
    [
        pytest.param(600, 700, id="above"),
        pytest.param(0, 1, id="above-a-zero-cap"),
    ],
)
def test_minimum_above_the_cap_refused(make: Any, cap: int, minimum: int) -> None:
    with pytest.raises(ValidationError) as caught:
        make(minimum_amount=minimum, cap_amount=cap)
    assert type(caught.value) is ValidationError
    assert caught.value.path == "minimum_amount"
    message = str(caught.value)
    assert message.startswith("minimum_amount: must not be above cap_amount")
    assert f"cap_amount ({cap})" in message
    assert message.endswith(f"(got {minimum})")


@pytest.mark.parametrize("make", KINDS)
def test_minimum_at_or_below_the_cap_accepted(make: Any) -> None:
    assert make(minimum_amount=600, cap_amount=600).minimum_amount == 600
    assert make(minimum_amount=0, cap_amount=0).cap_amount == 0
    assert make(minimum_amount=10**40).minimum_amount == 10**40


def test_evolve_checks_the_minimum_against_the_new_cap() -> None:
    price = metered(minimum_amount=500)
    with pytest.raises(ValidationError) as caught:
        attrs.evolve(price, cap_amount=400)
    assert caught.value.path == "minimum_amount"
    assert "cap_amount (400)" in str(caught.value)


@pytest.mark.parametrize(
    "given", [1, 0, "true", None, "False"], ids=["one", "zero", "text", "none", "False"]
)
@pytest.mark.parametrize("make", [graduated, volume], ids=["graduated", "volume"])
def test_flat_fee_at_zero_must_be_a_bool(make: Any, given: object) -> None:
    with pytest.raises(InvalidTypeError) as caught:
        make(flat_fee_at_zero=given)
    assert type(caught.value) is InvalidTypeError
    assert caught.value.path == "flat_fee_at_zero"
    message = str(caught.value)
    assert message.startswith("flat_fee_at_zero: must be a bool")
    assert message.endswith(f"(got {given!r})")


# -- JSON -----------------------------------------------------------------------------


def test_wire_and_camel_shapes() -> None:
    price = graduated(
        tiers=FLAT_TIERS, flat_fee_at_zero=True, cap_amount=9000, minimum_amount=500
    )
    assert to_dict(price) == {
        "amount_type": "graduated",
        "tiers": [
            {"up_to": 10, "unit_amount": "100", "flat_amount": 300},
            {"up_to": None, "unit_amount": "50", "flat_amount": 200},
        ],
        "flat_fee_at_zero": True,
        "cap_amount": 9000,
        "minimum_amount": 500,
        "meter_id": METER_ID,
    }
    assert list(to_dict(price, style="camel")) == [
        "amountType",
        "tiers",
        "flatFeeAtZero",
        "capAmount",
        "minimumAmount",
        "meterId",
    ]
    assert to_dict(metered(minimum_amount=500), style="camel") == {
        "amountType": "metered_unit",
        "unitAmount": "100",
        "capAmount": None,
        "minimumAmount": 500,
        "meterId": METER_ID,
    }
    assert to_json(package(minimum_amount=600)) == (
        '{"amount_type":"package","package_units":100,"package_amount":"250",'
        '"rounding":"up","cap_amount":null,"minimum_amount":600,'
        f'"meter_id":"{METER_ID}"}}'
    )


ROUND_TRIPS = [
    pytest.param(metered(minimum_amount=500, cap_amount=600), id="metered-unit"),
    pytest.param(graduated(flat_fee_at_zero=True, minimum_amount=0), id="graduated"),
    pytest.param(volume(tiers=FLAT_TIERS, flat_fee_at_zero=True), id="volume"),
    pytest.param(package(minimum_amount=10**30), id="package"),
]


@pytest.mark.parametrize("style", ["wire", "camel"])
@pytest.mark.parametrize("price", ROUND_TRIPS)
def test_round_trip(price: Price, style: Any) -> None:
    document = to_dict(price, style=style)
    assert json.loads(json.dumps(document)) == document
    assert from_dict(type(price), document, style=style) == price
    assert price_from_dict(document, style=style) == price
    assert price_from_json(to_json(price, style=style), style=style) == price


# Documents written before the fields existed: (style, document, price read).
OLDER_DOCUMENTS = [
    pytest.param(
        "wire",
        {"amount_type": "metered_unit", "unit_amount": "100", "meter_id": METER_ID},
        metered(),
        id="metered-wire",
    ),
    pytest.param(
        "camel",
        {"unitAmount": "100", "capAmount": 5000, "meterId": METER_ID},
        metered(cap_amount=5000),
        id="metered-camel-without-amount-type",
    ),
    pytest.param(
        "wire",
        {
            "amount_type": "volume",
            "tiers": [
                {"up_to": 10, "unit_amount": "100"},
                {"up_to": None, "unit_amount": "50", "flat_amount": 200},
            ],
            "cap_amount": None,
            "meter_id": METER_ID,
        },
        volume(),
        id="volume-wire",
    ),
    pytest.param(
        "camel",
        {
            "amountType": "graduated",
            "tiers": [
                {"upTo": 10, "unitAmount": "100"},
                {"upTo": None, "unitAmount": "50", "flatAmount": 200},
            ],
            "meterId": METER_ID,
        },
        graduated(),
        id="graduated-camel",
    ),
    pytest.param(
        "wire",
        {
            "amount_type": "package",
            "package_units": 100,
            "package_amount": "250",
            "meter_id": METER_ID,
        },
        package(),
        id="package-wire",
    ),
]


@pytest.mark.parametrize(("style", "document", "expected"), OLDER_DOCUMENTS)
def test_older_documents_take_the_defaults(
    style: Any, document: dict[str, Any], expected: Price
) -> None:
    read = price_from_dict(document, style=style)
    assert read == expected
    assert read.minimum_amount is None
    if isinstance(read, (GraduatedPrice, VolumePrice)):
        assert read.flat_fee_at_zero is False
    assert price_from_json(json.dumps(document), style=style) == expected


def document_of(price: Price, style: str, **changes: Any) -> dict[str, Any]:
    document = to_dict(price, style=style)  # type: ignore[arg-type]
    document.update(changes)
    return document


# (style, document, error class, path, value shown, words)
READ_REFUSED = [
    pytest.param(
        "wire",
        document_of(metered(), "wire", minimum_amount=-1),
        ValidationError,
        "$.minimum_amount",
        "-1",
        ">= 0",
        id="minimum-negative",
    ),
    pytest.param(
        "camel",
        document_of(graduated(), "camel", minimumAmount=-5),
        ValidationError,
        "$.minimumAmount",
        "-5",
        ">= 0",
        id="minimum-negative-camel",
    ),
    pytest.param(
        "wire",
        document_of(volume(), "wire", minimum_amount=5.5),
        InvalidTypeError,
        "$.minimum_amount",
        "5.5",
        "JSON integer",
        id="minimum-float",
    ),
    pytest.param(
        "camel",
        document_of(package(), "camel", minimumAmount="500"),
        InvalidTypeError,
        "$.minimumAmount",
        "'500'",
        "JSON integer",
        id="minimum-string-camel",
    ),
    pytest.param(
        "wire",
        document_of(package(), "wire", minimum_amount=True),
        InvalidTypeError,
        "$.minimum_amount",
        "True",
        "JSON integer",
        id="minimum-bool",
    ),
    pytest.param(
        "wire",
        document_of(metered(), "wire", minimum_amount=700, cap_amount=600),
        ValidationError,
        "$.minimum_amount",
        "700",
        "must not be above cap_amount (600)",
        id="minimum-above-cap",
    ),
    pytest.param(
        "camel",
        document_of(volume(), "camel", minimumAmount=700, capAmount=600),
        ValidationError,
        "$.minimumAmount",
        "700",
        "must not be above cap_amount (600)",
        id="minimum-above-cap-camel",
    ),
    pytest.param(
        "wire",
        document_of(graduated(), "wire", flat_fee_at_zero=1),
        InvalidTypeError,
        "$.flat_fee_at_zero",
        "1",
        "JSON boolean",
        id="flat-fee-int",
    ),
    pytest.param(
        "camel",
        document_of(volume(), "camel", flatFeeAtZero="true"),
        InvalidTypeError,
        "$.flatFeeAtZero",
        "'true'",
        "JSON boolean",
        id="flat-fee-string-camel",
    ),
    pytest.param(
        "wire",
        document_of(volume(), "wire", flat_fee_at_zero=None),
        InvalidTypeError,
        "$.flat_fee_at_zero",
        "None",
        "JSON boolean",
        id="flat-fee-null",
    ),
]


@pytest.mark.parametrize(
    ("style", "document", "error", "path", "shown", "words"), READ_REFUSED
)
def test_refused_on_reading(
    style: Any,
    document: dict[str, Any],
    error: type[MeterkitError],
    path: str,
    shown: str,
    words: str,
) -> None:
    readers: list[Callable[[], object]] = [
        lambda: price_from_dict(document, style=style),
        lambda: from_dict(Price, document, style=style),  # type: ignore[arg-type]
        lambda: price_from_json(json.dumps(document), style=style),
    ]
    for read in readers:
        with pytest.raises(error) as caught:
            read()
        assert type(caught.value) is error
        assert caught.value.path == path
        message = str(caught.value)
        assert message.startswith(f"{path}: ")
        assert words in message
        assert message.endswith(f"(got {shown})")
