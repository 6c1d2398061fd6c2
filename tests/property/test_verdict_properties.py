"""One verdict per event: every function reads an event the same way.

SPEC.md section 3: each function fully validates each event in its scope, with the
same customer test (UUIDs in any case), the same dedup, the same refusals, and the
same numbers. These properties put the functions side by side on the same random
logs (lists, tuples, generators; `Event` objects and wire mappings mixed; mixed-case
customer ids, duplicates, resets, credits, other meters' and other customers'
events, malformed events) and ask that they agree:

1. agreement: `quantities`, `aggregate`, `matches` and `usage` count the same;
2. refusals: `usage`, `quantities`, `build_subscription_meter`, `burn_down`,
   `explain` and `usage_by_customer` refuse the same logs, naming the same event;
3. chunks: a chunked fold refuses exactly when one fold does, else equals it;
4. mixed case: a wire customer_id in any case is the customer, as in an `Event`;
5. explain: its counted units add up to `usage`, its draws to its units.

Which function is right is not asked here (test_usage_properties.py holds the
oracle); that they give one answer is.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

import meterkit
from meterkit import (
    CountAggregation,
    Event,
    Meter,
    MeteredUnitPrice,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    UsageAccumulator,
    aggregate,
    build_subscription_meter,
    burn_down,
    explain,
    matches,
    quantities,
    usage,
)

from . import engine_strategies as es

# Helpers -----------------------------------------------------------------------

#: A range whose buckets hold every event of the logs (they fall on 2025-01-01
#: between 00:00 and 03:00 UTC), in every interval and time zone below.
START = es.T0 - timedelta(days=1)
END = es.T0 + timedelta(days=1)
INTERVALS = ("hour", "day", "week", "month", "year")
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Etc/GMT-14")
PRICE = MeteredUnitPrice(unit_amount="1", meter_id=es.METER_ID)
SUBSCRIPTION_ID = "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10"
#: The aggregations `burn_down` can draw down event by event.
DRAWABLE = ("count", "sum", "max", "unique")
BY = ("customer_id", "external_customer_id")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_EVENT_PATH = re.compile(r"events\[(\d+)\]")
#: Each property runs several functions over every example, and drawing a log is
#: not cheap: half the profile's examples keep this file near 20 s locally.
HALF = settings(max_examples=max(1, settings().max_examples // 2))


class Verdict(NamedTuple):
    """What a call did: its value, or the `path` of the `MeterkitError` it raised."""

    raised: bool
    path: str | None
    value: Any


def verdict(action: Callable[[], Any]) -> Verdict:
    """Run ``action``; a `MeterkitError` is a verdict, anything else a failure."""
    try:
        return Verdict(False, None, action())
    except MeterkitError as exc:
        return Verdict(True, exc.path, None)


def refusal(result: Verdict) -> tuple[bool, str | None]:
    return result.raised, result.path


def event_index(path: str | None) -> int:
    """The ``i`` of an error path ``events[i]...``; the path must name an event."""
    found = _EVENT_PATH.match(path or "")
    assert found is not None, f"the error names no event: path={path!r}"
    return int(found.group(1))


def shifted(path: str | None, offset: int) -> str:
    """An error path of a chunk, with the event's index in the whole log."""
    found = _EVENT_PATH.match(path or "")
    assert found is not None, f"the error names no event: path={path!r}"
    assert path is not None
    return f"events[{int(found.group(1)) + offset}]{path[found.end() :]}"


def with_aggregation(func: str) -> st.SearchStrategy[Any]:
    if func == "count":
        return st.just(CountAggregation())
    if func == "unique":
        return st.builds(
            UniqueAggregation, property=st.sampled_from(es.UNIQUE_PROPERTIES)
        )
    return st.builds(
        PropertyAggregation,
        func=st.just(func),
        property=st.sampled_from(es.NUMERIC_PROPERTIES),
    )


def meters_of(*funcs: str) -> st.SearchStrategy[Meter]:
    """Random meters whose aggregation is one of ``funcs``."""
    return es.meters(st.one_of([with_aggregation(f) for f in funcs]))


