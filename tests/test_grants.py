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
    # Without a recurrence, a grant gives its units once and forfeits nothing.
    for state in result.grants:
        assert (state.granted_units, state.forfeited_units) == (state.grant.units, 0)
        assert state.refills == 0
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


# Recurring grants ------------------------------------------------------------------


def utc(text: str) -> datetime:
    """An instant written as a local ISO time with an offset, or in UTC with Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def use_at(text: str, tokens: object) -> Any:
    """A wire event of ``tokens`` at the RFC 3339 instant ``text``."""
    return {
        "name": "llm",
        "timestamp": text,
        "external_customer_id": "acme",
        "metadata": {"tokens": tokens},
    }


def recurring(
    letter: str,
    units: int,
    start: str,
    recurrence: str,
    max_rollover: int = 0,
    end: str | None = None,
    **extra: Any,
) -> CreditGrant:
    return CreditGrant(
        id=IDS[letter],
        units=units,
        effective_at=utc(start),
        expires_at=None if end is None else utc(end),
        recurrence=recurrence,
        max_rollover=max_rollover,
        **extra,
    )


class RefillCase(NamedTuple):
    grants: list[CreditGrant]
    log: list[Any]
    at: str | None
    #: letter -> (status, drawn, remaining, expired, granted, forfeited)
    states: dict[str, tuple[str, str, str, str, str, str]]
    balance: str
    consumed: str
    overage: str
    #: (event index, letter or None, units), in replay order
    draws: list[tuple[int, str | None, str]]


REFILL_CASES = {
    # 100 a month from Jan 1, nothing carried over: Jan 10 leaves 70, all forfeited
    # at the Feb 1 refill (back to 100); Feb 10 leaves 50, forfeited on Mar 1;
    # Mar 10 leaves 80. Granted 3 x 100 = 100 drawn + 80 left + 120 forfeited.
    "monthly-twice-no-rollover": RefillCase(
        [recurring("a", 100, "2025-01-01T00:00:00Z", "month")],
        [
            use_at("2025-01-10T00:00:00Z", 30),
            use_at("2025-02-10T00:00:00Z", 50),
            use_at("2025-03-10T00:00:00Z", 20),
        ],
        "2025-03-15T00:00:00Z",
        {"a": ("active", "100", "80", "0", "300", "120")},
        balance="80",
        consumed="100",
        overage="0",
        draws=[(0, "a", "30"), (1, "a", "50"), (2, "a", "20")],
    ),
    # The same with up to 60 carried over: Feb 1 takes 70 to min(70, 60) + 100 =
    # 160 (10 forfeited); Feb 10 leaves 110; Mar 1 takes it to 60 + 100 = 160 (50
    # forfeited); Mar 10 leaves 140. 100 + 140 + 60 = 300.
    "monthly-twice-with-rollover": RefillCase(
        [recurring("a", 100, "2025-01-01T00:00:00Z", "month", 60)],
        [
            use_at("2025-01-10T00:00:00Z", 30),
            use_at("2025-02-10T00:00:00Z", 50),
            use_at("2025-03-10T00:00:00Z", 20),
        ],
        "2025-03-15T00:00:00Z",
        {"a": ("active", "100", "140", "0", "300", "60")},
        balance="140",
        consumed="100",
        overage="0",
        draws=[(0, "a", "30"), (1, "a", "50"), (2, "a", "20")],
    ),
    # Spent on Jan 31 with 50 of overage; the event at the refill instant itself
    # (Feb 1 00:00, inclusive) draws on the refilled grant. Nothing was left to
    # forfeit. As of the last event.
    "spent-then-event-at-the-refill-instant": RefillCase(
        [recurring("a", 100, "2025-01-01T00:00:00Z", "month")],
        [use_at("2025-01-31T23:00:00Z", 150), use_at("2025-02-01T00:00:00Z", 30)],
        None,
        {"a": ("active", "130", "70", "0", "200", "0")},
        balance="70",
        consumed="180",
        overage="50",
        draws=[(0, "a", "100"), (0, None, "50"), (1, "a", "30")],
    ),
    # From Jan 31 in a leap year the refills fall on Feb 29, Mar 31 and Apr 30 (all
    # counted from Jan 31, so not Mar 29). An hour before the Feb 29 refill the
    # first 10 are spent; at it, 10 more; on Mar 30 there is nothing (overage);
    # at Mar 31 12:00 a refill again. As of Apr 30 12:00, the third refill (at
    # that instant) forfeits the 6 left.
    "from-jan-31-clamped-in-a-leap-year": RefillCase(
        [recurring("a", 10, "2024-01-31T12:00:00Z", "month")],
        [
            use_at("2024-02-29T11:00:00Z", 10),
            use_at("2024-02-29T12:00:00Z", 10),
            use_at("2024-03-30T12:00:00Z", 5),
            use_at("2024-03-31T12:00:00Z", 4),
        ],
        "2024-04-30T12:00:00Z",
        {"a": ("active", "24", "10", "0", "40", "6")},
        balance="10",
        consumed="29",
        overage="5",
        draws=[(0, "a", "10"), (1, "a", "10"), (2, None, "5"), (3, "a", "4")],
    ),
    # Not a leap year: the first refill is Feb 28, the second Mar 31.
    "from-jan-31-clamped-in-2025": RefillCase(
        [recurring("a", 10, "2025-01-31T00:00:00Z", "month")],
        [
            use_at("2025-02-28T00:00:00Z", 10),
            use_at("2025-03-28T00:00:00Z", 10),
            use_at("2025-03-31T00:00:00Z", 1),
        ],
        None,
        {"a": ("active", "11", "9", "0", "30", "10")},
        balance="9",
        consumed="21",
        overage="10",
        draws=[(0, "a", "10"), (1, None, "10"), (2, "a", "1")],
    ),
    # Weekly (a Wednesday) with up to 3 carried over: 7 -> 2 (Jan 2); Jan 8:
    # 2 + 7 = 9; Jan 10 spends 9; Jan 15: 7; Jan 16: 6 left; as of Jan 22 (the
    # third refill): min(6, 3) + 7 = 10, 3 forfeited.
    "weekly-with-rollover": RefillCase(
        [recurring("a", 7, "2025-01-01T00:00:00Z", "week", 3)],
        [
            use_at("2025-01-02T00:00:00Z", 5),
            use_at("2025-01-10T00:00:00Z", 9),
            use_at("2025-01-16T00:00:00Z", 1),
        ],
        "2025-01-22T00:00:00Z",
        {"a": ("active", "15", "10", "0", "28", "3")},
        balance="10",
        consumed="15",
        overage="0",
        draws=[(0, "a", "5"), (1, "a", "9"), (2, "a", "1")],
    ),
    # Daily, expiring Jan 4: refills on Jan 2 and Jan 3 only (none at the expiry).
    # 10 -> 2 (Jan 1); Jan 2: 2 + 10 = 12; Jan 3: 5 + 10 = 15 (7 forfeited); 3
    # drawn leaves 12, which expire; Jan 5 is overage.
    "daily-stopped-by-expiry": RefillCase(
        [
            recurring(
                "a", 10, "2025-01-01T00:00:00Z", "day", 5, end="2025-01-04T00:00:00Z"
            )
        ],
        [
            use_at("2025-01-01T06:00:00Z", 8),
            use_at("2025-01-03T12:00:00Z", 3),
            use_at("2025-01-05T00:00:00Z", 4),
        ],
        None,
        {"a": ("expired", "11", "0", "12", "30", "7")},
        balance="0",
        consumed="15",
        overage="4",
        draws=[(0, "a", "8"), (1, "a", "3"), (2, None, "4")],
    ),
    # Yearly from Feb 29: refills on Feb 28 of 2025 and 2026. 1000 -> 200; the
    # 2025 refill: 200 + 1000 = 1200; 100 drawn; the 2026 one: 500 + 1000 (600
    # forfeited).
    "yearly-from-feb-29": RefillCase(
        [recurring("a", 1000, "2024-02-29T00:00:00Z", "year", 500)],
        [use_at("2024-06-01T00:00:00Z", 800), use_at("2025-03-01T00:00:00Z", 100)],
        "2026-03-01T00:00:00Z",
        {"a": ("active", "900", "1500", "0", "3000", "600")},
        balance="1500",
        consumed="900",
        overage="0",
        draws=[(0, "a", "800"), (1, "a", "100")],
    ),
    # Daily at midnight in New York across the spring change (Mar 9, 2025): the
    # refills are at 05:00Z on Mar 9 (EST) and at 04:00Z on Mar 10 (EDT), not
    # every 24 hours. 10 -> 6 a minute before the first; 6 forfeited at it and 10
    # drawn; at 04:00Z on Mar 10 (a 24-hour step would say 05:00Z) 3 drawn from
    # the second refill.
    "new-york-daily-across-spring-forward": RefillCase(
        [
            recurring(
                "a", 10, "2025-03-08T00:00:00-05:00", "day", timezone="America/New_York"
            )
        ],
        [
            use_at("2025-03-09T04:59:00Z", 4),
            use_at("2025-03-09T05:00:00Z", 10),
            use_at("2025-03-10T04:00:00Z", 3),
        ],
        "2025-03-10T12:00:00Z",
        {"a": ("active", "17", "7", "0", "30", "6")},
        balance="7",
        consumed="17",
        overage="0",
        draws=[(0, "a", "4"), (1, "a", "10"), (2, "a", "3")],
    ),
    # Monthly at midnight in New York across the autumn change (Nov 2, 2025): Nov
    # 2 00:00 EDT is 04:00Z, Dec 2 00:00 EST is 05:00Z; at 04:30Z on Dec 2 it is
    # still Dec 1 there: overage.
    "new-york-monthly-across-fall-back": RefillCase(
        [
            recurring(
                "a",
                10,
                "2025-10-02T00:00:00-04:00",
                "month",
                timezone="America/New_York",
            )
        ],
        [
            use_at("2025-11-02T04:00:00Z", 10),
            use_at("2025-12-02T04:30:00Z", 5),
            use_at("2025-12-02T05:00:00Z", 5),
        ],
        None,
        {"a": ("active", "15", "5", "0", "30", "10")},
        balance="5",
        consumed="20",
        overage="5",
        draws=[(0, "a", "10"), (1, None, "5"), (2, "a", "5")],
    ),
    # As of an instant between refills: Jan 5 leaves 30; the Feb 1 refill makes it
    # min(30, 50) + 100 = 130 by Feb 15 ...
    "as-of-between-refills": RefillCase(
        [recurring("a", 100, "2025-01-01T00:00:00Z", "month", 50)],
        [use_at("2025-01-05T00:00:00Z", 70), use_at("2025-02-20T00:00:00Z", 10)],
        "2025-02-15T00:00:00Z",
        {"a": ("active", "70", "130", "0", "200", "0")},
        balance="130",
        consumed="70",
        overage="0",
        draws=[(0, "a", "70")],
    ),
    # ... and a microsecond before that refill it still holds 30.
    "as-of-just-before-a-refill": RefillCase(
        [recurring("a", 100, "2025-01-01T00:00:00Z", "month", 50)],
        [use_at("2025-01-05T00:00:00Z", 70), use_at("2025-02-20T00:00:00Z", 10)],
        "2025-01-31T23:59:59.999999Z",
        {"a": ("active", "70", "30", "0", "100", "0")},
        balance="30",
        consumed="70",
        overage="0",
        draws=[(0, "a", "70")],
    ),
    # Before it starts, a recurring grant is pending like any other.
    "recurring-pending": RefillCase(
        [recurring("a", 100, "2025-02-01T00:00:00Z", "month")],
        [use_at("2025-01-05T00:00:00Z", 7)],
        "2025-01-31T00:00:00Z",
        {"a": ("pending", "0", "100", "0", "100", "0")},
        balance="0",
        consumed="7",
        overage="7",
        draws=[(0, None, "7")],
    ),
    # With a one-off grant: b expires first, so it pays first (Rule 3 unchanged);
    # a refill brings a back, never b. a: 7 drawn on Jan 2, 3 forfeited on Feb 1,
    # 4 drawn on Feb 2, 6 forfeited on Mar 1.
    "recurring-with-a-one-off": RefillCase(
        [
            recurring("a", 10, "2025-01-01T00:00:00Z", "month"),
            CreditGrant(
                id=IDS["b"],
                units=5,
                effective_at=T0,
                expires_at=utc("2025-03-01T00:00:00Z"),
            ),
        ],
        [use_at("2025-01-02T00:00:00Z", 12), use_at("2025-02-02T00:00:00Z", 4)],
        "2025-03-01T00:00:00Z",
        {
            "a": ("active", "11", "10", "0", "30", "9"),
            "b": ("expired", "5", "0", "0", "5", "0"),
        },
        balance="10",
        consumed="16",
        overage="0",
        draws=[(0, "b", "5"), (0, "a", "7"), (1, "a", "4")],
    ),
}


@pytest.mark.parametrize("case", REFILL_CASES.values(), ids=REFILL_CASES.keys())
def test_recurring_grant_cases(case: RefillCase) -> None:
    at = None if case.at is None else utc(case.at)
    result = burn_down(
        TOKENS, case.grants, case.log, external_customer_id="acme", at=at
    )
    states = {
        state.grant.id[-1]: (
            state.status,
            state.drawn_units,
            state.remaining_units,
            state.expired_units,
            state.granted_units,
            state.forfeited_units,
        )
        for state in result.grants
    }
    assert states == {
        letter: (status, *map(Decimal, units))
        for letter, (status, *units) in case.states.items()
    }
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
    assert result.at is not None
    for state in result.grants:
        assert state.granted_units == state.grant.units * (1 + state.refills)
        assert state.refills == state.grant.refills_by(result.at)


REFILL_INSTANTS = {
    # Counted from effective_at, the day clamped to the month's end.
    "monthly-from-jan-31": (
        ("2025-01-31T00:00:00Z", "month", "UTC"),
        ["2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z", "2025-04-30T00:00:00Z"],
    ),
    "monthly-from-jan-31-leap-year": (
        ("2024-01-31T18:30:00Z", "month", "UTC"),
        ["2024-02-29T18:30:00Z", "2024-03-31T18:30:00Z", "2024-04-30T18:30:00Z"],
    ),
    "monthly-across-a-year-end": (
        ("2024-11-30T00:00:00Z", "month", "UTC"),
        ["2024-12-30T00:00:00Z", "2025-01-30T00:00:00Z", "2025-02-28T00:00:00Z"],
    ),
    "yearly-from-feb-29": (
        ("2024-02-29T00:00:00Z", "year", "UTC"),
        ["2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z"],
    ),
    "weekly": (
        ("2025-01-01T09:00:00Z", "week", "UTC"),
        ["2025-01-08T09:00:00Z", "2025-01-15T09:00:00Z", "2025-01-22T09:00:00Z"],
    ),
    # Local midnight in New York: 23 hours across the spring change.
    "new-york-daily-spring": (
        ("2025-03-08T00:00:00-05:00", "day", "America/New_York"),
        ["2025-03-09T05:00:00Z", "2025-03-10T04:00:00Z", "2025-03-11T04:00:00Z"],
    ),
    # 02:30 does not exist on Mar 9, 2025 in New York (02:00 becomes 03:00): that
    # refill is when the clocks jump, 03:00 EDT (07:00Z); the next is 02:30 EDT.
    "new-york-daily-skipped-time": (
        ("2025-03-08T02:30:00-05:00", "day", "America/New_York"),
        ["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z", "2025-03-11T06:30:00Z"],
    ),
    # 01:30 happens twice on Nov 2, 2025 in New York: the refill is the first
    # pass (EDT, 05:30Z), not the second (06:30Z).
    "new-york-daily-repeated-time": (
        ("2025-11-01T01:30:00-04:00", "day", "America/New_York"),
        ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z", "2025-11-04T06:30:00Z"],
    ),
    # Lord Howe moves its clocks by 30 minutes: 02:15 is skipped on Oct 6, 2024
    # (02:00 becomes 02:30, +10:30 to +11:00).
    "lord-howe-weekly-skipped-time": (
        ("2024-09-29T02:15:00+10:30", "week", "Australia/Lord_Howe"),
        ["2024-10-05T15:30:00Z", "2024-10-12T15:15:00Z", "2024-10-19T15:15:00Z"],
    ),
    # Paris, monthly at 02:30 from Feb 28: Mar 28 is before the change (Mar 30).
    "paris-monthly": (
        ("2025-02-28T02:30:00+01:00", "month", "Europe/Paris"),
        ["2025-03-28T01:30:00Z", "2025-04-28T00:30:00Z", "2025-05-28T00:30:00Z"],
    ),
}


@pytest.mark.parametrize(
    ("grant_of", "expected"), REFILL_INSTANTS.values(), ids=REFILL_INSTANTS.keys()
)
def test_refill_instants(grant_of: tuple[str, str, str], expected: list[str]) -> None:
    start, recurrence, zone = grant_of
    value = recurring("a", 1, start, recurrence, timezone=zone)
    instants = [value.refill_at(k) for k in (1, 2, 3)]
    assert instants == [utc(text) for text in expected]
    assert all(i is not None and i.tzinfo is timezone.utc for i in instants)
    # The count of refills by an instant agrees with the instants, inclusive.
    for k, instant in enumerate(instants, start=1):
        assert instant is not None
        assert value.refills_by(instant) == k
        assert value.refills_by(instant - timedelta(microseconds=1)) == k - 1


def test_refills_stop_at_expiry_and_before_the_start() -> None:
    value = recurring("a", 1, "2025-01-01T00:00:00Z", "day", end="2025-01-03T00:00:00Z")
    assert value.refill_at(1) == utc("2025-01-02T00:00:00Z")
    assert value.refill_at(2) is None  # at the expiry: no refill
    assert value.refills_by(utc("2024-12-01T00:00:00Z")) == 0
    assert value.refills_by(utc("2030-01-01T00:00:00Z")) == 1
    once = grant("a", 1)
    assert (once.refill_at(1), once.refills_by(hour(10**4))) == (None, 0)
    assert recurring("a", 1, "9999-12-01T00:00:00Z", "month").refill_at(1) is None
    # At the end of time, whose local time in Tokyo datetime cannot hold: daily
    # refills at 00:00Z until Dec 31, then none (year 10000 locally).
    tokyo = recurring("a", 1, "9999-12-01T00:00:00Z", "day", timezone="Asia/Tokyo")
    assert tokyo.refills_by(datetime.max.replace(tzinfo=timezone.utc)) == 30
    assert tokyo.refill_at(30) == utc("9999-12-31T00:00:00Z")
    assert tokyo.refill_at(31) is None
    with pytest.raises(ValidationError) as info:
        value.refill_at(0)
    assert (info.value.path, info.value.value) == ("k", 0)
    with pytest.raises(ValidationError) as info:
        value.refills_by(NAIVE)
    assert info.value.path == "moment"


def test_a_daily_grant_over_centuries_is_counted_not_stepped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from meterkit import _recurrence

    steps = 0
    step = _recurrence.step

    def counted(*arguments: Any) -> datetime:
        nonlocal steps
        steps += 1
        return step(*arguments)

    monkeypatch.setattr(_recurrence, "step", counted)
    value = recurring(
        "a", 5, "2000-01-01T00:00:00Z", "day", 3, timezone="America/New_York"
    )
    log = [use_at("2000-01-01T12:00:00Z", 4), use_at("2400-06-01T00:00:00Z", 9)]
    result = burn_down(
        TOKENS, [value], log, external_customer_id="acme", at=utc("2999-01-01T00:00Z")
    )
    state = result.grants[0]
    # 2000-01-01T00:00Z is 19:00 on Dec 31 in New York: daily refills at 19:00
    # local, one a day to Dec 31, 2998.
    refills = (datetime(2998, 12, 31) - datetime(1999, 12, 31)).days
    assert state.granted_units == 5 * (1 + refills)
    assert state.remaining_units == 5 + 3
    assert result.overage_units == 1  # 8 left on the day of the second event
    assert state.drawn_units + state.remaining_units + state.forfeited_units == (
        state.granted_units
    )
    assert steps < 40  # a handful per look at the grant, not one per day


def test_refills_beyond_1e29_are_refused_naming_the_grant() -> None:
    huge = recurring("a", 10**28, "2025-01-01T00:00:00Z", "day")
    log = [use_at("2025-01-02T00:00:00Z", 1)]
    fine = burn_down(TOKENS, [huge], log, at=utc("2025-01-09T00:00:00Z"))
    assert fine.grants[0].granted_units == 9 * 10**28
    with pytest.raises(ValidationError) as info:
        burn_down(TOKENS, [grant("b", 1), huge], log, at=utc("2025-01-10T00:00:00Z"))
    assert (info.value.path, info.value.value) == ("grants[1]", IDS["a"])
    assert "refilled 9 times" in str(info.value)
    # The balance bound counts what a refill can leave: units + max_rollover.
    big = [
        recurring(letter, 4 * 10**28, "2025-01-01T00:00:00Z", "month", 4 * 10**28)
        for letter in "ab"
    ]
    with pytest.raises(ValidationError) as info:
        burn_down(TOKENS, big, log)
    assert info.value.path == "grants"
    assert "plus max_rollover" in str(info.value)


def test_grant_state_of_a_recurring_grant_checks_itself() -> None:
    monthly = recurring("a", 10, "2025-01-01T00:00:00Z", "month", 5)
    base = GrantState(
        grant=monthly,
        status="active",
        drawn_units=6,
        remaining_units=4,
        expired_units=0,
        granted_units=20,
        forfeited_units=10,
    )
    assert base.refills == 1
    errors: dict[str, tuple[dict[str, Any], str]] = {
        "granted-not-a-multiple": ({"granted_units": 25}, "granted_units"),
        "granted-below-units": ({"granted_units": 5}, "granted_units"),
        "granted-fraction": ({"granted_units": "20.5"}, "granted_units"),
        "granted-pending-refilled": (
            {"status": "pending", "drawn_units": 0, "forfeited_units": 16},
            "granted_units",
        ),
        "sum": ({"forfeited_units": 11}, "remaining_units"),
        "above-rollover-plus-units": (
            {"drawn_units": 0, "remaining_units": 16, "forfeited_units": 4},
            "remaining_units",
        ),
        "forfeited-before-a-refill": (
            {"granted_units": 10, "drawn_units": 5, "forfeited_units": 1},
            "forfeited_units",
        ),
        "granted-not-units": ({"granted_units": "x"}, "granted_units"),
    }
    for name, (changes, path) in errors.items():
        with pytest.raises(ValidationError) as info:
            attrs.evolve(base, **changes)
        assert info.value.path == path, name
    once = grant("a", 10)
    with pytest.raises(ValidationError) as info:
        GrantState(
            grant=once,
            status="active",
            drawn_units=6,
            remaining_units=4,
            expired_units=0,
            granted_units=20,
            forfeited_units=10,
        )
    assert info.value.path == "granted_units"
    # Without the new fields, a state is that of a grant never refilled.
    plain = GrantState(
        grant=once, status="active", drawn_units=6, remaining_units=4, expired_units=0
    )
    assert (plain.granted_units, plain.forfeited_units, plain.refills) == (10, 0, 0)


def test_burn_down_value_checks_the_refills_of_its_instant() -> None:
    monthly = recurring("a", 100, "2025-01-01T00:00:00Z", "month", 50)
    log = [use_at("2025-01-05T00:00:00Z", 70)]
    result = burn_down(TOKENS, [monthly], log, at=utc("2025-02-15T00:00:00Z"))
    unrefilled = GrantState(
        grant=monthly,
        status="active",
        drawn_units=70,
        remaining_units=30,
        expired_units=0,
    )
    with pytest.raises(ValidationError) as info:
        attrs.evolve(result, grants=[unrefilled], balance=30)
    assert (info.value.path, info.value.value) == ("grants[0].granted_units", 100)
    assert "must be 200: the grant's 100 units and its 1 refills by at" in str(
        info.value
    )
    # As of no instant, no refill counts.
    with pytest.raises(ValidationError) as info:
        attrs.evolve(result, at=None)
    assert info.value.path == "grants[0].granted_units"


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
    "recurrence-unknown": (
        {"recurrence": "hourly"},
        ValidationError,
        "recurrence",
        "hourly",
    ),
    "recurrence-empty": ({"recurrence": ""}, ValidationError, "recurrence", ""),
    "recurrence-int": ({"recurrence": 30}, InvalidTypeError, "recurrence", 30),
    "recurrence-list": (
        {"recurrence": ["month"]},
        InvalidTypeError,
        "recurrence",
        ["month"],
    ),
    "timezone-unknown": (
        {"recurrence": "day", "timezone": "Europe/Atlantis"},
        ValidationError,
        "timezone",
        "Europe/Atlantis",
    ),
    "timezone-path": ({"timezone": "../etc"}, ValidationError, "timezone", "../etc"),
    "timezone-tzinfo": (
        {"timezone": timezone.utc},
        InvalidTypeError,
        "timezone",
        timezone.utc,
    ),
    "timezone-none": ({"timezone": None}, InvalidTypeError, "timezone", None),
    "max-rollover-negative": (
        {"recurrence": "month", "max_rollover": -1},
        ValidationError,
        "max_rollover",
        -1,
    ),
    "max-rollover-bool": (
        {"recurrence": "month", "max_rollover": True},
        InvalidTypeError,
        "max_rollover",
        True,
    ),
    "max-rollover-float": (
        {"recurrence": "month", "max_rollover": 5.0},
        InvalidTypeError,
        "max_rollover",
        5.0,
    ),
    "max-rollover-str": (
        {"recurrence": "month", "max_rollover": "5"},
        InvalidTypeError,
        "max_rollover",
        "5",
    ),
    "max-rollover-huge": (
        {"recurrence": "month", "max_rollover": 10**29},
        ValidationError,
        "max_rollover",
        10**29,
    ),
    "max-rollover-plus-units-huge": (
        {"recurrence": "month", "units": 10**29 - 1, "max_rollover": 1},
        ValidationError,
        "max_rollover",
        1,
    ),
    "max-rollover-without-recurrence": (
        {"max_rollover": 5},
        ValidationError,
        "max_rollover",
        5,
    ),
    # Its local time in New York would be in the year 0.
    "recurring-effective-at-the-limit": (
        {
            "effective_at": datetime(1, 1, 1, tzinfo=timezone.utc),
            "recurrence": "day",
            "timezone": "America/New_York",
        },
        ValidationError,
        "effective_at",
        datetime(1, 1, 1, tzinfo=timezone.utc),
    ),
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
    assert str(info.value).startswith(f"{path}: ")


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
        "recurrence",
        "timezone",
        "max_rollover",
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
    value = grant(
        "a",
        10,
        0,
        24.5,
        priority=2,
        rollover=True,
        meter_id=METER_ID,
        recurrence="week",
        timezone="Europe/Paris",
        max_rollover=5,
    )
    wire = to_dict(value)
    assert wire == {
        "id": IDS["a"],
        "units": 10,
        "effective_at": "2025-01-01T00:00:00Z",
        "expires_at": "2025-01-02T00:30:00Z",
        "priority": 2,
        "rollover": True,
        "meter_id": METER_ID,
        "recurrence": "week",
        "timezone": "Europe/Paris",
        "max_rollover": 5,
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
        "recurrence",
        "timezone",
        "maxRollover",
    ]
    assert from_dict(CreditGrant, wire) == value
    assert from_dict(CreditGrant, camel, style="camel") == value
    plain = grant("a", 10)
    assert from_dict(CreditGrant, to_dict(plain)) == plain
    assert to_dict(plain)["expires_at"] is None
    assert (to_dict(plain)["recurrence"], to_dict(plain)["max_rollover"]) == (None, 0)


def test_credit_grant_documents_without_the_recurrence_keys() -> None:
    # Documents written before grants could recur still read, as one-off grants.
    document = to_dict(grant("a", 10, 0, 24))
    for key in ("recurrence", "timezone", "max_rollover"):
        del document[key]
    assert from_dict(CreditGrant, document) == grant("a", 10, 0, 24)
    camel = to_dict(grant("a", 10), style="camel")
    for key in ("recurrence", "timezone", "maxRollover"):
        del camel[key]
    value = from_dict(CreditGrant, camel, style="camel")
    assert (value.recurrence, value.timezone, value.max_rollover) == (None, "UTC", 0)


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
    "recurrence-unknown": ("recurrence", "hour", ValidationError, "$.recurrence"),
    "recurrence-int": ("recurrence", 1, InvalidTypeError, "$.recurrence"),
    "recurrence-capitals": ("recurrence", "Month", ValidationError, "$.recurrence"),
    "timezone-unknown": ("timezone", "Mars/Olympus", ValidationError, "$.timezone"),
    "timezone-null": ("timezone", None, InvalidTypeError, "$.timezone"),
    "max-rollover-negative": ("max_rollover", -1, ValidationError, "$.max_rollover"),
    "max-rollover-float": ("max_rollover", 1.5, InvalidTypeError, "$.max_rollover"),
    "max-rollover-text": ("max_rollover", "5", InvalidTypeError, "$.max_rollover"),
    # A one-off grant cannot carry units over: no refill ever happens.
    "max-rollover-without-recurrence": (
        "max_rollover",
        5,
        ValidationError,
        "$.max_rollover",
    ),
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
