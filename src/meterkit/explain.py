"""The explain trace: what `usage` did with each event of a log, and why.

Rule 1 (the engine's verdicts): `explain` is a reading of the verdicts of
`_verdicts.Scan`, the classifier `usage` and every other engine function read, so
every entry is what `usage` itself did with the event: the same customer test,
dedup, filter, aggregation, credit and reset rules, and the same errors for bad
events. Why a user event does not match comes from `matching.compile_refusal`,
which asks the very clause predicates the filter is compiled from.
Rule 2 (one entry per event): entries are in log order, one per event; ``index`` is
the event's position in the stream (0-based).
Rule 3 (resets): a reset wipes every ``counted``, ``credit`` and ``reset`` entry
before it. Those entries become ``before_reset``, with ``wiped`` saying what they
had been and ``reset_index`` naming the first reset after them; their other fields
stay as they were.
Rule 4 (units): the ``units`` of a ``counted`` entry is what the event added to
``consumed_units`` (`_verdicts.Window`): 1 for ``count``, its value for ``sum``, for
``unique`` 1 when its value is new since the last reset, else 0, and for ``max`` the
rise of the maximum. So for these four the ``units`` of the ``counted`` entries
since the last reset sum to `usage`'s ``consumed_units``, and with grants an
entry's draws sum to its units. ``min``, ``avg`` and ``latest`` are not sums:
their entries have ``units=None``. ``value`` is what the event fed the
aggregation (a number always as an exact `Decimal`). Every ``counted`` entry
carries ``consumed_units``, the quantity just after it, so the last one is
`usage`'s ``consumed_units``.
Rule 5 (grants): given credit grants, each entry's ``draws`` are the `burn_down`
draws of its event: which grant its units came from (``grant_id=None``: overage).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

import attrs

from ._fields import parse_count, parse_int, parse_items
from ._units import decimal_from_number, parse_units
from ._verdicts import (
    COUNTED,
    CREDIT,
    DUPLICATE,
    NOT_MATCHING,
    OTHER_CUSTOMER,
    OTHER_SYSTEM,
    RESET,
    Scan,
    Verdict,
    Window,
    check_meter,
    customer_keys,
    iterate,
)
from .errors import InvalidTypeError, ValidationError
from .events import EventView
from .grants import CreditGrant, Draw, burn_down
from .matching import (
    MISSING,
    NO_VALUE,
    CompiledMeter,
    compile_refusal,
    json_text,
    property_getter,
)
from .meters import (
    CountAggregation,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)

__all__ = ["KINDS", "FailedClause", "Kind", "TraceEntry", "explain"]

Kind = Literal[
    "counted",
    "not_matching",
    "other_customer",
    "duplicate",
    "before_reset",
    "credit",
    "reset",
    "other_meter",
    "other_system",
]
#: Every kind of entry, in the order of the documentation (that of `Kind`).
KINDS: tuple[str, ...] = get_args(Kind)
#: The kinds whose ``value`` is a number fed to the aggregation, when a number.
_VALUED_KINDS = ("counted", "before_reset")
#: The kinds a later reset wipes.
WIPED_KINDS: tuple[str, ...] = ("counted", "credit", "reset")


def _kind(value: object) -> str:
    if value not in KINDS:
        raise ValidationError(
            f"must be one of {', '.join(KINDS)}", path="kind", value=value
        )
    return str(value)


def _wiped(value: object) -> str | None:
    if value is None:
        return None
    if value not in WIPED_KINDS:
        raise ValidationError(
            f"must be one of {', '.join(WIPED_KINDS)}, or None",
            path="wiped",
            value=value,
        )
    return str(value)


def _index(value: object) -> int:
    return parse_count(value, "index")


def _first_index(value: object) -> int | None:
    return None if value is None else parse_count(value, "first_index")


def _reset_index(value: object) -> int | None:
    return None if value is None else parse_count(value, "reset_index")


def _units(value: object) -> Decimal | None:
    return None if value is None else parse_units(value, "units")


def _consumed_units(value: object) -> Decimal | None:
    return None if value is None else parse_units(value, "consumed_units")


def _credit_units(value: object) -> int | None:
    return None if value is None else parse_int(value, "credit_units")


def _rollover(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidTypeError("must be a bool or None", path="rollover", value=value)
    return value


def _note(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError("must be a string", path="note", value=value)
    return value


def _seen(value: object) -> Any:
    # A list or an object read from an event is copied, so that the entry stays
    # what it was when the caller's event changes.
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def _clause(value: object) -> FilterClause:
    if not isinstance(value, FilterClause):
        raise InvalidTypeError("must be a FilterClause", path="clause", value=value)
    return value


@attrs.frozen(kw_only=True)
class FailedClause:
    """A filter clause an event failed, and the value the event had for it.

    ``seen`` is ``None`` when the property is missing or null (both fail every
    clause).

    >>> FailedClause(clause=FilterClause(property="name", operator="eq",
    ...                                  value="llm"), seen="api")
    FailedClause(clause=FilterClause(property='name', operator='eq', value='llm'),
                 seen='api')
    """

    clause: FilterClause = attrs.field(converter=_clause)
    seen: Any = attrs.field(default=None, converter=_seen, hash=False)


def _failed(value: object) -> tuple[FailedClause, ...]:
    return parse_items(value, "failed", FailedClause)


def _draws(value: object) -> tuple[Draw, ...]:
    return parse_items(value, "draws", Draw)


@attrs.frozen(kw_only=True)
class TraceEntry:
    """What the engine did with one event, and why: one entry of `explain`.

    Every entry has ``index`` (the event's position), ``kind`` and ``note`` (a
    sentence saying why, without positions; `describe` adds them). The other
    fields belong to some kinds only and are ``None`` (or empty) elsewhere:

    - ``counted``: ``units`` (see Rule 4 of this module), ``value`` (the value
      the event fed the aggregation; ``None`` for ``count``), ``consumed_units``
      (the quantity just after it);
    - ``not_matching``: ``failed``, the clauses the event failed (an ``and``
      names its first failing clause, an ``or`` all of its failing clauses); when
      empty, the aggregation refused the event, and ``value`` is what its
      property held (``None`` when missing or null);
    - ``duplicate``: ``first_index``, the position of the customer's first event
      with that ``external_id`` (the one that counted, or was meant to);
    - ``credit``: ``credit_units`` (negative revokes) and ``rollover``;
    - ``before_reset``: ``wiped`` (``counted``, ``credit`` or ``reset``) and
      ``reset_index``, the reset that wiped it; the fields of what it was stay;
    - ``other_customer``, ``reset``, ``other_meter``, ``other_system``: nothing
      more (``value`` holds the ``meter_id`` an ``other_meter`` event named).

    ``draws`` lists the `burn_down` draws of the event when `explain` was given
    grants (``counted`` and ``before_reset`` entries only ever have some).
    """

    index: int = attrs.field(converter=_index)
    kind: Kind = attrs.field(converter=_kind)
    note: str = attrs.field(converter=_note)
    units: Decimal | None = attrs.field(default=None, converter=_units)
    consumed_units: Decimal | None = attrs.field(
        default=None, converter=_consumed_units
    )
    value: Any = attrs.field(default=None, converter=_seen, hash=False)
    credit_units: int | None = attrs.field(default=None, converter=_credit_units)
    rollover: bool | None = attrs.field(default=None, converter=_rollover)
    first_index: int | None = attrs.field(default=None, converter=_first_index)
    reset_index: int | None = attrs.field(default=None, converter=_reset_index)
    wiped: Literal["counted", "credit", "reset"] | None = attrs.field(
        default=None, converter=_wiped
    )
    failed: tuple[FailedClause, ...] = attrs.field(default=(), converter=_failed)
    draws: tuple[Draw, ...] = attrs.field(default=(), converter=_draws)

    def __attrs_post_init__(self) -> None:
        # A number the event fed the aggregation is exact: a float read back from
        # JSON becomes the Decimal it was written from (its shortest repr).
        value = self.value
        if (
            self.kind in _VALUED_KINDS
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            object.__setattr__(self, "value", decimal_from_number(value, "value"))

    def describe(self, where: Callable[[int], str] | None = None) -> str:
        """``note``, with the positions it refers to written by ``where``.

        ``where(index)`` names an event; the default writes ``events[index]``
        (the command line writes ``line N``).

        >>> TraceEntry(index=4, kind="duplicate", note="external_id 'a' is taken",
        ...            first_index=1).describe()
        "external_id 'a' is taken, first by events[1]"
        """
        name = where or _position
        if self.kind == "duplicate" and self.first_index is not None:
            return f"{self.note}, first by {name(self.first_index)}"
        if self.kind == "before_reset" and self.reset_index is not None:
            return f"{self.note}; wiped by the reset at {name(self.reset_index)}"
        return self.note


def _position(index: int) -> str:
    return f"events[{index}]"


def _text(value: object) -> str:
    """A value as the notes show it: strings quoted, numbers and bools as JSON."""
    if isinstance(value, Decimal):
        return format(value, "f")  # exact and positional: 1E+3 is "1000"
    if isinstance(value, str):
        return repr(value)
    text = json_text(value)
    return text if text is not None else repr(value)


class _Explainer:
    """The per-meter parts of `explain`: notes for each kind of verdict."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        aggregation = meter.aggregation
        self.func = aggregation.func
        self.refusal = compile_refusal(meter.filter)
        self.property: str | None = None
        self.read: Callable[[EventView, int], Any] | None = None
        if isinstance(aggregation, (PropertyAggregation, UniqueAggregation)):
            self.property = aggregation.property
            self.read = property_getter(aggregation.property)
        else:
            assert isinstance(aggregation, CountAggregation)

    def counted(
        self, index: int, view: EventView, contribution: Any, window: Window
    ) -> TraceEntry:
        had = self.func == "unique" and contribution in window.tally.distinct  # type: ignore[operator]
        units = window.add(contribution)
        value: Any = None
        if self.func == "count":
            note = "matches the meter"
        elif self.func == "unique":
            assert self.read is not None
            raw = self.read(view, index)
            value = None if raw is MISSING else raw
            if contribution is NO_VALUE:
                note = f"{self.property} is missing or null: no value to count"
            elif had:
                note = f"{self.property} = {_text(value)}, a value already counted"
            else:
                note = f"{self.property} = {_text(value)}, a new value"
        else:
            reading = contribution[1] if self.func == "latest" else contribution
            value = Decimal(reading)
            note = f"{self.property} = {_text(value)}"
            if self.func == "latest" and window.tally.latest is not contribution:
                note += ", older than the latest reading: not the level"
        return TraceEntry(
            index=index,
            kind="counted",
            note=note,
            units=units,
            consumed_units=window.quantity(),
            value=value,
        )

    def not_matching(self, index: int, view: EventView) -> TraceEntry:
        failed = tuple(
            FailedClause(clause=clause, seen=None if seen is MISSING else seen)
            for clause, seen in self.refusal(view, index)
        )
        if failed:
            return TraceEntry(
                index=index,
                kind="not_matching",
                note="; ".join(_failed_note(f) for f in failed),
                failed=failed,
            )
        # The filter passed: the aggregation property refused the event.
        assert self.read is not None
        seen = self.read(view, index)
        value = None if seen is MISSING else seen
        why = "is missing or null" if value is None else "is not a number"
        shown = "" if value is None else f" ({_text(value)})"
        return TraceEntry(
            index=index,
            kind="not_matching",
            note=f"{self.property} {why}{shown}: the {self.func} meter needs a number",
            value=value,
        )

    def system(self, index: int, view: EventView, verdict: Verdict) -> TraceEntry:
        target = verdict.value
        if verdict.kind == OTHER_SYSTEM:
            note = (
                f"system event {view.name!r} is neither meter.credited nor meter.reset"
            )
            return TraceEntry(index=index, kind="other_system", note=note)
        if target is None:
            note = f"{view.name} names no meter (no metadata.meter_id)"
            return TraceEntry(index=index, kind="other_meter", note=note)
        note = f"{view.name} for meter {_text(target)}, not this meter"
        return TraceEntry(index=index, kind="other_meter", note=note, value=target)

    def reset(self, index: int) -> TraceEntry:
        note = "resets the meter: only later events count"
        return TraceEntry(index=index, kind="reset", note=note)


