"""Folding events into usage: `aggregate`, `usage`, and their streaming accumulators.

Rule 1 (log order): `usage` reads events in the order given. Only the events of the
chosen customer count (``customer_id`` or ``external_customer_id`` equal to the one
given; every event when neither is given). Of the customer's events sharing a
non-null ``external_id``, only the first counts.
Rule 2 (resets and credits): only events after the customer's last ``meter.reset``
of this meter count. Credits (``meter.credited``) are a non-negative running sum,
``s = max(0, s + units)``, kept three times: over all credits, over the rollover
ones and over the others; ``rollover_units`` follows from the last two.
Rule 3 (mergeable): an accumulator folds a chunk of the log; `UsageAccumulator.merge`
of two consecutive chunks equals one fold of both. A clamped step
``s -> max(0, s + u)`` composes into the same form ``s -> max(a, s + b)``, so a run of
credits folds into one pair ``(a, b)``; a reset replaces everything before it. The
merge is associative, not commutative: the left chunk comes first in the log.
Rule 4 (dedup across chunks): a chunk that may still get an earlier chunk merged in
front of it (``at_start=False``) keeps each event that has an ``external_id`` as its
own entry, with what it added, so that the merge can drop it if the earlier chunk
saw that id. A chunk at the start of the log folds everything at once and keeps only
the ids. Memory is therefore constant for events without ``external_id`` and grows
with the number of distinct ``external_id`` values otherwise (the ids themselves, and
for ``at_start=False`` chunks one small entry per id).
Rule 5 (extension): `grants` and `explain` subclass `UsageAccumulator` and override
its two hooks, ``_in_scope(view)`` and ``_effect(view, index)``, so that their
verdicts on scope, dedup, credits and resets are this module's own. Keep those two
signatures stable (their tests fail if they change).
Rule 6 (exactness): int values sum as Python ints, others as `Decimal` in
`_units.UNITS`; only ``avg`` divides, to 34 significant digits, half-even
(`AVG_CONTEXT`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from operator import length_hint
from typing import Any

import attrs

from ._fields import parse_id, parse_text
from ._tally import AVG_CONTEXT, Tally
from ._units import ZERO, parse_units, subtract_units
from .errors import InvalidTypeError, ValidationError
from .events import EventView, read_event
from .matching import NO_MATCH, CompiledMeter
from .meters import Meter

__all__ = [
    "AVG_CONTEXT",
    "AggregateAccumulator",
    "Usage",
    "UsageAccumulator",
    "aggregate",
    "usage",
]


def _consumed(value: object) -> Decimal:
    return parse_units(value, "consumed_units")


def _credited(value: object) -> int:
    from ._fields import credited_units_field

    return credited_units_field(value)


def _balance(value: object) -> Decimal:
    return parse_units(value, "balance")


def _rollover(value: object) -> int:
    from ._fields import parse_count

    return parse_count(value, "rollover_units")


@attrs.frozen(kw_only=True)
class Usage:
    """What `usage` returns: consumption, credits and what is left of them.

    ``balance == max(0, credited_units - consumed_units)`` always holds.
    """

    consumed_units: Decimal = attrs.field(converter=_consumed)
    credited_units: int = attrs.field(converter=_credited)
    balance: Decimal = attrs.field(converter=_balance)
    rollover_units: int = attrs.field(converter=_rollover)

    def __attrs_post_init__(self) -> None:
        expected = subtract_units(Decimal(self.credited_units), self.consumed_units)
        expected = max(expected, ZERO)
        if self.balance != expected:
            raise ValidationError(
                f"must equal max(0, credited_units - consumed_units) = {expected}",
                path="balance",
                value=self.balance,
            )


def customer_keys(
    customer_id: object, external_customer_id: object
) -> tuple[str | None, str | None]:
    """Check the customer arguments of `usage` and its kin; ids in canonical form."""
    return (
        None if customer_id is None else parse_id(customer_id, "customer_id"),
        None
        if external_customer_id is None
        else parse_text(external_customer_id, "external_customer_id"),
    )


def belongs(
    view: EventView, customer_id: str | None, external_customer_id: str | None
) -> bool:
    """Whether an event is the customer's (Rule 1); every event when no key is given.

    ``customer_id`` is canonical (lower case); the event's may be in any case.
    """
    if customer_id is None and external_customer_id is None:
        return True
    theirs = view.customer_id
    return (
        customer_id is not None
        and theirs is not None
        and (theirs == customer_id or theirs.lower() == customer_id)
    ) or (
        external_customer_id is not None
        and view.external_customer_id == external_customer_id
    )


def _iterate(events: object) -> Iterator[object]:
    try:
        return iter(events)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise InvalidTypeError(
            "must be an iterable of events", path="events", value=events
        ) from None


def _check_meter(meter: object) -> Meter:
    if not isinstance(meter, Meter):
        raise InvalidTypeError("must be a Meter", path="meter", value=meter)
    return meter


class AggregateAccumulator:
    """The streaming form of `aggregate`: add events, merge partial states.

    Merging is commutative and associative, and a fresh accumulator is the identity.

    >>> acc = AggregateAccumulator(example_meter())
    >>> acc.update([{"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
    ...              "metadata": {"total_tokens": 10}}])
    >>> acc.merge(AggregateAccumulator(example_meter())).value()
    Decimal('10')
    """

    __slots__ = ("_compiled", "_seen", "_tally")

    def __init__(self, meter: Meter) -> None:
        self._compiled = CompiledMeter(_check_meter(meter))
        self._tally = Tally(self._compiled.func)
        self._seen = 0

    @property
    def meter(self) -> Meter:
        return self._compiled.meter

    def update(self, events: Iterable[object]) -> None:
        """Fold ``events`` in; errors name each event by its index in this stream."""
        predicate = self._compiled.predicate
        contribution = self._compiled.contribution
        tally = self._tally
        index = self._seen - 1
        for index, event in enumerate(_iterate(events), self._seen):
            view = read_event(event, index)
            if view.source != "user" or not predicate(view, index):
                continue
            value = contribution(view, index)
            if value is not NO_MATCH:
                tally.add(value)
        self._seen = index + 1

    def add(self, event: object) -> None:
        """Fold one event in."""
        self.update((event,))

    def merge(self, other: AggregateAccumulator) -> AggregateAccumulator:
        """A new accumulator holding both partial states."""
        if not isinstance(other, AggregateAccumulator) or other.meter != self.meter:
            raise ValidationError(
                "can only merge an AggregateAccumulator of the same meter",
                path="other",
                value=other,
            )
        merged = AggregateAccumulator(self.meter)
        merged._tally.absorb(self._tally)
        merged._tally.absorb(other._tally)
        merged._seen = self._seen + other._seen
        return merged

    def value(self) -> Decimal:
        """The meter's quantity over the matching events folded so far."""
        return self._tally.quantity()

    def __getstate__(self) -> tuple[Meter, Tally, int]:
        # The compiled closures are rebuilt from the meter on the other side.
        return (self.meter, self._tally, self._seen)

    def __setstate__(self, state: tuple[Meter, Tally, int]) -> None:
        meter, self._tally, self._seen = state
        self._compiled = CompiledMeter(meter)


