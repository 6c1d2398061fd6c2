"""Credit grants and `burn_down`: hand-computed example tables and bad input.

Every case below was worked out by hand from the rules in ``meterkit.grants``:
grants are drawn lower ``priority`` first, then earlier ``expires_at`` (none last),
then earlier ``effective_at``, then ``id``; a grant is in force on
``[effective_at, expires_at)``; events with ``timestamp <= at`` are consumed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import attrs
import pytest

from meterkit import (
    BurnDown,
    CountAggregation,
    CreditGrant,
    Draw,
    Event,
    Filter,
    FilterClause,
    GrantState,
    InvalidTypeError,
    Meter,
    MeterkitError,
    MissingFieldError,
    PropertyAggregation,
    UniqueAggregation,
    ValidationError,
    burn_down,
    from_dict,
    to_dict,
    usage,
)

from .samples import CUSTOMER_ID, METER_ID, T0

OTHER_METER_ID = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
#: Grant ids by letter; their string order is their letter order.
IDS = {letter: f"00000000-0000-4000-8000-00000000000{letter}" for letter in "abcd"}


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def grant(
    letter: str,
    units: int,
    start: float = 0,
    end: float | None = None,
    priority: int = 0,
    **extra: Any,
) -> CreditGrant:
    return CreditGrant(
        id=IDS[letter],
        units=units,
        effective_at=hour(start),
        expires_at=None if end is None else hour(end),
        priority=priority,
        **extra,
    )


def meter(aggregation: Any = None) -> Meter:
    return Meter(
        id=METER_ID,
        name="LLM tokens",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=aggregation or PropertyAggregation(func="sum", property="tokens"),
        created_at=T0,
    )


TOKENS = meter()


def stamp(at: float) -> str:
    return hour(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def use(at: float, tokens: object, customer: str = "acme", **extra: Any) -> Any:
    """A wire event of ``tokens`` at hour ``at`` for the external customer."""
    return {
        "name": "llm",
        "timestamp": stamp(at),
        "external_customer_id": customer,
        "metadata": {"tokens": tokens},
        **extra,
    }


def system(name: str, at: float, **metadata: Any) -> Any:
    return {
        "name": name,
        "source": "system",
        "timestamp": stamp(at),
        "external_customer_id": "acme",
        "metadata": {"meter_id": METER_ID, **metadata},
    }


class Case(NamedTuple):
    grants: list[CreditGrant]
    log: list[Any]
    at: datetime | None
    #: letter -> (status, drawn, remaining, expired)
    states: dict[str, tuple[str, str, str, str]]
    balance: str
    consumed: str
    overage: str
    #: (event index, letter or None, units), in replay order
    draws: list[tuple[int, str | None, str]]
    meter: Meter = TOKENS


CASES = {
    # B expires first, so it pays for the first event; by the second it has expired
    # with 70 left, and A pays.
    "two-grants-different-expiries": Case(
        [grant("a", 100, 0, 48), grant("b", 100, 0, 24)],
        [use(1, 30), use(30, 50)],
        None,
        {
            "a": ("active", "50", "50", "0"),
            "b": ("expired", "30", "0", "70"),
        },
        balance="50",
        consumed="80",
        overage="0",
        draws=[(0, "b", "30"), (1, "a", "50")],
    ),
    # A expires at hour 10 with 60 units left; the event at hour 12 is overage.
    "expires-mid-period-with-units-left": Case(
        [grant("a", 100, 0, 10)],
        [use(2, 40), use(12, 30)],
        hour(20),
        {"a": ("expired", "40", "0", "60")},
        balance="0",
        consumed="70",
        overage="30",
        draws=[(0, "a", "40"), (1, None, "30")],
    ),
    # Priority beats expiry: A (priority 0, no expiry) is spent before B.
    "priority-over-expiry": Case(
        [grant("a", 50), grant("b", 50, 0, 24, priority=1)],
        [use(1, 70)],
        None,
        {
            "a": ("active", "50", "0", "0"),
            "b": ("active", "20", "30", "0"),
        },
        balance="30",
        consumed="70",
        overage="0",
        draws=[(0, "a", "50"), (0, "b", "20")],
    ),
    # Negative priorities come first too.
    "negative-priority-first": Case(
        [grant("a", 50, 0, 2), grant("b", 50, priority=-1)],
        [use(1, 10)],
        None,
        {
            "a": ("active", "0", "50", "0"),
            "b": ("active", "10", "40", "0"),
        },
        balance="90",
        consumed="10",
        overage="0",
        draws=[(0, "b", "10")],
    ),
    # B (expiring) first, then A (no expiry), then overage.
    "overage-after-all-grants-spent": Case(
        [grant("a", 10), grant("b", 20, 0, 48)],
        [use(1, 15), use(2, 20)],
        None,
        {
            "a": ("active", "10", "0", "0"),
            "b": ("active", "20", "0", "0"),
        },
        balance="0",
        consumed="35",
        overage="5",
        draws=[(0, "b", "15"), (1, "b", "5"), (1, "a", "10"), (1, None, "5")],
    ),
    # As of an instant before the expiry, the grant is active with 70 left ...
    "as-of-before-expiry": Case(
        [grant("a", 100, 0, 24)],
        [use(1, 30), use(30, 10)],
        hour(23),
        {"a": ("active", "30", "70", "0")},
        balance="70",
        consumed="30",
        overage="0",
        draws=[(0, "a", "30")],
    ),
    # ... at the expiry itself (exclusive) the 70 are gone ...
    "as-of-at-expiry": Case(
        [grant("a", 100, 0, 24)],
        [use(1, 30), use(30, 10)],
        hour(24),
        {"a": ("expired", "30", "0", "70")},
        balance="0",
        consumed="30",
        overage="0",
        draws=[(0, "a", "30")],
    ),
    # ... and after it, the later event is overage.
    "as-of-after-expiry": Case(
        [grant("a", 100, 0, 24)],
        [use(1, 30), use(30, 10)],
        hour(30),
        {"a": ("expired", "30", "0", "70")},
        balance="0",
        consumed="40",
        overage="10",
        draws=[(0, "a", "30"), (1, None, "10")],
    ),
    # An event exactly at `at` counts; one a second later does not.
    "as-of-includes-its-instant": Case(
        [grant("a", 100)],
        [use(1, 30), {**use(1, 5), "timestamp": "2025-01-01T01:00:01Z"}],
        hour(1),
        {"a": ("active", "30", "70", "0")},
        balance="70",
        consumed="30",
        overage="0",
        draws=[(0, "a", "30")],
    ),
    # As of an instant before any event, nothing is consumed.
    "as-of-before-all-events": Case(
        [grant("a", 100)],
        [use(1, 30)],
        hour(0),
        {"a": ("active", "0", "100", "0")},
        balance="100",
        consumed="0",
        overage="0",
        draws=[],
    ),
    # A grant that is not yet in force: full units, outside the balance; the
    # event before it is overage.
    "not-yet-effective": Case(
        [grant("a", 100, 24)],
        [use(1, 10), use(30, 20)],
        hour(12),
        {"a": ("pending", "0", "100", "0")},
        balance="0",
        consumed="10",
        overage="10",
        draws=[(0, None, "10")],
    ),
    # Without `at`, the result is as of the last event (hour 30): A is in force.
    "not-yet-effective-then-in-force": Case(
        [grant("a", 100, 24)],
        [use(1, 10), use(30, 20)],
        None,
        {"a": ("active", "20", "80", "0")},
        balance="80",
        consumed="30",
        overage="10",
        draws=[(0, None, "10"), (1, "a", "20")],
    ),
    # Without `at`, a grant starting after the last event is pending, and one that
    # expired before it is expired.
    "as-of-last-event": Case(
        [grant("a", 10, 0, 2), grant("b", 10, 10), grant("c", 10)],
        [use(5, 4)],
        None,
        {
            "a": ("expired", "0", "0", "10"),
            "b": ("pending", "0", "10", "0"),
            "c": ("active", "4", "6", "0"),
        },
        balance="6",
        consumed="4",
        overage="0",
        draws=[(0, "c", "4")],
    ),
    # Without `at` and without events there is no instant: every grant is active.
    "no-events-no-instant": Case(
        [grant("a", 10, 0, 2), grant("b", 5, 10)],
        [],
        None,
        {
            "a": ("active", "0", "10", "0"),
            "b": ("active", "0", "5", "0"),
        },
        balance="15",
        consumed="0",
        overage="0",
        draws=[],
    ),
    # Events are replayed in time order; equal timestamps keep log order.
    "ties-keep-log-order": Case(
        [grant("a", 100)],
        [use(2, 5), use(1, 30), use(1, 80)],
        None,
        {"a": ("active", "100", "0", "0")},
        balance="0",
        consumed="115",
        overage="15",
        draws=[(1, "a", "30"), (2, "a", "70"), (2, None, "10"), (0, None, "5")],
    ),
    # When priority and expiry tie, the grant starting earlier goes first (c, even
    # though its id sorts last); grants equal in all three go in id order.
    "grant-ties-by-start-then-id": Case(
        [grant("b", 10, 1, 5), grant("c", 10, 0, 5), grant("a", 10, 1, 5)],
        [use(2, 25)],
        None,
        {
            "a": ("active", "10", "0", "0"),
            "b": ("active", "5", "5", "0"),
            "c": ("active", "10", "0", "0"),
        },
        balance="5",
        consumed="25",
        overage="0",
        draws=[(0, "c", "10"), (0, "a", "10"), (0, "b", "5")],
    ),
    "no-expiry-ties-by-start-then-id": Case(
        [grant("b", 10, 1), grant("c", 10, 0), grant("a", 10, 1)],
        [use(2, 25)],
        None,
        {
            "a": ("active", "10", "0", "0"),
            "b": ("active", "5", "5", "0"),
            "c": ("active", "10", "0", "0"),
        },
        balance="5",
        consumed="25",
        overage="0",
        draws=[(0, "c", "10"), (0, "a", "10"), (0, "b", "5")],
    ),
    # In force from effective_at inclusive to expires_at exclusive.
    "bounds-inclusive-exclusive": Case(
        [grant("a", 10, 1, 2)],
        [use(1, 4), use(2, 3)],
        None,
        {"a": ("expired", "4", "0", "6")},
        balance="0",
        consumed="7",
        overage="3",
        draws=[(0, "a", "4"), (1, None, "3")],
    ),
    # Fractional units are drawn exactly.
    "fractional-units": Case(
        [grant("a", 1)],
        [use(1, 0.25), use(2, 0.5), use(3, 0.5)],
        None,
        {"a": ("active", "1", "0", "0")},
        balance="0",
        consumed="1.25",
        overage="0.25",
        draws=[(0, "a", "0.25"), (1, "a", "0.5"), (2, "a", "0.25"), (2, None, "0.25")],
    ),
    "fractional-units-left": Case(
        [grant("a", 2), grant("b", 1, 0, 10)],
        [use(1, 0.1), use(2, 0.2), use(3, 1.3)],
        None,
        {
            "a": ("active", "0.6", "1.4", "0"),
            "b": ("active", "1", "0", "0"),
        },
        balance="1.4",
        consumed="1.6",
        overage="0",
        draws=[(0, "b", "0.1"), (1, "b", "0.2"), (2, "b", "0.7"), (2, "a", "0.6")],
    ),
    # Only acme's events count; of two with external_id "x" only the first (in log
    # order) does.
    "dedup-and-customer-scope": Case(
        [grant("a", 100)],
        [
            use(1, 10, external_id="x"),
            use(1, 50, customer="globex"),
            use(2, 20, external_id="x"),
            use(3, 5),
            use(3, 7, name="other"),
        ],
        None,
        {"a": ("active", "15", "85", "0")},
        balance="85",
        consumed="15",
        overage="0",
        draws=[(0, "a", "10"), (3, "a", "5")],
    ),
    # The first event of an id in log order holds it, even with a later timestamp.
    "dedup-is-log-order": Case(
        [grant("a", 100)],
        [use(5, 10, external_id="y"), use(1, 99, external_id="y")],
        None,
        {"a": ("active", "10", "90", "0")},
        balance="90",
        consumed="10",
        overage="0",
        draws=[(0, "a", "10")],
    ),
    # ... even when that first event is after `at`: the later duplicate stays out.
    "dedup-before-as-of": Case(
        [grant("a", 100)],
        [use(5, 10, external_id="y"), use(1, 99, external_id="y")],
        hour(2),
        {"a": ("active", "0", "100", "0")},
        balance="100",
        consumed="0",
        overage="0",
        draws=[],
    ),
    # Resets and credits of the meter do not touch grants.
    "resets-and-credits-ignored": Case(
        [grant("a", 100)],
        [
            use(1, 30),
            system("meter.reset", 2),
            system("meter.credited", 2, units=50, rollover=False),
            use(3, 20),
        ],
        None,
        {"a": ("active", "50", "50", "0")},
        balance="50",
        consumed="50",
        overage="0",
        draws=[(0, "a", "30"), (3, "a", "20")],
    ),
    # A system event still holds its external_id, as in `usage`.
    "system-event-holds-its-id": Case(
        [grant("a", 100)],
        [{**system("meter.reset", 1), "external_id": "z"}, use(2, 30, external_id="z")],
        None,
        {"a": ("active", "0", "100", "0")},
        balance="100",
        consumed="0",
        overage="0",
        draws=[],
    ),
    "count-meter": Case(
        [grant("a", 2)],
        [use(1, 30), use(2, 30), use(3, 30)],
        None,
        {"a": ("active", "2", "0", "0")},
        balance="0",
        consumed="3",
        overage="1",
        draws=[(0, "a", "1"), (1, "a", "1"), (2, None, "1")],
        meter=meter(CountAggregation()),
    ),
    # A max meter consumes the rise of the running maximum, decided in log order
    # (as explain reports it) and drawn at each event's time.
    "max-meter": Case(
        [grant("a", 100)],
        [use(1, 10), use(3, 20), use(2, 30)],
        None,
        {"a": ("active", "30", "70", "0")},
        balance="70",
        consumed="30",
        overage="0",
        draws=[(0, "a", "10"), (2, "a", "10"), (1, "a", "10")],
        meter=meter(PropertyAggregation(func="max", property="tokens")),
    ),
    # Issue 13: after a reset a value is new again (what explain reports), so a
    # unique meter draws it again; grants are not wiped.
    "unique-across-a-reset": Case(
        [grant("a", 100)],
        [use(1, 10), use(2, 10), system("meter.reset", 3), use(4, 10)],
        None,
        {"a": ("active", "2", "98", "0")},
        balance="98",
        consumed="2",
        overage="0",
        draws=[(0, "a", "1"), (3, "a", "1")],
        meter=meter(UniqueAggregation(property="tokens")),
    ),
    # As of hour 2 only the events up to it happened: the max is 20, whatever
    # later-timed events sit earlier in the log.
    "max-as-of-with-a-later-event-first-in-the-log": Case(
        [grant("a", 100)],
        [use(5, 30), use(1, 20)],
        hour(2),
        {"a": ("active", "20", "80", "0")},
        balance="80",
        consumed="20",
        overage="0",
        draws=[(1, "a", "20")],
        meter=meter(PropertyAggregation(func="max", property="tokens")),
    ),
    # A unique meter consumes one unit per new value.
    "unique-meter": Case(
        [grant("a", 100)],
        [use(1, 10), use(2, 10), use(3, "10"), use(4, None)],
        None,
        {"a": ("active", "2", "98", "0")},
        balance="98",
        consumed="2",
        overage="0",
        draws=[(0, "a", "1"), (2, "a", "1")],
        meter=meter(UniqueAggregation(property="tokens")),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_burn_down_cases(case: Case) -> None:
    result = burn_down(
        case.meter, case.grants, case.log, external_customer_id="acme", at=case.at
    )
    # Decimals compare by value: Decimal("0.50") == Decimal("0.5").
    states = {
        state.grant.id[-1]: (
            state.status,
            state.drawn_units,
            state.remaining_units,
            state.expired_units,
        )
        for state in result.grants
    }
    assert states == {
        letter: (status, *map(Decimal, units))
        for letter, (status, *units) in case.states.items()
    }
    assert [s.grant for s in result.grants] == case.grants  # in the order given
    assert (result.balance, result.consumed_units, result.overage_units) == (
        Decimal(case.balance),
        Decimal(case.consumed),
        Decimal(case.overage),
    )
    draws = [
        (d.event_index, None if d.grant_id is None else d.grant_id[-1], d.units)
        for d in result.draws
    ]
    assert draws == [(i, g, Decimal(units)) for i, g, units in case.draws]


BAD_ITEMS = [
    pytest.param("ab", "must be a sequence of", id="string"),
    pytest.param({}, "must be a sequence of", id="mapping"),
    pytest.param(5, "must be a sequence of", id="int"),
]


@pytest.mark.parametrize(("bad", "words"), BAD_ITEMS)
@pytest.mark.parametrize("field", ["grants", "draws"])
def test_burn_down_tuple_fields_refuse_non_sequences(
    field: str, bad: object, words: str
) -> None:
    result = burn_down(TOKENS, [grant("a", 5, 0, 24)], [use(1, 2)])
    with pytest.raises(InvalidTypeError) as info:
        attrs.evolve(result, **{field: bad})
    assert info.value.path == field
    assert str(info.value).startswith(f"{field}: {words}")
    with pytest.raises(InvalidTypeError) as info:
        attrs.evolve(result, **{field: [*getattr(result, field), "x"]})
    assert info.value.path == f"{field}[{len(getattr(result, field))}]"


def test_result_instant() -> None:
    log = [use(3, 1), use(1, 1)]
    assert burn_down(TOKENS, [], log).at == hour(3)  # the last event, not log order
    assert burn_down(TOKENS, [], log, at=hour(2)).at == hour(2)
    assert burn_down(TOKENS, [], []).at is None
    offset = timezone(timedelta(hours=2))
    result = burn_down(TOKENS, [], log, at=datetime(2025, 1, 1, 4, tzinfo=offset))
    assert result.at == hour(2)
    assert result.at.tzinfo is timezone.utc


def test_event_objects_and_customer_id() -> None:
    events = [
        Event(name="llm", timestamp=hour(2), customer_id=CUSTOMER_ID.upper(),
              metadata={"tokens": 7}),
        Event(name="llm", timestamp=hour(1), customer_id=CUSTOMER_ID,
              metadata={"tokens": 3}),
        Event(name="llm", timestamp=hour(1), metadata={"tokens": 100}),
    ]  # fmt: skip
    result = burn_down(TOKENS, [grant("a", 5)], events, customer_id=CUSTOMER_ID)
    assert [(d.event_index, str(d.units)) for d in result.draws] == [
        (1, "3"),
        (0, "2"),
        (0, "5"),
    ]
    assert result.overage_units == 5
    everyone = burn_down(TOKENS, [grant("a", 5)], events)
    assert everyone.consumed_units == 110


def test_other_customers_mappings_are_passed_over_as_in_usage() -> None:
    # `usage` passes over another customer's mapping after one lookup; so does
    # `burn_down`, so the two agree on what is an error.
    log = [use(1, 5), {"external_customer_id": "globex"}]
    result = burn_down(TOKENS, [grant("a", 10)], log, external_customer_id="acme")
    expected = usage(TOKENS, log, external_customer_id="acme").consumed_units
    assert result.consumed_units == expected == 5
    with pytest.raises(MissingFieldError) as info:
        burn_down(TOKENS, [grant("a", 10)], log)
    assert info.value.path == "events[1].name"


def test_grants_may_be_any_iterable_and_name_the_meter() -> None:
    grants = (g for g in [grant("a", 5, meter_id=METER_ID.upper())])
    result = burn_down(TOKENS, grants, [use(1, 2)])
    assert result.balance == 3
    assert result.drawn_units == 2


def test_no_grants_is_all_overage() -> None:
    result = burn_down(TOKENS, [], [use(1, 2), use(2, 3)])
    assert (result.balance, result.overage_units, result.drawn_units) == (0, 5, 0)
    assert [d.grant_id for d in result.draws] == [None, None]


def test_state_lookup() -> None:
    result = burn_down(TOKENS, [grant("a", 5), grant("b", 7)], [use(1, 2)])
    assert result.state(uuid.UUID(IDS["b"])).remaining_units == 7
    assert result.state(IDS["a"].upper()).remaining_units == 3
    with pytest.raises(ValidationError) as info:
        result.state(IDS["c"])
    assert (info.value.path, info.value.value) == ("grant_id", IDS["c"])


def test_rollover_does_not_change_the_burn_down() -> None:
    log = [use(1, 3), use(5, 4)]
    plain = burn_down(TOKENS, [grant("a", 5, 0, 4)], log)
    rolled = burn_down(TOKENS, [grant("a", 5, 0, 4, rollover=True)], log)
    assert (plain.balance, plain.overage_units, plain.draws) == (
        rolled.balance,
        rolled.overage_units,
        rolled.draws,
    )
    assert rolled.grants[0].expired_units == 2


# Bad input ---------------------------------------------------------------------


GOOD = {"id": IDS["a"], "units": 10, "effective_at": T0}
NAIVE = datetime(2025, 1, 1)

GRANT_ERRORS = {
    "id-not-uuid": ({"id": "grant-1"}, ValidationError, "id", "grant-1"),
    "id-int": ({"id": 1}, InvalidTypeError, "id", 1),
    "units-zero": ({"units": 0}, ValidationError, "units", 0),
    "units-negative": ({"units": -5}, ValidationError, "units", -5),
    "units-bool": ({"units": True}, InvalidTypeError, "units", True),
    "units-float": ({"units": 10.0}, InvalidTypeError, "units", 10.0),
    "units-str": ({"units": "10"}, InvalidTypeError, "units", "10"),
    "units-huge": ({"units": 10**29}, ValidationError, "units", 10**29),
    "effective-naive": (
        {"effective_at": NAIVE},
        ValidationError,
        "effective_at",
        NAIVE,
    ),
    "effective-text": (
        {"effective_at": "2025-01-01T00:00:00Z"},
        InvalidTypeError,
        "effective_at",
        "2025-01-01T00:00:00Z",
    ),
    "expires-naive": ({"expires_at": NAIVE}, ValidationError, "expires_at", NAIVE),
    "expires-equal": ({"expires_at": T0}, ValidationError, "expires_at", T0),
    "expires-before": (
        {"expires_at": hour(-1)},
        ValidationError,
        "expires_at",
        hour(-1),
    ),
    "priority-bool": ({"priority": False}, InvalidTypeError, "priority", False),
    "priority-float": ({"priority": 1.5}, InvalidTypeError, "priority", 1.5),
    "rollover-int": ({"rollover": 1}, InvalidTypeError, "rollover", 1),
    "rollover-str": ({"rollover": "true"}, InvalidTypeError, "rollover", "true"),
    "meter-id-not-uuid": ({"meter_id": "m"}, ValidationError, "meter_id", "m"),
}


@pytest.mark.parametrize(
    ("changes", "error", "path", "value"),
    GRANT_ERRORS.values(),
    ids=GRANT_ERRORS.keys(),
)
def test_credit_grant_refuses(
    changes: dict[str, Any], error: type[Exception], path: str, value: object
) -> None:
    with pytest.raises(error) as info:
        CreditGrant(**{**GOOD, **changes})
    assert isinstance(info.value, MeterkitError)
    assert type(info.value) is error
    assert (info.value.path, info.value.value) == (path, value)


def test_credit_grant_normalises() -> None:
    offset = timezone(timedelta(hours=-5))
    value = CreditGrant(
        id=uuid.UUID(IDS["a"]),
        units=10,
        effective_at=datetime(2024, 12, 31, 19, tzinfo=offset),
        expires_at=datetime(2025, 1, 1, 1, tzinfo=timezone.utc),
        priority=-3,
        rollover=True,
        meter_id=METER_ID.upper(),
    )
    assert value.id == IDS["a"]
    assert value.effective_at == T0
    assert value.effective_at.tzinfo is timezone.utc
    assert value.meter_id == METER_ID
    assert [f.name for f in attrs.fields(CreditGrant)] == [
        "id",
        "units",
        "effective_at",
        "expires_at",
        "priority",
        "rollover",
        "meter_id",
    ]
    with pytest.raises(TypeError):
        CreditGrant(IDS["a"], 10, T0)  # type: ignore[misc]  # keywords only
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        value.units = 5  # type: ignore[misc]  # frozen


def test_in_force() -> None:
    value = grant("a", 1, 1, 2)
    assert [value.in_force(hour(h)) for h in (0.5, 1, 1.5, 2)] == [
        False,
        True,
        True,
        False,
    ]
    assert grant("a", 1, 1).in_force(hour(10**5))


BURN_DOWN_ERRORS = {
    "duplicate-grant-id": (
        {"grants": [grant("a", 1), grant("b", 1), grant("a", 2, 5)]},
        ValidationError,
        "grants[2].id",
        IDS["a"],
    ),
    "grant-not-a-credit-grant": (
        {"grants": [grant("a", 1), {"id": IDS["b"], "units": 1}]},
        InvalidTypeError,
        "grants[1]",
        {"id": IDS["b"], "units": 1},
    ),
    "grant-for-another-meter": (
        {"grants": [grant("a", 1), grant("b", 1, meter_id=OTHER_METER_ID)]},
        ValidationError,
        "grants[1].meter_id",
        OTHER_METER_ID,
    ),
    "grants-one-grant-not-a-list": (
        {"grants": grant("a", 1)},
        InvalidTypeError,
        "grants",
        grant("a", 1),
    ),
    "grants-none": ({"grants": None}, InvalidTypeError, "grants", None),
    "grants-text": ({"grants": "a"}, InvalidTypeError, "grants", "a"),
    "at-naive": ({"at": NAIVE}, ValidationError, "at", NAIVE),
    "at-text": (
        {"at": "2025-01-01T00:00:00Z"},
        InvalidTypeError,
        "at",
        "2025-01-01T00:00:00Z",
    ),
    "meter-not-a-meter": ({"meter": "m"}, InvalidTypeError, "meter", "m"),
    "avg-meter": (
        {"meter": meter(PropertyAggregation(func="avg", property="tokens"))},
        ValidationError,
        "meter.aggregation.func",
        "avg",
    ),
    "min-meter": (
        {"meter": meter(PropertyAggregation(func="min", property="tokens"))},
        ValidationError,
        "meter.aggregation.func",
        "min",
    ),
    "customer-id-not-uuid": (
        {"customer_id": "acme"},
        ValidationError,
        "customer_id",
        "acme",
    ),
    "bad-event": (
        {"events": [use(1, 1), {**use(2, 1), "timestamp": "2025-01-01T02:00:00"}]},
        ValidationError,
        "events[1].timestamp",
        "2025-01-01T02:00:00",
    ),
    "negative-tokens": (
        {"events": [use(1, 1), use(2, -1)]},
        ValidationError,
        "events[1].metadata.tokens",
        -1,
    ),
}


@pytest.mark.parametrize(
    ("changes", "error", "path", "value"),
    BURN_DOWN_ERRORS.values(),
    ids=BURN_DOWN_ERRORS.keys(),
)
def test_burn_down_refuses(
    changes: dict[str, Any], error: type[Exception], path: str, value: object
) -> None:
    arguments: dict[str, Any] = {
        "meter": TOKENS,
        "grants": [grant("a", 1)],
        "events": [use(1, 1)],
        **changes,
    }
    with pytest.raises(error) as info:
        burn_down(**arguments)
    assert isinstance(info.value, MeterkitError)
    assert type(info.value) is error
    assert (info.value.path, info.value.value) == (path, value)


def test_duplicate_grant_error_names_the_first() -> None:
    with pytest.raises(ValidationError, match=r"duplicates grants\[0\]\.id"):
        burn_down(TOKENS, [grant("a", 1), grant("a", 1)], [])


# The result types check themselves ----------------------------------------------


def _result() -> BurnDown:
    return burn_down(
        TOKENS, [grant("a", 10, 0, 2), grant("b", 5)], [use(1, 4), use(3, 8)]
    )


def test_result_of_the_sample() -> None:
    result = _result()
    assert [(s.status, s.remaining_units) for s in result.grants] == [
        ("expired", 0),
        ("active", 0),
    ]
    assert (result.balance, result.overage_units, result.drawn_units) == (0, 3, 9)


RESULT_ERRORS = {
    "balance": ({"balance": 1}, "balance"),
    "overage": ({"overage_units": 2}, "overage_units"),
    "consumed": ({"consumed_units": 11}, "consumed_units"),
    "draw-of-unknown-grant": (
        {"draws": [Draw(event_index=0, grant_id=IDS["c"], units=4)]},
        "draws[0].grant_id",
    ),
    "draws-missing": ({"draws": []}, "grants[0].drawn_units"),
    "grant-twice": ({"grants": "twice"}, "grants[1].grant.id"),
    "draws-not-draws": ({"draws": [(0, None, 1)]}, "draws[0]"),
    "draws-not-iterable": ({"draws": None}, "draws"),
    "negative-balance": ({"balance": -1}, "balance"),
}


@pytest.mark.parametrize(
    ("changes", "path"), RESULT_ERRORS.values(), ids=RESULT_ERRORS.keys()
)
def test_burn_down_value_checks_its_sums(changes: dict[str, Any], path: str) -> None:
    result = _result()
    if changes.get("grants") == "twice":
        changes = {"grants": [result.grants[0], result.grants[0]]}
    with pytest.raises(ValidationError) as info:
        attrs.evolve(result, **changes)
    assert info.value.path == path


STATE_ERRORS = {
    "sum": ({"remaining_units": 1}, "remaining_units"),
    "pending-drew": (
        {"status": "pending", "drawn_units": 1, "remaining_units": 9},
        "drawn_units",
    ),
    "expired-with-remaining": (
        {"status": "expired", "remaining_units": 4, "expired_units": 0},
        "remaining_units",
    ),
    "active-with-expired": (
        {"status": "active", "remaining_units": 0, "expired_units": 4},
        "expired_units",
    ),
    "status": ({"status": "spent"}, "status"),
    "grant": ({"grant": "a"}, "grant"),
}


@pytest.mark.parametrize(
    ("changes", "path"), STATE_ERRORS.values(), ids=STATE_ERRORS.keys()
)
def test_grant_state_checks_itself(changes: dict[str, Any], path: str) -> None:
    state = GrantState(
        grant=grant("a", 10),
        status="active",
        drawn_units=6,
        remaining_units=4,
        expired_units=0,
    )
    with pytest.raises(ValidationError) as info:
        attrs.evolve(state, **changes)
    assert info.value.path == path


DRAW_ERRORS = {
    "zero-units": ({"units": 0}, "units"),
    "negative-index": ({"event_index": -1}, "event_index"),
    "bad-grant-id": ({"grant_id": "g"}, "grant_id"),
}


@pytest.mark.parametrize(
    ("changes", "path"), DRAW_ERRORS.values(), ids=DRAW_ERRORS.keys()
)
def test_draw_checks_itself(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        Draw(**{"event_index": 0, "grant_id": None, "units": Decimal(1), **changes})
    assert info.value.path == path


# Serialization -------------------------------------------------------------------


def test_credit_grant_shapes() -> None:
    value = grant("a", 10, 0, 24.5, priority=2, rollover=True, meter_id=METER_ID)
    wire = to_dict(value)
    assert wire == {
        "id": IDS["a"],
        "units": 10,
        "effective_at": "2025-01-01T00:00:00Z",
        "expires_at": "2025-01-02T00:30:00Z",
        "priority": 2,
        "rollover": True,
        "meter_id": METER_ID,
    }
    camel = to_dict(value, style="camel")
    assert list(camel) == [
        "id",
        "units",
        "effectiveAt",
        "expiresAt",
        "priority",
        "rollover",
        "meterId",
    ]
    assert from_dict(CreditGrant, wire) == value
    assert from_dict(CreditGrant, camel, style="camel") == value
    plain = grant("a", 10)
    assert from_dict(CreditGrant, to_dict(plain)) == plain
    assert to_dict(plain)["expires_at"] is None


SHAPE_ERRORS = {
    "rollover-text": ("rollover", "true", InvalidTypeError, "$.rollover"),
    "rollover-int": ("rollover", 1, InvalidTypeError, "$.rollover"),
    "units-bool": ("units", True, InvalidTypeError, "$.units"),
    "units-zero": ("units", 0, ValidationError, "$.units"),
    "naive-effective": (
        "effective_at",
        "2025-01-01T00:00:00",
        ValidationError,
        "$.effective_at",
    ),
    "expires-first": (
        "expires_at",
        "2024-12-31T00:00:00Z",
        ValidationError,
        "$.expires_at",
    ),
    "meter-id": ("meter_id", 5, InvalidTypeError, "$.meter_id"),
}


@pytest.mark.parametrize(
    ("key", "raw", "error", "path"), SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys()
)
def test_credit_grant_shape_errors(
    key: str, raw: object, error: type[Exception], path: str
) -> None:
    document = to_dict(grant("a", 10))
    document[key] = raw
    with pytest.raises(error) as info:
        from_dict(CreditGrant, document)
    assert type(info.value) is error
    assert info.value.path == path


def test_credit_grant_missing_key() -> None:
    document = to_dict(grant("a", 10))
    del document["effective_at"]
    with pytest.raises(MissingFieldError) as info:
        from_dict(CreditGrant, document)
    assert info.value.path == "$.effective_at"
