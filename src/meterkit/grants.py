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
decided over those events and resets only), and every grant is
reported as of ``at``: ``pending`` (``at < effective_at``: its full units, not in
the balance), ``active`` (in the balance) or ``expired`` (``expires_at <= at``: 0
remaining, what was left at expiry in ``expired_units``). Without ``at``, the result
is as of the last consumed event's timestamp; no clock is read. With neither ``at``
nor a consumed event there is no instant: every grant is ``active``, unused.
Rule 5 (system events): ``meter.credited`` and ``meter.reset`` events do not touch
grants. Grants carry their own lifetimes, and a reset (which starts a new window for
`usage`) must not wipe credit the customer was given for a period that is still
running. A reset only starts a new window for what ``max`` and ``unique`` events
add (Rule 2). So the burn-down agrees with `usage` on logs without credits and
resets. The grants together hold less than 1E+29 units, like every unit count.
Rule 6 (exact): units are `Decimal` in `_units.UNITS`; every draw, remainder and sum
is exact, and the results check their own sums when they are built.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

import attrs

from . import _fields
from ._units import ZERO, add_units, parse_units, subtract_units
from ._verdicts import COUNTED, RESET, Scan, Window, check_meter, customer_keys
from .errors import InvalidTypeError, ValidationError
from .matching import CompiledMeter
from .meters import Meter

__all__ = ["BurnDown", "CreditGrant", "Draw", "GrantState", "burn_down"]

_ONE = Decimal(1)

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


@attrs.frozen(kw_only=True)
class CreditGrant:
    """Credit of ``units`` on a meter, in force from ``effective_at`` to ``expires_at``.

    ``priority`` orders draws (lower first); ``rollover`` is carried for the billing
    system and does not change the burn-down. ``meter_id``, when set, ties the grant
    to one meter: `burn_down` refuses it for another.

    >>> from datetime import datetime, timezone
    >>> grant = CreditGrant(id="5c8d1e0e-8f65-4d8e-9d0c-3f1f2b7e6a01", units=100,
    ...                     effective_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> grant.expires_at, grant.priority, grant.rollover, grant.meter_id
    (None, 0, False, None)
    """

    id: str = attrs.field(converter=_fields.id_field)
    units: int = attrs.field(converter=_units)
    effective_at: datetime = attrs.field(converter=_effective_at)
    expires_at: datetime | None = attrs.field(default=None, converter=_expires_at)
    priority: int = attrs.field(default=0, converter=_priority)
    rollover: bool = attrs.field(default=False, converter=_rollover)
    meter_id: str | None = attrs.field(default=None, converter=_optional_meter_id)

    def __attrs_post_init__(self) -> None:
        if self.expires_at is not None and self.expires_at <= self.effective_at:
            raise ValidationError(
                "must be after effective_at "
                f"({_fields.format_timestamp(self.effective_at)})",
                path="expires_at",
                value=self.expires_at,
            )

    def in_force(self, moment: datetime) -> bool:
        """Whether the grant can be drawn on at ``moment`` (an aware datetime)."""
        return self.effective_at <= moment and (
            self.expires_at is None or moment < self.expires_at
        )


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


@attrs.frozen(kw_only=True)
class GrantState:
    """One grant as of a burn-down's instant.

    ``drawn_units + remaining_units + expired_units == grant.units`` always holds;
    a ``pending`` grant has drawn nothing, an ``expired`` one has nothing remaining,
    and only an ``expired`` one has ``expired_units``.
    """

    grant: CreditGrant = attrs.field(converter=_grant)
    status: GrantStatus = attrs.field(converter=_status)
    drawn_units: Decimal = attrs.field(converter=_drawn_units)
    remaining_units: Decimal = attrs.field(converter=_remaining_units)
    expired_units: Decimal = attrs.field(converter=_expired_units)

    def __attrs_post_init__(self) -> None:
        total = add_units(
            add_units(self.drawn_units, self.remaining_units), self.expired_units
        )
        if total != self.grant.units:
            raise ValidationError(
                f"drawn, remaining and expired units must add up to the grant's "
                f"{self.grant.units} units",
                path="remaining_units",
                value=self.remaining_units,
            )
        wrong = (
            ("drawn_units", self.drawn_units, self.status == "pending"),
            ("remaining_units", self.remaining_units, self.status == "expired"),
            ("expired_units", self.expired_units, self.status != "expired"),
        )
        for path, value, must_be_zero in wrong:
            if must_be_zero and value:
                raise ValidationError(
                    f"must be 0 for a grant that is {self.status}",
                    path=path,
                    value=value,
                )


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
    - ``grants``: one `GrantState` per grant, in the order the grants were given.
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
        total += grant.units
    if total > _fields.MAX_CREDITED_UNITS:
        raise ValidationError(
            "hold more than 1E+29 - 1 units in all: a balance must stay below 1E+29",
            path="grants",
            value=f"{len(checked)} grants of {total} units",
        )
    return checked


