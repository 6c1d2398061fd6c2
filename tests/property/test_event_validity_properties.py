"""One validity: the engine refuses a wire event exactly when `Event` refuses it.

SPEC.md section 3: every function fully validates each event in its scope (bad
id, non-finite or out-of-range number, wrong types), whether or not it counts.
`Event` is the definition of a valid event; the engine reads wire mappings
without building one (`events.read_event`, and the generated fast scans), so
these properties hold the readings equal on random events, valid, with one
defect, with several, with random metadata trees (NaN, infinities, huge ints,
deep nesting, keys that are not strings, values that are not JSON), and with an
``id`` of any kind:

1. `read_event` refuses a mapping exactly when ``from_dict(Event, ...)`` does,
   with the same error class and field for an event of one defect, and its fast
   test (`events.plain_metadata`, which walks without copying) passes metadata
   exactly when `events.frozen_json` accepts it;
2. `usage`, `usage_by_customer` and a `UsageAccumulator` (whose meter has a fast
   scan) refuse a one-event log exactly when `Event` refuses the event, for a
   meter that reads nothing the event holds, so that only the event's own
   validity is asked.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterkit import (
    CountAggregation,
    Event,
    Filter,
    FilterClause,
    Meter,
    MeterkitError,
    UsageAccumulator,
    from_dict,
    usage,
    usage_by_customer,
)
from meterkit._fastscan import fast_scan
from meterkit._verdicts import Scan
from meterkit.events import frozen_json, plain_metadata, read_event
from meterkit.matching import CompiledMeter

from . import engine_strategies as es

#: A count of the events named ``llm``: its filter reads ``name`` only, and its
#: fresh id is no system event's ``meter_id``, so it refuses nothing `Event` accepts.
METER = Meter(
    id=uuid.UUID(int=7),
    name="validity",
    filter=Filter(clauses=(FilterClause(property="name", operator="eq", value="llm"),)),
    aggregation=CountAggregation(),
    created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
)


def _lists(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


#: Leaves of metadata trees: JSON scalars, and what `Event` refuses among them.
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from((2**14_000 - 1, 2**14_000, -(2**14_000))),
    st.floats(),  # NaN and infinities included
    st.text(max_size=5),
    st.sampled_from(({1, 2}, b"bytes", object())),
    # Lists 62 and 63 levels deep: within `Event`'s 64 or past it, by where
    # they sit in the tree.
    st.sampled_from((_lists(62), _lists(63))),
)
TREES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), children),
    ),
    max_leaves=12,
)
#: Event ids: UUIDs in any letter case, near misses, other types.
EVENT_IDS = st.one_of(
    st.sampled_from(es.BAD_EVENT_IDS),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids(),  # a uuid.UUID object: JSON has none, `Event`'s reading refuses it
    st.text(max_size=40),
)


@st.composite
def wire_events(draw: st.DrawFn) -> tuple[object, bool]:
    """``(event, single)``: a wire event, and whether it has at most one defect."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(es.malformed_events()), True
    if kind == 1:
        return draw(es.garbage_events()), False
    # Mostly user events in the API's timestamp layout: what the fast scans
    # decide inline (anything else goes to the scan).
    event = dict(draw(es.events(("use", "use", "use", "credit", "system"))))
    if draw(st.integers(0, 3)):
        event["timestamp"] = "2025-01-01T01:00:00Z"
    if kind == 2:
        metadata = event.get("metadata")
        if isinstance(metadata, dict):
            event["metadata"] = {**metadata, **draw(st.dictionaries(st.text(), TREES))}
    else:
        event["id"] = draw(EVENT_IDS)
    return event, False


def refusal(action: Any) -> tuple[type[MeterkitError], str | None] | None:
    """The class and path of the `MeterkitError` ``action`` raises, else None."""
    try:
        action()
    except MeterkitError as exc:
        return type(exc), exc.path
    return None


@given(wire_events())
def test_read_event_refuses_exactly_what_event_refuses(
    drawn: tuple[object, bool],
) -> None:
    event, single = drawn
    by_event = refusal(lambda: from_dict(Event, event))
    by_engine = refusal(lambda: read_event(event, 4))
    assert (by_event is None) == (by_engine is None), (event, by_event, by_engine)
    if single and by_event is not None and by_engine is not None:
        assert by_engine[0] is by_event[0]
        assert by_event[1] is not None
        assert by_event[1].startswith("$")
        assert by_engine[1] == "events[4]" + by_event[1][1:]


@given(st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), TREES))
def test_the_fast_metadata_test_is_frozen_jsons_verdict(
    metadata: dict[Any, Any],
) -> None:
    # The trees hold only exact dicts, lists and scalars (no tuples, no
    # subclasses), where the fast test must decide, not defer to `frozen_json`.
    accepted = refusal(lambda: frozen_json(metadata, "m", decimals=True)) is None
    assert plain_metadata(metadata) is accepted


def _fold(log: list[object]) -> None:
    accumulator = UsageAccumulator(METER)
    accumulator.update(log)
    accumulator.usage()


def primed(event: object) -> list[object]:
    """``event`` after a valid event of the same customer: the fast scans decide
    an event inline only once its customer is known (its id checked)."""
    if not isinstance(event, dict):
        return [event]
    primer = {
        "name": "api",
        "timestamp": "2025-01-01T00:00:00Z",
        "customer_id": event.get("customer_id"),
    }
    return [event] if refusal(lambda: from_dict(Event, primer)) else [primer, event]


@given(wire_events())
def test_the_folds_refuse_exactly_what_event_refuses(
    drawn: tuple[object, bool],
) -> None:
    event, _ = drawn
    assert fast_scan(Scan(CompiledMeter(METER))) is not None  # the fast path runs
    expected = refusal(lambda: from_dict(Event, event)) is not None
    log = primed(event)
    calls = {
        "usage": lambda: usage(METER, log),
        "usage (generator)": lambda: usage(METER, iter(log)),
        "UsageAccumulator": lambda: _fold(log),
    }
    if isinstance(event, dict) and isinstance(event.get("customer_id"), str):
        calls["usage_by_customer"] = lambda: usage_by_customer(METER, log)
    for name, call in calls.items():
        assert (refusal(call) is not None) == expected, (name, event)


def test_a_float_leaf_is_checked_as_event_checks_it() -> None:
    # `plain_metadata` tests finiteness by ``v - v == 0.0``: every float kind.
    for value in (0.0, -0.0, 5e-324, 1.7976931348623157e308, math.nan, math.inf):
        wire = {"name": "llm", "timestamp": "2025-01-01T00:00:00Z"}
        wire["metadata"] = {"k": value}
        by_event = refusal(lambda wire=wire: from_dict(Event, wire))
        assert refusal(lambda wire=wire: usage(METER, [wire])) == (
            None if by_event is None else (by_event[0], "events[0].metadata.k")
        )