def aggregate(meter: Meter, events: Iterable[object]) -> Decimal:
    """The meter's quantity over the matching ``user`` events, all customers.

    No dedup, credits or resets: that is `usage`. ``events`` may be any iterable of
    `Event` objects or wire mappings; it is read once, in constant memory
    (``unique`` keeps its distinct values).

    >>> aggregate(example_meter(), [
    ...     {"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
    ...      "metadata": {"total_tokens": n}} for n in (10, 20, 30, 30)])
    Decimal('90')
    """
    accumulator = AggregateAccumulator(meter)
    accumulator.update(events)
    return accumulator.value()


# Credit folds. Each of the three running sums (all credits, non-rollover,
# rollover) is the function s -> max(a, s + b) on s >= 0, stored as (a, b); the
# empty fold is (0, 0). Applying the step u gives (max(0, a + u), b + u), and
# composing (a1, b1) then (a2, b2) gives (max(a2, a1 + b2), b1 + b2).
_NO_CREDITS = (0, 0, 0, 0, 0, 0)
Credits = tuple[int, int, int, int, int, int]


def _credit_step(credits: Credits, units: int, rollover: bool) -> Credits:
    ca, cb, na, nb, ra, rb = credits
    ca, cb = max(0, ca + units), cb + units
    if rollover:
        ra, rb = max(0, ra + units), rb + units
    else:
        na, nb = max(0, na + units), nb + units
    return (ca, cb, na, nb, ra, rb)