Call = Callable[[Any], Any]


def calls(
    meter: Meter, selection: dict[str, str], grants: list[Any]
) -> dict[str, Call]:
    """Every function that reads one customer's events, as ``events -> result``.

    `build_subscription_meter` bills one customer (it needs a selection), and
    `burn_down` takes the aggregations that cannot fall; the period and the range
    hold every event of the logs.
    """
    result: dict[str, Call] = {
        "usage": lambda events: usage(meter, events, **selection),
        "quantities": lambda events: quantities(
            meter, events, start=START, end=END, interval="day", **selection
        ),
        "explain": lambda events: explain(meter, events, **selection),
    }
    if selection:
        result["build_subscription_meter"] = lambda events: build_subscription_meter(
            meter,
            PRICE,
            events,
            start=START,
            end=END,
            id=SUBSCRIPTION_ID,
            **selection,
        )
    if meter.aggregation.func in DRAWABLE:
        result["burn_down"] = lambda events: burn_down(
            meter, grants, events, **selection
        )
        result["explain with grants"] = lambda events: explain(
            meter, events, grants=grants, **selection
        )
    return result


def owner(event: Any, by: str) -> str | bool | None:
    """The customer an event belongs to for ``usage_by_customer(by=by)``: the key in
    canonical form, ``None`` when the event has no such key, ``False`` when the key
    cannot be read or is malformed (the event then belongs to no valid customer)."""
    if isinstance(event, Event):
        key = getattr(event, by)
    elif isinstance(event, dict):
        key = event.get(by)
    else:
        return False
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        return False
    if by == "customer_id":
        return key.lower() if _UUID.fullmatch(key) else False
    return key


