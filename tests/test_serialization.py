"""to_dict / from_dict in both styles: the documented shapes and every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from meterkit import (
    CustomerMeter,
    InvalidTypeError,
    MeterkitError,
    MeterRef,
    MissingFieldError,
    SubscriptionMeter,
    ValidationError,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from meterkit._fastread import FALLBACK
from meterkit._paths import camel_case, json_key
from meterkit.serialization import _fast_reader, make_converter

from .samples import (
    customer_meter,
    customer_meter_wire,
    meter_ref,
    subscription_meter,
    subscription_meter_wire,
)

CUSTOMER_METER_KEYS = [
    "id",
    "created_at",
    "modified_at",
    "customer_id",
    "meter_id",
    "consumed_units",
    "credited_units",
    "balance",
    "meter",
]
METER_REF_KEYS = ["created_at", "modified_at", "id", "name"]
SUBSCRIPTION_METER_KEYS = [
    "created_at",
    "modified_at",
    "id",
    "consumed_units",
    "credited_units",
    "amount",
    "meter_id",
]


def test_customer_meter_wire_shape() -> None:
    assert to_dict(customer_meter()) == customer_meter_wire()
    assert list(to_dict(customer_meter())) == CUSTOMER_METER_KEYS
    assert list(to_dict(customer_meter())["meter"]) == METER_REF_KEYS


def test_subscription_meter_wire_shape() -> None:
    assert to_dict(subscription_meter()) == subscription_meter_wire()
    assert list(to_dict(subscription_meter())) == SUBSCRIPTION_METER_KEYS


def test_camel_shape() -> None:
    camel = to_dict(customer_meter(), style="camel")
    assert list(camel) == [
        "id",
        "createdAt",
        "modifiedAt",
        "customerId",
        "meterId",
        "consumedUnits",
        "creditedUnits",
        "balance",
        "meter",
    ]
    assert list(camel["meter"]) == ["createdAt", "modifiedAt", "id", "name"]
    assert list(to_dict(subscription_meter(), style="camel")) == [
        "createdAt",
        "modifiedAt",
        "id",
        "consumedUnits",
        "creditedUnits",
        "amount",
        "meterId",
    ]


@pytest.mark.parametrize(
    ("units", "json_value"),
    [
        pytest.param(Decimal(25), 25, id="integral-int"),
        pytest.param(Decimal("25.0"), 25, id="integral-with-zero-fraction"),
        pytest.param(Decimal("0.1"), 0.1, id="fraction-float"),
        pytest.param(Decimal("1E+20"), 10**20, id="large-integral-exact"),
    ],
)
def test_units_as_json_numbers(units: Decimal, json_value: object) -> None:
    value = to_dict(customer_meter(consumed_units=units, credited_units=0))
    assert value["consumed_units"] == json_value
    assert type(value["consumed_units"]) is type(json_value)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        pytest.param(
            datetime(2025, 1, 1, tzinfo=timezone.utc),
            "2025-01-01T00:00:00Z",
            id="whole",
        ),
        pytest.param(
            datetime(2025, 1, 1, 0, 0, 0, 120000, tzinfo=timezone.utc),
            "2025-01-01T00:00:00.120000Z",
            id="micro",
        ),
    ],
)
def test_timestamps_rfc3339_z(moment: datetime, text: str) -> None:
    assert (
        to_dict(meter_ref(created_at=moment, modified_at=moment))["created_at"] == text
    )
    assert to_dict(meter_ref(modified_at=moment))["modified_at"] == text


def test_modified_at_always_present() -> None:
    assert to_dict(meter_ref())["modified_at"] is None
    assert to_dict(meter_ref(), style="camel")["modifiedAt"] is None


def test_to_json_compact_and_ordered() -> None:
    text = to_json(subscription_meter())
    assert text.startswith('{"created_at":"2025-01-01T00:00:00Z","modified_at":null,')
    assert json.loads(text) == subscription_meter_wire()


@pytest.mark.parametrize("style", ["wire", "camel"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(meter_ref(), id="meter-ref"),
        pytest.param(customer_meter(consumed_units=Decimal("12.75")), id="customer"),
        pytest.param(subscription_meter(amount=1234), id="subscription"),
    ],
)
def test_round_trip(value: object, style: Any) -> None:
    assert from_dict(type(value), to_dict(value, style=style), style=style) == value
    assert from_json(type(value), to_json(value, style=style), style=style) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2025-01-01T01:00:00+01:00", "2025-01-01T00:00:00Z", id="offset"),
        pytest.param("2025-01-01t00:00:00z", "2025-01-01T00:00:00Z", id="lower-case"),
        pytest.param("2025-01-01 00:00:00Z", "2025-01-01T00:00:00Z", id="space"),
        pytest.param(
            "2025-01-01T00:00:00.123456789Z",
            "2025-01-01T00:00:00.123456Z",
            id="nanoseconds-cut",
        ),
        pytest.param(
            "2025-01-01T00:00:00.5Z", "2025-01-01T00:00:00.500000Z", id="deci"
        ),
        pytest.param(
            "2024-12-31T19:00:00-05:00", "2025-01-01T00:00:00Z", id="negative"
        ),
    ],
)
def test_timestamps_read(text: str, expected: str) -> None:
    data = to_dict(meter_ref())
    data["created_at"] = text
    assert to_dict(from_dict(MeterRef, data))["created_at"] == expected


def test_unknown_keys_ignored() -> None:
    data = customer_meter_wire()
    data["new_field"] = {"anything": [1, 2]}
    data["meter"]["unit"] = "token"
    assert from_dict(CustomerMeter, data) == customer_meter()


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_missing_balance_is_refused(style: Any) -> None:
    # The documented shape requires `balance`, though it is derived: a document
    # without it is not one the API wrote.
    data = to_dict(customer_meter(), style=style)
    key = json_key(CustomerMeter, "balance", style)
    del data[key]
    reader = _fast_reader(CustomerMeter, style)
    assert reader is not None
    assert reader(data) is FALLBACK  # the fast reader leaves it to the cattrs path
    with pytest.raises(MissingFieldError) as caught:
        from_dict(CustomerMeter, data, style=style)
    assert caught.value.path == f"$.{key}"
    assert str(caught.value) == f"$.{key}: required key is missing"
    # The cattrs hooks refuse it on their own too, lean and detailed alike.
    for detailed in (False, True):
        with pytest.raises(MissingFieldError) as raw:
            make_converter(style, detailed=detailed).structure(data, CustomerMeter)
        assert raw.value.path == key


@pytest.mark.parametrize("style", ["wire", "camel"])
def test_a_present_balance_must_still_agree(style: Any) -> None:
    data = to_dict(customer_meter(), style=style)
    data["balance"] = 76
    with pytest.raises(ValidationError, match=r"^\$\.balance: contradicts"):
        from_dict(CustomerMeter, data, style=style)
    data["balance"] = 75.0  # the nearest double of the balance agrees
    assert from_dict(CustomerMeter, data, style=style) == customer_meter()


def _set(path: list[Any], value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: list[str]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD_CUSTOMER_METERS = [
    pytest.param(_delete(["id"]), MissingFieldError, "$.id", None, id="missing-id"),
    pytest.param(
        _delete(["balance"]), MissingFieldError, "$.balance", None, id="missing-balance"
    ),
    pytest.param(
        _delete(["meter", "created_at"]),
        MissingFieldError,
        "$.meter.created_at",
        None,
        id="missing-nested",
    ),
    pytest.param(
        _delete(["modified_at"]),
        MissingFieldError,
        "$.modified_at",
        None,
        id="missing-nullable",
    ),
    pytest.param(
        _set(["meter", "created_at"], "2025-01-01T00:00:00"),
        ValidationError,
        "$.meter.created_at",
        "2025-01-01T00:00:00",
        id="naive-timestamp",
    ),
    pytest.param(
        _set(["created_at"], "01/01/2025"),
        ValidationError,
        "$.created_at",
        "01/01/2025",
        id="malformed-timestamp",
    ),
    pytest.param(
        _set(["created_at"], "2025-02-30T00:00:00Z"),
        ValidationError,
        "$.created_at",
        "2025-02-30T00:00:00Z",
        id="impossible-date",
    ),
    pytest.param(
        _set(["created_at"], "2025-01-01T00:00:00+24:00"),
        ValidationError,
        "$.created_at",
        "2025-01-01T00:00:00+24:00",
        id="impossible-offset",
    ),
    pytest.param(
        _set(["created_at"], 1735689600),
        InvalidTypeError,
        "$.created_at",
        1735689600,
        id="epoch-number",
    ),
    pytest.param(
        _set(["balance"], 74),
        ValidationError,
        "$.balance",
        74,
        id="balance-contradicts",
    ),
    pytest.param(
        _set(["balance"], "75"), ValidationError, "$.balance", "75", id="balance-str"
    ),
    pytest.param(_set(["id"], "nope"), ValidationError, "$.id", "nope", id="bad-uuid"),
    pytest.param(
        _set(["meter", "id"], "d498a884-e2cd-4d3e-8002-f536468a8b23"),
        ValidationError,
        "$.meter_id",
        "d498a884-e2cd-4d3e-8002-f536468a8b22",
        id="meter-id-differs",
    ),
    pytest.param(
        _set(["credited_units"], True),
        InvalidTypeError,
        "$.credited_units",
        True,
        id="bool-credited",
    ),
    pytest.param(
        _set(["credited_units"], 1.5),
        InvalidTypeError,
        "$.credited_units",
        1.5,
        id="float-credited",
    ),
    pytest.param(
        _set(["consumed_units"], "25"),
        InvalidTypeError,
        "$.consumed_units",
        "25",
        id="str-units",
    ),
    pytest.param(
        _set(["consumed_units"], -1),
        ValidationError,
        "$.consumed_units",
        -1,
        id="negative-units",
    ),
    pytest.param(
        _set(["consumed_units"], float("nan")),
        ValidationError,
        "$.consumed_units",
        None,
        id="nan-units",
    ),
    pytest.param(
        _set(["meter"], [1]), InvalidTypeError, "$.meter", [1], id="meter-not-object"
    ),
    pytest.param(
        _set(["meter", "name"], None), InvalidTypeError, "$.meter.name", None, id="name"
    ),
    pytest.param(
        _set(["customer_id"], 7), InvalidTypeError, "$.customer_id", 7, id="n"
    ),
]


@pytest.mark.parametrize(("change", "error", "path", "value"), BAD_CUSTOMER_METERS)
def test_bad_customer_meter(
    change: Callable[[dict[str, Any]], None],
    error: type[MeterkitError],
    path: str,
    value: object,
) -> None:
    data = customer_meter_wire()
    change(data)
    with pytest.raises(error) as caught:
        from_dict(CustomerMeter, data)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    if value is not None:
        assert f"(got {value!r})" in str(caught.value)


def test_bad_camel_paths_use_camel_names() -> None:
    data = to_dict(customer_meter(), style="camel")
    data["meter"]["createdAt"] = "2025-01-01T00:00:00"
    with pytest.raises(ValidationError, match=r"^\$\.meter\.createdAt: "):
        from_dict(CustomerMeter, data, style="camel")
    data = to_dict(customer_meter(), style="camel")
    data["consumedUnits"] = -3
    with pytest.raises(ValidationError, match=r"^\$\.consumedUnits: must be >= 0"):
        from_dict(CustomerMeter, data, style="camel")


def test_wire_document_is_not_camel() -> None:
    with pytest.raises(MissingFieldError, match=r"^\$\.createdAt: required key"):
        from_dict(CustomerMeter, customer_meter_wire(), style="camel")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([], id="list"),
        pytest.param("{}", id="str"),
        pytest.param(None, id="none"),
        pytest.param(3, id="int"),
    ],
)
def test_non_mapping(data: object) -> None:
    with pytest.raises(InvalidTypeError, match=r"^\$: must be a JSON object"):
        from_dict(SubscriptionMeter, data)


@pytest.mark.parametrize("style", ["snake", "", None, "WIRE", ["wire"]])
def test_unknown_style(style: Any) -> None:
    with pytest.raises(
        ValidationError, match=r"^style: must be one of 'wire', 'camel'"
    ):
        to_dict(meter_ref(), style=style)
    with pytest.raises(ValidationError, match=r"^style: "):
        from_dict(MeterRef, to_dict(meter_ref()), style=style)


def test_unshaped_class() -> None:
    with pytest.raises(InvalidTypeError, match=r"^cls: has no JSON shape"):
        from_dict(dict, {})
    with pytest.raises(InvalidTypeError, match=r"^cls: has no JSON shape"):
        from_dict([], {})  # type: ignore[call-overload]  # unhashable, still named
    with pytest.raises(InvalidTypeError):
        to_dict({"a": 1})


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        pytest.param("{", ValidationError, "not valid JSON", id="truncated"),
        pytest.param(b"\xff", ValidationError, "not valid JSON", id="bad-utf8"),
        pytest.param("[]", InvalidTypeError, "JSON object", id="array"),
    ],
)
def test_from_json_bad_text(
    text: str | bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        from_json(MeterRef, text)


def test_from_json_not_text() -> None:
    with pytest.raises(InvalidTypeError, match=r"^text: "):
        from_json(MeterRef, {"id": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "camel"),
    [("id", "id"), ("created_at", "createdAt"), ("consumed_units", "consumedUnits")],
)
def test_camel_case(name: str, camel: str) -> None:
    assert camel_case(name) == camel


def test_make_converter_is_independent() -> None:
    # The preconf pattern: a new converter, configured like ours, gives the same.
    converter = make_converter("camel")
    assert converter.unstructure(meter_ref()) == to_dict(meter_ref(), style="camel")


def test_errors_pickle_with_path() -> None:
    import pickle

    data = customer_meter_wire()
    data["id"] = "nope"
    with pytest.raises(ValidationError) as caught:
        from_dict(CustomerMeter, data)
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is ValidationError
    assert str(again) == str(caught.value)
    assert again.path == "$.id"