#: Stands in for a missing expiry in sort keys; the flag before it already puts
#: grants without expiry last, so the value only has to be comparable.
_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def _draw_key(grant: CreditGrant) -> tuple[Any, ...]:
    """Rule 3 as a sort key."""
    expires_at = grant.expires_at
    return (
        grant.priority,
        expires_at is None,
        _NEVER if expires_at is None else expires_at,
        grant.effective_at,
        grant.id,
    )


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
    then ``id``. ``events`` is read once, in log order; the customer's matching
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

    # Grants wait in `pending` (by effective_at) until an event reaches them, then
    # sit in `ready`, a heap in draw order; a grant leaves it when it is spent or
    # found expired at the top.
    pending = sorted(range(len(checked)), key=lambda i: checked[i].effective_at)
    keys = [_draw_key(grant) for grant in checked]
    ready: list[tuple[tuple[Any, ...], int]] = []
    remaining = [Decimal(grant.units) for grant in checked]
    draws: list[Draw] = []
    consumed = ZERO
    overage = ZERO
    last: datetime | None = None
    next_pending = 0
    for moment, index, need in uses:
        if until is not None and moment > until:
            break
        last = moment
        consumed = add_units(consumed, need)
        while (
            next_pending < len(pending)
            and checked[pending[next_pending]].effective_at <= moment
        ):
            grant_index = pending[next_pending]
            heapq.heappush(ready, (keys[grant_index], grant_index))
            next_pending += 1
        while need and ready:
            grant_index = ready[0][1]
            grant = checked[grant_index]
            if grant.expires_at is not None and grant.expires_at <= moment:
                heapq.heappop(ready)  # expired: what is left is gone
                continue
            take = min(need, remaining[grant_index])
            left = subtract_units(remaining[grant_index], take)
            need = subtract_units(need, take)
            draws.append(Draw(event_index=index, grant_id=grant.id, units=take))
            if left:
                remaining[grant_index] = left
            else:
                remaining[grant_index] = ZERO  # 0, not 0.00: it reads better
                heapq.heappop(ready)
        if need:
            overage = add_units(overage, need)
            draws.append(Draw(event_index=index, grant_id=None, units=need))

    as_of = until if until is not None else last
    states = [
        _state_of(grant, left, as_of)
        for grant, left in zip(checked, remaining, strict=True)
    ]
    balance = sum_units(s.remaining_units for s in states if s.status == "active")
    return BurnDown(
        at=as_of,
        grants=states,
        balance=balance,
        consumed_units=consumed,
        overage_units=overage,
        draws=draws,
    )


def _state_of(grant: CreditGrant, left: Decimal, as_of: datetime | None) -> GrantState:
    drawn = subtract_units(Decimal(grant.units), left)
    if as_of is not None and as_of < grant.effective_at:
        status: GrantStatus = "pending"
    elif (
        as_of is not None and grant.expires_at is not None and grant.expires_at <= as_of
    ):
        return GrantState(
            grant=grant,
            status="expired",
            drawn_units=drawn,
            remaining_units=ZERO,
            expired_units=left,
        )
    else:
        status = "active"
    return GrantState(
        grant=grant,
        status=status,
        drawn_units=drawn,
        remaining_units=left,
        expired_units=ZERO,
    )
