"""The size limits of a filter tree (`MAX_FILTER_DEPTH`, `MAX_FILTER_CLAUSES`).

A filter is built bottom-up, and each `Filter` refuses, at construction, a tree
over either limit, measured without recursion. So no filter that exists can exhaust
the stack of anything that walks it, and the limits hold for constructors and
documents alike.
"""

from __future__ import annotations

import copy
import pickle
import sys
from typing import Any

import attrs
import pytest

from meterkit import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    ValidationError,
    from_dict,
    from_json,
    matches,
    to_dict,
    to_json,
)
from meterkit.meters import MAX_FILTER_CLAUSES, MAX_FILTER_DEPTH

from .samples import METER_ID, T0

CLAUSE = FilterClause(property="name", operator="eq", value="llm")
EVENT = {"name": "llm", "timestamp": "2025-01-01T00:00:00Z", "metadata": {}}


def chain(depth: int) -> Filter:
    """A filter ``depth`` levels deep: each level holds the next, the last a clause."""
    filter_ = Filter(clauses=[CLAUSE])
    for _ in range(depth - 1):
        filter_ = Filter(clauses=[filter_])
    return filter_


def meter(filter_: Filter) -> Meter:
    return Meter(
        id=METER_ID,
        name="Test meter",
        filter=filter_,
        aggregation=CountAggregation(),
        created_at=T0,
    )


def test_the_limits_are_the_documented_ones() -> None:
    assert (MAX_FILTER_DEPTH, MAX_FILTER_CLAUSES) == (32, 1000)


def test_a_filter_may_nest_to_the_depth_limit() -> None:
    assert matches(meter(chain(MAX_FILTER_DEPTH)), EVENT) is True


def test_one_level_more_is_refused_naming_clauses_and_the_limit() -> None:
    deepest = chain(MAX_FILTER_DEPTH)
    with pytest.raises(ValidationError) as info:
        Filter(clauses=[deepest])
    message = str(info.value)
    assert message.startswith("clauses: ")
    assert f"at most {MAX_FILTER_DEPTH} levels" in message
    assert f"(got {MAX_FILTER_DEPTH + 1})" in message


def test_building_100_000_levels_bottom_up_stops_at_the_limit() -> None:
    # The error, not a RecursionError or a crash, at the first level too many.
    filter_, built, error = Filter(clauses=[CLAUSE]), 1, None
    for _ in range(100_000):
        try:
            filter_ = Filter(clauses=[filter_])
        except ValidationError as exc:
            error = exc
            break
        built += 1
    assert built == MAX_FILTER_DEPTH
    assert str(error).startswith("clauses: must nest at most 32 levels")


def test_depth_counts_the_deepest_branch() -> None:
    shallow = Filter(clauses=[CLAUSE, CLAUSE])
    deep = chain(MAX_FILTER_DEPTH - 1)
    assert Filter(clauses=[shallow, deep, CLAUSE])  # 32 levels
    with pytest.raises(ValidationError, match="levels"):
        Filter(clauses=[shallow, Filter(clauses=[deep]), CLAUSE])


def test_a_flat_filter_may_hold_the_clause_limit() -> None:
    for conjunction in ("and", "or"):
        filter_ = Filter(conjunction=conjunction, clauses=[CLAUSE] * MAX_FILTER_CLAUSES)
        assert matches(meter(filter_), EVENT) is True


