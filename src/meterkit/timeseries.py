"""Time series of a meter (`quantities`) and billing-period meters.

Rule 1 (buckets): a bucket is one step of the local calendar of an IANA time zone:
an ``hour``, a ``day``, a ``week`` (Monday to Sunday), a ``month`` or a ``year``.
Every instant has exactly one bucket, the one that holds its local time truncated to
the interval. The buckets of a series run from the bucket that holds ``start`` to
the bucket that holds ``end``, both included, and each bucket's ``timestamp`` is the
first instant it holds: its local start, in UTC.
Rule 2 (daylight saving time): days, weeks, months and years follow the calendar,
so a local day lasts 23 or 25 hours when the clocks change. An hour that the clocks
skip has no bucket; an hour that they repeat has two, one per pass (so a day on
which the clocks go back has 25 hourly buckets). When a bucket's local start falls
in a skipped stretch (a 30-minute shift at 2:00 makes 2:00 to 2:30 vanish), its
timestamp is the first instant after the shift, the moment its first local time
shows on the clock.
Rule 3 (what counts): quantities are consumption only. The events are those of
`usage`: the given customer's (every customer's when none is given), of which only
the first with each ``external_id`` counts, in log order, whatever its time; of
those, the ``user`` events that match the meter. Credits and resets do not change a
quantity. Events outside every bucket are not counted.
Rule 4 (totals): the total is the meter's aggregation over all the events of the
series: the sum of the buckets for ``count`` and ``sum``, the extreme of the
non-empty buckets for ``max``/``min``, the reading of the last non-empty bucket for
``latest``, and over all events (not over the buckets) for ``avg`` and ``unique``.
Each bucket and the total are exact `_tally.Tally` folds.
Rule 5 (billing periods): `build_subscription_meter` applies `usage` to the events
whose time is in the half-open period ``[start, end)``, after dedup over the whole
log, and prices the result with `pricing.amount_due`.
Rule 6 (groups): `quantities_by` splits the events of `quantities` by the JSON value
of one property, compared as ``unique`` compares values (by JSON type and value);
events without the property or with ``null`` make the ``None`` group. Each group is
a series of its own, with the same buckets; a group appears when one of its events
falls in a bucket, in the order of its first such event in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from . import _fields
from ._calendar import (
    DEFAULT_MAX_BUCKETS,
    INTERVALS,
    Key,
    check_period,
    series_buckets,
)
from ._chunks import Chunk
from ._fields import parse_id, parse_timestamp
from ._sentinel import Sentinel
from ._tally import Tally
from ._units import parse_units
from ._verdicts import (
    COUNTED,
    EFFECTS,
    Scan,
    Verdict,
    check_meter,
    customer_keys,
    iterate,
)
from .errors import InvalidTypeError, MeterkitError, ValidationError
from .events import frozen_json
from .matching import MISSING, CompiledMeter, property_getter, unique_key
from .meters import Meter
from .pricing import Price, amount_due, check_price
from .values import SubscriptionMeter

__all__ = [
    "DEFAULT_MAX_BUCKETS",
    "INTERVALS",
    "GroupQuantities",
    "MeterQuantities",
    "MeterQuantity",
    "build_subscription_meter",
    "quantities",
    "quantities_by",
]


def _timestamp(value: object) -> datetime:
    return parse_timestamp(value, "timestamp")


def _quantity(value: object) -> Decimal:
    return parse_units(value, "quantity")


def _total(value: object) -> Decimal:
    return parse_units(value, "total")


@attrs.frozen(kw_only=True)
class MeterQuantity:
    """The quantity of one bucket of a series (shape ``MeterQuantity``).

    ``timestamp`` is the bucket's first instant, in UTC.

    >>> from datetime import datetime, timezone
    >>> MeterQuantity(timestamp=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...               quantity="12.5")
    MeterQuantity(timestamp=datetime.datetime(2025, 1, 1, 0, 0,
                  tzinfo=datetime.timezone.utc), quantity=Decimal('12.5'))
    """

    timestamp: datetime = attrs.field(converter=_timestamp)
    quantity: Decimal = attrs.field(converter=_quantity)


def _quantities(value: object) -> tuple[MeterQuantity, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidTypeError(
            "must be a list or tuple of MeterQuantity", path="quantities", value=value
        )
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, MeterQuantity):
            raise InvalidTypeError(
                "must be a MeterQuantity", path=f"quantities[{index}]", value=item
            )
    return items


@attrs.frozen(kw_only=True)
class MeterQuantities:
    """A series of bucket quantities and its total (shape ``MeterQuantities``).

    `quantities` returns its buckets in strictly increasing time order; the type
    itself takes any list, so that any document of the API can be read.
    """

    quantities: tuple[MeterQuantity, ...] = attrs.field(converter=_quantities)
    total: Decimal = attrs.field(converter=_total)


def _group_value(value: object) -> object:
    return frozen_json(value, "value")


def _series(value: object) -> MeterQuantities:
    if not isinstance(value, MeterQuantities):
        raise InvalidTypeError(
            "must be a MeterQuantities", path="quantities", value=value
        )
    return value


@attrs.frozen(kw_only=True)
class GroupQuantities:
    """The series of one group of `quantities_by`: its ``value`` and ``quantities``.

    ``value`` is the group's JSON value of the ``group_by`` property (``None`` for
    the events without it), frozen like ``Event.metadata``.
    """

    value: Any = attrs.field(converter=_group_value)
    quantities: MeterQuantities = attrs.field(converter=_series)


# -- quantities --------------------------------------------------------------------


def quantities(
    meter: Meter,
    events: Iterable[object],
    *,
    start: datetime,
    end: datetime,
    interval: str,
    timezone: str = "UTC",
    customer_id: object = None,
    external_customer_id: object = None,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
) -> MeterQuantities:
    """The meter's quantity per calendar ``interval`` from ``start`` to ``end``.

    Buckets run from the one holding ``start`` to the one holding ``end`` (both
    included) in the local calendar of ``timezone``, an IANA name; see the module
    rules for DST, and docs/timeseries.md. Only consumption counts: the customer's
    ``user`` events matching the meter, the first of each ``external_id``; credits
    and resets are ignored. ``events`` is read once, in log order.

    >>> from datetime import datetime, timezone
    >>> def use(at, tokens):
    ...     return {"name": "llm", "timestamp": at,
    ...             "metadata": {"total_tokens": tokens}}
    >>> series = quantities(
    ...     example_meter(),
    ...     [use("2025-01-01T10:00:00Z", 10), use("2025-01-03T23:00:00Z", 5)],
    ...     start=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...     end=datetime(2025, 1, 3, tzinfo=timezone.utc), interval="day")
    >>> [(q.timestamp.day, q.quantity) for q in series.quantities], series.total
    ([(1, Decimal('10')), (2, Decimal('0')), (3, Decimal('5'))], Decimal('15'))
    """
    series = _Series(
        meter,
        events,
        start,
        end,
        interval,
        timezone,
        customer_id,
        external_customer_id,
        max_buckets,
    )
    tallies = series.tallies()
    for key, verdict in series.counted():
        tallies[key].add(verdict.value)
    return series.result(tallies)


def quantities_by(
    meter: Meter,
    events: Iterable[object],
    *,
    group_by: str,
    start: datetime,
    end: datetime,
    interval: str,
    timezone: str = "UTC",
    customer_id: object = None,
    external_customer_id: object = None,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
) -> tuple[GroupQuantities, ...]:
    """`quantities` for each value of the ``group_by`` property, in one pass.

    ``group_by`` is a property path, read like a filter clause's ``property``
    (``name``, ``source``, ``timestamp`` in epoch seconds, or a dot path into
    ``metadata``). Values are grouped by JSON type and value, as ``unique``
    compares them (``1`` and ``1.0`` are one group, ``1``, ``"1"`` and ``true``
    three); events without the property, or with ``null``, form the group whose
    ``value`` is ``None`` (Rule 6). The arguments and the events counted are those
    of `quantities`; only groups with at least one event in a bucket appear, in
    the order of their first such event in the log. For ``count`` and ``sum`` the
    groups' totals add up to `quantities`' total.

    >>> from datetime import datetime, timezone
    >>> def use(day, model, tokens):
    ...     return {"name": "llm", "timestamp": f"2025-01-0{day}T12:00:00Z",
    ...             "metadata": {"model": model, "total_tokens": tokens}}
    >>> groups = quantities_by(
    ...     example_meter(),
    ...     [use(1, "small", 10), use(1, "large", 5), use(2, "small", 7)],
    ...     group_by="model", start=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...     end=datetime(2025, 1, 2, tzinfo=timezone.utc), interval="day")
    >>> [(g.value, [q.quantity for q in g.quantities.quantities],
    ...   g.quantities.total) for g in groups]
    [('small', [Decimal('10'), Decimal('7')], Decimal('17')),
     ('large', [Decimal('5'), Decimal('0')], Decimal('5'))]
    """
    read = property_getter(_group_by(group_by))
    series = _Series(
        meter,
        events,
        start,
        end,
        interval,
        timezone,
        customer_id,
        external_customer_id,
        max_buckets,
    )
    func = series.scan.compiled.func
    # Each group's value (as first seen) and its tallies, by `unique_key`; a group
    # holds tallies only for the buckets its events fall in.
    groups: dict[object, tuple[object, dict[Key, Tally]]] = {}
    for key, verdict in series.counted():
        value = read(verdict.view, verdict.position)  # type: ignore[arg-type]
        group = _group_key(value, verdict.position, group_by)
        entry = groups.get(group)
        if entry is None:
            entry = groups[group] = (
                _group_value_of(value, group, verdict.position, group_by),
                {},
            )
        tallies = entry[1]
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally(func)
        tally.add(verdict.value)
    return tuple(
        GroupQuantities(
            value=value,
            quantities=series.result(
                {key: tallies.get(key) or Tally(func) for key, _ in series.buckets}
            ),
        )
        for value, tallies in groups.values()
    )


#: The group of events without the ``group_by`` property, or with ``null``.
_NO_GROUP = Sentinel("_NO_GROUP", __name__)


def _group_by(value: object) -> str:
    """A property path: text whose dot-separated steps are all non-empty."""
    path = _fields.parse_text(value, "group_by")
    if not all(path.removeprefix("metadata.").split(".")):
        raise ValidationError(
            "must be a property path: name, source, timestamp or a dot path into "
            "metadata such as '_llm.model', without empty steps",
            path="group_by",
            value=value,
        )
    return path


def _group_key(value: object, index: int, group_by: str) -> object:
    if value is None or value is MISSING:
        return _NO_GROUP
    try:
        return unique_key(value)
    except MeterkitError as exc:
        raise exc.at(_where(index, group_by) + (exc.path or "")) from None


def _group_value_of(value: object, group: object, index: int, group_by: str) -> object:
    """A new group's value, frozen as `GroupQuantities` holds it; a value it cannot
    hold (nested too deeply) is an error naming the event."""
    if group is _NO_GROUP:
        return None
    try:
        return frozen_json(value, "")
    except MeterkitError as exc:
        raise exc.at(_where(index, group_by) + (exc.path or "")) from None


def _where(index: int, group_by: str) -> str:
    """Where the ``group_by`` property of the event ``index`` is, as a path."""
    if group_by in ("name", "source", "timestamp"):
        return f"events[{index}].{group_by}"
    return f"events[{index}].metadata.{group_by.removeprefix('metadata.')}"


class _Series:
    """What `quantities` and `quantities_by` share: arguments checked, the scan,
    the calendar and its buckets (Rules 1 to 4)."""

    def __init__(
        self,
        meter: Meter,
        events: Iterable[object],
        start: object,
        end: object,
        interval: object,
        timezone: object,
        customer_id: object,
        external_customer_id: object,
        max_buckets: object,
    ) -> None:
        compiled = CompiledMeter(check_meter(meter))
        self.scan = Scan(compiled, *customer_keys(customer_id, external_customer_id))
        self.events = iterate(events)
        self.calendar, self.buckets = series_buckets(
            start, end, interval, timezone, max_buckets
        )

    def counted(self) -> Iterator[tuple[Key, Verdict]]:
        """Each counted verdict whose event falls in a bucket, with the bucket's key
        (Rule 3), in log order."""
        keys = {key for key, _ in self.buckets}
        key_of = self.calendar.key
        for verdict in self.scan.verdicts(self.events):
            if verdict.kind != COUNTED:
                continue
            try:
                key = key_of(verdict.view.timestamp)  # type: ignore[union-attr]
            except OverflowError:
                continue  # local time beyond datetime's range: outside every bucket
            if key in keys:
                yield key, verdict

    def tallies(self) -> dict[Key, Tally]:
        """An empty tally for each bucket, in time order."""
        func = self.scan.compiled.func
        return {key: Tally(func) for key, _ in self.buckets}

    def result(self, tallies: dict[Key, Tally]) -> MeterQuantities:
        """The series of ``tallies`` (one per bucket key) and its total."""
        return series_of(
            self.buckets,
            [tallies[key] for key, _ in self.buckets],
            self.scan.compiled.func,
        )


def series_of(
    buckets: Sequence[tuple[Key, datetime]], tallies: Sequence[Tally], func: str
) -> MeterQuantities:
    """The `MeterQuantities` of the buckets' ``tallies`` (in the buckets' order)
    and its total (Rule 4): the tallies absorbed in time order, as `latest` needs.
    `sql.sql_quantities` builds its series here too."""
    total = Tally(func)
    for tally in tallies:
        total.absorb(tally)
    return MeterQuantities(
        quantities=tuple(
            MeterQuantity(timestamp=instant, quantity=tally.quantity())
            for (_, instant), tally in zip(buckets, tallies, strict=True)
        ),
        total=total.quantity(),
    )


# -- Billing periods ---------------------------------------------------------------


def build_subscription_meter(
    meter: Meter,
    price: Price,
    events: Iterable[object],
    *,
    start: datetime,
    end: datetime,
    id: object,  # the field's name in the API shape
    created_at: datetime | None = None,
    modified_at: datetime | None = None,
    customer_id: object = None,
    external_customer_id: object = None,
) -> SubscriptionMeter:
    """The `SubscriptionMeter` of one customer's billing period ``[start, end)``.

    ``consumed_units`` and ``credited_units`` are those of `usage` over the events
    whose time is at or after ``start`` and before ``end``; ``amount`` is
    ``amount_due(price, consumed_units, credited_units)``, for any kind of price.
    Dedup by ``external_id`` runs over the whole log first: a copy of an event seen
    earlier never counts, even when the earlier one lies outside the period. A reset
    in the period wipes what came before it in the period. ``created_at`` defaults
    to ``start``. Give ``customer_id`` or ``external_customer_id``: a subscription
    bills one customer.

    >>> from datetime import datetime, timezone
    >>> from meterkit import MeteredUnitPrice
    >>> price = MeteredUnitPrice(unit_amount="0.5", meter_id=example_meter().id)
    >>> sm = build_subscription_meter(
    ...     example_meter(), price,
    ...     [example_use(300), example_credit(100), example_use(50)],
    ...     start=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...     end=datetime(2025, 2, 1, tzinfo=timezone.utc),
    ...     id="6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10", external_customer_id="acme")
    >>> sm.consumed_units, sm.credited_units, sm.amount
    (Decimal('350'), 100, 125)
    """
    meter = check_meter(meter)
    check_price(price)
    if price.meter_id != meter.id:
        raise ValidationError(
            f"is for another meter; pass the price of meter {meter.id!r}",
            path="price.meter_id",
            value=price.meter_id,
        )
    events = iterate(events)
    start_at, end_at = check_period(start, end, empty_ok=False)
    object_id = parse_id(id, "id")
    created = start_at if created_at is None else _fields.created_at_field(created_at)
    modified = _fields.modified_at_field(modified_at)
    if customer_id is None and external_customer_id is None:
        raise ValidationError(
            "is missing: give customer_id or external_customer_id, since a "
            "subscription meter bills one customer",
            path="customer_id",
        )
    compiled = CompiledMeter(meter)
    scan = Scan(compiled, *customer_keys(customer_id, external_customer_id))
    chunk = Chunk(compiled.func, at_start=True)
    for verdict in scan.verdicts(events):
        kind = verdict.kind
        if kind in EFFECTS and start_at <= verdict.view.timestamp < end_at:  # type: ignore[union-attr]
            chunk.take(kind, verdict.value, None)
    consumed, credited, _, _ = chunk.totals()
    return SubscriptionMeter(
        created_at=created,
        modified_at=modified,
        id=object_id,
        consumed_units=consumed,
        credited_units=credited,
        amount=amount_due(price, consumed, credited),
        meter_id=meter.id,
    )
