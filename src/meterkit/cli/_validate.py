"""``meterkit validate``: check every line of an events file, report every bad one.

Rule 1: a line is valid when it is JSON and `usage` of it alone reads it: the
engine reads every event as `Event` does (UUID ids, full timestamps, every
metadata value; `events.read_event`), and with ``--meter`` also checks what that
meter reads (credit units, aggregated values). The events are folded as
``meterkit usage`` routes them (a `UsageByCustomer` for those with a
``customer_id``, one `UsageAccumulator` for the rest): every event is in its
fold's scope and the checks run before dedup and resets, so a line is refused
exactly when `usage` of it alone would refuse it, and the meter is compiled once
per fold. So a file that passes ``validate --meter`` passes ``usage`` with that
meter, and every line of it reads as an `Event`.
Rule 2: the report goes to stdout, like a linter's: one ``FILE:LINE: MESSAGE`` per
bad line, in line order, then a summary line. Exit 1 when a line is bad.
Rule 3 (speed): events are checked in lists by the fold, as `usage` checks them;
nothing else reads them.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime, timezone

from ..errors import MeterkitError
from ..meters import CountAggregation, Filter, Meter
from ..usage import UsageAccumulator, UsageByCustomer
from ._io import (
    MAX_LINE_BYTES,
    EventLines,
    Progress,
    display_name,
    open_events,
    read_document,
    relocated,
)
from ._usage import BATCH, route

__all__ = ["run_validate"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


#: A meter no event can name (a fresh id): without ``--meter``, the fold checks
#: the events' own fields only.
def _neutral_meter() -> Meter:
    return Meter(
        id=uuid.uuid4(),
        name="validate",
        filter=Filter(),
        aggregation=CountAggregation(),
        created_at=datetime.now(timezone.utc),
    )


def run_validate(args: argparse.Namespace) -> int:
    meter = _neutral_meter() if args.meter is None else read_document(Meter, args.meter)
    name = display_name(args.events)
    # The events go to folds as `usage` routes them (the meter compiled once per
    # fold): those with a customer_id to a `UsageByCustomer`, the others to one
    # `UsageAccumulator`. Every event is in its fold's scope, so the checks
    # run on each before dedup and resets, and a line is refused here exactly
    # when `usage` of it alone refuses it (Rule 1). Bad lines in line order.
    routes: list[tuple[UsageByCustomer | UsageAccumulator, list[object], list[int]]]
    routes = [
        (UsageByCustomer(meter, by="customer_id"), [], []),
        (UsageAccumulator(meter), [], []),
    ]
    (_, by_id, by_id_lines), (_, rest, rest_lines) = routes
    located: list[tuple[int, str]] = []  # bad lines found, not yet printed

    def check() -> None:
        for fold, waiting, waiting_lines in routes:
            start, given = 0, fold.position
            while start < len(waiting):
                try:
                    fold.update(waiting[start:] if start else waiting)
                    break
                except MeterkitError as exc:
                    bad = fold.position - 1 - given
                    events.fail(waiting_lines[start + bad], relocated(exc))
                    start += bad + 1
                    given = fold.position
            waiting.clear()
            waiting_lines.clear()
        # Every line up to here is checked: print what was found, in line order.
        for _, message in sorted(located):
            print(message)
        located.clear()

    with open_events(args.events) as lines:
        events = EventLines(
            args.events,
            lines,
            Progress.on_stderr(args.quiet),
            lambda line, message: located.append((line, message)),
            getattr(args, "max_line_bytes", MAX_LINE_BYTES),
        )
        for numbers, values in events.batches():
            route(numbers, values, (by_id, by_id_lines), (rest, rest_lines))
            if len(by_id) + len(rest) >= BATCH:
                check()
        check()
    valid = events.nonblank - events.invalid
    if events.invalid:
        print(
            f"{name}: {_plural(events.invalid, 'invalid line')} of {events.lines} "
            f"({_plural(valid, 'valid event')})"
        )
        return 1
    print(f"{name}: {_plural(valid, 'valid event')} on {_plural(events.lines, 'line')}")
    return 0