def _credit_compose(first: Credits, then: Credits) -> Credits:
    ca1, cb1, na1, nb1, ra1, rb1 = first
    ca2, cb2, na2, nb2, ra2, rb2 = then
    return (
        max(ca2, ca1 + cb2),
        cb1 + cb2,
        max(na2, na1 + nb2),
        nb1 + nb2,
        max(ra2, ra1 + rb2),
        rb1 + rb2,
    )


class _Fold:
    """Events folded in order: optionally a reset first, then a tally and credits."""

    __slots__ = ("credits", "reset", "tally")

    def __init__(self, func: str, *, reset: bool = False) -> None:
        self.tally = Tally(func)
        self.credits: Credits = _NO_CREDITS
        self.reset = reset

    def copy(self) -> _Fold:
        twin = _Fold(self.tally.func, reset=self.reset)
        twin.tally = self.tally.copy()
        twin.credits = self.credits
        return twin

    def then(self, entry: _Fold | _Item) -> None:
        """Apply ``entry``, which comes after everything folded here."""
        if isinstance(entry, _Item):
            entry.apply_to(self)
            return
        if entry.reset:
            self.tally = Tally(self.tally.func)
            self.credits = _NO_CREDITS
            self.reset = True
        self.tally.absorb(entry.tally)
        self.credits = _credit_compose(self.credits, entry.credits)


_USE, _CREDIT, _RESET = "use", "credit", "reset"


class _Item:
    """One event with an ``external_id``, kept whole so a merge can drop it."""

    __slots__ = ("external_id", "kind", "value")

    def __init__(self, external_id: str, kind: str, value: Any = None) -> None:
        self.external_id = external_id
        self.kind = kind
        self.value = value

    def apply_to(self, fold: _Fold) -> None:
        if self.kind == _USE:
            fold.tally.add(self.value)
        elif self.kind == _CREDIT:
            fold.credits = _credit_step(fold.credits, *self.value)
        else:
            fold.tally = Tally(fold.tally.func)
            fold.credits = _NO_CREDITS
            fold.reset = True


