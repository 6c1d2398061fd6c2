"""What only `Event` checks, and the strict reading of ``meterkit validate``.

events.py, Rules 2 and 3: the engine (`events.read_event`) checks an event's
fields with `Event`'s rules; an `Event` also checks what the engine never reads
(an ``id`` that is not a UUID; anywhere in ``metadata`` a NaN, an int too large
to write, a key that is not a string, nesting past 64 levels).
``meterkit validate --strict`` refuses those too, reading with ``from_dict`` only
the events its quick test (`cli._validate._event_problem`, built on
`events.plain_metadata`) cannot pass. On random events (valid, with one defect,
with several, with random metadata trees and ``id`` values of any kind):

1. `plain_metadata` passes metadata exactly when `events.frozen_json` accepts it;
2. `Event` is at least as strict as the engine: what it accepts, `read_event`
   accepts, and an event of one defect the engine refuses is refused by `Event`
   at the same field;
3. the strict reading is `Event`'s: the engine's verdict and `_event_problem`
   together refuse exactly what ``from_dict(Event, ...)`` refuses.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterkit import Event, MeterkitError, from_dict
from meterkit.cli._validate import _event_problem
from meterkit.events import frozen_json, plain_metadata, read_event

from . import engine_strategies as es


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
    st.sampled_from(("evt_1", "", 7, "992fae2a-2a17-4b7a-8d9e-e287cf90131", True)),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
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
    event = dict(draw(es.events()))
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


@given(st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), TREES))
def test_the_quick_metadata_test_is_frozen_jsons_verdict(
    metadata: dict[Any, Any],
) -> None:
    # The trees hold only exact dicts, lists and scalars (no tuples, no
    # subclasses), where the quick test must decide, not defer to `frozen_json`.
    accepted = refusal(lambda: frozen_json(metadata, "m")) is None
    assert plain_metadata(metadata) is accepted


@given(wire_events())
def test_event_is_at_least_as_strict_as_the_engine(
    drawn: tuple[object, bool],
) -> None:
    event, single = drawn
    by_event = refusal(lambda: from_dict(Event, event))
    by_engine = refusal(lambda: read_event(event, 4))
    if by_event is None:
        assert by_engine is None, (event, by_engine)
    if single and by_engine is not None:
        assert by_event is not None
        assert by_event[0] is by_engine[0]
        assert by_event[1] is not None
        assert by_engine[1] == "events[4]" + by_event[1][1:]


@given(wire_events())
def test_the_strict_reading_refuses_exactly_what_event_refuses(
    drawn: tuple[object, bool],
) -> None:
    event, _ = drawn
    by_event = refusal(lambda: from_dict(Event, event))
    strict = (
        refusal(lambda: read_event(event, 0)) is not None
        or _event_problem(event) is not None
    )
    assert strict == (by_event is not None), (event, by_event)


def test_what_only_event_refuses_is_read_by_the_engine() -> None:
    wire = {"name": "llm", "timestamp": "2025-01-01T00:00:00Z"}
    for extra in (
        {"id": "evt_1"},
        {"metadata": {"unread": math.nan}},
        {"metadata": {"unread": _lists(64)}},
        {"metadata": {"unread": {1: "one"}}},
    ):
        read_event({**wire, **extra}, 0)  # no error: the engine never reads them
        assert refusal(lambda extra=extra: from_dict(Event, {**wire, **extra}))
        assert isinstance(_event_problem({**wire, **extra}), MeterkitError)
    assert _event_problem({**wire, "metadata": None}) is None
