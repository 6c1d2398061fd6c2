"""Hypothesis builders for the metering engine: meters, event logs, garbage events.

Rule 1: everything is drawn from a small vocabulary (a few names, properties,
values, customers and external ids), so that random filters match random events
often, duplicates and resets are common, and every branch of the engine runs.
Rule 2: event logs are lists of wire mappings, what `json.loads` gives; a test that
wants `Event` objects converts some of them with `as_event`.
Rule 3: valid logs stay inside meterkit's documented range (non-negative numbers,
well-formed credits), so a valid log never raises; `garbage_events` is for the
other side.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    Event,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)

__all__ = [
    "CREDIT_HEAVY",
    "CUSTOMER_IDS",
    "KINDS",
    "METER_ID",
    "OTHER_METER_ID",
    "aggregations",
    "as_event",
    "event_logs",
    "events",
    "filters",
    "garbage_events",
    "meters",
    "selections",
]

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
OTHER_METER_ID = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
CUSTOMER_IDS = (
    "992fae2a-2a17-4b7a-8d9e-e287cf90131b",
    "5f0c8e9e-2f59-4a39-9c39-2d6c1a6b9f11",
)
EXTERNAL_CUSTOMER_IDS = ("acme", "globex")
EXTERNAL_IDS = ("x1", "x2", "x3", "x4")
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
#: Epoch seconds of the hours the events fall on (2025-01-01T00:00Z + k hours).
HOURS = tuple(int(T0.timestamp()) + 3600 * k for k in range(4))

USER_NAMES = ("llm", "api", "meter.reset", "meter.credited")
PROPERTIES = (
    "name",
    "source",
    "timestamp",
    "tokens",
    "metadata.tokens",
    "model",
    "_llm.model",
    "_llm.tokens",
    "flag",
    "absent",
)
NUMERIC_PROPERTIES = ("tokens", "metadata.tokens", "_llm.tokens")
UNIQUE_PROPERTIES = ("tokens", "model", "_llm.model", "flag")
TEXTS = ("llm", "api", "gpt-4o", "gpt", "4", "true", "1.5", "meter", "user", ".")
INTS = (-1, 0, 1, 4, 5, 10, 25, *HOURS)
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "not_like")

# Numbers whose shortest repr is the decimal a writer meant; all >= 0.
numbers = st.one_of(
    st.integers(min_value=0, max_value=50),
    st.sampled_from((0.5, 1.25, 2.1, 0.1, 4.0, 10.0, 1e-05, 3.3333)),
)
# Values of a metadata property: numbers mostly, and every spoiler.
property_values = st.one_of(
    numbers,
    numbers,
    st.sampled_from((None, True, False, "5", "gpt-4o", "4", "true", "")),
)
model_values = st.sampled_from(
    ("gpt-4o", "gpt-4", "claude", "4", "1.5", 4, 4.0, 1.5, True, None)
)


def clause_values() -> st.SearchStrategy[str | int | bool]:
    return st.one_of(st.sampled_from(TEXTS), st.sampled_from(INTS), st.booleans())


clauses = st.builds(
    FilterClause,
    property=st.sampled_from(PROPERTIES),
    operator=st.sampled_from(OPERATORS),
    value=clause_values(),
)


def filters(depth: int = 3) -> st.SearchStrategy[Filter]:
    """Filters nested up to ``depth`` levels, with 0-3 clauses a level."""
    children: st.SearchStrategy[Any] = clauses
    if depth > 1:
        children = st.one_of(clauses, clauses, filters(depth - 1))
    return st.one_of(
        # An empty filter matches everything: it keeps matches common.
        st.just(Filter()),
        st.builds(
            Filter,
            conjunction=st.sampled_from(("and", "or", "or")),
            clauses=st.lists(children, max_size=3),
        ),
    )


def aggregations() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(CountAggregation()),
        st.builds(
            PropertyAggregation,
            func=st.sampled_from(("sum", "max", "min", "avg")),
            property=st.sampled_from(NUMERIC_PROPERTIES),
        ),
        st.builds(UniqueAggregation, property=st.sampled_from(UNIQUE_PROPERTIES)),
    )


def meters(
    aggregation: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Meter]:
    return st.builds(
        Meter,
        id=st.just(METER_ID),
        name=st.just("Random meter"),
        filter=filters(),
        aggregation=aggregations() if aggregation is None else aggregation,
        created_at=st.just(T0),
    )


#: The kinds of event, each as often as it appears.
KINDS = ("use", "use", "use", "use", "credit", "credit", "reset", "system")
#: Mostly credits: logs that exercise the credit algebra of merges.
CREDIT_HEAVY = ("credit", "credit", "credit", "credit", "use", "reset")


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = T0 + timedelta(hours=draw(st.integers(0, 3)))
    moment += timedelta(seconds=draw(st.sampled_from((0, 0, 1, 0.5))))
    if draw(st.booleans()):
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{moment.microsecond:06d}Z" if moment.microsecond else "Z"
        )
    shifted = moment.astimezone(timezone(timedelta(hours=-5)))
    return shifted.isoformat()


@st.composite
def customers(draw: st.DrawFn) -> dict[str, str | None]:
    """The customer keys of one event: one, both or neither."""
    return {
        # A UUID may be written in upper case; it is the same customer.
        "customer_id": draw(
            st.sampled_from((None, *CUSTOMER_IDS, CUSTOMER_IDS[0].upper()))
        ),
        "external_customer_id": draw(st.sampled_from((None, *EXTERNAL_CUSTOMER_IDS))),
    }


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if draw(st.integers(0, 3)):  # the aggregated property is usually there
        result["tokens"] = draw(property_values)
    if draw(st.booleans()):
        result["model"] = draw(model_values)
    if draw(st.booleans()):
        inner: Any = {}
        if draw(st.booleans()):
            inner["model"] = draw(model_values)
        if draw(st.booleans()):
            inner["tokens"] = draw(property_values)
        result["_llm"] = draw(st.sampled_from((inner, inner, "flat")))
    if draw(st.booleans()):
        result["flag"] = draw(st.sampled_from((True, False, None, "true", 1)))
    return result


def meter_ids() -> st.SearchStrategy[str]:
    """The ``meter_id`` of a system event: this meter (in either case) or another."""
    return st.sampled_from((METER_ID, METER_ID, METER_ID.upper(), OTHER_METER_ID))


@st.composite
def events(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """One wire event: a user event, a credit, a reset, or another system event."""
    kind = draw(st.sampled_from(kinds))
    event: dict[str, Any] = {"timestamp": draw(timestamps())}
    event.update(draw(customers()))
    external_id = draw(st.sampled_from((None, None, *EXTERNAL_IDS)))
    if external_id is not None:
        event["external_id"] = external_id
    if kind == "use":
        event["name"] = draw(st.sampled_from(USER_NAMES))
        if draw(st.booleans()):
            event["source"] = "user"
        event["metadata"] = draw(metadata())
    elif kind == "credit":
        event["name"] = "meter.credited"
        event["source"] = "system"
        event["metadata"] = {
            "meter_id": draw(meter_ids()),
            "units": draw(st.integers(-60, 100)),
        }
        rollover = draw(st.sampled_from((None, True, False)))
        if rollover is not None:
            event["metadata"]["rollover"] = rollover
    elif kind == "reset":
        event["name"] = "meter.reset"
        event["source"] = "system"
        event["metadata"] = {"meter_id": draw(meter_ids())}
    else:
        event["name"] = draw(st.sampled_from(("llm", "meter.other")))
        event["source"] = "system"
        event["metadata"] = {"meter_id": draw(meter_ids()), **draw(metadata())}
    return event


def event_logs(
    max_size: int = 30, kinds: tuple[str, ...] = KINDS
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Logs of events of ``kinds`` (repeat a kind to make it more frequent)."""
    return st.lists(events(kinds), max_size=max_size, min_size=min(3, max_size))


