"""The Polar SDK (pydantic models, polar-sdk 0.x) as an oracle of the JSON shapes.

`CustomerCustomerMeter`, `CustomerCustomerMeterMeter` and
`CustomerStateSubscriptionMeter` are generated from the API's OpenAPI document, so
they are a second, independent reading of the shapes meterkit writes:

- what `to_dict` writes, the SDK reads, and writes back with the same keys in the
  same order, the same numbers and the same instants;
- what the SDK writes (its own timestamp format: offsets such as ``+05:30``, six
  fraction digits), `from_dict` reads back to an equal value;
- the camel style uses the camelCase forms of the SDK's field names.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given

from meterkit import (
    CustomerMeter,
    MeterRef,
    SubscriptionMeter,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from tests import strategies as mst

models = pytest.importorskip("polar_sdk.models")

UTC = timezone.utc

SDK: dict[type, Any] = {
    MeterRef: models.CustomerCustomerMeterMeter,
    CustomerMeter: models.CustomerCustomerMeter,
    SubscriptionMeter: models.CustomerStateSubscriptionMeter,
}

_TIMESTAMPS = ("timestamp", "optional_timestamp")


def _instant(text: str) -> datetime:
    """Parse with the standard library (spelling 'Z' as '+00:00' for Python 3.10)."""
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] == "Z" else text)
    assert moment.utcoffset() is not None, text
    return moment


def assert_same_content(
    ours: dict[str, Any], theirs: dict[str, Any], cls: type
) -> None:
    """Same keys in the same order, same numbers, same instants, same strings."""
    assert list(theirs) == list(ours)
    for name, kind in mst.FIELDS[cls]:
        mine, other = ours[name], theirs[name]
        if kind in _TIMESTAMPS:
            if mine is None:
                assert other is None, name
            else:
                assert _instant(other) == _instant(mine), name
        elif kind in ("units", "balance"):
            assert type(other) is float, name
            assert float(mine) == other, name
        elif kind in ("credited", "count"):
            assert type(other) is int, name
            assert other == mine, name
        elif kind == "meter":
            assert_same_content(mine, other, MeterRef)
        else:
            assert other == mine, name


# --------------------------------------------------- meterkit -> SDK


@given(value=mst.shaped_values())
def test_the_sdk_reads_what_to_dict_writes(value: Any) -> None:
    ours = to_dict(value)
    model = SDK[type(value)].model_validate(ours)
    theirs = model.model_dump(mode="json", by_alias=True)
    assert_same_content(ours, theirs, type(value))
    # The SDK's own JSON text says the same.
    assert json.loads(model.model_dump_json(by_alias=True)) == theirs
    # And it parsed our timestamps to the same instants.
    assert model.created_at == value.created_at
    assert model.modified_at == value.modified_at


@given(value=mst.shaped_values())
def test_the_sdk_reads_what_to_json_writes(value: Any) -> None:
    model = SDK[type(value)].model_validate_json(to_json(value))
    assert_same_content(to_dict(value), model.model_dump(mode="json"), type(value))


@pytest.mark.parametrize("cls", list(SDK), ids=lambda cls: cls.__name__)
def test_wire_keys_are_the_sdk_field_names_in_order(cls: type) -> None:
    names = list(SDK[cls].model_fields)
    assert mst.documented_keys(cls, "wire") == names


@given(value=mst.shaped_values())
def test_camel_keys_are_the_sdk_field_names_in_camel_case(value: Any) -> None:
    document = to_dict(value, style="camel")
    fields = SDK[type(value)].model_fields
    assert list(document) == [mst.camel(name) for name in fields]
    if isinstance(value, CustomerMeter):
        nested = SDK[MeterRef].model_fields
        assert list(document["meter"]) == [mst.camel(name) for name in nested]


@pytest.mark.parametrize(
    ("snake", "camel"),
    [
        ("created_at", "createdAt"),
        ("modified_at", "modifiedAt"),
        ("consumed_units", "consumedUnits"),
        ("credited_units", "creditedUnits"),
        ("meter_id", "meterId"),
        ("customer_id", "customerId"),
        ("id", "id"),
        ("balance", "balance"),
    ],
)
def test_the_camel_helper_matches_the_documented_names(snake: str, camel: str) -> None:
    # The seed docs of CustomerStateSubscriptionMeter spell these names.
    assert mst.camel(snake) == camel


# --------------------------------------------------- SDK -> meterkit


def sdk_model(value: Any, zone: timezone) -> Any:
    """The SDK's model of ``value``, from Python values, timestamps in ``zone``."""
    kwargs: dict[str, Any] = {}
    for name, kind in mst.FIELDS[type(value)]:
        if kind in _TIMESTAMPS:
            moment = getattr(value, name)
            kwargs[name] = None if moment is None else moment.astimezone(zone)
        elif kind == "units":
            kwargs[name] = float(getattr(value, name))
        elif kind == "balance":
            exact = Fraction(value.credited_units) - Fraction(value.consumed_units)
            kwargs[name] = float(max(Fraction(0), exact))
        elif kind == "meter":
            kwargs[name] = sdk_model(value.meter, zone)
        else:
            kwargs[name] = getattr(value, name)
    return SDK[type(value)](**kwargs)


