"""The commutative part of a fold: `Tally`, what an aggregation has seen so far.

Rule 1: a tally is order-free. Adding contributions in any order, or absorbing
another tally, gives the same quantity; that is what lets chunks fold in parallel.
The one exception is a tie of ``latest``: of two readings with the same timestamp,
the one added or absorbed last wins, so every caller adds and absorbs in log order
(a later chunk is absorbed into an earlier one, never the other way round).
Rule 2: sums are exact: ints as Python ints, everything else as `Decimal` in
`_units.UNITS`. Only ``avg`` divides, in `AVG_CONTEXT`.
Rule 3: a contribution that cannot be added exactly raises before anything changes.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from ._units import MAX_UNITS_EXPONENT, ZERO, add_units
from .matching import NO_VALUE

__all__: list[str] = []

_FINEST = -MAX_UNITS_EXPONENT
_FINEST_STEP = Decimal(1).scaleb(_FINEST)

#: The one context in which a unit quantity is rounded: the quotient of ``avg``
#: (to 34 significant digits, half-even; a mean below 1E-28 to a multiple of it).
AVG_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class Tally:
    """The commutative part of a fold: what the aggregation has seen so far.

    ``count`` counts contributions; ``ints``/``decimals`` hold an exact sum;
    ``low``/``high`` the extremes; ``distinct`` the keys of ``unique``;
    ``latest`` the ``(timestamp, value)`` reading of ``latest`` (Rule 1).
    """

    __slots__ = (
        "count",
        "decimals",
        "distinct",
        "func",
        "high",
        "ints",
        "latest",
        "low",
    )

    def __init__(self, func: str) -> None:
        self.func = func
        self.count = 0
        self.ints = 0
        self.decimals = ZERO
        self.low: Any = None
        self.high: Any = None
        self.latest: Any = None
        self.distinct: set[Any] | None = set() if func == "unique" else None

    def add(self, value: Any) -> None:
        """Add one contribution (see `CompiledMeter.contribution`).

        A contribution that cannot be added exactly raises before anything changes.
        """
        func = self.func
        if func in ("sum", "avg"):
            if type(value) is int:
                self.ints += value
            else:
                self.decimals = add_units(self.decimals, value)
        self.count += 1
        if func in ("count", "sum", "avg"):
            return
        if func == "unique":
            if value is not NO_VALUE:
                self.distinct.add(value)  # type: ignore[union-attr]
            return
        if func == "max":
            if self.high is None or value > self.high:
                self.high = value
        elif func == "latest":
            if self.latest is None or value[0] >= self.latest[0]:
                self.latest = value  # a tie: the later in log order (Rule 1)
        elif self.low is None or value < self.low:
            self.low = value

    def add_ints(self, count: int, total: int) -> None:
        """Add ``count`` int contributions summing to ``total`` (``count``, ``sum``
        and ``avg`` only): what ``count`` calls of `add` would do."""
        assert self.func in ("count", "sum", "avg")
        self.count += count
        self.ints += total

    def absorb(self, other: Tally) -> None:
        """Merge ``other``, which comes later in the log, into this tally (order
        matters only for ties of ``latest``: Rule 1)."""
        self.count += other.count
        self.ints += other.ints
        self.decimals = add_units(self.decimals, other.decimals)
        if other.high is not None and (self.high is None or other.high > self.high):
            self.high = other.high
        if other.low is not None and (self.low is None or other.low < self.low):
            self.low = other.low
        if self.distinct is not None and other.distinct is not None:
            self.distinct |= other.distinct
        if other.latest is not None and (
            self.latest is None or other.latest[0] >= self.latest[0]
        ):
            self.latest = other.latest  # a tie: ``other`` is the later (Rule 1)

    def copy(self) -> Tally:
        twin = Tally(self.func)
        twin.absorb(self)
        return twin

    def quantity(self) -> Decimal:
        """The aggregation's value; 0 when nothing matched."""
        func = self.func
        if func == "count":
            return Decimal(self.count)
        if func == "unique":
            return Decimal(len(self.distinct or ()))
        if func in ("max", "min"):
            extreme = self.high if func == "max" else self.low
            return ZERO if extreme is None else Decimal(extreme)
        if func == "latest":
            return ZERO if self.latest is None else Decimal(self.latest[1])
        total = add_units(Decimal(self.ints), self.decimals)
        if func == "sum":
            return total
        if not self.count:
            return ZERO
        mean = AVG_CONTEXT.divide(total, Decimal(self.count))
        if mean and mean.adjusted() < _FINEST:
            # Keep the mean a unit count: a mean below 1E-28 is rounded (half-even
            # again) to a multiple of 1E-28, which the unit context can hold.
            mean = mean.quantize(_FINEST_STEP, context=AVG_CONTEXT) or ZERO
        return mean