def _failed_note(failed: FailedClause) -> str:
    clause = failed.clause
    prop = clause.property
    seen = "is missing or null" if failed.seen is None else f"= {_text(failed.seen)}"
    return f"{prop} {clause.operator} {_text(clause.value)} fails: {prop} {seen}"


def _customer_note(event: object, view: EventView | None) -> str:
    customer: object
    external: object
    if view is not None:
        customer, external = view.customer_id, view.external_customer_id
    else:
        # Passed over after one lookup (`UsageAccumulator.update`), unread.
        customer = _lookup(event, "customer_id")
        external = _lookup(event, "external_customer_id")
    keys = [
        f"{key} {_text(value)}"
        for key, value in (
            ("customer_id", customer),
            ("external_customer_id", external),
        )
        if value is not None
    ]
    if not keys:
        return "has no customer_id or external_customer_id"
    return f"belongs to {' and '.join(keys)}"


def _lookup(event: object, key: str) -> object:
    try:
        return event[key]  # type: ignore[index]
    except (LookupError, TypeError):
        return None


def explain(
    meter: Meter,
    events: Iterable[object],
    *,
    customer_id: object = None,
    external_customer_id: object = None,
    grants: Iterable[CreditGrant] | None = None,
    at: datetime | None = None,
) -> tuple[TraceEntry, ...]:
    """What `usage` did with each event of ``events``, and why: one `TraceEntry` each.

    Same arguments and errors as `usage`. With ``grants`` (`CreditGrant`s), each
    entry also lists the `burn_down` draws of its event, as of ``at``.

    >>> events = [example_use(20), example_reset(), example_use(10),
    ...           example_use(5, external_id="a"), example_use(5, external_id="a"),
    ...           example_use(7, customer="globex"), example_credit(100)]
    >>> for entry in explain(example_meter(), events, external_customer_id="acme"):
    ...     print(entry.index, entry.kind, entry.units, entry.describe())
    0 before_reset 20 total_tokens = 20; wiped by the reset at events[1]
    1 reset None resets the meter: only later events count
    2 counted 10 total_tokens = 10
    3 counted 5 total_tokens = 5
    4 duplicate None external_id 'a' is taken, first by events[3]
    5 other_customer None belongs to external_customer_id 'globex'
    6 credit None credits 100 units
    """
    compiled = CompiledMeter(check_meter(meter))
    scan = Scan(compiled, *customer_keys(customer_id, external_customer_id))
    draws_of: dict[int, list[Draw]] = {}
    if grants is not None:
        events = list(iterate(events))
        result = burn_down(
            meter,
            grants,
            events,
            customer_id=customer_id,
            external_customer_id=external_customer_id,
            at=at,
        )
        for draw in result.draws:
            draws_of.setdefault(draw.event_index, []).append(draw)
    elif at is not None:
        raise ValidationError(
            "is the instant of the grants' balances: give grants too", path="at"
        )
    explainer = _Explainer(compiled.meter)
    window = Window(compiled.func)
    entries: list[TraceEntry] = []
    for verdict in scan.verdicts(events):
        entry = _entry(explainer, window, verdict)
        if verdict.position in draws_of:
            entry = attrs.evolve(entry, draws=draws_of[verdict.position])
        entries.append(entry)
    return _wipe(entries)