class UsageAccumulator:
    """The streaming, mergeable form of `usage`.

    Fold a chunk of the log with `update`; `merge` two consecutive chunks (left
    first); read the result with `usage`. Set ``at_start=False`` for a chunk that
    may get earlier chunks merged in front of it (every chunk but the first, when
    chunks are folded in parallel); see Rule 4 of this module for what it keeps.

    >>> first = UsageAccumulator(example_meter(), external_customer_id="acme")
    >>> later = UsageAccumulator(example_meter(), external_customer_id="acme",
    ...                          at_start=False)
    >>> first.update([example_credit(100)])
    >>> later.update([example_use(30)])
    >>> first.merge(later).usage()
    Usage(consumed_units=Decimal('30'), credited_units=100, balance=Decimal('70'),
          rollover_units=0)
    """

    __slots__ = (
        "_at_start",
        "_compiled",
        "_customer_id",
        "_entries",
        "_external_customer_id",
        "_ids",
        "_seen",
    )

    def __init__(
        self,
        meter: Meter,
        *,
        customer_id: object = None,
        external_customer_id: object = None,
        at_start: bool = True,
    ) -> None:
        self._compiled = CompiledMeter(_check_meter(meter))
        self._customer_id, self._external_customer_id = customer_keys(
            customer_id, external_customer_id
        )
        if not isinstance(at_start, bool):
            raise InvalidTypeError("must be a bool", path="at_start", value=at_start)
        self._at_start = at_start
        self._ids: set[str] = set()
        self._entries: list[_Fold | _Item] = []
        self._seen = 0

    @property
    def meter(self) -> Meter:
        return self._compiled.meter

    def _tail(self) -> _Fold:
        entries = self._entries
        if entries and isinstance(entries[-1], _Fold):
            return entries[-1]
        fold = _Fold(self._compiled.func)
        entries.append(fold)
        return fold

    def update(self, events: Iterable[object]) -> None:
        """Fold ``events`` in, in order; errors name events by index in this stream.

        After an error the accumulator holds the events before the bad one.
        """
        take = self._take
        customer_id, external_customer_id = (
            self._customer_id,
            self._external_customer_id,
        )
        index = self._seen - 1
        try:
            if (customer_id is None) == (external_customer_id is None):
                # No customer (every event counts) or both keys: read each event.
                for index, event in enumerate(_iterate(events), self._seen):
                    take(event, index)
                return
            # One customer key: the hot path of a per-customer fold. An event of
            # another customer is passed over after one lookup; only the
            # customer's own events are read and checked in full (Rule 1).
            key = "customer_id" if customer_id is not None else "external_customer_id"
            wanted = customer_id if customer_id is not None else external_customer_id
            # A UUID may be written in upper case too; `_in_scope` then decides.
            shout = wanted.upper() if customer_id is not None else wanted  # type: ignore[union-attr]
            if type(events) is list or type(events) is tuple:
                # No enumerate() for a list in memory: an event's index is read
                # off the iterator's position, and only for the events taken.
                # This loop is the one the usage benchmark times (issue 7).
                end = self._seen + len(events)
                it = iter(events)
                try:
                    for event in it:
                        try:
                            found = event[key]
                            if found != wanted and found != shout:
                                continue
                        except (LookupError, TypeError):
                            pass  # not a mapping, or no such key: read in full
                        take(event, end - length_hint(it) - 1)
                finally:
                    index = end - length_hint(it) - 1
                return
            for index, event in enumerate(_iterate(events), self._seen):
                try:
                    found = event[key]  # type: ignore[index]
                    if found != wanted and found != shout:
                        continue
                except (LookupError, TypeError):
                    pass  # not a mapping, or no such key: `take` reads it in full
                take(event, index)
        finally:
            self._seen = index + 1

    def _in_scope(self, view: EventView) -> bool:
        return belongs(view, self._customer_id, self._external_customer_id)

    def _take(self, event: object, index: int) -> None:
        """Fold one event of the stream, at position ``index``.

        The event is read and checked in full before anything changes, so an
        error leaves the accumulator as it was (its ``external_id`` unclaimed).
        """
        view = read_event(event, index)
        if not self._in_scope(view):
            return
        external_id = view.external_id
        if external_id is not None and external_id in self._ids:
            return
        kind, value = self._effect(view, index)
        if external_id is not None:
            self._ids.add(external_id)
            if not self._at_start:
                if kind is not None:
                    self._entries.append(_Item(external_id, kind, value))
                return
        if kind == _USE:
            self._tail().tally.add(value)
        elif kind == _CREDIT:
            fold = self._tail()
            fold.credits = _credit_step(fold.credits, *value)
        elif kind == _RESET:
            # A reset nobody can drop wipes everything before it for good.
            self._entries[:] = [_Fold(self._compiled.func, reset=True)]

    def _effect(self, view: EventView, index: int) -> tuple[str | None, Any]:
        """What the event does to this meter: use, credit, reset, or nothing."""
        compiled = self._compiled
        if view.source == "user":
            if not compiled.predicate(view, index):
                return None, None
            value = compiled.contribution(view, index)
            return (None, None) if value is NO_MATCH else (_USE, value)
        metadata = view.metadata
        target = metadata.get("meter_id")
        meter_id = compiled.meter.id
        if not (
            target == meter_id
            or (isinstance(target, str) and target.lower() == meter_id)
        ):
            return None, None
        if view.name == "meter.credited":
            return _CREDIT, _credit_of(metadata, index)
        if view.name == "meter.reset":
            return _RESET, None
        return None, None

    def add(self, event: object) -> None:
        """Fold one event in."""
        self.update((event,))

    def _same_fold(self, other: object) -> UsageAccumulator:
        if not (
            isinstance(other, UsageAccumulator)
            and other.meter == self.meter
            and other._customer_id == self._customer_id
            and other._external_customer_id == self._external_customer_id
        ):
            raise ValidationError(
                "can only merge a UsageAccumulator of the same meter and customer",
                path="other",
                value=other,
            )
        return other

    def merge(self, other: UsageAccumulator) -> UsageAccumulator:
        """A new accumulator for this chunk followed by ``other``'s chunk."""
        other = self._same_fold(other)
        merged = UsageAccumulator(
            self.meter,
            customer_id=self._customer_id,
            external_customer_id=self._external_customer_id,
            at_start=self._at_start,
        )
        merged._ids = self._ids | other._ids
        merged._seen = self._seen + other._seen
        entries: list[_Fold | _Item] = [_copy(e) for e in self._entries]
        for entry in other._entries:
            if isinstance(entry, _Item) and entry.external_id in self._ids:
                continue  # the earlier chunk saw this id first
            if isinstance(entry, _Fold) and entry.reset:
                entries = []  # a permanent reset wipes everything before it
            entries.append(_copy(entry))
        merged._entries = _compact(entries, self._compiled.func, merged._at_start)
        return merged

    def usage(self) -> Usage:
        """The usage of everything folded so far."""
        fold = _Fold(self._compiled.func)
        for entry in self._entries:
            fold.then(entry)
        consumed = fold.tally.quantity()
        ca, cb, na, nb, ra, rb = fold.credits
        credited, non_rollover, rollover = max(ca, cb), max(na, nb), max(ra, rb)
        balance = subtract_units(Decimal(credited), consumed)
        left = subtract_units(Decimal(non_rollover + rollover), consumed)
        return Usage(
            consumed_units=consumed,
            credited_units=credited,
            balance=max(balance, ZERO),
            rollover_units=max(0, min(int(left), rollover)),
        )

    def __getstate__(self) -> tuple[Any, ...]:
        return (
            self.meter,
            self._customer_id,
            self._external_customer_id,
            self._at_start,
            self._ids,
            self._entries,
            self._seen,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            meter,
            self._customer_id,
            self._external_customer_id,
            self._at_start,
            self._ids,
            self._entries,
            self._seen,
        ) = state
        self._compiled = CompiledMeter(meter)


