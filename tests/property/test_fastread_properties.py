"""The fast readers of `_fastread` agree with the ordinary cattrs path, always.

A fast reader may decline (`FALLBACK`); when it answers, its value must equal, field
by field and in representation, what the detailed converter builds from the same
document, and the ordinary path must not refuse a document the fast one accepted.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    CustomerMeter,
    Meter,
    MeterkitError,
    MeterRef,
    SubscriptionMeter,
)
from meterkit._fastread import FALLBACK
from meterkit.serialization import _DETAILED, _fast_reader

from ..samples import T0, customer_meter, meter_ref, subscription_meter
from ..strategies import (
    STYLES,
    json_like_documents,
    near_valid_documents,
    shaped_values,
    wire_document,
)

FAST_CLASSES = (MeterRef, CustomerMeter, SubscriptionMeter)


def _check(cls: type, document: Any, style: Any) -> None:
    reader = _fast_reader(cls, style)
    assert reader is not None
    fast = reader(document)
    try:
        slow = _DETAILED[style].structure(document, cls)
    except Exception:  # noqa: BLE001  # any refusal of the ordinary path
        assert fast is FALLBACK, "fast reader accepted what the ordinary path refuses"
        return
    if fast is FALLBACK:
        return
    assert fast == slow
    assert repr(fast) == repr(slow)  # same Decimal exponents, same tzinfo objects


def test_every_hot_shape_has_a_fast_reader() -> None:
    for style in STYLES:
        for cls in FAST_CLASSES:
            assert _fast_reader(cls, style) is not None


@given(shaped_values(), st.sampled_from(STYLES))
def test_valid_documents_agree(value: Any, style: Any) -> None:
    document = wire_document(value, style)
    reader = _fast_reader(type(value), style)
    assert reader is not None
    fast = reader(document)
    assert fast is FALLBACK or fast == value
    _check(type(value), document, style)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(customer_meter(consumed_units="25.5"), id="customer-float"),
        pytest.param(customer_meter(modified_at=T0), id="customer-modified"),
        pytest.param(subscription_meter(amount=42), id="subscription"),
        pytest.param(meter_ref(), id="meter-ref"),
    ],
)
def test_api_documents_take_the_fast_path(value: Any, style: Any) -> None:
    # Documents as the API writes them must not fall back: that is the point.
    reader = _fast_reader(type(value), style)
    assert reader is not None
    assert reader(wire_document(value, style)) == value


@given(near_valid_documents())
def test_near_valid_documents_agree(case: Any) -> None:
    _check(case.cls, case.document, case.style)


@given(json_like_documents(), st.sampled_from(FAST_CLASSES), st.sampled_from(STYLES))
def test_garbage_agrees(document: Any, cls: type, style: Any) -> None:
    _check(cls, document, style)


@pytest.mark.parametrize("cls", [CustomerMeter, SubscriptionMeter])
@pytest.mark.parametrize(
    "units",
    [
        *(0.0, -0.0, 5e-324, 9.99e-21, 1e-20, 0.1, 25.5, 1e27),
        *(math.nextafter(1e28, 0), 1e28, math.inf, math.nan, -1.5),
        *(2**53, 10**28 - 1, 10**28),
    ],
)
def test_unit_counts_at_the_fast_checks_edges_match_the_ordinary_path(
    units: Any, cls: type
) -> None:
    # The fast reader reads floats inline only inside [1e-20, 1e28); at and beyond
    # each edge it must build what the ordinary path builds, or decline.
    value = customer_meter() if cls is CustomerMeter else subscription_meter()
    document = wire_document(value)
    document["consumed_units"] = units
    document.pop("balance", None)
    _check(cls, document, "wire")


def test_errors_still_name_paths() -> None:
    try:
        _DETAILED["wire"].structure({"id": 1}, MeterRef)
    except Exception:  # noqa: BLE001
        pass
    else:  # pragma: no cover
        raise AssertionError("expected a refusal")
    assert issubclass(MeterkitError, Exception)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"func": "count"}, id="with-func"),
        pytest.param({}, id="func-absent"),
        pytest.param({"func": "sum"}, id="func-contradicts"),
    ],
)
def test_constant_fields_are_set_by_every_fast_reader(
    document: dict[str, Any], style: Any
) -> None:
    # CountAggregation's only field is a constant the constructor does not take;
    # a fast reader once built it without setting that field at all.
    reader = _fast_reader(CountAggregation, style)
    assert reader is not None
    _check(CountAggregation, document, style)
    value = reader(document)
    assert value is FALLBACK or value.func == "count"


@pytest.mark.parametrize("style", STYLES)
def test_classes_without_a_fast_reader_say_so(style: Any) -> None:
    assert _fast_reader(Meter, style) is None  # a field with no fast check
    assert _fast_reader(dict, style) is None  # not a shaped class at all


def test_fast_readers_are_generated_on_first_use_not_at_import() -> None:
    # Generating them all costs ~11 ms of import time that most scripts never use.
    code = (
        "import meterkit.serialization as s, meterkit as m;"
        "assert not any(s._FAST.values());"
        "m.from_dict(m.MeterRef, {'id': 'd498a884-e2cd-4d3e-8002-f536468a8b22',"
        " 'name': 'T', 'created_at': '2025-01-01T00:00:00Z', 'modified_at': None});"
        "assert list(s._FAST['wire']) == [m.MeterRef], s._FAST"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
