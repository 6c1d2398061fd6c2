"""Usage per customer from a Dask bag of events: the recipe of docs/scale-out.md.

Rule 1: a partition is a consecutive run of the log, and the bag's partitions are
in log order (``dask.bag.read_text`` keeps the order of its files, and of the lines
in each). Each partition is folded into one `UsageAccumulator` per customer. The
first partition starts the log (``at_start=True``); every other one gets earlier
partitions merged in front of it (``at_start=False``).
Rule 2: partition folds are merged in a tree, each node merging consecutive folds
left (earlier) to right (later). The merge is associative, so any grouping gives
the result of one fold; it is not commutative, so the order is kept.
Rule 3: accumulators travel between processes pickled; they carry the meter and
rebuild the rest.

Needs ``pip install 'meterkit[dask]'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dask

from meterkit import (
    Event,
    InvalidTypeError,
    Meter,
    MeterkitError,
    Usage,
    UsageAccumulator,
)

__all__ = ["fold_partition", "merge_in_order", "usage_by_customer"]

#: One fold per customer, keyed by the customer's id.
Folds = dict[str, UsageAccumulator]

KEYS = ("customer_id", "external_customer_id")


def fold_partition(
    events: Iterable[Any],
    meter: Meter,
    customers: Sequence[str],
    key: str,
    at_start: bool,
) -> Folds:
    """Fold one partition, routing each event to its customer's accumulator."""
    folds = {
        customer: UsageAccumulator(meter, **{key: customer}, at_start=at_start)
        for customer in customers
    }
    # Customer ids are UUIDs and match in any case; external ids match exactly.
    lower = key == "customer_id"
    route = {(c.lower() if lower else c): fold for c, fold in folds.items()}
    for index, event in enumerate(events):
        if isinstance(event, Mapping):
            owner = event.get(key)
        elif isinstance(event, Event):
            owner = getattr(event, key)
        else:
            raise InvalidTypeError(
                "must be an Event or a JSON object",
                path=f"events[{index}]",
                value=event,
            )
        if lower and isinstance(owner, str):
            owner = owner.lower()
        fold = route.get(owner)
        if fold is None:
            continue  # not an event of a customer asked for
        try:
            fold.add(event)
        except MeterkitError as error:
            # `add` numbers this customer's events; name the partition's line.
            _, _, rest = (error.path or "").partition("]")
            raise error.at(f"events[{index}]{rest}") from None
    return folds


def merge_in_order(parts: Sequence[Folds]) -> Folds:
    """Merge consecutive folds, earlier first."""
    merged = parts[0]
    for part in parts[1:]:
        merged = {
            customer: merged[customer].merge(part[customer]) for customer in merged
        }
    return merged


def usage_by_customer(
    bag: Any,
    meter: Meter,
    customers: Iterable[str],
    *,
    key: str = "external_customer_id",
    split_every: int = 8,
) -> dict[str, Usage]:
    """``{customer: usage(meter, log, **{key: customer})}`` for a bag of the log.

    ``bag`` is a `dask.bag.Bag` of wire mappings (or `Event` objects) whose
    partitions are in log order; ``key`` is ``"external_customer_id"`` or
    ``"customer_id"``. It computes with the scheduler in effect (`dask.config`).
    """
    if key not in KEYS:
        raise ValueError(f"key must be one of {KEYS}, not {key!r}")
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, not {split_every!r}")
    wanted = tuple(customers)
    fold = dask.delayed(fold_partition)
    merge = dask.delayed(merge_in_order)
    level = [
        fold(partition, meter, wanted, key, index == 0)
        for index, partition in enumerate(bag.to_delayed())
    ]
    while len(level) > 1:
        level = [
            merge(level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    (folds,) = dask.compute(level[0])
    return {customer: folds[customer].usage() for customer in wanted}