def _entry(explainer: _Explainer, window: Window, verdict: Verdict) -> TraceEntry:
    """The entry of one verdict (Rule 1)."""
    index, kind, view = verdict.position, verdict.kind, verdict.view
    if kind == OTHER_CUSTOMER:
        return TraceEntry(
            index=index, kind=kind, note=_customer_note(verdict.event, view)
        )
    assert view is not None  # only other customers' events may be left unread
    if kind == DUPLICATE:
        return TraceEntry(
            index=index,
            kind=kind,
            note=f"external_id {view.external_id!r} is taken",
            first_index=verdict.first,
        )
    if kind == COUNTED:
        return explainer.counted(index, view, verdict.value, window)
    if kind == CREDIT:
        units, rollover = verdict.value
        verb = "credits" if units >= 0 else "revokes"
        note = f"{verb} {abs(units)} units" + (" (rollover)" if rollover else "")
        return TraceEntry(
            index=index,
            kind=kind,
            note=note,
            credit_units=units,
            rollover=rollover,
        )
    if kind == RESET:
        window.reset()
        return explainer.reset(index)
    if kind == NOT_MATCHING:
        return explainer.not_matching(index, view)
    return explainer.system(index, view, verdict)


def _wipe(entries: list[TraceEntry]) -> tuple[TraceEntry, ...]:
    """Mark what each reset wiped (Rule 3), walking back from the end."""
    next_reset: int | None = None
    for position in range(len(entries) - 1, -1, -1):
        entry = entries[position]
        if entry.kind not in WIPED_KINDS:
            continue
        if next_reset is not None:
            entries[position] = attrs.evolve(
                entry, kind="before_reset", wiped=entry.kind, reset_index=next_reset
            )
        if entry.kind == "reset":
            next_reset = entry.index
    return tuple(entries)
