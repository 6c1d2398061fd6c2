"""The replay behind `grants.burn_down`: units drawn from grants, refills applied.

Rule 1 (order): the grants in force at an event are drawn one after another in
`draw_key` order (Rule 3 of `grants`); a refill never changes a grant's place.
Rule 2 (lazy): every grant waits for its next moment (its ``effective_at``, then,
when it recurs, its next refill) in a heap of wake-ups. An event pops the moments
it has reached; each popped grant is brought up to date (`Ledger.refill`) and waits
in a heap in draw order until it is spent or found expired; a refill brings a spent
grant back. So an event looks only at the grants whose moments it passed, and
refills between two events cost one calendar count (`_recurrence`), not one step
each. The result's instant brings every grant up to date once more.
Rule 3 (refills): the ``n`` refills of a grant between two looks at it have no draw
between them. One maps what remains, ``r``, to ``min(r, max_rollover) + units``,
so ``n`` of them map it to ``min(r + n * units, max_rollover + units)``; the rest,
``r + n * units`` minus that, is forfeited. Exact, in `_units.UNITS`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _fields
from ._recurrence import refills_of
from ._units import ZERO, add_units, subtract_units
from .errors import ValidationError

if TYPE_CHECKING:
    from .grants import CreditGrant

__all__: list[str] = []

#: Stands in for a missing expiry in sort keys; the flag before it already puts
#: grants without expiry last, so the value only has to be comparable.
_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def draw_key(grant: CreditGrant) -> tuple[Any, ...]:
    """Rule 3 of `grants` as a sort key."""
    expires_at = grant.expires_at
    return (
        grant.priority,
        expires_at is None,
        _NEVER if expires_at is None else expires_at,
        grant.effective_at,
        grant.id,
    )


class Ledger:
    """What each grant holds as the replay goes: remaining and forfeited units, and
    the refills applied."""

    __slots__ = ("forfeited", "grants", "refilled", "remaining", "schedules")

    def __init__(self, grants: list[CreditGrant]) -> None:
        self.grants = grants
        self.schedules = [refills_of(grant) for grant in grants]
        self.remaining = [Decimal(grant.units) for grant in grants]
        self.refilled = [0] * len(grants)
        self.forfeited = [ZERO] * len(grants)

    def refill(self, index: int, moment: datetime) -> datetime | None:
        """Apply the refills of grant ``index`` due by ``moment`` (Rule 3); return
        the instant of its next refill, None when no other will happen."""
        schedule = self.schedules[index]
        if schedule is None:
            return None
        grant = self.grants[index]
        count = schedule.count(moment)
        new = count - self.refilled[index]
        if new:
            if grant.units * (1 + count) > _fields.MAX_CREDITED_UNITS:
                raise ValidationError(
                    "is given more than 1E+29 - 1 units in all by "
                    f"{_fields.format_timestamp(moment)} ({grant.units} units, "
                    f"refilled {count} times): every sum must stay below 1E+29; "
                    "give an earlier at, an expiry or fewer units",
                    path=f"grants[{index}]",
                    value=grant.id,
                )
            given = add_units(self.remaining[index], Decimal(grant.units * new))
            kept = min(given, Decimal(grant.units + grant.max_rollover))
            self.remaining[index] = kept
            lost = subtract_units(given, kept)
            self.forfeited[index] = add_units(self.forfeited[index], lost)
            self.refilled[index] = count
        return schedule.at(count + 1)

    def state(self, index: int, as_of: datetime | None) -> dict[str, Any]:
        """The fields of grant ``index``'s `grants.GrantState` as of ``as_of``
        (Rule 4 of `grants`), after the refills due by then."""
        grant = self.grants[index]
        if as_of is None or as_of < grant.effective_at:
            status = "active" if as_of is None else "pending"
        else:
            self.refill(index, as_of)
            expired = grant.expires_at is not None and grant.expires_at <= as_of
            status = "expired" if expired else "active"
        left = self.remaining[index]
        granted = Decimal(grant.units * (1 + self.refilled[index]))
        forfeited = self.forfeited[index]
        return {
            "status": status,
            "drawn_units": subtract_units(subtract_units(granted, left), forfeited),
            "remaining_units": ZERO if status == "expired" else left,
            "expired_units": left if status == "expired" else ZERO,
            "granted_units": granted,
            "forfeited_units": forfeited,
        }


class Replay(NamedTuple):
    """What `replay` did: its draws ``(event index, grant id or None, units)`` in
    replay order, the units consumed and left over, the last event's instant, and
    the ledger (to read each grant as of any later instant)."""

    draws: list[tuple[int, str | None, Decimal]]
    consumed: Decimal
    overage: Decimal
    last: datetime | None
    ledger: Ledger


def replay(
    grants: list[CreditGrant], uses: Iterable[tuple[datetime, int, Decimal]]
) -> Replay:
    """Draw each use ``(timestamp, event index, units)``, in the order given (time
    order), from the grants (Rules 1 and 2)."""
    ledger = Ledger(grants)
    remaining = ledger.remaining
    keys = [draw_key(grant) for grant in grants]
    wakeups = [(grant.effective_at, i) for i, grant in enumerate(grants)]
    heapq.heapify(wakeups)
    ready: list[tuple[tuple[Any, ...], int]] = []
    in_ready = [False] * len(grants)
    draws: list[tuple[int, str | None, Decimal]] = []
    consumed = overage = ZERO
    last: datetime | None = None
    for moment, index, need in uses:
        last = moment
        consumed = add_units(consumed, need)
        while wakeups and wakeups[0][0] <= moment:
            grant_index = heapq.heappop(wakeups)[1]
            expires_at = grants[grant_index].expires_at
            if expires_at is not None and expires_at <= moment:
                continue  # expired: never drawn on or refilled again
            following = ledger.refill(grant_index, moment)
            if following is not None:
                heapq.heappush(wakeups, (following, grant_index))
            if remaining[grant_index] and not in_ready[grant_index]:
                heapq.heappush(ready, (keys[grant_index], grant_index))
                in_ready[grant_index] = True
        while need and ready:
            grant_index = ready[0][1]
            grant = grants[grant_index]
            if grant.expires_at is not None and grant.expires_at <= moment:
                heapq.heappop(ready)  # expired: what is left is gone
                in_ready[grant_index] = False
                continue
            take = min(need, remaining[grant_index])
            left = subtract_units(remaining[grant_index], take)
            need = subtract_units(need, take)
            draws.append((index, grant.id, take))
            if left:
                remaining[grant_index] = left
            else:
                remaining[grant_index] = ZERO  # 0, not 0.00: it reads better
                heapq.heappop(ready)
                in_ready[grant_index] = False
        if need:
            overage = add_units(overage, need)
            draws.append((index, None, need))
    return Replay(draws, consumed, overage, last, ledger)
