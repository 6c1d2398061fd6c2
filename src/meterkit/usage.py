"""Folding events into usage: `aggregate`, `usage`, `usage_by_customer`, and the
streaming accumulators.

Rule 1 (verdicts): what each event is (the customer's or not, a duplicate, counted,
a credit, a reset) is decided by `_verdicts.Scan`, the one classifier every engine
function reads; this module only folds the verdicts.
Rule 2 (log order): `usage` reads events in the order given. Only events after the
customer's last ``meter.reset`` of this meter count. Credits (``meter.credited``)
are a non-negative running sum, ``s = max(0, s + units)``, kept three times: over
all credits, over the rollover ones and over the others; ``rollover_units`` follows
from the last two.
Rule 3 (mergeable): an accumulator folds a chunk of the log; `UsageAccumulator.merge`
of two consecutive chunks equals one fold of both (`_chunks`: the merge is
associative, not commutative, and a chunk that may get an earlier chunk merged in
front of it is folded with ``at_start=False``). A merge that cannot be right is an
error: a right-hand chunk folded with ``at_start=True`` that holds an
``external_id`` the left-hand chunk saw first.
Rule 4 (aggregate): `aggregate` is the meter's quantity over the whole log's counted
events (the first of each ``external_id``); credits and resets do not change it.
Rule 5 (exactness): int values sum as Python ints, others as `Decimal` in
`_units.UNITS`; only ``avg`` divides, to 34 significant digits, half-even
(`_tally.AVG_CONTEXT`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from ._chunks import Chunk, usage_numbers
from ._fastscan import FastScans, Unsure, fast_scan, fast_scan_by
from ._fields import credited_units_field, parse_count, parse_id
from ._units import ZERO, parse_units, subtract_units
from ._verdicts import (
    COUNTED,
    DUPLICATE,
    EFFECTS,
    NOT_MATCHING,
    Scan,
    check_by,
    check_meter,
    customer_keys,
    iterate,
)
from .errors import InvalidTypeError, MeterkitError, ValidationError
from .events import read_event
from .matching import CompiledMeter
from .meters import Meter

__all__ = [
    "AggregateAccumulator",
    "Usage",
    "UsageAccumulator",
    "UsageByCustomer",
    "aggregate",
    "usage",
    "usage_by_customer",
]


def _consumed(value: object) -> Decimal:
    return parse_units(value, "consumed_units")


def _credited(value: object) -> int:
    return credited_units_field(value)


def _balance(value: object) -> Decimal:
    return parse_units(value, "balance")


def _rollover(value: object) -> int:
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


def _usage_of(chunk: Chunk) -> Usage:
    consumed, credited, balance, rollover = usage_numbers(*chunk.totals())
    return Usage(
        consumed_units=consumed,
        credited_units=credited,
        balance=balance,
        rollover_units=rollover,
    )


class AggregateAccumulator:
    """The streaming form of `aggregate`: add events, merge partial states.

    Merging is associative, with a fresh accumulator as the identity; the left
    chunk comes first in the log, which decides which of two events sharing an
    ``external_id`` counts and, for ``latest``, which of two readings with the same
    timestamp wins. Events with an ``external_id`` are kept one small entry each
    until the end, so that a merge can drop a later copy (a `_chunks.Chunk`
    folded with ``at_start=False``, holding only counted events).

    >>> acc = AggregateAccumulator(example_meter())
    >>> acc.update([{"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
    ...              "metadata": {"total_tokens": 10}}])
    >>> acc.merge(AggregateAccumulator(example_meter())).value()
    Decimal('10')
    """

    __slots__ = ("_chunk", "_scan", "_seen")

    def __init__(self, meter: Meter) -> None:
        self._start(CompiledMeter(check_meter(meter)))

    def _start(self, compiled: CompiledMeter) -> None:
        self._scan = Scan(compiled)
        self._chunk = Chunk(compiled.func, at_start=False)
        self._seen = 0

    @property
    def meter(self) -> Meter:
        return self._scan.compiled.meter

    def update(self, events: Iterable[object]) -> None:
        """Fold ``events`` in; errors name each event by its index in this stream."""
        take = self._chunk.take
        scan = self._scan
        try:
            for verdict in scan.verdicts(events, self._seen):
                if verdict.kind == COUNTED:
                    take(COUNTED, verdict.value, verdict.view.external_id)  # type: ignore[union-attr]
        finally:
            self._seen = scan.next_index

    def add(self, event: object) -> None:
        """Fold one event in."""
        self.update((event,))

    def merge(self, other: AggregateAccumulator) -> AggregateAccumulator:
        """A new accumulator holding this chunk followed by ``other``'s."""
        if not isinstance(other, AggregateAccumulator) or other.meter != self.meter:
            raise ValidationError(
                "can only merge an AggregateAccumulator of the same meter",
                path="other",
                value=other,
            )
        merged = AggregateAccumulator.__new__(AggregateAccumulator)
        merged._start(self._scan.compiled)
        firsts = self._scan.firsts
        merged._chunk = self._chunk.then(other._chunk, firsts)
        merged._scan.firsts = {**other._scan.firsts, **firsts}
        merged._seen = self._seen + other._seen
        return merged

    def value(self) -> Decimal:
        """The meter's quantity over the counted events folded so far."""
        return self._chunk.totals()[0]

    def __getstate__(self) -> tuple[Any, ...]:
        # The compiled closures are rebuilt from the meter on the other side.
        return (self.meter, self._chunk, self._scan.firsts, self._seen)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        meter, chunk, firsts, seen = state
        self._start(CompiledMeter(meter))
        self._chunk, self._seen = chunk, seen
        self._scan.firsts = firsts


