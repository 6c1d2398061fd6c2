"""`Event.metadata` is a frozen copy (issue 13): the caller's dict cannot change an
event after construction, the event's own cannot be changed, and only JSON values
(finite numbers, bounded nesting) get in."""

from __future__ import annotations

import copy
import math
import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from meterkit import Event, ValidationError, to_json
from meterkit.events import MAX_METADATA_DEPTH, FrozenDict, FrozenList

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def event(metadata: Any) -> Event:
    return Event(name="llm", timestamp=T0, metadata=metadata)


def test_the_callers_metadata_is_copied() -> None:
    given = {"a": [1, {"b": 2}]}
    built = event(given)
    given["a"][1]["b"] = 3  # type: ignore[index]
    given["c"] = 4
    assert built.metadata == {"a": [1, {"b": 2}]}
    assert built == event({"a": [1, {"b": 2}]})


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.__setitem__("x", 1),
        lambda m: m.pop("a"),
        lambda m: m.update(x=1),
        lambda m: m["a"].append(5),
        lambda m: m["a"][1].__setitem__("b", 9),
        lambda m: m["a"].sort(),
    ],
    ids=["set", "pop", "update", "append-nested", "set-nested", "sort-nested"],
)
def test_the_events_metadata_cannot_change(change: Any) -> None:
    built = event({"a": [1, {"b": 2}]})
    with pytest.raises(TypeError, match="Event metadata is frozen"):
        change(built.metadata)
    assert built.metadata == {"a": [1, {"b": 2}]}


def test_frozen_metadata_copies_pickles_and_writes_as_json() -> None:
    built = event({"a": [1, {"b": 2}]})
    assert copy.deepcopy(built.metadata) is built.metadata
    again = pickle.loads(pickle.dumps(built))
    assert again == built
    assert type(again.metadata) is FrozenDict
    assert type(again.metadata["a"]) is FrozenList
    assert '"metadata":{"a":[1,{"b":2}]}' in to_json(built)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError, match=r"metadata\.k\[0\]: must be a finite"):
        event({"k": [bad]})


def test_nesting_is_bounded() -> None:
    deep: Any = 1
    for _ in range(MAX_METADATA_DEPTH - 1):
        deep = [deep]
    event({"k": deep})  # 64 levels, metadata's own object the first: fine
    with pytest.raises(ValidationError, match="nests deeper than 64 levels"):
        event({"k": [deep]})


# What only `Event` checks (events.py, Rule 3), tested without a copy ----------

_BOUND = 2**14_000  # `Event` keeps an int of at most 14,000 bits


class _Text(str):
    pass


def _nested(depth: int) -> Any:
    """``depth`` levels of lists around a 1, the outermost at metadata's depth 1."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("metadata", "plain"),
    [
        ({}, True),
        ({"a": "x", "b": True, "c": None, "d": 0, "e": -1.5, "f": 1e308}, True),
        ({"a": _BOUND - 1, "b": -_BOUND + 1}, True),
        ({"a": [1, "x", None, {"b": [2.5, {}]}], "c": {}}, True),  # nested: walked
        ({"a": _nested(MAX_METADATA_DEPTH - 1)}, True),
        ({"a": _nested(MAX_METADATA_DEPTH)}, False),
        ({"a": _BOUND}, False),
        ({"a": [-_BOUND]}, False),
        ({"a": math.nan}, False),
        ({"a": {"b": math.inf}}, False),
        ({"a": [-math.inf]}, False),
        ({1: "x"}, False),
        ({"a": {2: "x"}}, False),
        ({"a": {1, 2}}, False),
        ({"a": [b"bytes"]}, False),
        # Not plain, yet valid: `frozen_json` decides (and accepts).
        ({"a": (1,)}, False),
        ({"a": _Text("x")}, False),
    ],
)
def test_plain_metadata_passes_only_what_frozen_json_accepts(
    metadata: dict[Any, Any], plain: bool
) -> None:
    from meterkit import MeterkitError
    from meterkit.events import frozen_json, plain_metadata

    assert plain_metadata(metadata) is plain
    try:
        frozen_json(metadata, "metadata")
        accepted = True
    except MeterkitError:
        accepted = False
    assert accepted if plain else True  # never a false "plain"
    if not isinstance(next(iter(metadata.values()), None), (tuple, _Text)):
        assert accepted is plain  # exact dicts, lists and scalars: the same verdict


_WIRE = {"name": "llm", "timestamp": "2025-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ({"id": "evt_1"}, "id", "must be a UUID"),
        ({"id": 7}, "id", "string"),
        ({"metadata": {"k": math.nan}}, "metadata.k", "must be a finite number"),
        ({"metadata": {"k": [1, math.inf]}}, "metadata.k[1]", "must be a finite"),
        ({"metadata": {"k": _BOUND}}, "metadata.k", "too large to write as JSON"),
        ({"metadata": {"k": {2: "x"}}}, "metadata.k", "keys must be strings"),
        ({"metadata": {"k": {1, 2}}}, "metadata.k", "must be a JSON value"),
    ],
)
def test_event_refuses_what_the_engine_never_reads(
    extra: dict[str, Any], path: str, message: str
) -> None:
    from meterkit import MeterkitError, from_dict
    from meterkit.events import read_event

    wire = {**_WIRE, **extra}
    with pytest.raises(MeterkitError, match=message) as from_event:
        from_dict(Event, wire)
    assert from_event.value.path == f"$.{path}"
    read_event(wire, 3)  # the engine reads neither the id nor unread metadata


def test_null_metadata_is_no_metadata_in_event_and_engine() -> None:
    # The engine always read ``"metadata": null`` as none; `Event` now does too.
    from meterkit import from_dict
    from meterkit.events import read_event

    assert from_dict(Event, {**_WIRE, "metadata": None}).metadata == {}
    assert read_event({**_WIRE, "metadata": None}, 0).metadata == {}
    assert event(None).metadata == {}
