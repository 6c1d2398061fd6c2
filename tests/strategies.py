"""Hypothesis builders for meterkit's tests: the single source of generated data.

Rule 1: builders of *values* (`meter_refs`, `customer_meters`, `subscription_meters`)
produce constructible values only. Builders of *inputs* (`unit_inputs`,
`rfc3339_texts`, `near_valid_documents`) return the raw input together with what
meterkit must make of it, worked out here without meterkit (with `fractions`,
`uuid` and plain `datetime` arithmetic), so that tests compare against an
independent oracle rather than against the code under test.
Rule 2: documents are JSON-like, what `json.loads` returns. `wire_document` writes a
value's documented shape by hand, independently of `meterkit.to_dict`.
Rule 3: meterkit's documented range for unit counts is part of the oracle: a unit
count is exact in 50 significant digits, below ``1E+29`` and, unless zero, at least
``1E-28`` (see ``meterkit._units``); credited units stay below ``10**29``.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st

from meterkit import CustomerMeter, MeterRef, SubscriptionMeter

__all__ = [
    "EITHER",
    "FIELDS",
    "INVALID",
    "INVALID_TIMESTAMP_TEXTS",
    "MAX_CREDITED_UNITS",
    "SHAPED_CLASSES",
    "STYLES",
    "NearValid",
    "amounts",
    "aware_datetimes",
    "balance_agrees",
    "camel",
    "canonical_id",
    "credited_units",
    "customer_meter_kwargs",
    "customer_meters",
    "documented_keys",
    "expected_from",
    "fits_units",
    "fixed_offsets",
    "format_utc",
    "ids",
    "invalid_ids",
    "invalid_timestamp_texts",
    "invalid_unit_inputs",
    "json_garbage",
    "json_like_documents",
    "json_number",
    "json_scalars",
    "key_of",
    "meter_ref_kwargs",
    "meter_refs",
    "naive_datetimes",
    "names",
    "near_valid_documents",
    "optional",
    "rfc3339_texts",
    "round_trip_units",
    "shaped_values",
    "significant_digits",
    "small_unit_decimals",
    "subscription_meter_kwargs",
    "subscription_meters",
    "to_utc",
    "unit_decimals",
    "unit_inputs",
    "uuid_texts",
    "values_of",
    "wire_document",
    "zone_infos",
]

UTC = timezone.utc

SHAPED_CLASSES: tuple[type, ...] = (MeterRef, CustomerMeter, SubscriptionMeter)
STYLES = ("wire", "camel")

#: Largest ``credited_units`` meterkit accepts (unit counts stay below 1E+29).
MAX_CREDITED_UNITS = 10**29 - 1

#: The documented shapes, field by field and in documented order (the order of the
#: tables in the SDK docs for ``CustomerCustomerMeterMeter``,
#: ``CustomerCustomerMeter`` and ``CustomerStateSubscriptionMeter``), with the kind
#: of each field, which decides how `near_valid_documents` mutates it.
FIELDS: dict[type, tuple[tuple[str, str], ...]] = {
    MeterRef: (
        ("created_at", "timestamp"),
        ("modified_at", "optional_timestamp"),
        ("id", "id"),
        ("name", "text"),
    ),
    CustomerMeter: (
        ("id", "id"),
        ("created_at", "timestamp"),
        ("modified_at", "optional_timestamp"),
        ("customer_id", "id"),
        ("meter_id", "id"),
        ("consumed_units", "units"),
        ("credited_units", "credited"),
        ("balance", "balance"),
        ("meter", "meter"),
    ),
    SubscriptionMeter: (
        ("created_at", "timestamp"),
        ("modified_at", "optional_timestamp"),
        ("id", "id"),
        ("consumed_units", "units"),
        ("credited_units", "credited"),
        ("amount", "count"),
        ("meter_id", "id"),
    ),
}


def camel(name: str) -> str:
    """``consumed_units`` -> ``consumedUnits``; written here, not imported."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def key_of(name: str, style: str) -> str:
    return camel(name) if style == "camel" else name


