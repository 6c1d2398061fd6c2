"""What an event is, decided once: each event's verdict for one meter and one scope.

Every engine function (`matches`, `aggregate`, `usage` and its accumulators,
`usage_by_customer`, `quantities`, `build_subscription_meter`, `burn_down`,
`explain`, the command line) reads the verdicts of a `Scan`; none decides on its
own what an event is. So they all accept and refuse the same logs, and agree on what
each event did.

The decision, in order (the first rule that applies gives the verdict):

| step | test                                                   | verdict          |
|------|--------------------------------------------------------|------------------|
| 1    | a customer is given and the event's keys, in canonical | `OTHER_CUSTOMER` |
|      | form, are not the customer's (it may be passed over    |                  |
|      | unread: no check of it runs)                           |                  |
| 2    | read and check the event in full (`events.read_event`) | (an error)       |
| 3    | ``user`` event: the filter refuses it, or its          | `NOT_MATCHING`   |
|      | aggregation property is missing or not a number        |                  |
|      | ``user`` event the meter counts: its contribution      | `COUNTED`        |
|      | (negative or non-finite values are errors, `matching`) |                  |
|      | ``system`` event naming another meter, or none         | `OTHER_METER`    |
|      | ``meter.credited`` for this meter (units, rollover     | `CREDIT`         |
|      | checked: an error when malformed)                      |                  |
|      | ``meter.reset`` for this meter                         | `RESET`          |
|      | any other ``system`` event for this meter              | `OTHER_SYSTEM`   |
| 4    | an earlier event in scope holds its ``external_id``    | `DUPLICATE`      |

Rule 1: step 3 runs before step 4, so the checks that depend on the meter apply to
every event in scope, duplicates included: a log is refused or accepted whatever
the order or chunking of its events, and merged chunks equal one fold.
Rule 2: the first event in scope with an ``external_id`` holds it, whatever its
verdict, and keeps it after a reset.
Rule 3: with no customer given, every event is in scope. An event belongs to a
customer when its ``customer_id`` (any letter case) is the given one, or its
``external_customer_id`` is the given one.
Rule 4: what a counted event *adds* to the quantity (`Window`) is decided in log
order, from one reset to the next: 1 for ``count``, its value for ``sum``, 1 or 0
for ``unique`` (a new value or not), the rise of the maximum for ``max``. ``min``,
``avg`` and ``latest`` can fall, so they add nothing countable (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from ._fields import parse_id, parse_text
from ._tally import Tally
from ._units import subtract_units
from .errors import InvalidTypeError, ValidationError
from .events import EventView, read_event
from .matching import NO_MATCH, CompiledMeter
from .meters import Meter

__all__: list[str] = []

# The verdicts (the kinds of `explain`'s entries use the same words).
OTHER_CUSTOMER = "other_customer"
NOT_MATCHING = "not_matching"
COUNTED = "counted"
CREDIT = "credit"
RESET = "reset"
OTHER_METER = "other_meter"
OTHER_SYSTEM = "other_system"
DUPLICATE = "duplicate"

#: The verdicts that change a usage fold (`_chunks`).
EFFECTS = (COUNTED, CREDIT, RESET)

#: The system events of one meter, by name.
CREDITED_EVENT = "meter.credited"
RESET_EVENT = "meter.reset"


class Verdict(NamedTuple):
    """One event's verdict.

    ``value``: for `COUNTED` the contribution (`matching.CompiledMeter`); for
    `CREDIT` ``(units, rollover)``; for `OTHER_METER` the ``meter_id`` the event
    names (``None`` when it names none); else ``None``. ``first``: for `DUPLICATE`
    the index of the event holding the ``external_id``. ``view`` is ``None`` only
    for an `OTHER_CUSTOMER` event passed over unread; ``event`` is the event as given.
    """

    position: int  # the event's index in the stream (`index` is a tuple method)
    kind: str
    view: EventView | None
    value: Any
    first: int | None
    event: object


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


def check_meter(meter: object) -> Meter:
    if not isinstance(meter, Meter):
        raise InvalidTypeError("must be a Meter", path="meter", value=meter)
    return meter


def iterate(events: object) -> Iterator[object]:
    """``iter(events)``, refusing what is not an iterable of events."""
    if isinstance(events, (str, bytes, Mapping)):
        raise InvalidTypeError(
            "must be an iterable of events (a list, a generator, ...), not a "
            "single string or object",
            path="events",
            value=events,
        )
    try:
        return iter(events)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise InvalidTypeError(
            "must be an iterable of events", path="events", value=events
        ) from None


class Scan:
    """The verdicts of a log's events, for one compiled meter and one scope.

    A scan remembers the ``external_id`` values it has seen (with the index of the
    event holding each), so read a log through one scan, in order. ``start`` of
    `verdicts` numbers the events of a stream that continues an earlier one.
    """

    __slots__ = (
        "compiled",
        "customer_id",
        "external_customer_id",
        "firsts",
        "ids",
        "next_index",
        "others",
        "passed_over",
    )

    def __init__(
        self,
        compiled: CompiledMeter,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
    ) -> None:
        self.compiled = compiled
        self.customer_id = customer_id
        self.external_customer_id = external_customer_id
        #: Each ``external_id`` seen in scope, with the index of its first event.
        self.firsts: dict[str, int] = {}
        #: Customer ids already checked, by their text (`events.read_event`).
        self.ids: dict[str, str] = {}
        #: The index after the last event taken from a stream (read or not).
        self.next_index = 0
        #: Customer ids (as written) known not to be the customer's.
        self.others: set[str] = set()
        #: The test of step 1: an event surely another customer's, unread.
        self.passed_over: Callable[[object], bool] = self._passed_over()

    def verdicts(self, events: Iterable[object], start: int = 0) -> Iterator[Verdict]:
        """The verdict of each event of ``events``, in order (Rule 3 for scope)."""
        customer_id, external_customer_id = self.customer_id, self.external_customer_id
        judge = self.verdict
        self.next_index = start
        if customer_id is None and external_customer_id is None:
            for index, event in enumerate(iterate(events), start):
                self.next_index = index + 1
                yield judge(event, index, None)
            return
        passed = self.passed_over
        for index, event in enumerate(iterate(events), start):
            self.next_index = index + 1
            if passed(event):
                yield Verdict(index, OTHER_CUSTOMER, None, None, None, event)
            else:
                yield judge(event, index, None)

    def _passed_over(self) -> Any:
        """A test that an event is surely another customer's, from its raw keys.

        It reads one key of a wire mapping (the given one, when only one is
        given): a string that is not the customer's. Anything else (no such key,
        a null, a value of another type, an `Event`) is read in full by `verdict`,
        so a malformed event without customer keys is still an error.
        """
        customer_id, external_customer_id = self.customer_id, self.external_customer_id
        if (customer_id is None) == (external_customer_id is None):
            return lambda event: False  # every event in scope, or both keys given
        if external_customer_id is not None:

            def other_external(event: object) -> bool:
                if type(event) is not dict:
                    return False
                found = event.get("external_customer_id")
                return type(found) is str and found != external_customer_id

            return other_external
        others = self.others

        def other_customer(event: object) -> bool:
            if type(event) is not dict:
                return False
            found = event.get("customer_id")
            if found == customer_id or type(found) is not str:
                return False
            if found in others:
                return True
            if found.lower() == customer_id:
                return False
            others.add(found)  # not the customer's in any case: remembered
            return True

        return other_customer

    def verdict(self, event: object, index: int, view: EventView | None) -> Verdict:
        """The verdict of one event in scope or not yet known to be out of it."""
        if view is None:
            view = read_event(event, index, self.ids)
        customer_id, external_customer_id = self.customer_id, self.external_customer_id
        if (customer_id is not None or external_customer_id is not None) and not (
            (customer_id is not None and view.customer_id == customer_id)
            or (
                external_customer_id is not None
                and view.external_customer_id == external_customer_id
            )
        ):
            return Verdict(index, OTHER_CUSTOMER, view, None, None, event)
        kind, value = self.classify(view, index)
        external_id = view.external_id
        if external_id is not None:
            first = self.firsts.get(external_id)
            if first is not None:
                return Verdict(index, DUPLICATE, view, None, first, event)
            self.firsts[external_id] = index
        return Verdict(index, kind, view, value, None, event)

    def classify(self, view: EventView, index: int) -> tuple[str, Any]:
        """Step 3 of the table: what the event is to this meter."""
        compiled = self.compiled
        if view.source == "user":
            if not compiled.predicate(view, index):
                return NOT_MATCHING, None
            value = compiled.contribution(view, index)
            if value is NO_MATCH:
                return NOT_MATCHING, None
            return COUNTED, value
        metadata = view.metadata
        target = metadata.get("meter_id")
        meter_id = compiled.meter.id
        if not (
            target == meter_id or (type(target) is str and target.lower() == meter_id)
        ):
            return OTHER_METER, target
        name = view.name
        if name == CREDITED_EVENT:
            return CREDIT, credit_of(metadata, index)
        if name == RESET_EVENT:
            return RESET, None
        return OTHER_SYSTEM, None


def credit_of(metadata: Mapping[str, Any], index: int) -> tuple[int, bool]:
    """The units and rollover flag of a ``meter.credited`` event for this meter."""
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
            "must be a bool (or absent, meaning false)",
            path=f"events[{index}].metadata.rollover",
            value=rollover,
        )
    return int(units), rollover


_ONE = Decimal(1)


class Window:
    """What each counted event adds to the quantity, from one reset to the next.

    Rule 4 of this module; `explain` reports these units and `burn_down` draws
    them from grants, so an event's draws always sum to its units.
    """

    __slots__ = ("func", "tally")

    def __init__(self, func: str) -> None:
        self.func = func
        self.tally = Tally(func)

    def add(self, value: Any) -> Decimal | None:
        """Fold a counted event's contribution in; the units it added."""
        func = self.func
        if func == "count":
            self.tally.add(value)
            return _ONE
        if func == "sum":
            self.tally.add(value)
            return Decimal(value)
        if func in ("unique", "max"):
            before = self.tally.quantity()
            self.tally.add(value)
            return subtract_units(self.tally.quantity(), before)
        self.tally.add(value)
        return None

    def quantity(self) -> Decimal:
        return self.tally.quantity()

    def reset(self) -> None:
        self.tally = Tally(self.func)


def check_by(by: object) -> str:
    """The ``by`` argument of `usage_by_customer`."""
    if by != "customer_id" and by != "external_customer_id":
        raise ValidationError(
            "must be 'customer_id' or 'external_customer_id'", path="by", value=by
        )
    return str(by)