def selections() -> st.SearchStrategy[dict[str, str]]:
    """The customer a `usage` call asks for (or nobody in particular)."""
    return st.sampled_from(
        (
            {},
            {"customer_id": CUSTOMER_IDS[0]},
            {"customer_id": CUSTOMER_IDS[1]},
            {"external_customer_id": "acme"},
            {"external_customer_id": "globex"},
            {"customer_id": CUSTOMER_IDS[1], "external_customer_id": "acme"},
        )
    )


def as_event(mapping: dict[str, Any]) -> Event:
    """The `Event` of a wire mapping (its timestamp parsed by the standard library)."""
    fields = dict(mapping)
    fields["timestamp"] = datetime.fromisoformat(
        fields["timestamp"].replace("Z", "+00:00")
    )
    return Event(**fields)


# Garbage ----------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(("2025-01-01T00:00:00Z", "2025-13-01T00:00:00Z", "llm")),
)
#: Values `json.loads` never gives, but a mapping built in Python may hold.
python_scalars = st.sampled_from(
    (
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-1"),
        Decimal("1E+40"),
        b"bytes",
        (1, 2),
        frozenset({1}),
        10**400,
    )
)
garbage_values = st.recursive(
    st.one_of(json_scalars, python_scalars),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(("tokens", "meter_id", "units", "rollover", "x")),
                st.integers(0, 2),  # keys of mixed types: not JSON
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=8,
)
EVENT_KEYS = (
    "name",
    "timestamp",
    "source",
    "customer_id",
    "external_customer_id",
    "external_id",
    "metadata",
)


@st.composite
def garbage_events(draw: st.DrawFn) -> object:
    """A near-valid event with some fields replaced by garbage, or plain garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(garbage_values)
    event: dict[str, Any] = dict(draw(events()))
    for key in draw(st.lists(st.sampled_from(EVENT_KEYS), max_size=3)):
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(garbage_values)
    target = event.get("metadata")
    if isinstance(target, dict) and draw(st.booleans()):
        target = dict(target)
        for key in draw(
            st.lists(
                st.sampled_from(("tokens", "units", "rollover", "_llm", "meter_id")),
                max_size=2,
            )
        ):
            target[key] = draw(garbage_values)
        event["metadata"] = target
    return event