def documented_keys(cls: type, style: str = "wire") -> list[str]:
    """The keys of ``cls``'s documented shape, in order, in ``style``."""
    return [key_of(name, style) for name, _ in FIELDS[cls]]


# ---------------------------------------------------------------------------- ids


@st.composite
def uuid_texts(draw: st.DrawFn) -> str:
    """A hyphenated UUID string with each letter in a random case."""
    text = str(draw(st.uuids()))
    mask = draw(st.integers(0, 2**36 - 1))
    return "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(text))


def ids() -> st.SearchStrategy[str | uuid.UUID]:
    """What an id field accepts: UUID strings in any case and `uuid.UUID` objects."""
    return st.one_of(uuid_texts(), st.uuids())


def canonical_id(value: str | uuid.UUID) -> str:
    return str(uuid.UUID(str(value)))


@st.composite
def invalid_ids(draw: st.DrawFn) -> object:
    """Near misses of a UUID string, other text, and values of other types."""
    u = str(draw(st.uuids()))
    near_misses = [
        u.replace("-", ""),
        "{" + u + "}",
        "urn:uuid:" + u,
        u[:-1],
        u + "0",
        " " + u,
        u.replace("-", "_"),
        u[:9] + "g" + u[10:],
        u[:8] + u[9:] + "0",
        "",
    ]
    return draw(
        st.one_of(
            st.sampled_from(near_misses),
            st.text(max_size=40).filter(lambda t: len(t) != 36),
            st.just(uuid.UUID(u).int),
            st.just(uuid.UUID(u).bytes),
            st.none(),
            st.booleans(),
            st.floats(),
            st.lists(st.integers(), max_size=2),
        )
    )


# ----------------------------------------------------------------- timestamps


def fixed_offsets(*, whole_minutes: bool = False) -> st.SearchStrategy[timezone]:
    """`datetime.timezone` offsets strictly inside +-24h, ``utc`` itself included."""
    minutes = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda m: timezone(timedelta(minutes=m))
    )
    strategies: list[st.SearchStrategy[timezone]] = [
        st.just(UTC),
        st.just(timezone(timedelta(0), "GMT")),
        minutes,
    ]
    if not whole_minutes:
        strategies.append(
            st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(
                lambda s: timezone(timedelta(seconds=s))
            )
        )
    return st.one_of(strategies)


# Listing the IANA zones reads the disk: do it once, not at every draw.
_ZONE_INFOS = st.sampled_from(sorted(zoneinfo.available_timezones())).map(
    zoneinfo.ZoneInfo
)


def zone_infos() -> st.SearchStrategy[Any]:
    """IANA zones (`zoneinfo.ZoneInfo`), with DST, folds, gaps and odd LMT offsets."""
    return _ZONE_INFOS


#: Bounds that keep every local time convertible to UTC (a day of slack each side).
_MIN_LOCAL = datetime(2, 1, 1)
_MAX_LOCAL = datetime(9998, 12, 31)


