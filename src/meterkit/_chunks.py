"""The state of a folded stretch of the log, and the algebra that merges stretches.

Rule 1 (credits): each of the three running sums of credits (all credits, the
non-rollover ones, the rollover ones) is the function ``s -> max(a, s + b)`` on
``s >= 0``, stored as ``(a, b)``; a clamped step ``s -> max(0, s + u)`` is the pair
``(0, u)`` composed on, and two pairs compose into one. So a run of credits folds
into three pairs, whatever its length.
Rule 2 (resets): a reset replaces everything before it: a fold that starts with a
reset ignores what it is composed after.
Rule 3 (dedup across chunks): a chunk that may get an earlier chunk merged in front
of it (``at_start=False``) keeps each event with an ``external_id`` as its own
entry (`_Item`), with what it did, so that the merge can drop it when the earlier
chunk saw that id first. A chunk at the start of the log folds everything at once.
Rule 4 (merge): `Chunk.then` is associative, not commutative: the left chunk comes
first in the log.
"""

from __future__ import annotations

from collections.abc import Container
from decimal import Decimal
from typing import Any

from ._tally import Tally
from ._units import ZERO, subtract_units
from ._verdicts import COUNTED, CREDIT

__all__: list[str] = []


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


class _Item:
    """One event with an ``external_id``, kept whole so a merge can drop it."""

    __slots__ = ("external_id", "kind", "value")

    def __init__(self, external_id: str, kind: str, value: Any = None) -> None:
        self.external_id = external_id
        self.kind = kind
        self.value = value

    def apply_to(self, fold: _Fold) -> None:
        if self.kind == COUNTED:
            fold.tally.add(self.value)
        elif self.kind == CREDIT:
            fold.credits = _credit_step(fold.credits, *self.value)
        else:
            fold.tally = Tally(fold.tally.func)
            fold.credits = _NO_CREDITS
            fold.reset = True  # RESET


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


class Chunk:
    """One stretch of the log folded: its entries, in log order (Rules 2 and 3)."""

    __slots__ = ("at_start", "entries", "func")

    def __init__(self, func: str, *, at_start: bool) -> None:
        self.func = func
        self.at_start = at_start
        self.entries: list[_Fold | _Item] = []

    def _tail(self) -> _Fold:
        entries = self.entries
        if entries and isinstance(entries[-1], _Fold):
            return entries[-1]
        fold = _Fold(self.func)
        entries.append(fold)
        return fold

    def take(self, kind: str, value: Any, external_id: str | None) -> None:
        """Apply one verdict of an event that is not a duplicate."""
        if external_id is not None and not self.at_start:
            self.entries.append(_Item(external_id, kind, value))
        elif kind == COUNTED:
            self._tail().tally.add(value)
        elif kind == CREDIT:
            fold = self._tail()
            fold.credits = _credit_step(fold.credits, *value)
        else:
            # A reset nobody can drop wipes everything before it for good.
            self.entries[:] = [_Fold(self.func, reset=True)]

    def add_counted(self, count: int, total: int) -> None:
        """Apply ``count`` counted events without ``external_id`` whose int values
        add up to ``total`` (0 for ``count``), as `take` would one by one."""
        self._tail().tally.add_ints(count, total)

    def then(self, other: Chunk, seen: Container[str]) -> Chunk:
        """This chunk followed by ``other``; ``seen``: the ids this chunk holds."""
        merged = Chunk(self.func, at_start=self.at_start)
        entries: list[_Fold | _Item] = [_copy(e) for e in self.entries]
        for entry in other.entries:
            if isinstance(entry, _Item) and entry.external_id in seen:
                continue  # the earlier chunk saw this id first
            if isinstance(entry, _Fold) and entry.reset:
                entries = []  # a permanent reset wipes everything before it
            entries.append(_copy(entry))
        merged.entries = _compact(entries, self.func, merged.at_start)
        return merged

    def totals(self) -> tuple[Decimal, int, int, int]:
        """Consumed units, and the running sums of all, non-rollover and rollover
        credits."""
        fold = _Fold(self.func)
        for entry in self.entries:
            fold.then(entry)
        ca, cb, na, nb, ra, rb = fold.credits
        return fold.tally.quantity(), max(ca, cb), max(na, nb), max(ra, rb)


def usage_numbers(
    consumed: Decimal, credited: int, non_rollover: int, rollover: int
) -> tuple[Decimal, int, Decimal, int]:
    """Consumed, credited, balance and rollover units (SPEC section 3)."""
    balance = subtract_units(Decimal(credited), consumed)
    left = subtract_units(Decimal(non_rollover + rollover), consumed)
    return (
        consumed,
        credited,
        max(balance, ZERO),
        max(0, min(int(left), rollover)),
    )
