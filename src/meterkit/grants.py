"""Credit grants and their burn-down: which grant pays for each unit consumed.

Rule 1 (grants): a `CreditGrant` gives ``units`` (an int > 0) of credit on one meter,
in force from ``effective_at`` (inclusive) to ``expires_at`` (exclusive; ``None``
never expires). What is left of a grant when it expires is gone.
Rule 2 (consumption): `burn_down` reads the verdicts of `_verdicts.Scan`, the ones
`usage` reads (customer scope, ``external_id`` dedup, checks), keeps the counted
events and replays them in time order; events with equal timestamps keep their log
order. An event consumes what it adds to the meter's quantity, decided in log order
from one reset to the next (`_verdicts.Window`, which `explain` reports too): 1 for
``count``, its value for ``sum``, the rise of the running maximum for ``max``, 1 for
a new value of ``unique``. ``min`` and ``avg`` can fall, so they cannot be drawn
down: an error.
Rule 3 (draw order): an event's units are drawn from the grants in force at its
timestamp, one grant after another in this order: lower ``priority`` first, then
earlier ``expires_at`` (no expiry last), then earlier ``effective_at``, then ``id``.
Units that no grant covers are overage; no balance ever goes negative.
Rule 4 (as of): only events with ``timestamp <= at`` are consumed (what they add is
decided over those events and resets only), and every grant is reported as of
``at``, with the refills due by then (Rule 7): ``pending`` (``at < effective_at``:
its full units, not in the balance), ``active`` (in the balance) or ``expired``
(``expires_at <= at``: 0 remaining, what was left at expiry in ``expired_units``).
Without ``at``, the result is as of the last consumed event's timestamp; no clock is
read. With neither ``at`` nor a consumed event there is no instant: every grant is
``active``, unused, never refilled.
Rule 5 (system events): ``meter.credited`` and ``meter.reset`` events do not touch
grants. Grants carry their own lifetimes, and a reset (which starts a new window for
`usage`) must not wipe credit the customer was given for a period that is still
running. A reset only starts a new window for what ``max`` and ``unique`` events
add (Rule 2). So the burn-down agrees with `usage` on logs without credits and
resets. The grants together hold less than 1E+29 units, like every unit count:
their ``units``, plus ``max_rollover`` for the recurring ones, since a refill can
leave ``max_rollover + units``; so no balance can reach 1E+29. What one grant is
given over time (``granted_units``) grows with its refills: a burn-down whose
instant would bring it to 1E+29 is refused, naming the grant.
Rule 6 (exact): units are `Decimal` in `_units.UNITS`; every draw, remainder and sum
is exact, and the results check their own sums when they are built:
``drawn + remaining + expired + forfeited == granted`` for every grant.
Rule 7 (refills): a grant with a ``recurrence`` (``day``, ``week``, ``month`` or
``year``) is refilled at ``effective_at`` plus k intervals (k = 1, 2, ...) of the
local calendar of its ``timezone``, always counted from ``effective_at``, the day
clamped to the month's end; a local time the clocks skip is read as the moment they
jump past it, one they repeat as its first pass (`_recurrence`). A refill is at its
instant, inclusive: an event at that very instant draws on the refilled grant.
Refills happen only while the grant is in force (none at ``expires_at``). At a
refill what remains becomes ``min(remaining, max_rollover) + units``; the units
above ``max_rollover`` are forfeited (``forfeited_units``). Refills leave the draw
order (Rule 3) as it is. They are applied lazily, in time order, when an event or
the result's instant reaches them, several at once between two events
(`_burn`): the cost grows with the events, not with the refills.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Literal

import attrs

from . import _fields
from ._burn import replay
from ._calendar import check_zone
from ._localtime import local_time
from ._recurrence import RECURRENCES, refills_of
from ._units import ZERO, add_units, parse_units, subtract_units
from ._verdicts import COUNTED, RESET, Scan, Window, check_meter, customer_keys
from .errors import InvalidTypeError, ValidationError
from .matching import CompiledMeter
from .meters import Meter

__all__ = ["BurnDown", "CreditGrant", "Draw", "GrantState", "burn_down"]

#: The aggregations whose quantity never falls as events come in: the only ones
#: whose consumption can be split into per-event draws.
DRAWABLE = ("count", "sum", "max", "unique")


def _units(value: object) -> int:
    units = _fields.parse_int(value, "units")
    if units <= 0:
        raise ValidationError("must be > 0", path="units", value=value)
    if units > _fields.MAX_CREDITED_UNITS:
        raise ValidationError("must be below 1E+29", path="units", value=value)
    return units


def _effective_at(value: object) -> datetime:
    return _fields.parse_timestamp(value, "effective_at")


def _expires_at(value: object) -> datetime | None:
    return _fields.parse_optional_timestamp(value, "expires_at")


def _priority(value: object) -> int:
    return _fields.parse_int(value, "priority")


def _rollover(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidTypeError("must be a bool", path="rollover", value=value)
    return value


def _optional_meter_id(value: object) -> str | None:
    return None if value is None else _fields.parse_id(value, "meter_id")


Recurrence = Literal["day", "week", "month", "year"]


def _recurrence(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value in RECURRENCES):
        return value
    error = ValidationError if isinstance(value, str) else InvalidTypeError
    raise error(
        f"must be None or one of {', '.join(map(repr, RECURRENCES))}",
        path="recurrence",
        value=value,
    )


def _timezone(value: object) -> str:
    check_zone(value)  # the check of `quantities`' timezone, errors naming `timezone`
    assert isinstance(value, str)
    return value


def _max_rollover(value: object) -> int:
    units = _fields.parse_count(value, "max_rollover")
    if units > _fields.MAX_CREDITED_UNITS:
        raise ValidationError("must be below 1E+29", path="max_rollover", value=value)
    return units


@attrs.frozen(kw_only=True)
class CreditGrant:
    """Credit of ``units`` on a meter, in force from ``effective_at`` to ``expires_at``.

    ``priority`` orders draws (lower first); ``rollover`` is carried for the billing
    system and does not change the burn-down. ``meter_id``, when set, ties the grant
    to one meter: `burn_down` refuses it for another.

    ``recurrence`` (``None``, ``"day"``, ``"week"``, ``"month"`` or ``"year"``)
    refills the grant at ``effective_at`` plus 1, 2, ... intervals of the local
    calendar of ``timezone`` (an IANA name), while it is in force; at a refill what
    remains becomes ``min(remaining, max_rollover) + units`` (Rule 7 of this
    module). ``max_rollover`` must be 0 for a grant that does not recur.

    >>> from datetime import datetime, timezone
    >>> grant = CreditGrant(id="5c8d1e0e-8f65-4d8e-9d0c-3f1f2b7e6a01", units=100,
    ...                     effective_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> grant.expires_at, grant.priority, grant.rollover, grant.meter_id
    (None, 0, False, None)
    >>> grant.recurrence, grant.timezone, grant.max_rollover
    (None, 'UTC', 0)
    >>> monthly = CreditGrant(id="5c8d1e0e-8f65-4d8e-9d0c-3f1f2b7e6a02", units=100,
    ...                       effective_at=datetime(2024, 1, 31, tzinfo=timezone.utc),
    ...                       recurrence="month", max_rollover=50)
    >>> [monthly.refill_at(k).date().isoformat() for k in (1, 2, 3)]
    ['2024-02-29', '2024-03-31', '2024-04-30']
    """

    id: str = attrs.field(converter=_fields.id_field)
    units: int = attrs.field(converter=_units)
    effective_at: datetime = attrs.field(converter=_effective_at)
    expires_at: datetime | None = attrs.field(default=None, converter=_expires_at)
    priority: int = attrs.field(default=0, converter=_priority)
    rollover: bool = attrs.field(default=False, converter=_rollover)
    meter_id: str | None = attrs.field(default=None, converter=_optional_meter_id)
    recurrence: Recurrence | None = attrs.field(default=None, converter=_recurrence)
    timezone: str = attrs.field(default="UTC", converter=_timezone)
    max_rollover: int = attrs.field(default=0, converter=_max_rollover)

    def __attrs_post_init__(self) -> None:
        if self.expires_at is not None and self.expires_at <= self.effective_at:
            raise ValidationError(
                "must be after effective_at "
                f"({_fields.format_timestamp(self.effective_at)})",
                path="expires_at",
                value=self.expires_at,
            )
        if self.recurrence is None:
            if self.max_rollover:
                raise ValidationError(
                    "must be 0 for a grant without a recurrence: only a refill "
                    "rolls units over (set recurrence, or drop max_rollover)",
                    path="max_rollover",
                    value=self.max_rollover,
                )
            return
        if self.units + self.max_rollover > _fields.MAX_CREDITED_UNITS:
            raise ValidationError(
                f"must keep units + max_rollover below 1E+29 (units is {self.units}):"
                " a refill can leave that many",
                path="max_rollover",
                value=self.max_rollover,
            )
        try:
            local_time(self.effective_at, check_zone(self.timezone))
        except OverflowError:
            raise ValidationError(
                f"is too close to the limits of datetime in the time zone "
                f"{self.timezone!r} to recur",
                path="effective_at",
                value=self.effective_at,
            ) from None

    def in_force(self, moment: datetime) -> bool:
        """Whether the grant can be drawn on at ``moment`` (an aware datetime)."""
        return self.effective_at <= moment and (
            self.expires_at is None or moment < self.expires_at
        )

    def refill_at(self, k: int) -> datetime | None:
        """The instant of the ``k``-th refill (k >= 1), in UTC.

        ``None`` when the grant does not recur, or that refill does not happen: at
        or after ``expires_at``, or beyond the year 9999.
        """
        count = _fields.parse_int(k, "k")
        if count < 1:
            raise ValidationError("must be >= 1", path="k", value=k)
        refills = refills_of(self)
        return None if refills is None else refills.at(count)

    def refills_by(self, moment: datetime) -> int:
        """How many refills have happened by ``moment`` (an aware datetime):
        0 for a grant that does not recur."""
        instant = _fields.parse_timestamp(moment, "moment")
        refills = refills_of(self)
        return 0 if refills is None else refills.count(instant)


GrantStatus = Literal["pending", "active", "expired"]
_STATUSES = ("pending", "active", "expired")


def _grant(value: object) -> CreditGrant:
    if not isinstance(value, CreditGrant):
        raise InvalidTypeError("must be a CreditGrant", path="grant", value=value)
    return value


def _status(value: object) -> str:
    if value not in _STATUSES:
        raise ValidationError(
            "must be 'pending', 'active' or 'expired'", path="status", value=value
        )
    return str(value)


def _drawn_units(value: object) -> Decimal:
    return parse_units(value, "drawn_units")


def _remaining_units(value: object) -> Decimal:
    return parse_units(value, "remaining_units")


def _expired_units(value: object) -> Decimal:
    return parse_units(value, "expired_units")


def _granted_units(value: object) -> Decimal:
    return parse_units(value, "granted_units")


def _forfeited_units(value: object) -> Decimal:
    return parse_units(value, "forfeited_units")


@attrs.frozen(kw_only=True)
class GrantState:
    """One grant as of a burn-down's instant.

    ``granted_units`` is what the grant has given by then: its ``units``, once more
    for each refill (``units * (1 + refills)``; its ``units`` when it does not
    recur, the default). ``forfeited_units`` is what refills took away, the units
    above ``max_rollover`` (0 by default). ``drawn_units + remaining_units +
    expired_units + forfeited_units == granted_units`` always holds; a ``pending``
    grant has drawn nothing and was never refilled, an ``expired`` one has nothing
    remaining, and only an ``expired`` one has ``expired_units``.
    """

    grant: CreditGrant = attrs.field(converter=_grant)
    status: GrantStatus = attrs.field(converter=_status)
    drawn_units: Decimal = attrs.field(converter=_drawn_units)
    remaining_units: Decimal = attrs.field(converter=_remaining_units)
    expired_units: Decimal = attrs.field(converter=_expired_units)
    granted_units: Decimal = attrs.field(
        default=attrs.Factory(lambda self: self.grant.units, takes_self=True),
        converter=_granted_units,
    )
    forfeited_units: Decimal = attrs.field(default=ZERO, converter=_forfeited_units)

    @property
    def refills(self) -> int:
        """How many refills ``granted_units`` counts."""
        return int(self.granted_units) // self.grant.units - 1

    def __attrs_post_init__(self) -> None:
        grant = self.grant
        granted = self.granted_units
        # Ints, not Decimal `%`, which would read the ambient decimal context.
        times, extra = divmod(int(granted), grant.units)
        if (
            granted != int(granted)
            or extra
            or times < 1
            or (times > 1 and (grant.recurrence is None or self.status == "pending"))
        ):
            raise ValidationError(
                f"must be the grant's {grant.units} units times 1 + its refills so "
                f"far: {grant.units} for a grant that does not recur or is pending",
                path="granted_units",
                value=granted,
            )
        total = add_units(
            add_units(self.drawn_units, self.remaining_units),
            add_units(self.expired_units, self.forfeited_units),
        )
        if total != granted:
            raise ValidationError(
                f"drawn, remaining, expired and forfeited units must add up to the "
                f"{granted} granted units",
                path="remaining_units",
                value=self.remaining_units,
            )
        cap = grant.units + grant.max_rollover
        if self.remaining_units > cap:
            raise ValidationError(
                f"must not exceed units + max_rollover ({cap}): no refill leaves more",
                path="remaining_units",
                value=self.remaining_units,
            )
        wrong = (
            ("drawn_units", self.drawn_units, self.status == "pending"),
            ("remaining_units", self.remaining_units, self.status == "expired"),
            ("expired_units", self.expired_units, self.status != "expired"),
            ("forfeited_units", self.forfeited_units, granted == grant.units),
        )
        for path, value, must_be_zero in wrong:
            if must_be_zero and value:
                reason = (
                    "before any refill"
                    if path == "forfeited_units"
                    else f"for a grant that is {self.status}"
                )
                raise ValidationError(f"must be 0 {reason}", path=path, value=value)


def _event_index(value: object) -> int:
    return _fields.parse_count(value, "event_index")


def _draw_units(value: object) -> Decimal:
    units = parse_units(value, "units")
    if not units:
        raise ValidationError("must be > 0", path="units", value=value)
    return units


def _optional_grant_id(value: object) -> str | None:
    return None if value is None else _fields.parse_id(value, "grant_id")


@attrs.frozen(kw_only=True)
class Draw:
    """Units that the event at ``event_index`` drew from one grant.

    ``event_index`` is the event's position in the ``events`` given to `burn_down`
    (as in error paths, ``events[i]``); ``grant_id`` is ``None`` for overage.
    """

    event_index: int = attrs.field(converter=_event_index)
    grant_id: str | None = attrs.field(converter=_optional_grant_id)
    units: Decimal = attrs.field(converter=_draw_units)


def _at(value: object) -> datetime | None:
    return _fields.parse_optional_timestamp(value, "at")


def _states(value: object) -> tuple[GrantState, ...]:
    return _fields.parse_items(value, "grants", GrantState)


def _draws(value: object) -> tuple[Draw, ...]:
    return _fields.parse_items(value, "draws", Draw)


def _balance(value: object) -> Decimal:
    return parse_units(value, "balance")


def _consumed_units(value: object) -> Decimal:
    return parse_units(value, "consumed_units")


def _overage_units(value: object) -> Decimal:
    return parse_units(value, "overage_units")


@attrs.frozen(kw_only=True)
class BurnDown:
    """What `burn_down` returns: each grant as of ``at``, the balance, the draws.

    - ``at``: the instant of the result (see Rule 4 of this module); ``None`` only
      when no ``at`` was given and nothing was consumed.
    - ``grants``: one `GrantState` per grant, in the order the grants were given,
      each with the refills its grant had by ``at`` (none without an ``at``).
    - ``balance``: the sum of ``remaining_units`` over the ``active`` grants.
    - ``consumed_units``: what the counted events consumed, ``drawn_units`` of it
      from grants and ``overage_units`` from none.
    - ``draws``: every `Draw`, in replay order (time order, ties in log order), and
      within one event in draw order. An event that consumed nothing has none.
    """

    at: datetime | None = attrs.field(converter=_at)
    grants: tuple[GrantState, ...] = attrs.field(converter=_states)
    balance: Decimal = attrs.field(converter=_balance)
    consumed_units: Decimal = attrs.field(converter=_consumed_units)
    overage_units: Decimal = attrs.field(converter=_overage_units)
    draws: tuple[Draw, ...] = attrs.field(converter=_draws, repr=False)

    @property
    def drawn_units(self) -> Decimal:
        """The units drawn from grants: ``consumed_units - overage_units``."""
        return subtract_units(self.consumed_units, self.overage_units)

    def __attrs_post_init__(self) -> None:
        drawn: dict[str | None, Decimal] = {None: ZERO}
        balance = ZERO
        for index, state in enumerate(self.grants):
            grant_id = state.grant.id
            if grant_id in drawn:
                raise ValidationError(
                    "each grant must appear once",
                    path=f"grants[{index}].grant.id",
                    value=grant_id,
                )
            drawn[grant_id] = ZERO
            if state.status == "active":
                balance = add_units(balance, state.remaining_units)
            refills = 0 if self.at is None else state.grant.refills_by(self.at)
            if state.refills != refills:
                units = state.grant.units
                raise ValidationError(
                    f"must be {units * (1 + refills)}: the grant's {units} units "
                    f"and its {refills} refills by at",
                    path=f"grants[{index}].granted_units",
                    value=state.granted_units,
                )
        for index, draw in enumerate(self.draws):
            if draw.grant_id not in drawn:
                raise ValidationError(
                    "names no grant of this burn-down",
                    path=f"draws[{index}].grant_id",
                    value=draw.grant_id,
                )
            drawn[draw.grant_id] = add_units(drawn[draw.grant_id], draw.units)
        for index, state in enumerate(self.grants):
            if drawn[state.grant.id] != state.drawn_units:
                raise ValidationError(
                    f"must equal the units of its draws ({drawn[state.grant.id]})",
                    path=f"grants[{index}].drawn_units",
                    value=state.drawn_units,
                )
        checks = (
            ("balance", self.balance, balance),
            ("overage_units", self.overage_units, drawn[None]),
            ("consumed_units", self.consumed_units, sum_units(drawn.values())),
        )
        for path, given, expected in checks:
            if given != expected:
                raise ValidationError(
                    f"must equal {expected} (from grants and draws)",
                    path=path,
                    value=given,
                )

    def state(self, grant_id: object) -> GrantState:
        """The `GrantState` of the grant with id ``grant_id``."""
        wanted = _fields.parse_id(grant_id, "grant_id")
        for state in self.grants:
            if state.grant.id == wanted:
                return state
        raise ValidationError(
            "names no grant of this burn-down", path="grant_id", value=grant_id
        )


def sum_units(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``values`` (0 for none)."""
    total = ZERO
    for value in values:
        total = add_units(total, value)
    return total


def _check_grants(grants: object, meter_id: str) -> list[CreditGrant]:
    if isinstance(grants, (str, bytes, CreditGrant)) or not isinstance(
        grants, Iterable
    ):
        raise InvalidTypeError(
            "must be an iterable of CreditGrant", path="grants", value=grants
        )
    checked: list[CreditGrant] = []
    first_of: dict[str, int] = {}
    total = 0
    for index, grant in enumerate(grants):
        if not isinstance(grant, CreditGrant):
            raise InvalidTypeError(
                "must be a CreditGrant", path=f"grants[{index}]", value=grant
            )
        if grant.meter_id is not None and grant.meter_id != meter_id:
            raise ValidationError(
                f"must be None or the meter's id ({meter_id!r}): the grant is for "
                "another meter",
                path=f"grants[{index}].meter_id",
                value=grant.meter_id,
            )
        if grant.id in first_of:
            raise ValidationError(
                f"duplicates grants[{first_of[grant.id]}].id: each grant needs its "
                "own id",
                path=f"grants[{index}].id",
                value=grant.id,
            )
        first_of[grant.id] = index
        checked.append(grant)
        total += grant.units + grant.max_rollover  # what a refill can leave
    if total > _fields.MAX_CREDITED_UNITS:
        raise ValidationError(
            "hold more than 1E+29 - 1 units in all (units, plus max_rollover for "
            "recurring grants): a balance must stay below 1E+29",
            path="grants",
            value=f"{len(checked)} grants of {total} units",
        )
    return checked


def burn_down(
    meter: Meter,
    grants: Iterable[CreditGrant],
    events: Iterable[object],
    *,
    customer_id: object = None,
    external_customer_id: object = None,
    at: datetime | None = None,
) -> BurnDown:
    """Replay a customer's consumption against credit grants, as of ``at``.

    Grants are drawn in the order of Rule 3 of this module: lower ``priority``,
    then earlier ``expires_at`` (no expiry last), then earlier ``effective_at``,
    then ``id``; a recurring grant is refilled as the replay reaches its refills
    (Rule 7). ``events`` is read once, in log order; the customer's matching
    events are kept (one small entry each) to be replayed in time order.

    >>> from datetime import datetime, timezone
    >>> jan = lambda day: datetime(2025, 1, day, tzinfo=timezone.utc)
    >>> trial = CreditGrant(id="00000000-0000-4000-8000-000000000001", units=50,
    ...                     effective_at=jan(1), expires_at=jan(3))
    >>> plan = CreditGrant(id="00000000-0000-4000-8000-000000000002", units=100,
    ...                    effective_at=jan(1))
    >>> result = burn_down(example_meter(), [plan, trial],
    ...                    [example_use(30, timestamp="2025-01-02T00:00:00Z"),
    ...                     example_use(40, timestamp="2025-01-04T00:00:00Z")],
    ...                    external_customer_id="acme")
    >>> [(s.status, s.remaining_units, s.expired_units) for s in result.grants]
    [('active', Decimal('60'), Decimal('0')), ('expired', Decimal('0'), Decimal('20'))]
    >>> result.balance, result.overage_units
    (Decimal('60'), Decimal('0'))
    """
    compiled = CompiledMeter(check_meter(meter))
    scan = Scan(compiled, *customer_keys(customer_id, external_customer_id))
    func = compiled.func
    if func not in DRAWABLE:
        raise ValidationError(
            "cannot be drawn down event by event, its quantity can fall: use a "
            f"{', '.join(DRAWABLE[:-1])} or {DRAWABLE[-1]} meter",
            path="meter.aggregation.func",
            value=func,
        )
    until = None if at is None else _fields.parse_timestamp(at, "at")
    checked = _check_grants(grants, compiled.meter.id)
    # What each counted event adds (Rule 2), decided in log order as `explain`
    # reports it; then replayed in time order, ties in log order.
    window = Window(func)
    uses: list[tuple[datetime, int, Decimal]] = []
    for verdict in scan.verdicts(events):
        if (
            until is not None
            and verdict.kind in (COUNTED, RESET)
            and verdict.view.timestamp > until  # type: ignore[union-attr]
        ):
            continue  # not yet happened as of `at` (Rule 4)
        if verdict.kind == COUNTED:
            units = window.add(verdict.value)
            assert units is not None  # DRAWABLE aggregations add units
            uses.append((verdict.view.timestamp, verdict.position, units))  # type: ignore[union-attr]
        elif verdict.kind == RESET:
            window.reset()
    uses.sort(key=itemgetter(0, 1))

    replayed = replay(checked, uses)
    as_of = until if until is not None else replayed.last
    states = [
        GrantState(grant=grant, **replayed.ledger.state(i, as_of))
        for i, grant in enumerate(checked)
    ]
    balance = sum_units(s.remaining_units for s in states if s.status == "active")
    return BurnDown(
        at=as_of,
        grants=states,
        balance=balance,
        consumed_units=replayed.consumed,
        overage_units=replayed.overage,
        draws=[
            Draw(event_index=index, grant_id=grant_id, units=units)
            for index, grant_id, units in replayed.draws
        ],
    )