def aware_datetimes(
    *, timezones: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in fixed offsets and IANA zones, folds included."""
    if timezones is None:
        return _AWARE_DATETIMES
    return st.datetimes(min_value=_MIN_LOCAL, max_value=_MAX_LOCAL, timezones=timezones)


_AWARE_DATETIMES = st.datetimes(
    min_value=_MIN_LOCAL,
    max_value=_MAX_LOCAL,
    timezones=st.one_of(fixed_offsets(), zone_infos()),
)


def naive_datetimes() -> st.SearchStrategy[datetime]:
    return st.datetimes()


def to_utc(moment: datetime) -> datetime:
    """The UTC datetime of the same instant, by plain offset arithmetic.

    Comparing aware datetimes across zones with ``==`` is not enough: PEP 495 makes
    a time in a fold or gap unequal to every time in another zone.
    """
    offset = moment.utcoffset()
    assert offset is not None, "naive datetime"
    return (moment.replace(tzinfo=None, fold=0) - offset).replace(tzinfo=UTC)


def format_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, microseconds only when not zero."""
    u = to_utc(moment)
    text = (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}"
        f"T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    )
    if u.microsecond:
        text += f".{u.microsecond:06d}"
    return text + "Z"


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> tuple[str, datetime]:
    """``(text, instant)``: an RFC 3339 timestamp in any offset, and its UTC time.

    Covers ``Z``/``z``, ``+00:00``/``-00:00``, ``t`` and space as separators, and
    fractions of 1 to 9 digits (digits beyond microseconds are cut, not rounded).
    """
    instant = draw(
        st.datetimes(min_value=_MIN_LOCAL, max_value=_MAX_LOCAL, timezones=st.just(UTC))
    )
    minutes = draw(st.one_of(st.just(0), st.integers(-(24 * 60 - 1), 24 * 60 - 1)))
    local = (instant.replace(tzinfo=None) + timedelta(minutes=minutes)).replace(
        tzinfo=timezone(timedelta(minutes=minutes))
    )
    separator = draw(st.sampled_from("TT t"))
    text = (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}{separator}"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )
    micro = f"{local.microsecond:06d}"
    fraction_forms = [micro, micro + draw(st.text("0123456789", max_size=3))]
    if local.microsecond == 0:
        fraction_forms.append("")
    if micro.endswith("000"):
        fraction_forms.append(micro[:3])
    fraction = draw(st.sampled_from(fraction_forms))
    if fraction:
        text += "." + fraction
    if minutes == 0:
        text += draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        sign = "+" if minutes > 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        text += f"{sign}{hours:02d}:{mins:02d}"
    return text, instant


#: Texts that are not RFC 3339 timestamps with an offset (naive, malformed, out of
#: range). A leap second (``:60``) is left out on purpose: RFC 3339 allows it, so it
#: is not malformed, and the spec does not say what to make of it.
INVALID_TIMESTAMP_TEXTS = (
    "",
    "now",
    "2025-01-01",
    "2025-01-01T00:00:00",
    "2025-01-01T00:00:00.5",
    "2025-01-01 00:00:00",
    "2025-01-01T00:00Z",
    "2025-1-1T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-00-10T00:00:00Z",
    "2025-01-01T24:00:00Z",
    "2025-01-01T00:61:00Z",
    "0000-01-01T00:00:00Z",
    "2025-01-01T00:00:00+24:00",
    "2025-01-01T00:00:00+0100",
    "2025-01-01T00:00:00+01",
    "2025-01-01T00:00:00 UTC",
    "2025-01-01T00:00:00.Z",
    "2025-01-01T00:00:00.1234567891Z",
    "2025-01-01T00:00:00ZZ",
    "20250101T000000Z",
    "1735689600",
)


@st.composite
def invalid_timestamp_texts(draw: st.DrawFn) -> str:
    """Strings a timestamp field must refuse."""
    moment = draw(st.datetimes(min_value=datetime(1000, 1, 1)))
    naive = moment.isoformat()
    return draw(
        st.one_of(
            st.sampled_from(INVALID_TIMESTAMP_TEXTS),
            st.just(naive),
            st.just(naive.replace("T", " ")),
            # Random text; anything shaped like a date is left to the tables above.
            st.text(max_size=30).filter(lambda t: not re.search(r"\d{4}", t)),
        )
    )


# ---------------------------------------------------------------------- units


def significant_digits(value: Decimal) -> int:
    """Digits of the coefficient without trailing zeros (``0`` has one)."""
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    return max(len(digits), 1)


@st.composite
def unit_decimals(
    draw: st.DrawFn,
    *,
    max_digits: int = 15,
    min_adjusted: int = -28,
    max_adjusted: int = 28,
) -> Decimal:
    """Non-negative `Decimal` unit counts within meterkit's range.

    At most ``max_digits`` significant digits, adjusted exponent (the power of ten
    of the first digit) in ``[min_adjusted, max_adjusted]``. Trailing zeros vary:
    ``Decimal("1.50")`` and ``Decimal("15E-1")`` both occur.
    """
    size = draw(st.integers(1, max_digits))
    coefficient = draw(st.integers(0, 10**size - 1))
    width = len(str(coefficient))
    exponent = draw(st.integers(min_adjusted - width + 1, max_adjusted - width + 1))
    return Decimal(f"{coefficient}E{exponent}")


def small_unit_decimals() -> st.SearchStrategy[Decimal]:
    """Plain counts such as ``25`` or ``12.5``, mixed with the whole range."""
    return st.one_of(
        st.integers(0, 10**6).map(Decimal),
        st.integers(0, 10**8).map(lambda n: Decimal(n).scaleb(-3)),
        unit_decimals(),
    )


@st.composite
def unit_inputs(
    draw: st.DrawFn, decimals: st.SearchStrategy[Decimal] | None = None
) -> tuple[object, Decimal]:
    """``(raw, expected)``: a unit count as ``Decimal``, ``int``, ``str`` or ``float``.

    A float is offered only when it is exact to the meaning of its shortest repr,
    which holds for every decimal of at most 15 significant digits.
    """
    value = draw(decimals if decimals is not None else small_unit_decimals())
    forms: list[object] = [
        value,
        str(value),
        f"{value:E}",
        f"{value:e}",
    ]
    if Fraction(value).denominator == 1:
        forms.append(int(value))
    if significant_digits(value) <= 15:
        forms.append(float(value))
    return draw(st.sampled_from(forms)), value


def invalid_unit_inputs() -> st.SearchStrategy[object]:
    """Unit counts a constructor or `consume` must refuse."""
    return st.one_of(
        st.booleans(),
        st.integers(max_value=-1),
        st.floats(max_value=-5e-324),
        st.decimals(max_value=Decimal("-1E-30"), allow_nan=False, allow_infinity=False),
        st.sampled_from(
            [
                float("nan"),
                float("inf"),
                float("-inf"),
                Decimal("NaN"),
                Decimal("sNaN"),
                Decimal("Infinity"),
                "nan",
                "Infinity",
                "-1",
                "",
                "abc",
                "1,5",
                "0x10",
                "1.2.3",
                # Text must be an ASCII JSON number (issue 13).
                " 7\t",
                "+1",
                "1_000",
                "\u0663",
                ".5",
                # Beyond meterkit's range (Rule 3 of this module).
                10**29,
                Decimal("1E+29"),
                1e29,
                "1E+30",
                Decimal("1E-29"),
                1e-30,
                Decimal("1." + "1" * 50),
            ]
        ),
        st.integers(10**29, 10**40),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.builds(complex, st.integers(0, 5)),
    )


def fits_units(value: Fraction | Decimal | int) -> bool:
    """Whether an exact quantity is a unit count meterkit can hold (Rule 3)."""
    q = Fraction(value)
    if q == 0:
        return True
    if q < 0:
        q = -q
    denominator = q.denominator
    # A decimal fraction has a denominator of the form 2**a * 5**b.
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return False
    scale = 0
    while q.denominator != 1:
        q *= 10
        scale += 1
    coefficient = q.numerator
    while coefficient % 10 == 0:
        coefficient //= 10
        scale -= 1
    digits = len(str(coefficient))
    adjusted = digits - 1 - scale
    return digits <= 50 and -28 <= adjusted <= 28


def credited_units() -> st.SearchStrategy[int]:
    """Credits: mostly everyday sizes, sometimes up to the largest allowed."""
    return st.one_of(
        st.integers(0, 1000),
        st.integers(0, 10**15),
        st.integers(0, MAX_CREDITED_UNITS),
        st.just(MAX_CREDITED_UNITS),
    )


def json_number(value: Fraction | Decimal | int) -> int | float:
    """A unit count as the wire writes it: an int when integral, else a float."""
    q = Fraction(value)
    return q.numerator if q.denominator == 1 else float(q)


# ---------------------------------------------------------------- value types


def names() -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=30)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def meter_ref_kwargs(
    *, timestamps: st.SearchStrategy[datetime] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Constructor keywords of a `MeterRef`, in every accepted input form."""
    ts = timestamps if timestamps is not None else aware_datetimes()
    return st.fixed_dictionaries(
        {"id": ids(), "name": names(), "created_at": ts},
        optional={"modified_at": optional(ts)},
    )


def meter_refs(
    *, timestamps: st.SearchStrategy[datetime] | None = None
) -> st.SearchStrategy[MeterRef]:
    return meter_ref_kwargs(timestamps=timestamps).map(lambda kw: MeterRef(**kw))


@st.composite
def customer_meter_kwargs(
    draw: st.DrawFn,
    *,
    units: st.SearchStrategy[Decimal] | None = None,
    timestamps: st.SearchStrategy[datetime] | None = None,
    raw_units: bool = False,
) -> dict[str, Any]:
    """Constructor keywords of a constructible `CustomerMeter`.

    ``meter_id`` names ``meter.id``, though not always in the same form (upper case,
    a `uuid.UUID`). With ``raw_units`` the units come in any accepted input form;
    the exact count is under the extra key ``"_consumed"`` (pop it before use).
    """
    ts = timestamps if timestamps is not None else aware_datetimes()
    meter = draw(meter_refs(timestamps=ts))
    meter_id = draw(st.sampled_from([meter.id, meter.id.upper(), uuid.UUID(meter.id)]))
    if raw_units:
        consumed_raw, consumed = draw(unit_inputs(units))
    else:
        consumed = draw(units if units is not None else small_unit_decimals())
        consumed_raw = consumed
    credited = draw(credited_units())
    # A balance that needs more than 50 digits cannot be built (Rule 3).
    assume(fits_units(credited - Fraction(consumed)))
    kwargs = {
        "id": draw(ids()),
        "created_at": draw(ts),
        "modified_at": draw(optional(ts)),
        "customer_id": draw(ids()),
        "meter_id": meter_id,
        "consumed_units": consumed_raw,
        "credited_units": credited,
        "meter": meter,
    }
    if raw_units:
        kwargs["_consumed"] = consumed
    return kwargs


def customer_meters(
    *,
    units: st.SearchStrategy[Decimal] | None = None,
    timestamps: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[CustomerMeter]:
    return customer_meter_kwargs(units=units, timestamps=timestamps).map(
        lambda kw: CustomerMeter(**kw)
    )


def amounts() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 10**6), st.integers(0, 10**30))


def subscription_meter_kwargs(
    *,
    units: st.SearchStrategy[Decimal] | None = None,
    timestamps: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    ts = timestamps if timestamps is not None else aware_datetimes()
    return st.fixed_dictionaries(
        {
            "created_at": ts,
            "modified_at": optional(ts),
            "id": ids(),
            "consumed_units": units if units is not None else small_unit_decimals(),
            "credited_units": credited_units(),
            "amount": amounts(),
            "meter_id": ids(),
        }
    )


def subscription_meters(
    *,
    units: st.SearchStrategy[Decimal] | None = None,
    timestamps: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[SubscriptionMeter]:
    return subscription_meter_kwargs(units=units, timestamps=timestamps).map(
        lambda kw: SubscriptionMeter(**kw)
    )


def round_trip_units() -> st.SearchStrategy[Decimal]:
    """Units of at most 15 significant digits: those a JSON float carries exactly."""
    return st.one_of(
        st.integers(0, 10**6).map(Decimal),
        st.integers(0, 10**8).map(lambda n: Decimal(n).scaleb(-3)),
        unit_decimals(max_digits=15),
    )


def values_of(
    cls: type, *, timestamps: st.SearchStrategy[datetime] | None = None
) -> st.SearchStrategy[Any]:
    """Values of ``cls`` whose units survive a JSON round trip (15 digits at most)."""
    if cls is MeterRef:
        return meter_refs(timestamps=timestamps)
    if cls is CustomerMeter:
        return customer_meters(units=round_trip_units(), timestamps=timestamps)
    return subscription_meters(units=round_trip_units(), timestamps=timestamps)


def shaped_values() -> st.SearchStrategy[Any]:
    return st.one_of([values_of(cls) for cls in SHAPED_CLASSES])


def wire_document(value: Any, style: str = "wire") -> dict[str, Any]:
    """The documented JSON shape of ``value``, written without meterkit."""
    document: dict[str, Any] = {}
    for name, kind in FIELDS[type(value)]:
        if kind == "balance":
            exact = Fraction(value.credited_units) - Fraction(value.consumed_units)
            out: Any = json_number(max(Fraction(0), exact))
        elif kind in ("timestamp", "optional_timestamp"):
            moment = getattr(value, name)
            out = None if moment is None else format_utc(moment)
        elif kind == "meter":
            out = wire_document(value.meter, style)
        elif kind == "units":
            out = json_number(getattr(value, name))
        else:
            out = getattr(value, name)
        document[key_of(name, style)] = out
    return document


# ------------------------------------------------------------------ garbage


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )


def json_garbage(
    *,
    keys: st.SearchStrategy[str] | None = None,
    leaves: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like data: nested dicts, lists, str, int, float, bool, None."""
    key_strategy = keys if keys is not None else st.text(max_size=12)
    return st.recursive(
        leaves if leaves is not None else json_scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key_strategy, children, max_size=6),
        ),
        max_leaves=25,
    )


