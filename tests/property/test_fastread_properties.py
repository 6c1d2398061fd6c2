"""The fast readers of `_fastread` agree with the ordinary cattrs path, always.

A fast reader may decline (`FALLBACK`); when it answers, its value must equal, field
by field and in representation, what the detailed converter builds from the same
document, and the ordinary path must not refuse a document the fast one accepted.
"""

from __future__ import annotations

import inspect
import linecache
import math
import subprocess
import sys
import traceback
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    CustomerMeter,
    Meter,
    MeterkitError,
    MeterRef,
    MissingFieldError,
    SubscriptionMeter,
    from_dict,
)
from meterkit._fastread import FALLBACK
from meterkit._paths import json_key
from meterkit.serialization import _CONVERTERS, _DETAILED, _fast_reader

from ..samples import METER_ID, T0, customer_meter, meter_ref, subscription_meter
from ..strategies import (
    STYLES,
    json_like_documents,
    json_number,
    near_valid_documents,
    shaped_values,
    wire_document,
)

FAST_CLASSES = (MeterRef, CustomerMeter, SubscriptionMeter)
_MISSING: Any = object()


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
# Units below 1E-20 once made the fast reader decline every such document.
@example(customer_meter(consumed_units=Decimal("1E-21"), credited_units=0), "wire")
@example(subscription_meter(consumed_units=Decimal("1E-28")), "camel")
@example(customer_meter(meter_id=METER_ID.upper()), "wire")
def test_valid_documents_agree(value: Any, style: Any) -> None:
    # Every document the API could write is read by the fast reader itself, to the
    # very value the ordinary path builds: a fast reader that declined them all
    # would agree with everything and accelerate nothing.
    document = wire_document(value, style)
    reader = _fast_reader(type(value), style)
    assert reader is not None
    fast = reader(document)
    assert fast is not FALLBACK, "the fast reader declined a valid API document"
    assert fast == value
    _check(type(value), document, style)  # and in representation, as cattrs reads it
    # ... and `from_dict` takes that path: with the cattrs converters out of
    # order, it still reads the document.
    with pytest.MonkeyPatch.context() as patch:
        for converters in (_CONVERTERS, _DETAILED):
            patch.setitem(converters, style, _Exploding())
        assert from_dict(type(value), document, style=style) == value


class _Exploding:
    """A stand-in converter that fails the test if `from_dict` reaches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"from_dict used the cattrs path ({name})")


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
    # `parse_units` takes a shortcut for floats inside [1e-20, 1e28) and ints below
    # 10**29; at and beyond each edge the fast reader, which reads units with
    # `parse_units`, must build what the ordinary path builds, and read every
    # count the ordinary path reads.
    value = customer_meter() if cls is CustomerMeter else subscription_meter()
    document = wire_document(value)
    document["consumed_units"] = units
    if cls is CustomerMeter and math.isfinite(units):
        exact = max(Fraction(0), value.credited_units - Fraction(units))
        document["balance"] = json_number(exact)
    _check(cls, document, "wire")
    try:
        slow = _DETAILED["wire"].structure(document, cls)
    except Exception:  # noqa: BLE001  # any refusal of the ordinary path
        return
    reader = _fast_reader(cls, "wire")
    assert reader is not None
    fast = reader(document)
    assert fast is not FALLBACK
    assert repr(fast) == repr(slow)


def _key(cls: type, name: str, style: Any) -> str:
    return json_key(cls, name, style)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("cls", FAST_CLASSES)
@pytest.mark.parametrize(
    "bad", [pytest.param([1], id="a-list"), pytest.param(_MISSING, id="missing")]
)
def test_errors_still_name_paths(cls: type, style: Any, bad: object) -> None:
    # A document the fast reader declines goes the ordinary way, whose error names
    # the field's JSON path in the document's style, nested fields included.
    value = {MeterRef: meter_ref, CustomerMeter: customer_meter}.get(
        cls, subscription_meter
    )()
    targets = [((), cls, field.name) for field in attrs.fields(cls)]
    if cls is CustomerMeter:
        targets += [(("meter",), MeterRef, f.name) for f in attrs.fields(MeterRef)]
    for parents, owner, name in targets:
        if bad is _MISSING and owner is MeterRef and name == "modified_at":
            continue  # it has a default: a missing key is not an error
        document = wire_document(value, style)
        container = document
        for parent in parents:
            container = container[_key(cls, parent, style)]
        key = _key(owner, name, style)
        if bad is _MISSING:
            del container[key]
        else:
            container[key] = bad
        path = "$" + "".join(f".{_key(cls, p, style)}" for p in parents) + f".{key}"
        reader = _fast_reader(cls, style)
        assert reader is not None
        assert reader(document) is FALLBACK, path
        with pytest.raises(MeterkitError) as caught:
            from_dict(cls, document, style=style)
        error = caught.value
        assert error.path == path
        assert str(error).startswith(f"{path}: ")
        if bad is _MISSING:
            assert type(error) is MissingFieldError
        else:
            assert f"(got {bad!r})" in str(error)


@given(near_valid_documents())
def test_refusals_of_near_valid_documents_name_the_field(case: Any) -> None:
    reader = _fast_reader(case.cls, case.style)
    assert reader is not None
    error: MeterkitError | None = None
    try:
        value = from_dict(case.cls, case.document, style=case.style)
    except MeterkitError as exc:
        error = exc
    if error is None:
        assert case.valid is not False, f"{case.mutation}: accepted {value!r}"
        return
    assert case.valid is not True, f"{case.mutation}: refused: {error}"
    assert error.path in case.error_paths, f"{case.mutation}: names {error.path!r}"
    assert str(error).startswith(f"{error.path}: ")
    assert reader(case.document) is FALLBACK


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("cls", FAST_CLASSES)
def test_generated_source_is_in_linecache(cls: type, style: Any) -> None:
    # Tracebacks through a fast reader show its generated lines, as cattrs' own
    # generated code does.
    reader = _fast_reader(cls, style)
    assert reader is not None
    filename = reader.__code__.co_filename
    assert filename.startswith(f"<meterkit fastread {cls.__name__}")
    assert filename.endswith(">")
    assert filename in linecache.cache
    lines = linecache.getlines(filename)
    assert lines[0].startswith("def read(")
    source = inspect.getsource(reader)
    assert source == "".join(lines)
    # Another class or style has its own file name.
    names = {
        r.__code__.co_filename
        for r in (_fast_reader(c, s) for c in FAST_CLASSES for s in STYLES)
        if r is not None
    }
    assert len(names) == len(FAST_CLASSES) * len(STYLES)


def test_a_traceback_through_a_fast_reader_shows_its_source() -> None:
    reader = _fast_reader(MeterRef, "wire")
    assert reader is not None

    def boom(*args: object) -> Any:
        raise RuntimeError("boom")

    # Make a name the generated code calls fail, so that the error passes through it.
    names = [name for name in reader.__globals__ if name.startswith("_set_")]
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            patch.setitem(reader.__globals__, name, boom)
        with pytest.raises(RuntimeError) as caught:
            reader(wire_document(meter_ref()))
    frames = traceback.extract_tb(caught.value.__traceback__)
    generated = [f for f in frames if f.filename == reader.__code__.co_filename]
    assert generated
    assert all(frame.line and "_set_" in frame.line for frame in generated)
    text = "".join(traceback.format_tb(caught.value.__traceback__))
    assert "<meterkit fastread MeterRef" in text


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
