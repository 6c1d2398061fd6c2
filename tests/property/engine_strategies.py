"""Hypothesis builders for the metering engine: meters, event logs, garbage events.

Rule 1: everything is drawn from a small vocabulary (a few names, properties,
values, customers, external ids and timestamps), so that random filters match random
events often, duplicates and resets are common, readings of ``latest`` often share a
timestamp (twelve instants, in two layouts), and every branch of the engine runs.
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
            func=st.sampled_from(("sum", "max", "min", "avg", "latest")),
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


# Verdicts: mixed-case ids, malformed events, invalid duplicates, feeds, grants ------
#
# Builders for tests/property/test_verdict_properties.py (one verdict per event).
# Malformed events carry exactly one defect each, so that the first refused event
# of a log is refused at one field, whichever function reads it.

#: Timestamps laid out as RFC 3339 with a zone that name no instant: 2025 has no
#: Feb 29, no leap second was inserted at the end of 2025-01-01, month 13 and hour
#: 25 do not exist.
IMPOSSIBLE_TIMESTAMPS = (
    "2025-02-29T00:00:00Z",
    "2025-01-01T23:59:60Z",
    "2025-13-45T99:99:99Z",
    "2025-04-31T00:00:00+01:00",
    "2025-01-01T25:00:00-05:00",
)
#: Strings that are not UUIDs, some of them near misses of one.
BAD_UUIDS = (
    "992fae2a-2a17-4b7a-8d9e-e287cf90131",
    "992fae2a-2a17-4b7a-8d9e-e287cf90131bb",
    "992fae2a2a174b7a8d9ee287cf90131b0000",
    "zz2fae2a-2a17-4b7a-8d9e-e287cf90131b",
    "acme",
)
#: ``units`` of a ``meter.credited`` event that are not an int (None: key absent).
BAD_CREDIT_UNITS = ("ten", "10", True, 1.5, 10.0, None)
#: ``rollover`` of a ``meter.credited`` event that is present and not a bool.
BAD_ROLLOVERS = (None, "true", 1, 0)
#: Values of an aggregated property that no meter may take as a number.
BAD_NUMBERS = (
    float("nan"),
    float("inf"),
    float("-inf"),
    -1,
    -0.5,
    10**29,
    1e300,
)
#: Grant ids, in string order.
GRANT_IDS = tuple(f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5))
#: How a test hands a log to meterkit.
FORMS = ("list", "tuple", "generator")


@st.composite
def recased(draw: st.DrawFn, value: str) -> str:
    """``value`` with each letter in a random case."""
    mask = draw(st.integers(0, 2 ** len(value) - 1))
    return "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(value))


@st.composite
def recased_events(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """`events`, with the ``customer_id`` (a UUID of `CUSTOMER_IDS`) in mixed case."""
    event = draw(events(kinds))
    if event.get("customer_id") is not None and draw(st.booleans()):
        event["customer_id"] = draw(recased(event["customer_id"].lower()))
    return event


def _with_path(metadata: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of ``metadata`` with ``value`` at the dot ``path`` (nested objects)."""
    result = dict(metadata)
    head, _, rest = path.removeprefix("metadata.").partition(".")
    if rest:
        inner = result.get(head)
        result[head] = _with_path(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        result[head] = value
    return result


#: What `malformed_events` may break, each as often as it appears.
DEFECTS = (
    "timestamp",
    "timestamp",
    "customer_id",
    "number",
    "number",
    "credit_units",
    "rollover",
    "shape",
)


@st.composite
def malformed_events(draw: st.DrawFn, defects: tuple[str, ...] = DEFECTS) -> Any:
    """A wire event with exactly one defect, of any customer (or of nobody).

    - ``timestamp``: an `IMPOSSIBLE_TIMESTAMPS` text, on any kind of event;
    - ``customer_id``: not a UUID (the event often has an external_customer_id, so
      that a caller asking for that one has it in scope);
    - ``number``: NaN, an infinity, a negative or an out-of-range number in an
      aggregated property (`NUMERIC_PROPERTIES`) of a user event;
    - ``credit_units`` / ``rollover``: a ``meter.credited`` event for this meter with
      ``units`` not an int (or absent) / ``rollover`` present and not a bool;
    - ``shape``: a field of the wrong type or an empty id, or no mapping at all.
    """
    defect = draw(st.sampled_from(defects))
    if defect == "timestamp":
        event = draw(events())
        event["timestamp"] = draw(st.sampled_from(IMPOSSIBLE_TIMESTAMPS))
    elif defect == "customer_id":
        event = draw(events())
        event["customer_id"] = draw(st.sampled_from(BAD_UUIDS))
        if draw(st.integers(0, 3)):
            event["external_customer_id"] = draw(st.sampled_from(EXTERNAL_CUSTOMER_IDS))
    elif defect == "number":
        event = draw(events(("use",)))
        event["metadata"] = _with_path(
            event["metadata"],
            draw(st.sampled_from(NUMERIC_PROPERTIES)),
            draw(st.sampled_from(BAD_NUMBERS)),
        )
    elif defect in ("credit_units", "rollover"):
        event = draw(events(("credit",)))
        event["metadata"] = dict(event["metadata"], meter_id=draw(recased(METER_ID)))
        if defect == "credit_units":
            units = draw(st.sampled_from(BAD_CREDIT_UNITS))
            if units is None:
                del event["metadata"]["units"]
            else:
                event["metadata"]["units"] = units
        else:
            event["metadata"]["rollover"] = draw(st.sampled_from(BAD_ROLLOVERS))
    else:
        event = draw(events())
        key, value = draw(
            st.sampled_from(
                (
                    ("metadata", 5),
                    ("metadata", ["tokens"]),
                    ("name", ""),
                    ("name", 7),
                    ("source", "admin"),
                    ("external_id", ""),
                    ("external_customer_id", 5),
                    ("timestamp", "2025-01-01T00:00:00"),
                    ("timestamp", 1735689600),
                    (None, None),
                )
            )
        )
        if key is None:
            return draw(st.sampled_from((42, "event", ["name", "llm"], None)))
        event[key] = value
    return event


@st.composite
def invalid_duplicates(draw: st.DrawFn, log: list[Any]) -> list[Any]:
    """``log`` with a later event that repeats an earlier one's ``external_id`` (and
    its customer keys) and is invalid: a negative or non-finite number, a credit
    for this meter with bad units, or an impossible timestamp."""
    log = list(log)
    candidates = [i for i, e in enumerate(log) if isinstance(e, dict)]
    if not candidates:
        return log
    first = draw(st.sampled_from(candidates))
    original = dict(log[first])
    if original.get("external_id") is None:
        original["external_id"] = draw(st.sampled_from(EXTERNAL_IDS))
        log[first] = original
    defect = draw(st.sampled_from(("number", "number", "credit_units", "timestamp")))
    duplicate = draw(malformed_events((defect,)))
    for key in ("customer_id", "external_customer_id", "external_id"):
        duplicate[key] = original.get(key)
    if defect == "number":
        # Every numeric property at once: any sum/max/min/avg meter reads it.
        bad = draw(st.sampled_from((-5, -0.25, float("nan"), float("inf"))))
        for path in NUMERIC_PROPERTIES:
            duplicate["metadata"] = _with_path(duplicate["metadata"], path, bad)
    later = draw(st.integers(first + 1, len(log)))
    log.insert(later, duplicate)
    return log


@st.composite
def echoes(draw: st.DrawFn, log: list[Any]) -> list[Any]:
    """``log`` with 1-3 echoes: copies of its user events (same customer, same
    metadata, no external_id) placed later in the log but earlier in time, so that
    log order and time order disagree on which of the two comes first."""
    log = list(log)
    for _ in range(draw(st.integers(1, 3))):
        users = [
            i
            for i, e in enumerate(log)
            if isinstance(e, dict) and e.get("source", "user") == "user"
        ]
        if not users:
            break
        first = draw(st.sampled_from(users))
        echo = {k: v for k, v in log[first].items() if k != "external_id"}
        echo["timestamp"] = draw(
            st.sampled_from(("2024-12-31T23:30:00Z", "2024-12-31T18:59:59-05:00"))
        )
        log.insert(draw(st.integers(first + 1, len(log))), echo)
    return log


@st.composite
def verdict_logs(
    draw: st.DrawFn,
    max_size: int = 15,
    kinds: tuple[str, ...] = KINDS,
    max_malformed: int = 3,
    invalid_duplicate: bool = False,
) -> list[Any]:
    """Wire logs with mixed-case customer ids, duplicates, resets, credits, other
    meters' system events, other customers' events, and up to ``max_malformed``
    `malformed_events` anywhere in the log (and, when asked, an
    `invalid_duplicates` event)."""
    log: list[Any] = draw(
        st.lists(recased_events(kinds), min_size=min(3, max_size), max_size=max_size)
    )
    for _ in range(draw(st.integers(0, max_malformed))):
        log.insert(draw(st.integers(0, len(log))), draw(malformed_events()))
    if invalid_duplicate:
        log = draw(invalid_duplicates(log))
    return log


def try_event(event: Any) -> Any:
    """The `Event` of a wire event, or the event itself when it cannot be one."""
    if not isinstance(event, dict):
        return event
    try:
        return as_event(event)
    except (ValueError, TypeError, AttributeError, KeyError):  # malformed: a mapping
        return event


@st.composite
def mixed_forms(draw: st.DrawFn, log: list[Any]) -> tuple[list[Any], str]:
    """``(items, form)``: ``log`` with some events as `Event` objects, and one of
    `FORMS` to hand it over in (see `feed`)."""
    items = [try_event(e) if draw(st.booleans()) else e for e in log]
    return items, draw(st.sampled_from(FORMS))


def feed(items: list[Any], form: str) -> Any:
    """A fresh iterable over ``items`` in ``form``: a list, a tuple or a generator."""
    if form == "list":
        return list(items)
    if form == "tuple":
        return tuple(items)
    return (item for item in items)


@st.composite
def grant_lists(draw: st.DrawFn) -> list[Any]:
    """0-4 `CreditGrant`s in force around the hours of the logs, some expiring."""
    from meterkit import CreditGrant

    grants = []
    for grant_id in draw(st.lists(st.sampled_from(GRANT_IDS), unique=True)):
        start = T0 + timedelta(minutes=30 * draw(st.integers(-2, 6)))
        length = draw(st.one_of(st.none(), st.integers(1, 8)))
        grants.append(
            CreditGrant(
                id=grant_id,
                units=draw(st.integers(1, 60)),
                effective_at=start,
                expires_at=None
                if length is None
                else start + timedelta(minutes=30 * length),
                priority=draw(st.integers(0, 2)),
            )
        )
    return grants


__all__ += [
    "BAD_CREDIT_UNITS",
    "BAD_NUMBERS",
    "BAD_ROLLOVERS",
    "BAD_UUIDS",
    "DEFECTS",
    "FORMS",
    "GRANT_IDS",
    "IMPOSSIBLE_TIMESTAMPS",
    "echoes",
    "feed",
    "grant_lists",
    "invalid_duplicates",
    "malformed_events",
    "mixed_forms",
    "recased",
    "recased_events",
    "try_event",
    "verdict_logs",
]