_ALL_KEYS = sorted(
    {
        key_of(name, style)
        for fields in FIELDS.values()
        for name, _ in fields
        for style in STYLES
    }
)


def json_like_documents() -> st.SearchStrategy[Any]:
    """JSON-like data built from the real keys and plausible leaves (ids, timestamps,
    unit counts), so that some of it gets deep into the structuring code."""
    leaves = st.one_of(
        json_scalars(),
        uuid_texts(),
        rfc3339_texts().map(lambda pair: pair[0]),
        st.integers(0, 10**6),
    )
    keys = st.one_of(st.sampled_from(_ALL_KEYS), st.text(max_size=8))
    return json_garbage(keys=keys, leaves=leaves)


# -------------------------------------------------------- near-valid documents


@dataclasses.dataclass(frozen=True)
class NearValid:
    """A valid document of ``cls`` in ``style`` with one key mutated, deleted or added.

    ``valid`` is ``True`` or ``False``, or ``None`` where the spec allows either
    outcome. A valid document decodes to ``original`` with ``changes`` applied
    (to ``original.meter`` when ``nested``). An error must name one of
    ``error_paths``.
    """

    cls: type
    style: str
    original: Any
    document: dict[str, Any]
    mutation: str
    path: str
    valid: bool | None
    error_paths: frozenset[str]
    changes: dict[str, Any]
    nested: bool


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What an oracle returns for a raw value the field must refuse.
INVALID: Any = _Marker("INVALID")