def strip_external_ids(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``log`` without duplicates: every external_id removed or made unique."""
    return [
        dict(e, external_id=f"unique-{i}")
        if i % 2
        else {k: v for k, v in e.items() if k != "external_id"}
        for i, e in enumerate(log)
    ]


# 1. Agreement -------------------------------------------------------------------

#: Logs without credits and resets (other meters' system events stay).
NO_CREDITS_NO_RESETS = ("use", "use", "use", "system")
#: Logs without resets.
NO_RESETS = ("use", "use", "use", "credit", "system")


@HALF
@given(
    meter=meters_of("count", "sum", "latest"),
    log=es.verdict_logs(kinds=NO_CREDITS_NO_RESETS, max_malformed=0),
    selection=es.selections(),
    interval=st.sampled_from(INTERVALS),
    zone=st.sampled_from(ZONES),
    data=st.data(),
)
def test_quantities_total_is_usage_consumed(
    meter: Meter,
    log: list[dict[str, Any]],
    selection: dict[str, str],
    interval: str,
    zone: str,
    data: st.DataObject,
) -> None:
    # SPEC: quantities() counts exactly the events usage() would consume, bucketed;
    # for count and sum the total is the sum of the buckets, for latest the latest
    # value over the range (the newest event's bucket holds it).
    items, form = data.draw(es.mixed_forms(log))
    series = quantities(
        meter,
        es.feed(items, form),
        start=START,
        end=END,
        interval=interval,
        timezone=zone,
        **selection,
    )
    consumed = usage(meter, es.feed(items, form), **selection).consumed_units
    assert series.total == consumed
    if meter.aggregation.func == "latest":
        assert consumed in {q.quantity for q in series.quantities} | {Decimal(0)}
    else:
        assert sum((q.quantity for q in series.quantities), Decimal(0)) == consumed


@HALF
@given(
    meter=es.meters(),
    log=es.verdict_logs(kinds=NO_CREDITS_NO_RESETS, max_malformed=0),
    data=st.data(),
)
def test_aggregate_is_usage_of_the_whole_log(
    meter: Meter, log: list[dict[str, Any]], data: st.DataObject
) -> None:
    # SPEC: dedup holds in every function; aggregate() scopes the whole log.
    items, form = data.draw(es.mixed_forms(log))
    assert (
        aggregate(meter, es.feed(items, form))
        == usage(meter, es.feed(items, form)).consumed_units
    )


@HALF
@given(
    meter=meters_of("count"),
    log=es.verdict_logs(kinds=NO_RESETS, max_malformed=0),
    data=st.data(),
)
def test_matches_counts_what_a_count_aggregate_counts(
    meter: Meter, log: list[dict[str, Any]], data: st.DataObject
) -> None:
    # Without duplicates, a count meter's quantity is the number of events that
    # `matches` accepts; system events (credits, others) never match.
    items, form = data.draw(es.mixed_forms(strip_external_ids(log)))
    matched = sum(1 for event in items if matches(meter, event))
    assert aggregate(meter, es.feed(items, form)) == matched
    assert usage(meter, es.feed(items, form)).consumed_units == matched


# 2. Same refusals ---------------------------------------------------------------


@HALF
@given(
    meter=es.meters(),
    log=es.verdict_logs(),
    selection=es.selections(),
    grants=es.grant_lists(),
    data=st.data(),
)
def test_every_function_refuses_the_same_logs(
    meter: Meter,
    log: list[Any],
    selection: dict[str, str],
    grants: list[Any],
    data: st.DataObject,
) -> None:
    # SPEC: every function fully validates each event in its scope, meter checks
    # before dedup and resets; an event of another customer may be passed over
    # "by every function alike". So one log, one customer: one verdict.
    items, form = data.draw(es.mixed_forms(log))
    verdicts = {
        name: refusal(verdict(lambda call=call: call(es.feed(items, form))))
        for name, call in calls(meter, selection, grants).items()
    }
    expected = verdicts["usage"]
    assert all(v == expected for v in verdicts.values()), verdicts
    if expected[0]:
        event_index(expected[1])


@st.composite
def own_malformed(draw: st.DrawFn, by: str, asked: str) -> tuple[dict[str, Any], str]:
    """``(event, field)``: an event of the asked customer with one defect that any
    meter refuses, and the field an error must name."""
    defect = draw(st.sampled_from(("timestamp", "credit_units", "rollover", "shape")))
    if defect == "shape":
        event = draw(es.events())
        keys = ["metadata", "name", "source", "external_id", "timestamp"]
        if by == "external_customer_id":
            keys.append("customer_id")
        field = draw(st.sampled_from(keys))
        event[field] = draw(
            st.sampled_from(
                {
                    "metadata": (5, ["tokens"], "tokens"),
                    "name": ("", 7, None),
                    "source": ("admin", "", 1),
                    "external_id": ("", 5),
                    "timestamp": (
                        "2025-01-01T00:00:00",
                        1735689600,
                        *es.IMPOSSIBLE_TIMESTAMPS,
                    ),
                    "customer_id": es.BAD_UUIDS,
                }[field]
            )
        )
    else:
        event = draw(es.malformed_events((defect,)))
        field = {
            "timestamp": "timestamp",
            "credit_units": "metadata.units",
            "rollover": "metadata.rollover",
        }[defect]
    event[by] = draw(es.recased(asked)) if by == "customer_id" else asked
    return event, field


@HALF
@given(
    meter=es.meters(),
    log=es.verdict_logs(max_malformed=0),
    by=st.sampled_from(BY),
    grants=es.grant_lists(),
    data=st.data(),
)
def test_a_malformed_event_of_the_customer_is_refused_by_name(
    meter: Meter,
    log: list[Any],
    by: str,
    grants: list[Any],
    data: st.DataObject,
) -> None:
    # The other side of the property above: all agreeing to accept a bad event of
    # the customer is no answer. Meter-independent defects and bad credits for this
    # meter are refused wherever they are (after a duplicate id, before a reset).
    asked = data.draw(
        st.sampled_from(es.CUSTOMER_IDS if by == "customer_id" else ("acme", "globex"))
    )
    bad, field = data.draw(own_malformed(by, asked))
    position = data.draw(st.integers(0, len(log)))
    items, form = data.draw(es.mixed_forms([*log[:position], bad, *log[position:]]))
    for name, call in calls(meter, {by: asked}, grants).items():
        result = verdict(lambda call=call: call(es.feed(items, form)))
        assert result.raised, f"{name} accepted {bad!r}"
        assert result.path == f"events[{position}].{field}", name


@HALF
@given(
    meter=es.meters(),
    log=es.verdict_logs(),
    by=st.sampled_from(BY),
    data=st.data(),
)
def test_usage_by_customer_is_the_usage_of_each_customer(
    meter: Meter, log: list[Any], by: str, data: st.DataObject
) -> None:
    # For every key k on the events, usage_by_customer(m, ev, by=b)[k] equals
    # usage(m, ev, **{b: k}); keys are those present (canonical UUIDs), events
    # without the key belong to no one. So it refuses what some customer's usage
    # refuses (the first such event in log order, unless it stops earlier at an
    # event that belongs to no valid customer) and otherwise returns every usage.
    items, form = data.draw(es.mixed_forms(log))
    owners = [owner(event, by) for event in items]
    keys = {k for k in owners if isinstance(k, str)}
    per = {
        k: verdict(lambda k=k: usage(meter, es.feed(items, form), **{by: k}))
        for k in keys
    }
    got = verdict(
        lambda: meterkit.usage_by_customer(meter, es.feed(items, form), by=by)
    )
    refused = sorted((event_index(v.path), v.path) for v in per.values() if v.raised)
    if not got.raised:
        assert not refused, f"usage refuses {refused[0]}, usage_by_customer does not"
        assert got.value == {k: v.value for k, v in per.items()}
        return
    index = event_index(got.path)
    if refused and index == refused[0][0]:
        assert got.path == refused[0][1]
    else:
        assert not refused or index < refused[0][0], (got.path, refused)
        assert not isinstance(owners[index], str), (
            f"refused {got.path}, an event of {owners[index]!r}, whose usage accepts it"
        )


# 3. Chunked folds ----------------------------------------------------------------


@HALF
@given(
    meter=es.meters(),
    log=es.verdict_logs(max_malformed=1, invalid_duplicate=True),
    selection=es.selections(),
    data=st.data(),
)
def test_a_chunked_fold_refuses_exactly_when_one_fold_does(
    meter: Meter,
    log: list[Any],
    selection: dict[str, str],
    data: st.DataObject,
) -> None:
    # SPEC: meter checks apply before dedup and resets, "so a chunked fold raises
    # exactly when one fold does and merged chunks always equal one fold". Chunks
    # are folded apart (in parallel, say): the first chunk at the start of the log,
    # the others at_start=False; the first refusal names the same event.
    items, form = data.draw(es.mixed_forms(log))
    one = verdict(lambda: usage(meter, es.feed(items, form), **selection))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=4)))
    bounds = [0, *cuts, len(items)]
    parts = []
    first_refusal = None
    for number, (low, high) in enumerate(itertools.pairwise(bounds)):
        part = UsageAccumulator(meter, **selection, at_start=number == 0)
        folded = verdict(
            lambda p=part, a=low, b=high: p.update(es.feed(items[a:b], form))
        )
        if folded.raised and first_refusal is None:
            first_refusal = shifted(folded.path, low)
        parts.append(part)
    assert one.raised == (first_refusal is not None), (one, first_refusal)
    if one.raised:
        assert first_refusal == one.path
    else:
        merged = functools.reduce(lambda a, b: a.merge(b), parts)
        assert merged.usage() == one.value


# 4. Mixed case -------------------------------------------------------------------


@HALF
@given(
    meter=es.meters(),
    log=es.event_logs(max_size=15),
    asked=st.sampled_from(es.CUSTOMER_IDS),
    also_external=st.sampled_from((None, "acme")),
    grants=es.grant_lists(),
    data=st.data(),
)
def test_a_mixed_case_customer_id_is_the_customer(
    meter: Meter,
    log: list[dict[str, Any]],
    asked: str,
    also_external: str | None,
    grants: list[Any],
    data: st.DataObject,
) -> None:
    # SPEC: customer_ids are UUIDs compared in canonical form, "any letter case, in
    # an Event or a mapping". The asked customer's events as wire mappings with the
    # id in random case, or as `Event` objects: every function, the same result.
    def mine(event: dict[str, Any]) -> bool:
        return str(event.get("customer_id")).lower() == asked

    wire = [
        dict(e, customer_id=data.draw(es.recased(asked))) if mine(e) else e for e in log
    ]
    objects = [es.as_event(e) if mine(e) else e for e in log]
    selection = {"customer_id": data.draw(es.recased(asked))}
    if also_external is not None:
        selection["external_customer_id"] = also_external
    form = data.draw(st.sampled_from(es.FORMS))
    for name, call in calls(meter, selection, grants).items():
        assert call(es.feed(wire, form)) == call(es.feed(objects, form)), name


# 5. explain agrees with usage and burn_down ----------------------------------------


@HALF
@given(
    meter=meters_of("count", "sum", "unique", "max", "min", "avg", "latest"),
    log=es.verdict_logs(max_malformed=0),
    selection=es.selections(),
    data=st.data(),
)
def test_explain_counts_what_usage_consumes(
    meter: Meter, log: list[Any], selection: dict[str, str], data: st.DataObject
) -> None:
    # One entry per event, in log order; the counted units of count, sum and unique
    # add up to consumed_units, and the last counted entry carries it.
    items, form = data.draw(es.mixed_forms(log))
    entries = explain(meter, es.feed(items, form), **selection)
    consumed = usage(meter, es.feed(items, form), **selection).consumed_units
    assert [e.index for e in entries] == list(range(len(items)))
    counted = [e for e in entries if e.kind == "counted"]
    if meter.aggregation.func in ("count", "sum", "unique"):
        assert sum((e.units for e in counted), Decimal(0)) == consumed
    assert (counted[-1].consumed_units if counted else Decimal(0)) == consumed


def check_draws(
    meter: Meter, items: list[Any], selection: dict[str, str], grants: list[Any]
) -> None:
    """Each counted entry's draws add up to its units; only counted events (and
    events a reset wiped) draw."""
    entries = explain(meter, items, grants=grants, **selection)
    for entry in entries:
        drawn = sum((d.units for d in entry.draws), Decimal(0))
        if entry.kind == "counted":
            assert entry.units is not None, entry
            assert drawn == entry.units, entry
        elif entry.kind != "before_reset":
            assert not entry.draws, entry


@HALF
@given(
    meter=meters_of(*DRAWABLE),
    log=es.verdict_logs(kinds=NO_RESETS, max_malformed=0),
    selection=es.selections(),
    grants=es.grant_lists(),
    data=st.data(),
)
def test_explain_draws_add_up_to_units_without_resets(
    meter: Meter,
    log: list[Any],
    selection: dict[str, str],
    grants: list[Any],
    data: st.DataObject,
) -> None:
    # The logs are not in time order (the events fall on four hours, at random,
    # and echoes of earlier events come later with an earlier time): an event's
    # units must be one number, whether explain or burn_down says it.
    items, _ = data.draw(es.mixed_forms(data.draw(es.echoes(log))))
    check_draws(meter, items, selection, grants)
    consumed = usage(meter, items, **selection).consumed_units
    entries = explain(meter, items, **selection)
    assert burn_down(meter, grants, items, **selection).consumed_units == consumed
    if meter.aggregation.func != "max":
        units = [e.units for e in entries if e.kind == "counted"]
        assert sum(units, Decimal(0)) == consumed


@HALF
@given(
    meter=meters_of(*DRAWABLE),
    log=es.verdict_logs(max_malformed=0),
    selection=es.selections(),
    grants=es.grant_lists(),
    data=st.data(),
)
def test_explain_draws_add_up_to_units_with_resets(
    meter: Meter,
    log: list[Any],
    selection: dict[str, str],
    grants: list[Any],
    data: st.DataObject,
) -> None:
    # Resets start a new window for usage (a unique value seen before a reset is
    # new after it); each counted entry's draws still add up to its units.
    items, _ = data.draw(es.mixed_forms(data.draw(es.echoes(log))))
    check_draws(meter, items, selection, grants)