def camel_keys(document: Any) -> Any:
    if isinstance(document, dict):
        return {mst.camel(k): camel_keys(v) for k, v in document.items()}
    return document


# SDK offsets are whole minutes: pydantic drops the seconds of an offset.
_SDK_ZONES = mst.fixed_offsets(whole_minutes=True)


@given(value=mst.shaped_values(), zone=_SDK_ZONES)
@example(
    value=MeterRef(
        id="d498a884-e2cd-4d3e-8002-f536468a8b22",
        name="Tokens",
        created_at=datetime(2025, 1, 1, 0, 0, 0, 100000, UTC),
        modified_at=datetime(2025, 6, 1, tzinfo=UTC),
    ),
    zone=timezone(timedelta(hours=-3, minutes=-30)),
)
def test_from_dict_reads_what_the_sdk_writes(value: Any, zone: timezone) -> None:
    model = sdk_model(value, zone)
    assert from_dict(type(value), model.model_dump(mode="json")) == value
    assert from_json(type(value), model.model_dump_json()) == value
    camel = camel_keys(model.model_dump(mode="json"))
    assert from_dict(type(value), camel, style="camel") == value


@given(value=mst.shaped_values(), zone=_SDK_ZONES)
def test_the_sdk_round_trip_is_the_identity(value: Any, zone: timezone) -> None:
    # meterkit -> SDK -> meterkit, through each side's own JSON text.
    model = SDK[type(value)].model_validate_json(to_json(value))
    assert from_json(type(value), model.model_dump_json()) == value


# ----------------------------------------------------------------- regressions
# A float balance the SDK writes for an integral balance above 2**53 is only the
# nearest double; it was refused as a contradiction until fixed.


def _big_balance_meter(credited: int, consumed: int) -> CustomerMeter:
    ref = MeterRef(
        id="d498a884-e2cd-4d3e-8002-f536468a8b22",
        name="Tokens",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return CustomerMeter(
        id="6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        modified_at=None,
        customer_id="992fae2a-2a17-4b7a-8d9e-e287cf90131b",
        meter_id=ref.id,
        consumed_units=consumed,
        credited_units=credited,
        meter=ref,
    )


@pytest.mark.parametrize(
    ("credited", "consumed"),
    [
        pytest.param(123456789012345678, 0, id="credited-18-digits"),
        pytest.param(2**53 + 1, 0, id="two-to-the-53-plus-one"),
        pytest.param(10**28 + 1, 10**15, id="near-the-limit"),
    ],
)
def test_a_float_balance_from_the_sdk_is_accepted(credited: int, consumed: int) -> None:
    value = _big_balance_meter(credited, consumed)
    model = sdk_model(value, UTC)
    assert from_dict(CustomerMeter, model.model_dump(mode="json")) == value