def _wrong_types(*exclude: type) -> st.SearchStrategy[Any]:
    """JSON values of every type but those in ``exclude``."""
    candidates: list[tuple[type, st.SearchStrategy[Any]]] = [
        (type(None), st.none()),
        (bool, st.booleans()),
        (int, st.integers()),
        (float, st.floats(allow_nan=False, allow_infinity=False)),
        (str, st.text(max_size=10)),
        (list, st.lists(st.integers(), max_size=2)),
        (dict, st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
    ]
    return st.one_of([s for t, s in candidates if t not in exclude])


def _read_id(raw: object) -> Any:
    if isinstance(raw, str) and len(raw) == 36:
        try:
            parsed = uuid.UUID(raw)
        except ValueError:
            return INVALID
        if str(parsed) == raw.lower():
            return str(parsed)
    return INVALID


def _read_number(raw: object) -> Any:
    """A JSON number as meterkit must read it (a float by its shortest repr)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return INVALID
    value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    if not value.is_finite() or value < 0 or not fits_units(value):
        return INVALID
    return value


def _read_credited(raw: object) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return INVALID
    return raw if 0 <= raw <= MAX_CREDITED_UNITS else INVALID


def _read_count(raw: object) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return INVALID
    return raw if raw >= 0 else INVALID


#: What an oracle returns where the spec allows either outcome.
EITHER: Any = _Marker("EITHER")


def balance_agrees(given: object, balance: Fraction) -> bool | None:
    """Whether a ``balance`` read from JSON agrees with the exact ``balance``.

    It agrees when it is the balance exactly, or the double nearest to it: what a
    reader that keeps numbers as doubles writes back (the Python SDK writes a
    float; JavaScript writes the double ``12345.0`` as ``12345``). ``None`` for
    one case the spec leaves open: an *int* that is the nearest double of an
    integral balance above 2**53 but not the balance itself (meterkit refuses it
    today; a doubles-only writer that prints integral doubles as ints sends it).
    """
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        return False
    if Fraction(given) == balance:
        return True
    if given != float(balance):
        return False
    return None if isinstance(given, int) and balance.denominator == 1 else True


def _replacement(
    draw: st.DrawFn, kind: str, current: Any
) -> tuple[object, Callable[[object], Any]]:
    """A raw replacement for a field of ``kind``, and the oracle that reads it."""
    if kind == "id":
        same = [current.upper(), current.swapcase()] if isinstance(current, str) else []
        raw = draw(
            st.one_of(st.sampled_from([*same, "x"]), uuid_texts(), invalid_ids())
        )
        if isinstance(raw, (bytes, int)) and not isinstance(raw, bool):
            raw = repr(raw)  # keep the document JSON-like
        return raw, _read_id
    if kind in ("timestamp", "optional_timestamp"):
        text, instant = draw(rfc3339_texts())
        texts = {text: instant}
        raw = draw(
            st.one_of(
                st.just(text),
                invalid_timestamp_texts(),
                _wrong_types(str),
            )
        )

        def read_timestamp(value: object) -> Any:
            if value is None and kind == "optional_timestamp":
                return None
            return texts.get(value, INVALID) if isinstance(value, str) else INVALID

        return raw, read_timestamp
    if kind == "text":
        raw = draw(st.one_of(names(), st.just(""), _wrong_types(str)))
        return raw, lambda v: v if isinstance(v, str) and v else INVALID
    if kind == "units":
        raw = draw(
            st.one_of(
                st.integers(0, 10**6),
                st.floats(min_value=0, max_value=1e6),
                st.integers(0, 10**30),
                st.floats(min_value=0, allow_infinity=False),
                st.floats(max_value=-5e-324, allow_infinity=False),
                st.integers(max_value=-1),
                st.just(json_number(current)),
                st.integers(0, 100).map(str),
                _wrong_types(int, float),
            )
        )
        return raw, _read_number
    if kind == "credited":
        raw = draw(
            st.one_of(
                st.integers(0, 1000),
                st.just(current),
                st.integers(MAX_CREDITED_UNITS - 2, MAX_CREDITED_UNITS + 2),
                st.integers(max_value=-1),
                st.just(float(current)),
                st.just(str(current)),
                _wrong_types(int),
            )
        )
        return raw, _read_credited
    if kind == "count":
        raw = draw(
            st.one_of(
                st.integers(0, 10**40),
                st.integers(max_value=-1),
                st.just(float(current)),
                _wrong_types(int),
            )
        )
        return raw, _read_count
    if kind == "balance":
        exact = Fraction(current)
        nearest = float(exact)
        # How other writers spell it: the nearest double, and that double as an
        # int when it is integral (JavaScript writes 12345.0 as 12345).
        spellings = [json_number(exact), nearest]
        if nearest.is_integer():
            spellings.append(int(nearest))
        raw = draw(
            st.one_of(
                st.sampled_from(spellings),
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(),
                st.just(str(json_number(exact))),
                _wrong_types(int, float),
            )
        )

        def read_balance(value: object) -> Any:
            agrees = balance_agrees(value, exact)
            return INVALID if agrees is False else (None if agrees else EITHER)

        return raw, read_balance
    assert kind == "meter", kind
    return draw(_wrong_types(dict)), lambda v: INVALID


@st.composite
def near_valid_documents(
    draw: st.DrawFn, cls: type | None = None, style: str | None = None
) -> NearValid:
    """A valid document with one field mutated, retyped or deleted, or a key added."""
    cls = draw(st.sampled_from(SHAPED_CLASSES)) if cls is None else cls
    style = draw(st.sampled_from(STYLES)) if style is None else style
    original = draw(values_of(cls))
    document = wire_document(original, style)

    targets = [(False, name, kind) for name, kind in FIELDS[cls]]
    if cls is CustomerMeter:
        targets += [(True, name, kind) for name, kind in FIELDS[MeterRef]]
    nested, name, kind = draw(st.sampled_from(targets))
    owner = original.meter if nested else original
    container = document[key_of("meter", style)] if nested else document
    prefix = f"$.{key_of('meter', style)}" if nested else "$"
    key = key_of(name, style)
    path = f"{prefix}.{key}"
    balance_path = f"$.{key_of('balance', style)}"
    meter_id_path = f"$.{key_of('meter_id', style)}"

    action = draw(st.sampled_from(["replace", "replace", "delete", "extra key"]))
    if action == "extra key":
        taken = set(container)
        extra = draw(st.text(max_size=12).filter(lambda k: k not in taken))
        container[extra] = draw(json_garbage())
        return NearValid(
            cls, style, original, document, f"extra key {extra!r} at {prefix}",
            prefix, True, frozenset(), {}, nested,
        )  # fmt: skip
    if action == "delete":
        del container[key]
        # A derived `balance` is recomputed, and `MeterRef.modified_at` has a default;
        # the spec pins neither way, so either outcome is accepted for them.
        optional_on_input = kind == "balance" or (
            kind == "optional_timestamp" and type(owner) is MeterRef
        )
        return NearValid(
            cls, style, original, document, f"delete {path}", path,
            None if optional_on_input else False, frozenset({path}),
            {name: None} if kind == "optional_timestamp" else {}, nested,
        )  # fmt: skip

    current = (
        Fraction(owner.credited_units) - Fraction(owner.consumed_units)
        if kind == "balance"
        else getattr(owner, name, None)
    )
    if kind == "balance":
        current = max(Fraction(0), current)
    raw, read = _replacement(draw, kind, current)
    container[key] = raw
    parsed = read(raw)
    valid: bool | None = parsed is not INVALID
    if parsed is EITHER:
        valid, parsed = None, None
    error_paths = {path}
    changes: dict[str, Any] = {} if kind == "balance" or not valid else {name: parsed}

    links_meter = cls is CustomerMeter and (
        (nested and name == "id") or (not nested and name == "meter_id")
    )
    if links_meter:
        # `meter_id` must name `meter.id`; a mismatch is reported at `meter_id`.
        other = original.meter_id if nested else original.meter.id
        valid = valid and parsed == other
        error_paths.add(meter_id_path)
        changes = {}
    if cls is CustomerMeter and kind in ("units", "credited") and valid:
        consumed = (
            Fraction(parsed) if kind == "units" else Fraction(owner.consumed_units)
        )
        credited = parsed if kind == "credited" else owner.credited_units
        exact = credited - consumed
        given = document[key_of("balance", style)]
        valid = fits_units(exact) and balance_agrees(given, max(Fraction(0), exact))
        # A balance that does not fit may be blamed on either count.
        error_paths |= {
            balance_path,
            f"$.{key_of('consumed_units', style)}",
            f"$.{key_of('credited_units', style)}",
        }
    return NearValid(
        cls, style, original, document, f"set {path} = {raw!r}", path, valid,
        frozenset(error_paths), changes if valid is not False else {}, nested,
    )  # fmt: skip


def expected_from(case: NearValid) -> Any:
    """The value a valid near-valid document must decode to."""
    if case.nested:
        return attrs.evolve(
            case.original, meter=attrs.evolve(case.original.meter, **case.changes)
        )
    return attrs.evolve(case.original, **case.changes)
