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