def _copy(entry: _Fold | _Item) -> _Fold | _Item:
    return entry.copy() if isinstance(entry, _Fold) else entry


def _compact(
    entries: list[_Fold | _Item], func: str, at_start: bool
) -> list[_Fold | _Item]:
    """Join neighbouring folds; at the start of the log, fold items in too."""
    compacted: list[_Fold | _Item] = []
    for entry in entries:
        last = compacted[-1] if compacted else None
        if isinstance(last, _Fold) and (at_start or isinstance(entry, _Fold)):
            last.then(entry)
        else:
            compacted.append(entry.copy() if isinstance(entry, _Fold) else entry)
    if at_start and compacted and isinstance(compacted[0], _Item):
        fold = _Fold(func)
        for entry in compacted:
            fold.then(entry)
        compacted = [fold]
    return compacted


def _credit_of(metadata: Any, index: int) -> tuple[int, bool]:
    units = metadata.get("units")
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidTypeError(
            "must be an int (credit units; negative revokes)",
            path=f"events[{index}].metadata.units",
            value=units,
        )
    rollover = metadata.get("rollover", False)
    if not isinstance(rollover, bool):
        raise InvalidTypeError(
            "must be a bool", path=f"events[{index}].metadata.rollover", value=rollover
        )
    return units, rollover


def usage(
    meter: Meter,
    events: Iterable[object],
    *,
    customer_id: object = None,
    external_customer_id: object = None,
) -> Usage:
    """Consumption, credits, balance and rollover of one customer on ``meter``.

    ``events`` is any iterable of `Event` objects or wire mappings, read once in
    log order, in constant memory for events without ``external_id``.

    >>> events = [example_use(20), example_reset(), example_use(10), example_use(10),
    ...           example_use(0), example_credit(10)]
    >>> usage(example_meter(), events, external_customer_id="acme")
    Usage(consumed_units=Decimal('20'), credited_units=10, balance=Decimal('0'),
          rollover_units=0)
    """
    accumulator = UsageAccumulator(
        meter, customer_id=customer_id, external_customer_id=external_customer_id
    )
    accumulator.update(events)
    return accumulator.usage()