def aggregate(meter: Meter, events: Iterable[object]) -> Decimal:
    """The meter's quantity over the whole log: every customer's counted events.

    Of the events sharing an ``external_id`` only the first counts; credits and
    resets do not change a quantity (that is `usage`). ``events`` may be any
    iterable of `Event` objects or wire mappings; it is read once, in constant
    memory for events without ``external_id`` (``unique`` keeps its distinct
    values).

    >>> aggregate(example_meter(), [
    ...     {"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
    ...      "metadata": {"total_tokens": n}} for n in (10, 20, 30, 30)])
    Decimal('90')
    """
    accumulator = AggregateAccumulator(meter)
    accumulator.update(events)
    return accumulator.value()


class UsageAccumulator:
    """The streaming, mergeable form of `usage`.

    Fold a chunk of the log with `update`; `merge` two consecutive chunks (left
    first); read the result with `usage`. Set ``at_start=False`` for a chunk that
    may get earlier chunks merged in front of it (every chunk but the first, when
    chunks are folded in parallel); see `_chunks` for what it keeps. Merging a
    chunk folded with ``at_start=True`` after one that saw any of its
    ``external_id`` values is an error, never a double count.

    >>> first = UsageAccumulator(example_meter(), external_customer_id="acme")
    >>> later = UsageAccumulator(example_meter(), external_customer_id="acme",
    ...                          at_start=False)
    >>> first.update([example_credit(100)])
    >>> later.update([example_use(30)])
    >>> first.merge(later).usage()
    Usage(consumed_units=Decimal('30'), credited_units=100, balance=Decimal('70'),
          rollover_units=0)
    """

    __slots__ = ("_chunk", "_fast", "_scan", "_seen")

    def __init__(
        self,
        meter: Meter,
        *,
        customer_id: object = None,
        external_customer_id: object = None,
        at_start: bool = True,
    ) -> None:
        keys = customer_keys(customer_id, external_customer_id)
        if not isinstance(at_start, bool):
            raise InvalidTypeError("must be a bool", path="at_start", value=at_start)
        self._start(CompiledMeter(check_meter(meter)), *keys, at_start)

    def _start(
        self,
        compiled: CompiledMeter,
        customer_id: str | None,
        external_customer_id: str | None,
        at_start: bool,
    ) -> None:
        self._scan = Scan(compiled, customer_id, external_customer_id)
        self._chunk = Chunk(compiled.func, at_start=at_start)
        self._seen = 0
        self._fast: FastScans | bool | None = False  # made on the first update

    @property
    def meter(self) -> Meter:
        return self._scan.compiled.meter

    @property
    def position(self) -> int:
        """How many events were given so far: after an error, the bad event's
        index plus one (the events after it were not read)."""
        return self._seen

    def update(self, events: Iterable[object]) -> None:
        """Fold ``events`` in, in order; errors name events by index in this stream.

        After an error the accumulator holds the events before the bad one.
        """
        scan = self._scan
        fast = self._fast
        if fast is False:
            fast = self._fast = fast_scan(scan)
        if fast is not None:
            sized = type(events) is list or type(events) is tuple
            scan.next_index = self._seen
            try:
                fast[sized is False](  # type: ignore[index]
                    events if sized else iterate(events), self._seen, scan, self._chunk
                )
            finally:
                self._seen = scan.next_index
            return
        take = self._chunk.take
        try:
            for verdict in scan.verdicts(events, self._seen):
                kind = verdict.kind
                if kind in EFFECTS:
                    take(kind, verdict.value, verdict.view.external_id)  # type: ignore[union-attr]
        finally:
            self._seen = scan.next_index

    def add(self, event: object) -> None:
        """Fold one event in."""
        self.update((event,))

    def _same_fold(self, other: object) -> UsageAccumulator:
        if not (
            isinstance(other, UsageAccumulator)
            and other.meter == self.meter
            and other._scan.customer_id == self._scan.customer_id
            and other._scan.external_customer_id == self._scan.external_customer_id
        ):
            raise ValidationError(
                "can only merge a UsageAccumulator of the same meter and customer",
                path="other",
                value=other,
            )
        if other._chunk.at_start:
            shared = self._scan.firsts.keys() & other._scan.firsts.keys()
            if shared:
                raise ValidationError(
                    f"was folded with at_start=True, so it cannot drop its events "
                    f"whose external_id this chunk saw first ({min(shared)!r}): fold "
                    "every chunk but the first with at_start=False",
                    path="other",
                    value=other,
                )
        return other

    def merge(self, other: UsageAccumulator) -> UsageAccumulator:
        """A new accumulator for this chunk followed by ``other``'s chunk."""
        other = self._same_fold(other)
        scan = self._scan
        merged = UsageAccumulator.__new__(UsageAccumulator)
        merged._start(
            scan.compiled,
            scan.customer_id,
            scan.external_customer_id,
            self._chunk.at_start,
        )
        merged._scan.firsts = {**other._scan.firsts, **scan.firsts}
        merged._seen = self._seen + other._seen
        merged._chunk = self._chunk.then(other._chunk, scan.firsts)
        return merged

    def usage(self) -> Usage:
        """The usage of everything folded so far."""
        return _usage_of(self._chunk)

    def __getstate__(self) -> tuple[Any, ...]:
        scan = self._scan
        return (
            self.meter,
            scan.customer_id,
            scan.external_customer_id,
            self._chunk,
            scan.firsts,
            self._seen,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        meter, customer_id, external_customer_id, chunk, firsts, seen = state
        self._start(
            CompiledMeter(meter), customer_id, external_customer_id, chunk.at_start
        )
        self._chunk, self._seen = chunk, seen
        self._scan.firsts = firsts


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


# Which of `UsageByCustomer._counts` a verdict adds to (3: anything else).
_COUNT_SLOT = {COUNTED: 0, DUPLICATE: 1, NOT_MATCHING: 2}


class UsageByCustomer:
    """The streaming form of `usage_by_customer`: every customer's fold at once.

    ``by`` names the key that identifies a customer: ``"customer_id"`` (keys are
    canonical lower-case UUIDs) or ``"external_customer_id"``. Each event is read
    and checked once, whoever it belongs to; an event without the key belongs to
    no customer (`without_customer` counts them). The meter is compiled once for
    all customers. After a `MeterkitError` from `add` or `update`, every result is
    what it was before the bad event.

    >>> folds = UsageByCustomer(example_meter(), by="external_customer_id")
    >>> folds.update([example_use(10), example_use(5, customer="globex")])
    >>> folds.add(example_use(2))
    >>> {key: usage.consumed_units for key, usage in folds.result().items()}
    {'acme': Decimal('12'), 'globex': Decimal('5')}
    """

    __slots__ = (
        "_by_customer_id",
        "_compiled",
        "_counts",
        "_fast",
        "_folds",
        "_ids",
        "_pending",
        "_seen",
        "_written",
        "without_customer",
    )

    def __init__(self, meter: Meter, *, by: str = "customer_id") -> None:
        self._compiled = CompiledMeter(check_meter(meter))
        self._by_customer_id = check_by(by) == "customer_id"
        self._ids: dict[str, str] = {}
        self._folds: dict[str, tuple[Scan, Chunk]] = {}
        # Each customer's counted events not yet in its chunk, [count, int sum,
        # the scan's external_id table], by customer key; and the same lists by
        # the key as events write it: what the fast scan adds to.
        self._pending: dict[str, list[Any]] = {}
        self._written: dict[object, list[Any]] = {}
        self._seen = 0
        self._fast: FastScans | bool | None = False  # made on the first update
        #: How many events had no key of the kind ``by`` names.
        self.without_customer = 0
        # Events counted, duplicates, left out by the meter, and the rest
        # (credits, resets, other meters' and other system events).
        self._counts = [0, 0, 0, 0]

    @property
    def meter(self) -> Meter:
        return self._compiled.meter

    @property
    def position(self) -> int:
        """How many events were given so far: after an error, the bad event's
        index plus one (the events after it were not read)."""
        return self._seen

    def counts(self) -> dict[str, int]:
        """How many of the events folded so far each verdict had.

        ``counted``: counted towards a customer's usage; ``duplicates``: a later
        event of an ``external_id`` (not counted); ``left_out``: not matching the
        meter (filter, or a missing or non-numeric property); ``other``: credits,
        resets and other system events; ``without_customer``: no key of the kind
        ``by`` names. An event refused by an error is in none of them.
        """
        counted, duplicates, left_out, other = self._counts
        return {
            "counted": counted,
            "duplicates": duplicates,
            "left_out": left_out,
            "other": other,
            "without_customer": self.without_customer,
        }

    def update(self, events: Iterable[object]) -> None:
        """Fold ``events`` in, in order; errors name events by index in this stream."""
        fast = self._fast
        if fast is False:
            by = "customer_id" if self._by_customer_id else "external_customer_id"
            fast = self._fast = fast_scan_by(self._compiled, by)
        if fast is not None:
            sized = type(events) is list or type(events) is tuple
            self._seen = fast[sized is False](  # type: ignore[index]
                events if sized else iterate(events),
                self._seen,
                self._ids,
                self._written,
                self._enroll,
                self._take,
                self._counts,
            )
            return
        take = self._take
        index = self._seen - 1
        for index, event in enumerate(iterate(events), self._seen):
            take(event, index)
        self._seen = index + 1

    def _take(self, event: object, index: int) -> None:
        """Fold one event at position ``index`` through its customer's scan."""
        try:
            view = read_event(event, index, self._ids)
            by_customer_id = self._by_customer_id
            key = view.customer_id if by_customer_id else view.external_customer_id
            if key is None:
                self.without_customer += 1
                return
            fold = self._folds.get(key)
            if fold is None:
                # A scan of the customer's own, kept only once the event's
                # verdict is in: an error leaves every result as it was.
                scan = self._scan_of(key)
                verdict = scan.verdict(event, index, view)
                fold = self._start_fold(key, scan)
            else:
                self._flush(key)
                verdict = fold[0].verdict(event, index, view)
            if type(event) is dict:
                # The key as this event writes it, checked: the fast scan's entry.
                written = event.get(
                    "customer_id" if by_customer_id else "external_customer_id"
                )
                if type(written) is str:
                    self._written[written] = self._pending[key]
            kind = verdict.kind
            if kind in EFFECTS:
                fold[1].take(kind, verdict.value, view.external_id)
            self._counts[_COUNT_SLOT.get(kind, 3)] += 1
        except BaseException:
            self._seen = index + 1
            raise

    def _enroll(self, written: object) -> list[Any]:
        """The fast scan's entry for a customer key as an event writes it; the
        event is checked and decided, so its customer's fold can start here."""
        if type(written) is not str or not written:
            raise Unsure
        key = written
        if self._by_customer_id:
            try:
                key = self._ids.get(written) or parse_id(written, "customer_id")
            except MeterkitError:
                raise Unsure from None
            self._ids[written] = key
        if key not in self._folds:
            self._start_fold(key, self._scan_of(key))
        entry = self._written[written] = self._pending[key]
        return entry

    def _scan_of(self, key: str) -> Scan:
        """A scan of the one customer ``key`` names."""
        if self._by_customer_id:
            return Scan(self._compiled, key, None)
        return Scan(self._compiled, None, key)

    def _start_fold(self, key: str, scan: Scan) -> tuple[Scan, Chunk]:
        fold = self._folds[key] = (scan, Chunk(self._compiled.func, at_start=True))
        self._pending[key] = [0, 0, scan.firsts]
        return fold

    def _flush(self, key: str) -> None:
        pending = self._pending[key]
        if pending[0] or pending[1]:  # a sum meter keeps no count (`_fastscan`)
            self._folds[key][1].add_counted(pending[0], pending[1])
            pending[0] = pending[1] = 0

    def add(self, event: object) -> None:
        """Fold one event in."""
        self.update((event,))

    def result(self) -> dict[str, Usage]:
        """Each customer's `Usage`, in code-point order of the keys."""
        folds = self._folds
        for key in folds:
            self._flush(key)
        return {key: _usage_of(folds[key][1]) for key in sorted(folds)}


def usage_by_customer(
    meter: Meter, events: Iterable[object], *, by: str = "customer_id"
) -> dict[str, Usage]:
    """The `usage` of every customer of the log, in one pass.

    ``by`` names the key that identifies a customer: ``"customer_id"`` (keys are
    canonical lower-case UUIDs) or ``"external_customer_id"``. Each customer's
    result equals `usage` with that key; events without the key belong to no
    customer. Every event is read and checked, whoever it belongs to. Memory grows
    with the number of customers and of ``external_id`` values, never with the
    number of events. Customers come in code-point order of their keys.

    >>> usage_by_customer(example_meter(), [
    ...     example_use(10), example_use(5, customer="globex"), example_use(2)],
    ...     by="external_customer_id")
    {'acme': Usage(consumed_units=Decimal('12'), credited_units=0,
                   balance=Decimal('0'), rollover_units=0),
     'globex': Usage(consumed_units=Decimal('5'), credited_units=0,
                     balance=Decimal('0'), rollover_units=0)}
    """
    folds = UsageByCustomer(meter, by=by)
    folds.update(events)
    return folds.result()