@pytest.mark.parametrize(
    "clauses",
    [
        pytest.param([CLAUSE] * (MAX_FILTER_CLAUSES + 1), id="flat"),
        # A nested filter counts as a clause: 999 + 1 + 1 entries.
        pytest.param(
            [Filter(clauses=[CLAUSE] * (MAX_FILTER_CLAUSES - 1)), CLAUSE],
            id="nested-filter-counts",
        ),
        # Two children within the limit, 1,202 entries together.
        pytest.param(
            [Filter(clauses=[CLAUSE] * 600), Filter(clauses=[CLAUSE] * 600)],
            id="children-add-up",
        ),
    ],
)
def test_more_clauses_than_the_limit_are_refused(clauses: list[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        Filter(clauses=clauses)
    message = str(info.value)
    assert message.startswith("clauses: ")
    assert f"at most {MAX_FILTER_CLAUSES} clauses" in message


def test_clause_count_is_exact_in_the_message() -> None:
    with pytest.raises(ValidationError, match=r"\(got 1001\)"):
        Filter(clauses=[Filter(clauses=[CLAUSE] * 999), CLAUSE])
    assert Filter(clauses=[Filter(clauses=[CLAUSE] * 998), CLAUSE])  # 1000


def test_a_million_clauses_are_refused_without_a_crash() -> None:
    with pytest.raises(ValidationError, match=r"\(got 1000000\)"):
        Filter(clauses=[CLAUSE] * 1_000_000)


def test_the_limits_add_no_field() -> None:
    # No attrs field: equality, hash, repr and the JSON shape are what they were.
    assert [f.name for f in attrs.fields(Filter)] == ["conjunction", "clauses"]
    filter_ = Filter(clauses=[CLAUSE])
    assert to_dict(filter_) == {
        "conjunction": "and",
        "clauses": [{"property": "name", "operator": "eq", "value": "llm"}],
    }
    assert filter_ == Filter(clauses=(CLAUSE,))
    assert hash(filter_) == hash(Filter(clauses=(CLAUSE,)))
    assert repr(filter_) == f"Filter(conjunction='and', clauses=({CLAUSE!r},))"


def largest() -> Filter:
    """A tree at both limits: 32 levels, 1000 clauses in all."""
    filter_ = Filter(clauses=[CLAUSE] * (MAX_FILTER_CLAUSES - (MAX_FILTER_DEPTH - 1)))
    for _ in range(MAX_FILTER_DEPTH - 1):
        filter_ = Filter(conjunction="or", clauses=[filter_])
    return filter_


def test_every_walk_of_the_largest_filter_fits_a_shallow_stack() -> None:
    # The largest filter that can exist, walked with only a few hundred frames of
    # stack to spare: comparing, hashing, printing, copying, pickling, JSON both
    # ways, compiling and matching.
    filter_ = largest()
    the_meter = meter(filter_)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + 400)
    try:
        assert filter_ == largest()
        assert hash(filter_) == hash(largest())
        assert repr(filter_).startswith("Filter(conjunction='or'")
        assert copy.deepcopy(filter_) == filter_
        assert pickle.loads(pickle.dumps(filter_)) == filter_
        assert matches(the_meter, EVENT) is True
    finally:
        sys.setrecursionlimit(limit)
    assert from_dict(Meter, to_dict(the_meter)) == the_meter
    assert from_json(Meter, to_json(the_meter)) == the_meter


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


def test_a_document_over_the_depth_limit_is_refused_at_its_path() -> None:
    document = to_dict(meter(chain(MAX_FILTER_DEPTH)))
    document["filter"] = {"conjunction": "and", "clauses": [document["filter"]]}
    with pytest.raises(ValidationError) as info:
        from_dict(Meter, document)
    message = str(info.value)
    assert message.startswith("$.filter.clauses: must nest at most 32 levels")


def test_a_document_over_the_clause_limit_is_refused_at_its_path() -> None:
    document = to_dict(meter(Filter(clauses=[CLAUSE])))
    document["filter"]["clauses"] *= MAX_FILTER_CLAUSES + 1
    with pytest.raises(ValidationError, match=r"^\$\.filter\.clauses: must hold"):
        from_dict(Meter, document)


@pytest.mark.parametrize("depth", [33, 40, 5000])
@pytest.mark.parametrize("style", ["wire", "camel"])
def test_a_document_too_deep_gets_the_constructors_error(
    depth: int, style: str
) -> None:
    # Issue 13: documents and constructors share one limit and one message,
    # however deep the document (the structuring recursion used to run out of
    # stack first and say so instead).
    document: dict[str, object] = {
        "conjunction": "and",
        "clauses": [{"property": "name", "operator": "eq", "value": "x"}],
    }
    for _ in range(depth - 1):
        document = {"conjunction": "and", "clauses": [document]}
    with pytest.raises(ValidationError) as caught:
        from_dict(Filter, document, style=style)  # type: ignore[arg-type]
    levels_above = depth - (MAX_FILTER_DEPTH + 1)
    assert caught.value.path == "$" + ".clauses[0]" * levels_above + ".clauses"
    assert caught.value.reason == (
        f"must nest at most {MAX_FILTER_DEPTH} levels of filters "
        f"(got {MAX_FILTER_DEPTH + 1})"
    )
